package adapters

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/perfconform/perfconform/internal/debapt"
	"github.com/perfconform/perfconform/internal/filelock"
)

// The aya adapter (adapters/aya) is Rust, built with cargo offline against
// the crates Debian trixie packages (librust-*-dev: aya 0.13.1 and its
// closure), which perfconform fetches itself through internal/debapt and
// never installs. Nothing is fetched from crates.io: cargo's crates-io source
// is replaced by the unpacked tree's /usr/share/cargo/registry, a directory
// source (Debian ships each crate with the .cargo-checksum.json it needs).
// The adapter is linked statically (crt-static), checked after every build.
const (
	ayaSource = "adapters/aya"
	// ayaBinary is cargo's name for the executable (Cargo.toml's package).
	ayaBinary = "aya-perfconform"
	// AyaControlFeature is the cargo feature that turns the aya adapter into
	// a negative control: perf readers opened on CPUs 0..nr_cpus() (the
	// possible-CPU count) instead of aya::util::online_cpus(). Test use only.
	AyaControlFeature = "control-readers-on-possible-cpus"
)

// ayaMinRust is aya 0.13.1's rust-version.
var ayaMinRust = [2]int{1, 80}

// ayaCratePackages are the Debian packages of the adapter's direct
// dependencies (adapters/aya/Cargo.toml); their closure is fetched.
var ayaCratePackages = []string{
	"librust-aya-dev", "librust-tokio-dev", "librust-bytes-dev", "librust-libc-dev",
	"librust-base64-dev", "librust-serde-json-dev",
}

func ayaAdapter() Adapter {
	return Adapter{
		Name: "aya",
		Description: "aya 0.13.1 (Rust, Debian trixie's crates, static): EbpfLoader::map_pin_path + load_file, " +
			"Map::pin, programs loaded unattached, AsyncPerfEventArray::open on every online CPU (tokio)",
		Source:    ayaSource,
		BuildHint: "conform adapters --build (cargo offline against Debian trixie's librust-*-dev crates; see docs/ADAPTERS.md)",
		Static:    true, // -C target-feature=+crt-static
		NoForeign: "it is built with the host's Rust toolchain only: a build for arm64 VMs needs the aarch64 Rust standard library " +
			"(rustup target add aarch64-unknown-linux-gnu), which perfconform does not set up",
		build: func(ctx context.Context, root, out string) error {
			return buildAya(ctx, root, out, "")
		},
		check: func(string) error {
			if _, err := findRust(); err != nil {
				return err
			}
			if err := debapt.CheckTools(); err != nil {
				return fmt.Errorf("the crates come from Debian trixie: %w", err)
			}
			if _, err := exec.LookPath("cc"); err != nil {
				return errors.New("cc not found in PATH: cargo links with it (apt-get install gcc libc6-dev)")
			}
			if _, err := os.Stat(filepath.Join("/usr/lib", runtimeTriplet(), "libc.a")); err != nil {
				return errors.New("static libc.a not found: the adapter is linked statically (apt-get install libc6-dev)")
			}
			return nil
		},
	}
}

// buildControlOf builds the negative-control variant of the built-in
// adapter name into out: its own source built by build with variant (a
// cargo feature, a switch in the launcher) on.
func buildControlOf(ctx context.Context, name, out, variant string, build func(ctx context.Context, root, out, variant string) error) error {
	a, err := Get(name)
	if err != nil {
		return err
	}
	if err := a.Available(); err != nil {
		return err
	}
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	if err := build(ctx, root, out, variant); err != nil {
		return fmt.Errorf("%w: %s control: %w", ErrBuild, name, err)
	}
	return nil
}

// BuildAyaControl builds the aya adapter's negative control (AyaControlFeature)
// into out: the same source with one cargo feature switched on, so the suite
// can be shown to catch readers opened on possible instead of online CPUs.
func BuildAyaControl(ctx context.Context, out string) error {
	return buildControlOf(ctx, "aya", out, AyaControlFeature, buildAya)
}

// rustToolchain is where cargo and rustc are.
type rustToolchain struct {
	cargo, rustc string
	version      string // "1.95.0"
}

// findRust finds cargo and rustc ≥ ayaMinRust side by side: in PATH first,
// then where rustup puts them ($HOME/.cargo/bin, which is often not in a
// root shell's PATH), and says what is missing otherwise.
func findRust() (rustToolchain, error) {
	var dirs []string
	if p, err := exec.LookPath("rustc"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	if p, err := exec.LookPath("cargo"); err == nil && !slices.Contains(dirs, filepath.Dir(p)) {
		dirs = append(dirs, filepath.Dir(p))
	}
	if home, err := os.UserHomeDir(); err == nil && !slices.Contains(dirs, filepath.Join(home, ".cargo", "bin")) {
		dirs = append(dirs, filepath.Join(home, ".cargo", "bin"))
	}
	want := fmt.Sprintf("%d.%d", ayaMinRust[0], ayaMinRust[1])
	var found []string
	for _, d := range dirs {
		tc := rustToolchain{cargo: filepath.Join(d, "cargo"), rustc: filepath.Join(d, "rustc")}
		if !isExecutable(tc.cargo) || !isExecutable(tc.rustc) {
			continue
		}
		out, err := exec.Command(tc.rustc, "--version").Output()
		if err != nil {
			found = append(found, fmt.Sprintf("%s --version: %v", tc.rustc, err))
			continue
		}
		major, minor, version, err := parseRustcVersion(string(out))
		if err != nil {
			found = append(found, fmt.Sprintf("%s: %v", tc.rustc, err))
			continue
		}
		if major < ayaMinRust[0] || major == ayaMinRust[0] && minor < ayaMinRust[1] {
			found = append(found, fmt.Sprintf("%s is rustc %s", tc.rustc, version))
			continue
		}
		tc.version = version
		return tc, nil
	}
	what := fmt.Sprintf("no cargo and rustc side by side in PATH or $HOME/.cargo/bin (looked in %s)", strings.Join(dirs, ", "))
	if len(found) > 0 {
		what = strings.Join(found, "; ")
	}
	return rustToolchain{}, fmt.Errorf("%s: the aya adapter needs rustc ≥ %s and cargo (install rustup's stable toolchain into ~/.cargo/bin, or Debian's rustc-web and cargo-web: apt-get install rustc-web cargo-web)", what, want)
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// parseRustcVersion reads "rustc 1.95.0 (59807616e 2026-04-14)".
func parseRustcVersion(s string) (major, minor int, version string, err error) {
	f := strings.Fields(s)
	if len(f) < 2 || f[0] != "rustc" {
		return 0, 0, "", fmt.Errorf("unexpected rustc --version output %q", strings.TrimSpace(s))
	}
	parts := strings.SplitN(f[1], ".", 3)
	if len(parts) >= 2 {
		major, err = strconv.Atoi(parts[0])
		if err == nil {
			minor, err = strconv.Atoi(parts[1])
		}
		if err == nil {
			return major, minor, f[1], nil
		}
	}
	return 0, 0, "", fmt.Errorf("unexpected rustc version %q", f[1])
}

// rustTarget is the target triple the adapter is built for: explicit, so
// crt-static applies to the adapter and not to build scripts and proc-macros.
func rustTarget() string {
	if runtime.GOARCH == "arm64" {
		return "aarch64-unknown-linux-gnu"
	}
	return "x86_64-unknown-linux-gnu"
}

// cargoProject is a Rust adapter built with cargo offline against Debian
// trixie's crates: the aya and libbpf-rs adapters.
type cargoProject struct {
	name   string // the adapter, for messages and the lock ("aya")
	source string // its directory relative to the module root
	binary string // cargo's name for the executable (Cargo.toml's package)
	// packages are the Debian packages of its direct dependencies; their
	// closure's librust-*-dev packages are unpacked into tree.
	packages []string
	tree     string // where the crates are unpacked
	mustHave string // a crate directory the registry must hold ("aya-0.13.1")
	work     string // cargo's home, configuration and target directory
	env      []string
}

// ayaProject is the aya adapter's build. Its crate tree and cargo directory
// keep the paths they had before libbpf-rs had its own.
func ayaProject() cargoProject {
	return cargoProject{
		name: "aya", source: ayaSource, binary: ayaBinary, packages: ayaCratePackages,
		tree: filepath.Join(CacheDir(), "crates", "trixie"), mustHave: "aya-0.13.1",
		work: filepath.Join(CacheDir(), "cargo"),
	}
}

// crates returns the cargo directory source of Debian trixie's crates,
// fetching and unpacking them into the cache the first time (and when the
// wanted packages change). Only librust-*-dev packages are taken from the
// closure: the others (compilers, libc6-dev...) are build tools Debian's
// packaging wants, not crate sources. Each project has a tree of its own, so
// one project's fetch never swaps the tree under another's cargo build.
func (p cargoProject) crates(ctx context.Context, progress func(string)) (string, error) {
	registry := filepath.Join(p.tree, "usr", "share", "cargo", "registry")
	marker := p.tree + ".wanted" // the packages the tree was made for
	want := strings.Join(p.packages, "\n") + "\n"
	if b, err := os.ReadFile(marker); err == nil && string(b) == want {
		if _, err := os.Stat(registry); err == nil {
			return registry, nil
		}
	}
	archive := debapt.New(CacheDir(), debapt.HostArch(), debapt.Trixie...)
	archive.Progress = progress
	closure, err := archive.Closure(ctx, p.packages...)
	if err != nil {
		return "", fmt.Errorf("%s's crates from Debian trixie: %w", p.name, err)
	}
	crates := slices.DeleteFunc(closure, func(p string) bool { return !strings.HasPrefix(p, "librust-") })
	if _, err := archive.Unpacked(ctx, p.tree, crates...); err != nil {
		return "", fmt.Errorf("%s's crates from Debian trixie: %w", p.name, err)
	}
	if _, err := os.Stat(filepath.Join(registry, p.mustHave)); err != nil {
		return "", fmt.Errorf("%s's crates from Debian trixie: %s has no %s (trixie's packages changed?)", p.name, registry, p.mustHave)
	}
	if err := os.WriteFile(marker, []byte(want), 0o644); err != nil {
		return "", err
	}
	return registry, nil
}

// cargoConfig is the configuration the adapter is built with: crates.io
// replaced by the Debian directory source, and no network.
func cargoConfig(registry string) string {
	return fmt.Sprintf(`# Generated by perfconform (adapters/aya.go): build against Debian's crates, offline.
[source.crates-io]
replace-with = "debian-trixie"

[source.debian-trixie]
directory = %q

[net]
offline = true
`, registry)
}

// buildAya builds the aya adapter (with a cargo feature, if not empty).
func buildAya(ctx context.Context, root, out, feature string) error {
	return ayaProject().build(ctx, root, out, feature)
}

// build fetches the crates if needed and builds the adapter (with a cargo
// feature, if not empty) into out. Cargo's state lives under the cache: its
// home (so the user's ~/.cargo/config.toml plays no part), the generated
// configuration and the target directory, which keeps rebuilds incremental.
// One build of a project at a time: the fetch swaps the crate tree, and
// cargo's output is copied from a path every build shares.
func (p cargoProject) build(ctx context.Context, root, out, feature string) error {
	tc, err := findRust()
	if err != nil {
		return err
	}
	unlock, err := filelock.Lock(ctx, filepath.Join(p.work, p.name+".lock"), p.name+" adapter build")
	if err != nil {
		return err
	}
	defer unlock()
	registry, err := p.crates(ctx, func(msg string) { fmt.Fprintln(os.Stderr, p.name+" adapter:", msg) })
	if err != nil {
		return err
	}
	config := filepath.Join(p.work, "config.toml")
	if err := os.MkdirAll(filepath.Join(p.work, "home"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(config, []byte(cargoConfig(registry)), 0o644); err != nil {
		return err
	}
	target := rustTarget()
	args := []string{"build", "--release", "--locked", "--offline",
		"--manifest-path", filepath.Join(root, p.source, "Cargo.toml"),
		"--target", target, "--target-dir", filepath.Join(p.work, "target"),
		"--config", config}
	if feature != "" {
		args = append(args, "--features", feature)
	}
	env := append([]string{
		"CARGO_HOME=" + filepath.Join(p.work, "home"),
		"RUSTC=" + tc.rustc,
		// rustup's proxies and cargo find their tools next to themselves.
		"PATH=" + filepath.Dir(tc.cargo) + string(os.PathListSeparator) + os.Getenv("PATH"),
		// Statically linked, so it runs in a VM as is. The encoded form wins
		// over RUSTFLAGS and any configured rustflags; with an explicit
		// --target it applies to the adapter, not to build scripts and
		// proc-macros (which must stay dynamic).
		"CARGO_ENCODED_RUSTFLAGS=-Ctarget-feature=+crt-static",
	}, p.env...)
	fmt.Fprintf(os.Stderr, "%s adapter: cargo build (rustc %s; the first build compiles every crate, a few minutes)\n", p.name, tc.version)
	if err := run(ctx, root, env, tc.cargo, args...); err != nil {
		if strings.Contains(err.Error(), "failed to select a version") || strings.Contains(err.Error(), "lock file") {
			return fmt.Errorf("%w\n(%s/Cargo.lock pins crate versions the unpacked trixie crates in %s do not have: remove %s to fetch them again, or update Cargo.lock against them)",
				err, p.source, registry, filepath.Dir(registry))
		}
		return err
	}
	built := filepath.Join(p.work, "target", target, "release", p.binary)
	if err := checkStatic(built); err != nil {
		return err
	}
	return copyExecutable(built, out)
}

// checkStatic makes sure the registry's Static claim holds: an executable
// with a dynamic loader would need its libraries copied into the VMs.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: -C target-feature=+crt-static did not apply", path)
		}
	}
	// A static-pie relocates itself and has no loader to resolve a symbol:
	// one left undefined (a shared library's, linked in by mistake) crashes
	// it before main.
	syms, _ := f.DynamicSymbols() // none: nothing to resolve
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF && elf.ST_BIND(s.Info) == elf.STB_GLOBAL && s.Name != "" {
			return fmt.Errorf("%s is static but leaves %s undefined: a shared library was linked into it", path, s.Name)
		}
	}
	return nil
}

// copyExecutable copies src to dst through a temporary file and a rename, so
// a running copy of dst is never overwritten in place.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeExecutable(in, dst)
}

// writeExecutable writes what r holds to dst as an executable, through a
// temporary file and a rename (see copyExecutable).
func writeExecutable(r io.Reader, dst string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
