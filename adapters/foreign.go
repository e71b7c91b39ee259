package adapters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/perfconform/perfconform/internal/debapt"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/initramfs"
)

// foreignBuild is how an adapter is built for VMs of an architecture other
// than the host's: cross-compiled, and with the host tools it runs taken
// from that architecture's Debian packages.
type foreignBuild struct {
	build func(ctx context.Context, root, out string, a arch.Arch) error
	// check says what is missing to build for a (nil: ready).
	check func(a arch.Arch) error
	// tools returns the files standing for HostTools in a's VMs.
	tools func(ctx context.Context, a arch.Arch) ([]initramfs.File, error)
}

// PathFor is where BuildFor puts the adapter's executable for VMs of
// architecture archName: Path(binDir) for the host's, binDir/ARCH/NAME for
// another.
func (a Adapter) PathFor(binDir, archName string) string {
	if t, err := arch.Get(archName); err == nil && t.IsHost() {
		return a.Path(binDir)
	}
	return filepath.Join(binDir, archName, a.Name)
}

// AvailableFor is Available for VMs of architecture archName: nil when the
// adapter can be built for it and run there, else an error wrapping
// ErrUnavailable that says why.
func (a Adapter) AvailableFor(archName string) error {
	t, err := arch.Get(archName)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, a.Name, err)
	}
	if t.IsHost() {
		return a.Available()
	}
	if a.foreign == nil {
		why := a.NoForeign
		if why == "" {
			why = "it has no build for another architecture than the host's"
		}
		return fmt.Errorf("%w: %s on %s: %s", ErrUnavailable, a.Name, t.Name, why)
	}
	root, err := ModuleRoot()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, a.Name, err)
	}
	if _, err := os.Stat(filepath.Join(root, a.Source)); err != nil {
		return fmt.Errorf("%w: %s: source %s not in this tree", ErrUnavailable, a.Name, a.Source)
	}
	if a.foreign.check != nil {
		if err := a.foreign.check(t); err != nil {
			return fmt.Errorf("%w: %s on %s: %w", ErrUnavailable, a.Name, t.Name, err)
		}
	}
	return nil
}

// BuildFor builds the adapter for VMs of architecture archName into
// a.PathFor(binDir, archName).
func (a Adapter) BuildFor(ctx context.Context, binDir, archName string) (string, error) {
	t, err := arch.Get(archName)
	if err == nil && t.IsHost() {
		return a.Build(ctx, binDir)
	}
	if err := a.AvailableFor(archName); err != nil {
		return "", err
	}
	root, _ := ModuleRoot()
	out, err := filepath.Abs(a.PathFor(binDir, archName))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrBuild, a.Name, err)
	}
	if err := a.foreign.build(ctx, root, out, t); err != nil {
		return "", fmt.Errorf("%w: %s for %s: %w", ErrBuild, a.Name, t.Name, err)
	}
	return out, nil
}

// VMFilesFor lists every file the adapter needs inside a VM of
// architecture archName: its own executable (as built by BuildFor; Guest
// left empty for the caller to place), then its host tools at the paths it
// runs them from.
func (a Adapter) VMFilesFor(ctx context.Context, binDir, archName string) ([]initramfs.File, error) {
	t, err := arch.Get(archName)
	if err != nil {
		return nil, err
	}
	out := []initramfs.File{{Host: a.PathFor(binDir, archName)}}
	if t.IsHost() {
		if a.vmExecutable != nil {
			out[0].Host = a.vmExecutable(binDir)
		}
		for _, tool := range a.HostTools {
			out = append(out, initramfs.File{Host: tool})
		}
		return out, nil
	}
	if len(a.HostTools) > 0 && (a.foreign == nil || a.foreign.tools == nil) {
		return nil, fmt.Errorf("%w: %s on %s: no %s build of %s", ErrUnavailable, a.Name, t.Name, t.Name, strings.Join(a.HostTools, ", "))
	}
	if a.foreign != nil && a.foreign.tools != nil {
		tools, err := a.foreign.tools(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("%w: %s on %s: %w", ErrUnavailable, a.Name, t.Name, err)
		}
		out = append(out, tools...)
	}
	return out, nil
}

// VMDisksFor returns the disks the adapter's VMs of architecture archName
// need (vmtest.WithArchDisk), building them when needed; nil for most
// adapters, whose VMs need only their initramfs files.
func (a Adapter) VMDisksFor(ctx context.Context, archName string, progress func(string)) ([]vmtest.Disk, error) {
	if a.vmDisks == nil {
		return nil, nil
	}
	if err := a.AvailableFor(archName); err != nil {
		return nil, err
	}
	disks, err := a.vmDisks(ctx, progress)
	if err != nil {
		return nil, fmt.Errorf("%w: %s in VMs: %w", ErrUnavailable, a.Name, err)
	}
	return disks, nil
}

// goBuildFor is goBuild for another architecture (GOARCH).
func goBuildFor(pkg string, flags ...string) func(ctx context.Context, root, out string, a arch.Arch) error {
	return func(ctx context.Context, root, out string, a arch.Arch) error {
		args := append(append([]string{"build", "-o", out}, flags...), pkg)
		return run(ctx, root, []string{"CGO_ENABLED=0", "GOARCH=" + a.Name}, "go", args...)
	}
}

// noForeignBackports is why the bookworm-backports entries (libbpf@1.4,
// bpftool@7.5) do not run in VMs of another architecture.
const noForeignBackports = "built from bookworm-backports packages unpacked for the host's architecture; " +
	"no sysroot of the other architecture's backports packages is set up"

func cacheDir() string { return CacheDir() }

// sysroot unpacks Debian bookworm packages of architecture a into
// cacheDir/sysroot/<a>/<name> (once; debapt.Archive.Unpacked) and returns it.
func sysroot(ctx context.Context, a arch.Arch, name string, pkgs ...string) (string, map[string]string, error) {
	archive := debapt.New(cacheDir(), a.Name, debapt.Bookworm...)
	dir := filepath.Join(cacheDir(), "sysroot", a.Name, name)
	versions, err := archive.Unpacked(ctx, dir, pkgs...)
	if err != nil {
		return "", nil, fmt.Errorf("%s packages for %s: %w", a.Name, name, err)
	}
	return dir, versions, nil
}

// libbpfSysrootPackages ship the static libraries and headers the libbpf
// adapter links (libbpf.a, libelf.a, libz.a).
var libbpfSysrootPackages = []string{"libbpf-dev", "libelf-dev", "zlib1g-dev"}

func crossCC(a arch.Arch) string { return a.Triplet + "-gcc" }

func libbpfForCheck(a arch.Arch) error {
	var errs []error
	for _, tool := range []string{"make", crossCC(a)} {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("%s not found in PATH (apt-get install gcc-%s)", tool, a.Triplet))
		}
	}
	if err := debapt.CheckTools(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// libbpfFor cross-builds the libbpf adapter, statically, against the
// target architecture's libbpf-dev, libelf-dev and zlib1g-dev unpacked
// into a sysroot (the cross compiler brings libc).
func libbpfFor(ctx context.Context, root, out string, a arch.Arch) error {
	sys, versions, err := sysroot(ctx, a, "libbpf", libbpfSysrootPackages...)
	if err != nil {
		return err
	}
	include := filepath.Join(sys, "usr", "include")
	if err := wantVersion(a.Name+" libbpf-dev "+versions["libbpf-dev"], libbpfSystemVersion, func() (string, error) { return libbpfHeaderVersion(include) }); err != nil {
		return err
	}
	// The sysroot's library directory holds libelf.a and libz.a too.
	return run(ctx, root, nil, "make", "-C", filepath.Join(root, "adapters/libbpf"), "OUT="+out, "CC="+crossCC(a),
		"LIBBPF_INCLUDE="+include, "LIBBPF_LIBDIR="+filepath.Join(sys, "usr", "lib", a.Triplet),
		"PACKAGE_VERSION="+versions["libbpf-dev"])
}

// libbpfgoFor cross-builds the libbpfgo adapter (cgo) statically against
// the same sysroot as libbpfFor, with the cross compiler as cgo's CC.
func libbpfgoFor(ctx context.Context, root, out string, a arch.Arch) error {
	sys, _, err := sysroot(ctx, a, "libbpf", libbpfSysrootPackages...)
	if err != nil {
		return err
	}
	inc := filepath.Join(sys, "usr", "include")
	env := []string{"CGO_ENABLED=1", "GOARCH=" + a.Name, "CC=" + crossCC(a),
		"CGO_CFLAGS=-I" + inc + " -I" + filepath.Join(inc, a.Triplet),
		"CGO_LDFLAGS=-L" + filepath.Join(sys, "usr", "lib", a.Triplet) + " -lbpf -lelf -lz"}
	return run(ctx, filepath.Join(root, "adapters/libbpfgo"), env,
		"go", "build", "-tags", "netgo,osusergo", "-ldflags=-extldflags=-static", "-o", out, ".")
}

// bpftoolFor is bpftool for VMs of architecture a: Debian's bpftool package
// of that architecture and its library closure, unpacked into a sysroot,
// placed at systemBpftool.
func bpftoolFor(ctx context.Context, a arch.Arch) ([]initramfs.File, error) {
	archive := debapt.New(cacheDir(), a.Name, debapt.Bookworm...)
	pkgs, err := archive.Closure(ctx, "bpftool")
	if err != nil {
		return nil, err
	}
	sys, _, err := sysroot(ctx, a, "bpftool", pkgs...)
	if err != nil {
		return nil, err
	}
	return []initramfs.File{{Host: filepath.Join(sys, systemBpftool), Guest: systemBpftool, Sysroot: sys}}, nil
}
