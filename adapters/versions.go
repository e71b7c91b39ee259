package adapters

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/internal/debapt"
	"github.com/perfconform/perfconform/vmtest/arch"
)

// The loaders perfconform runs at several versions, each its own registry
// entry NAME@VERSION (docs/ADAPTERS.md, "Versions"):
//
//   - cilium-ebpf: one entry per release in CiliumVersions. The default is
//     the release in go.mod, built as the main module; every other release
//     builds the same main package (adapters/cilium-ebpf) with
//     go build -modfile=adapters/cilium-ebpf/versions/VERSION.mod, a go.mod
//     that requires exactly that release (and a go.sum beside it).
//   - libbpf and bpftool: Debian bookworm's (the system's libbpf-dev 1.1 and
//     /usr/sbin/bpftool 7.1, the defaults) and bookworm-backports' (libbpf-dev
//     1.4.6 and bpftool 7.5), the latter unpacked into BackportsDir() through
//     internal/debapt, never installed: the system keeps its own packages.

// CiliumVersions are the cilium/ebpf releases with an adapter, oldest first.
// They span the perf reader's and the sizing code's history: v0.16.0 started
// filing rings by their position among the CPUs that have one (issue 2100);
// earlier ones kept a nil slot per offline CPU. CiliumDefault is go.mod's.
var CiliumVersions = []string{"v0.9.1", "v0.11.0", "v0.12.3", "v0.15.0", "v0.16.0", "v0.17.3", "v0.19.0", CiliumDefault}

// CiliumDefault is the cilium/ebpf release the main module requires (go.mod;
// a test keeps them equal): what --loader cilium-ebpf runs.
const CiliumDefault = "v0.22.0"

// ciliumModfile is the go.mod a cilium/ebpf release other than the default
// is built with, relative to the module root.
func ciliumModfile(version string) string {
	return filepath.Join("adapters", "cilium-ebpf", "versions", version+".mod")
}

func ciliumAdapters() []Adapter {
	const how = "rlimit.RemoveMemlock, LoadCollectionSpec + NewCollectionWithOptions (defaults; maps PinByName under the pin dir), perf.NewReader"
	var out []Adapter
	for _, v := range CiliumVersions {
		a := Adapter{
			Name:        "cilium-ebpf@" + v,
			Description: "github.com/cilium/ebpf " + v + ": " + how,
			Source:      "adapters/cilium-ebpf",
			BuildHint:   "CGO_ENABLED=0 go build -o bin/cilium-ebpf@" + v + " ./adapters/cilium-ebpf",
			Static:      true,
			build:       goBuild("./adapters/cilium-ebpf"),
			foreign:     &foreignBuild{build: goBuildFor("./adapters/cilium-ebpf")},
		}
		if v == CiliumDefault {
			a.Default = true
		} else {
			mod := ciliumModfile(v)
			a.Source = mod
			a.BuildHint = "CGO_ENABLED=0 go build -modfile=" + mod + " -o bin/cilium-ebpf@" + v + " ./adapters/cilium-ebpf"
			a.build = func(ctx context.Context, root, out string) error {
				return goBuild("./adapters/cilium-ebpf", "-modfile="+filepath.Join(root, mod))(ctx, root, out)
			}
			a.foreign = &foreignBuild{build: func(ctx context.Context, root, out string, t arch.Arch) error {
				return goBuildFor("./adapters/cilium-ebpf", "-modfile="+filepath.Join(root, mod))(ctx, root, out, t)
			}}
		}
		out = append(out, a)
	}
	return out
}

// The versions of the Debian packages the system and backports entries are
// named after (major.minor, as libbpf and bpftool report themselves).
const (
	libbpfSystemVersion     = "1.1"
	libbpfBackportsVersion  = "1.4"
	libbpfTrixieVersion     = "1.5"
	bpftoolSystemVersion    = "7.1"
	bpftoolBackportsVersion = "7.5"
	systemBpftool           = "/usr/sbin/bpftool"
	libbpfHow               = "bpf_object__open_file, bpf_map__set_pin_path, bpf_object__load, perf_buffer__new/__poll"
	bpftoolHow              = "prog loadall ... pinmaps, then one map event_pipe per perf array"
)

// BackportsDir is where libbpf-dev and bpftool from bookworm-backports are
// unpacked (CacheDir()/loaders/bookworm-backports): libbpf@1.4 builds
// against its usr/include and libbpf.a, bpftool@7.5 runs its usr/sbin/bpftool
// (in a VM too, at the same path).
func BackportsDir() string { return filepath.Join(CacheDir(), "loaders", "bookworm-backports") }

// backports downloads and unpacks the backports packages into BackportsDir
// (once; debapt keeps a stamp) and returns package -> Debian version.
func backports(ctx context.Context) (map[string]string, error) {
	if err := debapt.CheckTools(); err != nil {
		return nil, err
	}
	a := debapt.New(CacheDir(), "", debapt.BookwormBackports...)
	return a.Unpacked(ctx, BackportsDir(), "libbpf-dev", "bpftool")
}

func libbpfSystem() Adapter {
	return Adapter{
		Name:        "libbpf@" + libbpfSystemVersion,
		Default:     true,
		Description: "libbpf " + libbpfSystemVersion + " (Debian bookworm libbpf-dev, linked statically): " + libbpfHow,
		Source:      "adapters/libbpf",
		BuildHint:   "make -C adapters/libbpf OUT=bin/libbpf@" + libbpfSystemVersion,
		Static:      true,
		build: func(ctx context.Context, root, out string) error {
			pkg, _ := exec.CommandContext(ctx, "dpkg-query", "-W", "-f=${Version}", "libbpf-dev").Output()
			return run(ctx, root, nil, "make", "-C", filepath.Join(root, "adapters/libbpf"), "OUT="+out,
				"PACKAGE_VERSION="+strings.TrimSpace(string(pkg)))
		},
		check: func(root string) error {
			if err := staticLibbpf(root); err != nil {
				return err
			}
			return wantVersion("system libbpf-dev (/usr/include/bpf)", libbpfSystemVersion, func() (string, error) { return libbpfHeaderVersion("/usr/include") })
		},
		foreign: &foreignBuild{build: libbpfFor, check: libbpfForCheck},
	}
}

func libbpfBackports() Adapter {
	tree := BackportsDir()
	return Adapter{
		Name: "libbpf@" + libbpfBackportsVersion,
		Description: "libbpf " + libbpfBackportsVersion + " (bookworm-backports libbpf-dev, unpacked into " + tree +
			", linked statically; the system keeps its own): " + libbpfHow,
		Source: "adapters/libbpf",
		BuildHint: "make -C adapters/libbpf OUT=bin/libbpf@" + libbpfBackportsVersion + " LIBBPF_INCLUDE=" + tree +
			"/usr/include LIBBPF_LIBDIR=" + tree + "/usr/lib/" + runtimeTriplet(),
		Static: true,
		build: func(ctx context.Context, root, out string) error {
			versions, err := backports(ctx)
			if err != nil {
				return err
			}
			include := filepath.Join(tree, "usr", "include")
			if err := wantVersion("bookworm-backports libbpf-dev "+versions["libbpf-dev"], libbpfBackportsVersion, func() (string, error) { return libbpfHeaderVersion(include) }); err != nil {
				return err
			}
			return run(ctx, root, nil, "make", "-C", filepath.Join(root, "adapters/libbpf"), "OUT="+out,
				"LIBBPF_INCLUDE="+include, "LIBBPF_LIBDIR="+filepath.Join(tree, "usr", "lib", runtimeTriplet()),
				"PACKAGE_VERSION="+versions["libbpf-dev"])
		},
		check: func(string) error {
			if err := libbpfBuildTools("libelf.a", "libz.a"); err != nil {
				return err
			}
			return debapt.CheckTools()
		},
		NoForeign: noForeignBackports,
	}
}

// libbpfBuildTools checks for make, cc and the static libraries in the
// system's library directory.
func libbpfBuildTools(libs ...string) error {
	for _, tool := range []string{"make", "cc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found in PATH (apt-get install build-essential)", tool)
		}
	}
	for _, lib := range libs {
		if _, err := os.Stat(filepath.Join("/usr/lib", runtimeTriplet(), lib)); err != nil {
			return fmt.Errorf("static %s not found (apt-get install libbpf-dev libelf-dev zlib1g-dev)", lib)
		}
	}
	return nil
}

// libbpfHeaderVersion reads "major.minor" from include/bpf/libbpf_version.h.
func libbpfHeaderVersion(include string) (string, error) {
	path := filepath.Join(include, "bpf", "libbpf_version.h")
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var major, minor string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch fs := strings.Fields(sc.Text()); {
		case len(fs) == 3 && fs[0] == "#define" && fs[1] == "LIBBPF_MAJOR_VERSION":
			major = fs[2]
		case len(fs) == 3 && fs[0] == "#define" && fs[1] == "LIBBPF_MINOR_VERSION":
			minor = fs[2]
		}
	}
	if major == "" || minor == "" {
		return "", fmt.Errorf("%s: no LIBBPF_MAJOR_VERSION/LIBBPF_MINOR_VERSION", path)
	}
	return major + "." + minor, nil
}

// wantVersion says why an entry named after version want cannot use what,
// whose major.minor get reads.
func wantVersion(what, want string, get func() (string, error)) error {
	got, err := get()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if got != want {
		return fmt.Errorf("%s is %s, this entry is %s", what, got, want)
	}
	return nil
}

func bpftoolSystem() Adapter {
	return Adapter{
		Name:        "bpftool@" + bpftoolSystemVersion,
		Default:     true,
		Description: "bpftool " + bpftoolSystemVersion + " (Debian bookworm, " + systemBpftool + "): " + bpftoolHow,
		Source:      "adapters/bpftool",
		BuildHint:   "CGO_ENABLED=0 go build -o bin/bpftool@" + bpftoolSystemVersion + " ./adapters/bpftool",
		Static:      true, // the wrapper; bpftool itself is in HostTools
		HostTools:   []string{systemBpftool},
		build:       goBuild("./adapters/bpftool", "-ldflags=-X main.Bpftool="+systemBpftool),
		check: func(string) error {
			if _, err := os.Stat(systemBpftool); err != nil {
				return fmt.Errorf("%s not found (apt-get install bpftool)", systemBpftool)
			}
			return wantVersion(systemBpftool, bpftoolSystemVersion, func() (string, error) { return bpftoolVersion(systemBpftool) })
		},
		foreign: &foreignBuild{build: goBuildFor("./adapters/bpftool", "-ldflags=-X main.Bpftool="+systemBpftool), tools: bpftoolFor},
	}
}

func bpftoolBackports() Adapter {
	tool := filepath.Join(BackportsDir(), "usr", "sbin", "bpftool")
	return Adapter{
		Name: "bpftool@" + bpftoolBackportsVersion,
		Description: "bpftool " + bpftoolBackportsVersion + " (bookworm-backports, unpacked: " + tool + "; libbpf linked in): " +
			bpftoolHow,
		Source:    "adapters/bpftool",
		BuildHint: "CGO_ENABLED=0 go build -ldflags='-X main.Bpftool=" + tool + "' -o bin/bpftool@" + bpftoolBackportsVersion + " ./adapters/bpftool",
		Static:    true,
		HostTools: []string{tool},
		build: func(ctx context.Context, root, out string) error {
			versions, err := backports(ctx)
			if err != nil {
				return err
			}
			if err := wantVersion("bookworm-backports bpftool "+versions["bpftool"], bpftoolBackportsVersion, func() (string, error) { return bpftoolVersion(tool) }); err != nil {
				return err
			}
			return goBuild("./adapters/bpftool", "-ldflags=-X main.Bpftool="+tool)(ctx, root, out)
		},
		check:     func(string) error { return debapt.CheckTools() },
		NoForeign: noForeignBackports,
	}
}

// bpftoolVersion runs `bpftool version` and returns its major.minor.
func bpftoolVersion(path string) (string, error) {
	out, err := exec.Command(path, "version").Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", path, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && filepath.Base(f[0]) == "bpftool" {
			return adapterkit.MajorMinor(f[1]), nil
		}
	}
	return "", fmt.Errorf("%s version: no version in %q", path, out)
}
