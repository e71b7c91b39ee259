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
// libbpf.a is compiled against glibc 2.41 with _GNU_SOURCE, so libbpf.o's
// sscanf, fscanf and strtoull calls are glibc 2.38's C23 entry points. On a
// host whose static libc lacks them (bookworm: glibc 2.36) the adapter links
// adapters/libbpf/c23compat.c, which forwards them to glibc 2.36's
// __isoc99_vsscanf, __isoc99_vfscanf and strtoull: the functions the same
// source calls when compiled there. Why that changes nothing libbpf relies
// on: c23compat.c and docs/ADAPTERS.md.

// TrixieLoadersDir is where loader packages from Debian trixie are unpacked
// (CacheDir()/loaders/trixie): libbpf@1.5 builds against its usr/include and
// libbpf.a.
func TrixieLoadersDir() string { return filepath.Join(CacheDir(), "loaders", "trixie") }

// libbpfTrixieC23Symbols are the glibc symbols trixie's libbpf.a
// (1:1.5.0-3) needs that bookworm's glibc 2.36 does not have (nm -u, then a
// link against bookworm's libc.a: "undefined reference to `__isoc23_sscanf'").
// glibc added them in 2.38; c23compat.c defines exactly these.
var libbpfTrixieC23Symbols = []string{"__isoc23_sscanf", "__isoc23_fscanf", "__isoc23_strtoull"}

// c23CompatTargets are the glibc functions c23compat.c forwards to.
var c23CompatTargets = []string{"__isoc99_vsscanf", "__isoc99_vfscanf", "strtoull"}

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

// libbpfTrixieC23Compat says whether the libbpf@1.5 adapter must link
// c23compat.c (the host's static libc lacks the C23 entry points), or why it
// cannot be linked at all.
func libbpfTrixieC23Compat() (bool, error) {
	missing, err := staticLibcMissing(libbpfTrixieC23Symbols)
	if err != nil {
		return false, err
	}
	switch {
	case len(missing) == 0: // glibc >= 2.38: libbpf.a links as it is
		return false, nil
	case len(missing) < len(libbpfTrixieC23Symbols):
		return false, fmt.Errorf("this host's %s (%s) defines some of %s but not %s: neither the archive alone nor c23compat.c (which defines all of them) would link",
			staticLibc(), glibcVersion(), strings.Join(libbpfTrixieC23Symbols, ", "), strings.Join(missing, ", "))
	}
	if targets, err := staticLibcMissing(c23CompatTargets); err != nil {
		return false, err
	} else if len(targets) > 0 {
		return false, fmt.Errorf("trixie's libbpf.a calls %s (glibc ≥ 2.38), which this host's %s (%s) does not define, and adapters/libbpf/c23compat.c cannot forward them: it needs %s, missing too",
			strings.Join(missing, ", "), staticLibc(), glibcVersion(), strings.Join(targets, ", "))
	}
	return true, nil
}

func libbpfTrixie() Adapter {
	tree := TrixieLoadersDir()
	libdir := filepath.Join(tree, "usr", "lib", runtimeTriplet())
	include := filepath.Join(tree, "usr", "include")
	return Adapter{
		Name: "libbpf@" + libbpfTrixieVersion,
		Description: "libbpf " + libbpfTrixieVersion + " (Debian trixie libbpf-dev, unpacked into " + tree +
			", linked statically, with adapters/libbpf/c23compat.c where the host's glibc is older than 2.38; the system keeps its own): " + libbpfHow,
		Source: "adapters/libbpf",
		BuildHint: "make -C adapters/libbpf OUT=bin/libbpf@" + libbpfTrixieVersion + " LIBBPF_INCLUDE=" + include + " LIBBPF_LIBDIR=" + libdir +
			" C23COMPAT=1 (on glibc < 2.38)",
		Static: true,
		build: func(ctx context.Context, root, out string) error {
			version, err := trixieLibbpf(ctx)
			if err != nil {
				return err
			}
			if err := wantVersion("trixie libbpf-dev "+version, libbpfTrixieVersion, func() (string, error) { return libbpfHeaderVersion(include) }); err != nil {
				return err
			}
			compat, err := libbpfTrixieC23Compat()
			if err != nil {
				return err
			}
			args := []string{"-C", filepath.Join(root, "adapters/libbpf"), "OUT=" + out,
				"LIBBPF_INCLUDE=" + include, "LIBBPF_LIBDIR=" + libdir, "PACKAGE_VERSION=" + version}
			if compat {
				args = append(args, "C23COMPAT=1")
			}
			return run(ctx, root, nil, "make", args...)
		},
		check: func(string) error {
			if err := libbpfBuildTools("libelf.a", "libz.a"); err != nil {
				return err
			}
			if err := debapt.CheckTools(); err != nil {
				return err
			}
			_, err := libbpfTrixieC23Compat()
			return err
		},
		NoForeign: "built from trixie's libbpf-dev unpacked for the host's architecture only",
	}
}

// staticLibc is the C library the static adapters link.
func staticLibc() string { return filepath.Join("/usr/lib", runtimeTriplet(), "libc.a") }

// staticLibcMissing returns the symbols of syms the static libc's symbol
// index does not define.
func staticLibcMissing(syms []string) ([]string, error) {
	index, err := arSymbolIndex(staticLibc())
	if err != nil {
		return nil, fmt.Errorf("static libc: %w (apt-get install libc6-dev)", err)
	}
	var missing []string
	for _, s := range syms {
		if !bytes.Contains(index, []byte("\x00"+s+"\x00")) {
			missing = append(missing, s)
		}
	}
	return missing, nil
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
