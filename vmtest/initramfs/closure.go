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
)

// DefaultLibraryPath is searched after DT_RUNPATH/DT_RPATH, LD_LIBRARY_PATH
// and the directories in /etc/ld.so.conf, mirroring the dynamic loader.
var DefaultLibraryPath = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib",
}

// ldSoConfPath is the dynamic loader's configuration (a variable for tests).
var ldSoConfPath = "/etc/ld.so.conf"

// Closure returns the host paths of every shared library path needs,
// transitively, plus its dynamic loader (PT_INTERP), sorted. A static
// executable and a non-ELF file (a script, a data file) have none.
// The paths are the ones the loader would open (symlinks not resolved), so
// putting each at the same path in the image reproduces the lookup.
func Closure(path string) ([]string, error) {
	search := librarySearchPath()
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
		f, err := elf.Open(file)
		if err != nil {
			return fmt.Errorf("read ELF %s: %w", file, err)
		}
		defer f.Close()
		if interp := interpreter(f); interp != "" && !found[interp] {
			if _, err := os.Stat(interp); err != nil {
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
			lib, err := findLibrary(name, append(own, search...), f.Class)
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
	if depth > 4 {
		return nil
	}
	f, err := os.Open(file)
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
			matches, _ := filepath.Glob(pattern)
			sort.Strings(matches)
			for _, m := range matches {
				dirs = append(dirs, readLdSoConf(m, depth+1)...)
			}
		default:
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// findLibrary looks name up in dirs, skipping files of another ELF class
// (a 32-bit libc in a multilib directory).
func findLibrary(name string, dirs []string, class elf.Class) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%w: %w", ErrLibraryNotFound, err)
		}
		return name, nil
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		ok := f.Class == class && f.Machine != elf.EM_NONE
		f.Close()
		if ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s (searched %s; install the package that ships it)", ErrLibraryNotFound, name, strings.Join(dirs, ":"))
}
