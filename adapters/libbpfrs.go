package adapters

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/perfconform/perfconform/internal/debapt"
)

// The libbpf-rs adapter (adapters/libbpf-rs) is Rust, built like the aya
// adapter: cargo offline against Debian trixie's crates (librust-libbpf-rs-dev
// 0.25.0~beta.1 and its closure), statically (crt-static). Debian's
// libbpf-sys (1.5.0) has no vendoring features and links the libbpf it is
// pointed at; trixie's libbpf.a needs glibc 2.38 functions that only the C
// adapter's shim supplies on bookworm (libbpf@1.5, adapters/libbpf/c23compat.c,
// kept to that adapter), so it is linked against bookworm-backports' libbpf.a
// 1.4.6 (the libbpf@1.4 entry's), with the system's libelf.a and libz.a.
// `info` names both libbpf-rs and that libbpf.
const (
	libbpfRsSource = "adapters/libbpf-rs"
	libbpfRsBinary = "libbpf-rs-perfconform"
	// LibbpfRsControlFeature turns the libbpf-rs adapter into a negative
	// control: its sample callback drops the CPU libbpf passes and reports
	// every record as CPU 0. Test use only.
	LibbpfRsControlFeature = "control-ignore-sample-cpu"
)

// libbpfRsCratePackages are the Debian packages of the adapter's direct
// dependencies (adapters/libbpf-rs/Cargo.toml).
var libbpfRsCratePackages = []string{
	"librust-libbpf-rs-dev", "librust-libc-dev", "librust-base64-dev", "librust-serde-json-dev",
}

func libbpfRsProject(libdir, pkgVersion string) cargoProject {
	return cargoProject{
		name: "libbpf-rs", source: libbpfRsSource, binary: libbpfRsBinary, packages: libbpfRsCratePackages,
		tree: filepath.Join(CacheDir(), "crates", "trixie-libbpf-rs"), mustHave: "libbpf-rs-0.25.0-beta.1",
		work: filepath.Join(CacheDir(), "cargo-libbpf-rs"),
		env: []string{
			// libbpf-sys's build script adds it to the link search path,
			// ahead of the system's directory (which has libbpf.a 1.1).
			"LIBBPF_SYS_LIBRARY_PATH=" + libdir,
			"PERFCONFORM_LIBBPF_PACKAGE=" + pkgVersion,
		},
	}
}

func libbpfRsAdapter() Adapter {
	libdir := filepath.Join(BackportsDir(), "usr", "lib", runtimeTriplet())
	return Adapter{
		Name: "libbpf-rs",
		Description: "libbpf-rs 0.25.0-beta.1 (Rust, Debian trixie's crates, static against bookworm-backports' libbpf 1.4.6): " +
			"ObjectBuilder::open_file, set_pin_path on every map, load, PerfBufferBuilder (samples and lost counts with their CPU)",
		Source:    libbpfRsSource,
		BuildHint: "conform adapters --build (cargo offline against Debian trixie's librust-*-dev crates, LIBBPF_SYS_LIBRARY_PATH=" + libdir + "; see docs/ADAPTERS.md)",
		Static:    true,
		NoForeign: "it is built with the host's Rust toolchain against the host architecture's backports libbpf.a only",
		build: func(ctx context.Context, root, out string) error {
			return buildLibbpfRs(ctx, root, out, "")
		},
		check: func(string) error {
			if _, err := findRust(); err != nil {
				return err
			}
			if err := debapt.CheckTools(); err != nil {
				return fmt.Errorf("the crates come from Debian trixie and libbpf from bookworm-backports: %w", err)
			}
			if _, err := exec.LookPath("cc"); err != nil {
				return errors.New("cc not found in PATH: cargo links with it (apt-get install gcc libc6-dev)")
			}
			return libbpfBuildTools("libelf.a", "libz.a", "libc.a")
		},
	}
}

// buildLibbpfRs unpacks bookworm-backports' libbpf (as libbpf@1.4 does) and
// builds the adapter against it, with a cargo feature if not empty.
func buildLibbpfRs(ctx context.Context, root, out, feature string) error {
	versions, err := backports(ctx)
	if err != nil {
		return err
	}
	include := filepath.Join(BackportsDir(), "usr", "include")
	if err := wantVersion("bookworm-backports libbpf-dev "+versions["libbpf-dev"], libbpfBackportsVersion, func() (string, error) { return libbpfHeaderVersion(include) }); err != nil {
		return err
	}
	libdir := filepath.Join(BackportsDir(), "usr", "lib", runtimeTriplet())
	if _, err := os.Stat(filepath.Join(libdir, "libbpf.a")); err != nil {
		return err
	}
	return libbpfRsProject(libdir, versions["libbpf-dev"]).build(ctx, root, out, feature)
}

// BuildLibbpfRsControl builds the libbpf-rs adapter's negative control
// (LibbpfRsControlFeature) into out.
func BuildLibbpfRsControl(ctx context.Context, out string) error {
	return buildControlOf(ctx, "libbpf-rs", out, LibbpfRsControlFeature, buildLibbpfRs)
}
