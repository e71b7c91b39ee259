package adapters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/debapt"
	"github.com/perfconform/perfconform/internal/filelock"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/kernel"
)

// The bcc adapter (adapters/bcc/adapter.py) is Python 3 on Debian bookworm's
// python3-bpfcc (bcc 0.26), run by the system's /usr/bin/python3, which
// Debian's bcc is built for (a pyenv or venv python3 in PATH has no bcc).
// bcc compiles C at run time, so the adapter compiles each fixture's bcc
// dialect version (adapters/bcc/fixtures) instead of loading the ELF object.
// The "build" writes a launcher script: the interpreter, the adapter's path
// in this tree, the Debian package version for the info line and, when the
// running kernel has no headers where bcc looks, BCC_KERNEL_SOURCE pointing
// at Debian's headers (see bccHeaders).
const (
	bccSource = "adapters/bcc"
	bccPython = "/usr/bin/python3"
	// bccModule is where python3-bpfcc puts the bcc package.
	bccModule = "/usr/lib/python3/dist-packages/bcc/__init__.py"
	// BccControlEnv, set to BccControlIgnoreSampleCPU in the launcher, turns
	// the adapter into a negative control (every sample reported as CPU 0).
	// Test use only.
	BccControlEnv             = "PERFCONFORM_BCC_CONTROL"
	BccControlIgnoreSampleCPU = "ignore-sample-cpu"
	// bccHeadersKernel is the catalog kernel whose Debian headers bcc gets
	// on a host whose running kernel has none: the newest amd64 one.
	bccHeadersKernel = "debian-6.12"
)

// bccNoForeign is why bcc does not run in VMs of another architecture.
const bccNoForeign = "bcc's image for VMs is built from the host's installed python3-bpfcc, libbcc and LLVM; " +
	"an arm64 image needs bookworm's arm64 packages of them unpacked through debapt (not built)"

func bccAdapter() Adapter {
	return Adapter{
		Name: "bcc",
		Description: "bcc (Debian bookworm python3-bpfcc, Python 3): the fixtures in bcc's C dialect, BPF(src_file), " +
			"bpf_obj_pin on every table, open_perf_buffer + perf_buffer_poll (lost counts without their CPU); in amd64 VMs from a read-only disk image of the host's Python, libbcc and LLVM",
		Source:       bccSource,
		BuildHint:    "conform adapters --build (writes a launcher: " + bccPython + " " + bccSource + "/adapter.py)",
		NoForeign:    bccNoForeign,
		vmExecutable: bccVMExecutable,
		vmDisks: func(ctx context.Context, progress func(string)) ([]vmtest.Disk, error) {
			disk, err := BccImage(ctx, progress)
			if err != nil {
				return nil, err
			}
			return []vmtest.Disk{disk}, nil
		},
		build: func(ctx context.Context, root, out string) error {
			return buildBcc(ctx, root, out, "")
		},
		check: func(string) error {
			if _, err := os.Stat(bccPython); err != nil {
				return fmt.Errorf("%s not found: Debian's bcc runs on the system's Python 3 (apt-get install python3-bpfcc)", bccPython)
			}
			if _, err := os.Stat(bccModule); err != nil {
				return errors.New("bcc's Python module not found (apt-get install python3-bpfcc)")
			}
			if bccKernelHeaders() == "" {
				if err := debapt.CheckTools(); err != nil {
					return fmt.Errorf("the running kernel has no headers for bcc and Debian's come through apt: %w", err)
				}
			}
			return nil
		},
	}
}

// bccKernelHeaders is where bcc itself finds the running kernel's headers
// (/lib/modules/RELEASE/build, or the kheaders module's archive), or "".
func bccKernelHeaders() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	build := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]), "build")
	for _, p := range []string{build, "/sys/kernel/kheaders.tar.xz"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// bccHeaders returns a kernel source tree for BCC_KERNEL_SOURCE made of
// Debian's linux-headers packages for the catalog kernel bccHeadersKernel
// (the -common package's headers with the flavour package's generated ones
// and .config over them: bcc takes one directory), built once under
// CacheDir()/loaders/bcc-headers. bcc compiles against them; the fixtures use
// no kernel structure, so only the helper and UAPI definitions matter.
func bccHeaders(ctx context.Context, progress func(string)) (string, error) {
	k, err := (&kernel.Cache{Dir: CacheDir(), Progress: kernel.Progress(progress)}).Resolve(ctx, bccHeadersKernel)
	if err != nil {
		return "", fmt.Errorf("bcc's kernel headers (%s's): %w", bccHeadersKernel, err)
	}
	flavour := "linux-headers-" + k.Release
	common := "linux-headers-" + strings.TrimSuffix(k.Release, "-cloud-amd64") + "-common"
	dir := filepath.Join(CacheDir(), "loaders", "bcc-headers")
	tree, ksrc := filepath.Join(dir, k.Release), filepath.Join(dir, k.Release+"-ksrc")
	unlock, err := filelock.Lock(ctx, ksrc+".lock", "bcc kernel headers")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(ksrc, ".config")); err == nil {
		return ksrc, nil
	}
	archive := debapt.New(CacheDir(), "", debapt.Bookworm...)
	archive.Progress = progress
	if _, err := archive.Unpacked(ctx, tree, flavour+"="+k.Version, common+"="+k.Version); err != nil {
		return "", fmt.Errorf("bcc's kernel headers: %w", err)
	}
	tmp := ksrc + ".tmp"
	os.RemoveAll(tmp)
	src := filepath.Join(tree, "usr", "src")
	if err := run(ctx, dir, nil, "cp", "-a", filepath.Join(src, common), tmp); err != nil {
		return "", err
	}
	if err := run(ctx, dir, nil, "cp", "-a", filepath.Join(src, flavour, ".config"), filepath.Join(src, flavour, "include"),
		filepath.Join(src, flavour, "arch"), tmp+"/"); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, ksrc); err != nil {
		return "", err
	}
	return ksrc, nil
}

// buildBcc writes the launcher to out (with a negative-control setting of
// BccControlEnv if not empty) and, for VMs, the static program that enters
// the bcc image (bccVMExecutable; the image itself is built when a VM run
// asks for it: BccImage).
func buildBcc(ctx context.Context, root, out, control string) error {
	pkg, err := bccPackageVersion(ctx)
	if err != nil {
		return err
	}
	ksrc := ""
	if have := bccKernelHeaders(); have == "" {
		if ksrc, err = bccHeaders(ctx, func(msg string) { fmt.Fprintln(os.Stderr, "bcc adapter:", msg) }); err != nil {
			return err
		}
	}
	script := bccLauncher(pkg, ksrc, control, filepath.Join(root, bccSource, "adapter.py"))
	if err := writeExecutable(strings.NewReader(script), out); err != nil {
		return err
	}
	if control != "" {
		return nil
	}
	vm := bccVMExecutable(filepath.Dir(out))
	if err := os.MkdirAll(filepath.Dir(vm), 0o755); err != nil {
		return err
	}
	return goBuild("./"+bccSource+"/vm")(ctx, root, vm)
}

// bccLauncher is the launcher script: the Debian package version for the
// info line, BCC_KERNEL_SOURCE when ksrc is not empty (Debian's headers for
// a kernel that has none where bcc looks), the negative-control setting,
// then the system's Python on adapterPy.
func bccLauncher(pkg, ksrc, control, adapterPy string) string {
	var script strings.Builder
	fmt.Fprintf(&script, "#!/bin/sh\n# perfconform's bcc adapter, written by adapters/bcc.go (conform adapters --build).\n")
	fmt.Fprintf(&script, "export PERFCONFORM_BCC_PACKAGE=%s\n", shellQuote(pkg))
	if ksrc != "" {
		fmt.Fprintf(&script, "# No headers of the running kernel where bcc looks: Debian's %s headers instead.\n", bccHeadersKernel)
		fmt.Fprintf(&script, "export BCC_KERNEL_SOURCE=%s\n", shellQuote(ksrc))
	}
	if control != "" {
		fmt.Fprintf(&script, "# Negative control, for tests only.\nexport %s=%s\n", BccControlEnv, shellQuote(control))
	}
	fmt.Fprintf(&script, "exec %s %s \"$@\"\n", bccPython, shellQuote(adapterPy))
	return script.String()
}

// BuildBccControl writes the bcc adapter's negative control to out: the
// same adapter reporting every sample as CPU 0.
func BuildBccControl(ctx context.Context, out string) error {
	return buildControlOf(ctx, "bcc", out, BccControlIgnoreSampleCPU, buildBcc)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
