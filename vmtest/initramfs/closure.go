package initramfs

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/perfconform/perfconform/vmtest/arch"
)

// DefaultLibraryPath is searched after DT_RUNPATH/DT_RPATH, LD_LIBRARY_PATH
// and the directories in /etc/ld.so.conf, mirroring the dynamic loader.
var DefaultLibraryPath = libraryDirs(hostTriplet())

// libraryDirs are the dynamic loader's default directories on a Debian
// multiarch system for one GNU triplet.
func libraryDirs(triplet string) []string {
	return []string{"/lib/" + triplet, "/usr/lib/" + triplet, "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"}
}

func hostTriplet() string {
	if a, err := arch.Host(); err == nil {
		return a.Triplet
	}
	return arch.Amd64.Triplet
}

// ldSoConfPath is the dynamic loader's configuration (a variable for tests).
var ldSoConfPath = "/etc/ld.so.conf"

// Closure returns the host paths of every shared library path needs,
// transitively, plus its dynamic loader (PT_INTERP), sorted. A static
// executable and a non-ELF file (a script, a data file) have none.
// The paths are the ones the loader would open (symlinks not resolved), so
// putting each at the same path in the image reproduces the lookup.
func Closure(path string) ([]string, error) {
	return ClosureIn("", path)
}

// ClosureIn is Closure for an executable of a sysroot: a tree of another
// architecture's packages (unpacked Debian packages) that stands for its
// root file system. Libraries, the dynamic loader and ld.so.conf are looked
// up under root, and the paths returned are the ones the loader opens in
// the guest (relative to root; each one's host file is root+path). An empty
// root is this host (Closure).
func ClosureIn(root, path string) ([]string, error) {
	var search []string
	if root == "" {
		search = librarySearchPath()
	} else {
		a, err := arch.OfELF(path)
		if err != nil {
			if ok, _ := isELF(path); !ok {
				return nil, nil // a script or a data file: nothing to load
			}
			return nil, err
		}
		search = append(readLdSoConfIn(root, "/etc/ld.so.conf", 0), libraryDirs(a.Triplet)...)
	}
	host := func(p string) string { return filepath.Join(root, p) }
	found := map[string]bool{}
	var walk func(file string, isLib bool) error
	walk = func(file string, isLib bool) error {
		if !isLib {
			if ok, err := isELF(file); err != nil {
				return err
			} else if !ok {
				return nil // a script or a data file: nothing to load
			}
		}
		hostFile := file
		if isLib {
			hostFile = host(file)
		}
		f, err := elf.Open(hostFile)
		if err != nil {
			return fmt.Errorf("read ELF %s: %w", hostFile, err)
		}
		defer f.Close()
		if interp := interpreter(f); interp != "" && !found[interp] {
			if _, err := os.Stat(host(interp)); err != nil {
				return fmt.Errorf("%s: dynamic loader: %w: %w", file, ErrLibraryNotFound, err)
			}
			found[interp] = true
		}
		needed, err := f.DynString(elf.DT_NEEDED)
		if err != nil {
			return nil // no dynamic section: static
		}
		own := ownSearchPath(f, file)
		for _, name := range needed {
			lib, err := findLibrary(root, name, append(own, search...), f.Class, f.Machine)
			if err != nil {
				return fmt.Errorf("%s needs %s: %w", file, name, err)
			}
			if found[lib] {
				continue
			}
			found[lib] = true
			if err := walk(lib, true); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(path, false); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(found))
	for p := range found {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func isELF(file string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return false, nil // shorter than an ELF header
	}
	return string(magic[:]) == elf.ELFMAG, nil
}

func interpreter(f *elf.File) string {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return ""
			}
			return strings.TrimRight(string(b), "\x00")
		}
	}
	return ""
}

func ownSearchPath(f *elf.File, file string) []string {
	var dirs []string
	origin := filepath.Dir(file)
	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		vals, _ := f.DynString(tag)
		for _, v := range vals {
			for _, d := range strings.Split(v, ":") {
				d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
				if d != "" {
					dirs = append(dirs, d)
				}
			}
		}
	}
	return dirs
}

func librarySearchPath() []string {
	var dirs []string
	for _, d := range strings.Split(os.Getenv("LD_LIBRARY_PATH"), ":") {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, readLdSoConf(ldSoConfPath, 0)...)
	return append(dirs, DefaultLibraryPath...)
}

// readLdSoConf returns the directories of an ld.so.conf file, following
// include lines (glob patterns) a few levels deep.
func readLdSoConf(file string, depth int) []string {
	return readLdSoConfIn("", file, depth)
}

// readLdSoConfIn reads the ld.so.conf file of a sysroot (file and include
// patterns are paths inside root).
func readLdSoConfIn(root, file string, depth int) []string {
	if depth > 4 {
		return nil
	}
	f, err := os.Open(filepath.Join(root, file))
	if err != nil {
		return nil
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "":
		case strings.HasPrefix(line, "include "):
			pattern := strings.TrimSpace(strings.TrimPrefix(line, "include "))
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(file), pattern)
			}
			matches, _ := filepath.Glob(filepath.Join(root, pattern))
			sort.Strings(matches)
			for _, m := range matches {
				if root != "" {
					m = "/" + strings.TrimPrefix(strings.TrimPrefix(m, filepath.Clean(root)), "/")
				}
				dirs = append(dirs, readLdSoConfIn(root, m, depth+1)...)
			}
		default:
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// findLibrary looks name up in dirs (paths under root), skipping files of
// another ELF class or machine (a 32-bit libc in a multilib directory, a
// symlink out of a sysroot to the host's library).
func findLibrary(root, name string, dirs []string, class elf.Class, machine elf.Machine) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			return "", fmt.Errorf("%w: %w", ErrLibraryNotFound, err)
		}
		return name, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		f, err := elf.Open(filepath.Join(root, p))
		if err != nil {
			continue
		}
		ok := f.Class == class && f.Machine == machine
		f.Close()
		if ok {
			return p, nil
		}
	}
	where := strings.Join(dirs, ":")
	if root != "" {
		where += " under " + root
	}
	return "", fmt.Errorf("%w: %s (searched %s; install the package that ships it)", ErrLibraryNotFound, name, where)
}
