package adapters

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/perfconform/perfconform/internal/debapt"
)

// libbpf@1.5 is Debian trixie's libbpf-dev (1:1.5.0-3), unpacked into
// TrixieLoadersDir() through internal/debapt (never installed) and linked
// statically into the same C adapter as libbpf@1.1 and libbpf@1.4. Trixie's
// libbpf.a is compiled against glibc 2.41 with _GNU_SOURCE, so its sscanf,
// fscanf and strtoull calls are glibc 2.38's C23 entry points; a host whose
// static libc lacks them (bookworm: glibc 2.36) cannot link it, and the entry
// says so instead of failing every build.

// TrixieLoadersDir is where loader packages from Debian trixie are unpacked
// (CacheDir()/loaders/trixie): libbpf@1.5 builds against its usr/include and
// libbpf.a.
func TrixieLoadersDir() string { return filepath.Join(CacheDir(), "loaders", "trixie") }

// libbpfTrixieC23Symbols are the glibc symbols trixie's libbpf.a
// (1:1.5.0-3) needs that bookworm's glibc 2.36 does not have (nm -u, then a
// link against bookworm's libc.a: "undefined reference to `__isoc23_sscanf'").
// glibc added them in 2.38.
var libbpfTrixieC23Symbols = []string{"__isoc23_sscanf", "__isoc23_fscanf", "__isoc23_strtoull"}

// trixieLibbpf downloads and unpacks trixie's libbpf-dev into
// TrixieLoadersDir (once) and returns its Debian version.
func trixieLibbpf(ctx context.Context) (string, error) {
	if err := debapt.CheckTools(); err != nil {
		return "", err
	}
	a := debapt.New(CacheDir(), "", debapt.Trixie...)
	versions, err := a.Unpacked(ctx, TrixieLoadersDir(), "libbpf-dev")
	if err != nil {
		return "", err
	}
	return versions["libbpf-dev"], nil
}

func libbpfTrixie() Adapter {
	tree := TrixieLoadersDir()
	libdir := filepath.Join(tree, "usr", "lib", runtimeTriplet())
	include := filepath.Join(tree, "usr", "include")
	return Adapter{
		Name: "libbpf@" + libbpfTrixieVersion,
		Description: "libbpf " + libbpfTrixieVersion + " (Debian trixie libbpf-dev, unpacked into " + tree +
			", linked statically; the system keeps its own): " + libbpfHow,
		Source:    "adapters/libbpf",
		BuildHint: "make -C adapters/libbpf OUT=bin/libbpf@" + libbpfTrixieVersion + " LIBBPF_INCLUDE=" + include + " LIBBPF_LIBDIR=" + libdir,
		Static:    true,
		build: func(ctx context.Context, root, out string) error {
			version, err := trixieLibbpf(ctx)
			if err != nil {
				return err
			}
			if err := wantVersion("trixie libbpf-dev "+version, libbpfTrixieVersion, func() (string, error) { return libbpfHeaderVersion(include) }); err != nil {
				return err
			}
			return run(ctx, root, nil, "make", "-C", filepath.Join(root, "adapters/libbpf"), "OUT="+out,
				"LIBBPF_INCLUDE="+include, "LIBBPF_LIBDIR="+libdir, "PACKAGE_VERSION="+version)
		},
		check: func(string) error {
			if err := libbpfBuildTools("libelf.a", "libz.a"); err != nil {
				return err
			}
			if err := debapt.CheckTools(); err != nil {
				return err
			}
			return staticLibcHas(libbpfTrixieC23Symbols, "trixie's libbpf.a (libbpf-dev 1:1.5.0-3, built against glibc 2.41)")
		},
		NoForeign: "built from trixie's libbpf-dev unpacked for the host's architecture only, and it needs glibc ≥ 2.38 to link",
	}
}

// staticLibc is the C library the static adapters link.
func staticLibc() string { return filepath.Join("/usr/lib", runtimeTriplet(), "libc.a") }

// staticLibcHas says why who cannot be linked statically on this host when
// the static libc's symbol index lacks any of syms, or nil.
func staticLibcHas(syms []string, who string) error {
	index, err := arSymbolIndex(staticLibc())
	if err != nil {
		return fmt.Errorf("static libc: %w (apt-get install libc6-dev)", err)
	}
	var missing []string
	for _, s := range syms {
		if !bytes.Contains(index, []byte("\x00"+s+"\x00")) {
			missing = append(missing, s)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s calls %s (glibc ≥ 2.38's C23 scanf/strtol entry points), which this host's %s (%s) does not define: the link fails with \"undefined reference to `%s'\"",
		who, strings.Join(missing, ", "), staticLibc(), glibcVersion(), missing[0])
}

// glibcVersion is "glibc 2.36" as getconf says, or "glibc of unknown version".
func glibcVersion() string {
	out, err := exec.Command("getconf", "GNU_LIBC_VERSION").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		return "glibc of unknown version"
	}
	return string(bytes.TrimSpace(out))
}

// arSymbolIndex returns the symbol index of an ar archive (its first
// member, "/" or "/SYM64/"): a count and offsets, then the names it defines,
// NUL-separated; a NUL is put in front of the member. A name is matched as
// "\x00name\x00", which misses only the first name (after the offsets): no
// libc.a starts with the symbols this is asked about.
func arSymbolIndex(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	head := make([]byte, 8+60)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if string(head[:8]) != "!<arch>\n" {
		return nil, fmt.Errorf("%s is not an ar archive", path)
	}
	name := strings.TrimSpace(string(head[8 : 8+16]))
	if name != "/" && name != "/SYM64/" {
		return nil, fmt.Errorf("%s has no symbol index (member %q first)", path, name)
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(head[8+48:8+58])), 10, 64)
	if err != nil || size <= 0 || size > 64<<20 {
		return nil, fmt.Errorf("%s: bad symbol index size %q", path, head[8+48:8+58])
	}
	index := make([]byte, size+1)
	if _, err := io.ReadFull(f, index[1:]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return index, nil
}
