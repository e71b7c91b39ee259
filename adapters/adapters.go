// Package adapters is the registry of the loaders perfconform can run through
// the adapter protocol: their names, how to build each one, where the built
// executable lives under a bin directory, whether it can run on this machine
// (and why not), and which host files it needs inside a VM. It also builds
// the negative-control adapters in adapters/testdata.
//
// The protocol itself is in package protocol and docs/ADAPTERS.md; the client
// the suite drives adapters with is package process.
package adapters

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
)

var (
	// ErrUnknownAdapter: no built-in adapter has that name.
	ErrUnknownAdapter = errors.New("unknown adapter")
	// ErrUnavailable: the adapter cannot be built or run on this machine.
	ErrUnavailable = errors.New("adapter unavailable here")
	// ErrBuild: building an adapter failed.
	ErrBuild = errors.New("adapter build failed")
)

// Adapter describes one built-in adapter.
type Adapter struct {
	// Name is what results carry (result.Result.Loader) and what the
	// adapter's info line reports: the base name, plus "@version" for a
	// loader perfconform runs at several versions ("libbpf@1.4",
	// "cilium-ebpf@v0.12.3"; syntax in result.LoaderName).
	Name string
	// Default marks the version a bare base name runs ("libbpf" is
	// libbpf@1.1): Get resolves it, results still carry Name.
	Default bool
	// Description says which loader it wraps and how.
	Description string
	// Source is the adapter's directory (or, for a cilium/ebpf release, its
	// go.mod) relative to the module root.
	Source string
	// BuildHint is the command that builds it by hand, for humans.
	BuildHint string
	// Static says the executable has no shared-library dependencies.
	Static bool
	// HostTools are host executables (absolute paths) the adapter runs; a VM
	// needs them at the same path, with their shared-library closure. They
	// may live in the cache (bpftool@7.5 under CacheDir()).
	HostTools []string

	build func(ctx context.Context, root, out string) error
	// check returns why the adapter cannot be built or run here, or nil.
	check func(root string) error
	// foreign builds and equips the adapter for VMs of an architecture
	// other than the host's (arm64 guests on an amd64 host); nil means it
	// cannot run there, and NoForeign says why.
	foreign   *foreignBuild
	NoForeign string
	// vmExecutable, when set, is the adapter's executable in VMs of the
	// host's architecture (instead of Path), and vmDisks the disks those
	// VMs need (bcc: a program that enters the bcc image, and the image).
	vmExecutable func(binDir string) string
	vmDisks      func(ctx context.Context, progress func(string)) ([]vmtest.Disk, error)
}

// Base is the loader's name without its version ("libbpf").
func (a Adapter) Base() string { return result.ParseLoaderName(a.Name).Base }

// Version is the version in the name ("1.4"), "" for an unversioned adapter.
func (a Adapter) Version() string { return result.ParseLoaderName(a.Name).Version }

// Path is where Build puts the adapter's executable under binDir.
func (a Adapter) Path(binDir string) string { return filepath.Join(binDir, a.Name) }

// VMExecutables lists every executable the adapter needs inside a VM: its
// own binary under binDir, then HostTools. The VM harness copies each one and,
// for dynamically linked ones, its library closure.
func (a Adapter) VMExecutables(binDir string) []string {
	if a.vmExecutable != nil {
		return append([]string{a.vmExecutable(binDir)}, a.HostTools...)
	}
	return append([]string{a.Path(binDir)}, a.HostTools...)
}

// Available returns nil if the adapter can be built and run on this machine,
// or an error wrapping ErrUnavailable that says what is missing.
func (a Adapter) Available() error {
	root, err := ModuleRoot()
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, a.Name, err)
	}
	if _, err := os.Stat(filepath.Join(root, a.Source)); err != nil {
		return fmt.Errorf("%w: %s: source %s not in this tree", ErrUnavailable, a.Name, a.Source)
	}
	if a.check != nil {
		if err := a.check(root); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnavailable, a.Name, err)
		}
	}
	return nil
}

// Build builds the adapter into a.Path(binDir).
func (a Adapter) Build(ctx context.Context, binDir string) (string, error) {
	if err := a.Available(); err != nil {
		return "", err
	}
	root, _ := ModuleRoot()
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrBuild, a.Name, err)
	}
	out, err := filepath.Abs(a.Path(binDir))
	if err != nil {
		return "", err
	}
	if err := a.build(ctx, root, out); err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrBuild, a.Name, err)
	}
	return out, nil
}

// builtins is the registry. To add an adapter: put its source under
// adapters/NAME, add an entry here (goAdapter for a Go main package), and
// list any host program it runs in HostTools. A loader run at several
// versions has one entry per version, named NAME@VERSION, one of them
// Default (versions.go builds the versioned ones).
var builtins = slices.Concat([]Adapter{
	// The reference loader's adapter slot: it becomes available as soon as
	// its main package exists at adapters/reference (a Go program that calls
	// adapterkit.Main with the reference loader, like adapters/cilium-ebpf).
	goAdapter("reference", "perfconform's reference loader (package reference) behind the protocol", "adapters/reference"),
},
	ciliumAdapters(),
	[]Adapter{libbpfSystem(), libbpfBackports(), libbpfTrixie(), bpftoolSystem(), bpftoolBackports(), libbpfgoAdapter},
	[]Adapter{ayaAdapter()},      // adapters/aya.go: Rust, cargo offline against Debian trixie's crates
	[]Adapter{libbpfRsAdapter()}, // adapters/libbpfrs.go: the same, linked with bookworm-backports' libbpf.a
	[]Adapter{bccAdapter()},      // adapters/bcc.go: Python on the system's python3-bpfcc, host only
)

// libbpfgo is a module of its own (cgo against libbpf), so the main module
// does not depend on it; the Go module proxy provides libbpfgo itself.
var libbpfgoAdapter = Adapter{
	Name:        "libbpfgo",
	Description: "github.com/aquasecurity/libbpfgo v0.4.6-libbpf-1.1.0 (cgo, static against Debian's libbpf 1.1): NewModuleFromFile, SetPinPath, BPFLoadObject, InitPerfBuf (samples and lost counts on channels, without their CPU)",
	Source:      "adapters/libbpfgo",
	BuildHint:   "cd adapters/libbpfgo && CGO_ENABLED=1 CGO_LDFLAGS='-lbpf -lelf -lz' go build -tags netgo,osusergo -ldflags=-extldflags=-static -o ../../bin/libbpfgo .",
	Static:      true,
	build: func(ctx context.Context, root, out string) error {
		return run(ctx, filepath.Join(root, "adapters/libbpfgo"), []string{"CGO_ENABLED=1", "CGO_LDFLAGS=-lbpf -lelf -lz"},
			"go", "build", "-tags", "netgo,osusergo", "-ldflags=-extldflags=-static", "-o", out, ".")
	},
	check:   staticLibbpf,
	foreign: &foreignBuild{build: libbpfgoFor, check: libbpfForCheck},
}

// staticLibbpf says what is missing to link against Debian's libbpf
// statically (the libbpf@1.1 and libbpfgo adapters), or nil.
func staticLibbpf(string) error { return libbpfBuildTools("libbpf.a", "libelf.a", "libz.a") }

func goAdapter(name, desc, dir string) Adapter {
	return Adapter{
		Name:        name,
		Description: desc,
		Source:      dir,
		BuildHint:   "CGO_ENABLED=0 go build -o bin/" + name + " ./" + dir,
		Static:      true,
		build:       goBuild("./" + dir),
		foreign:     &foreignBuild{build: goBuildFor("./" + dir)},
	}
}

// goBuild builds the main package pkg statically, with any extra go build
// flags (-modfile, -ldflags) before the package.
func goBuild(pkg string, flags ...string) func(ctx context.Context, root, out string) error {
	return func(ctx context.Context, root, out string) error {
		args := append(append([]string{"build", "-o", out}, flags...), pkg)
		return run(ctx, root, []string{"CGO_ENABLED=0"}, "go", args...)
	}
}

func runtimeTriplet() string {
	if runtime.GOARCH == "arm64" {
		return "aarch64-linux-gnu"
	}
	return "x86_64-linux-gnu"
}

// run runs a build command in dir, with its output in the error.
func run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// All returns the built-in adapters, in a stable order.
func All() []Adapter { return append([]Adapter(nil), builtins...) }

// Get returns the built-in adapter called name: its full name
// ("libbpf@1.4"; a leading "v" in the version is optional), or a bare base
// name ("libbpf") for the base's Default version. This is the one place a
// --loader name becomes an adapter; results carry the adapter's Name.
func Get(name string) (Adapter, error) {
	want := result.ParseLoaderName(name)
	var versions []string
	for _, a := range builtins {
		if a.Base() != want.Base {
			continue
		}
		if a.Name == name || (want.Version != "" && result.SameVersion(a.Version(), want.Version)) ||
			(want.Version == "" && (a.Default || a.Version() == "")) {
			return a, nil
		}
		versions = append(versions, a.Name)
	}
	if len(versions) > 0 {
		return Adapter{}, fmt.Errorf("%w %q (versions built in: %s)", ErrUnknownAdapter, name, strings.Join(versions, ", "))
	}
	return Adapter{}, fmt.Errorf("%w %q", ErrUnknownAdapter, name)
}

// Build builds the named adapters (all available ones if names is empty)
// into binDir and returns name -> executable path. Every adapter is tried;
// the error joins every failure.
func Build(ctx context.Context, binDir string, names ...string) (map[string]string, error) {
	var list []Adapter
	if len(names) == 0 {
		for _, a := range builtins {
			if a.Available() == nil {
				list = append(list, a)
			}
		}
	} else {
		for _, n := range names {
			a, err := Get(n)
			if err != nil {
				return nil, err
			}
			list = append(list, a)
		}
	}
	built := map[string]string{}
	var errs []error
	for _, a := range list {
		path, err := a.Build(ctx, binDir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		built[a.Name] = path
	}
	return built, errors.Join(errs...)
}

// ModuleRoot is the perfconform source tree this package was compiled from.
// Building adapters needs it (and the Go toolchain).
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the perfconform source tree")
	}
	root := filepath.Dir(filepath.Dir(file))
	if !filepath.IsAbs(root) {
		// Built with -trimpath (a static guest build): the source is found
		// from the working directory up, as in a checkout.
		if r, ok := moduleRootAbove(); ok {
			return r, nil
		}
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("perfconform source tree not found at %s (adapters are built from source): %w", root, err)
	}
	return root, nil
}

// moduleRootAbove finds the perfconform module's root in the working
// directory or one above it.
func moduleRootAbove() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(data, []byte("module github.com/perfconform/perfconform\n")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// CacheDir is perfconform's directory under the user cache directory
// (~/.cache/perfconform, the same one the VM harness keeps kernels in).
func CacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "perfconform")
}

// DefaultBinDir is where the CLI builds adapters unless told otherwise:
// CacheDir()/bin.
func DefaultBinDir() string { return filepath.Join(CacheDir(), "bin") }
