// Package initramfs builds the newc cpio images perfconform VMs boot from:
// /init is a static guest binary, next to it go extra files (fixtures,
// loader executables) and, for dynamically linked executables, their
// shared-library closure found through ELF DT_NEEDED entries and the host's
// library search path, dynamic loader included.
//
// Images are cached by a content hash of every input, so repeated runs reuse
// the image and a changed input (a rebuilt binary, an edited fixture) builds a
// new one; a cached image is reused only while it has the size and SHA-256
// recorded when it was built, so a truncated one is rebuilt. Per-VM data (the guest config) goes into a small second archive
// appended to the cached image: the kernel unpacks concatenated archives in
// order.
package initramfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
)

var (
	// ErrBadSpec: the inputs cannot form an image (missing init, clashing paths).
	ErrBadSpec = errors.New("bad initramfs spec")
	// ErrLibraryNotFound: a shared library an executable needs is not on this host.
	ErrLibraryNotFound = errors.New("shared library not found")
)

// File puts one host file or directory into the image.
type File struct {
	// Host is the path on this machine. A directory is copied recursively.
	Host string
	// Guest is the absolute path in the image; empty means the same as Host.
	Guest string
	// Sysroot, when set, is the tree of another architecture's packages the
	// file comes from: its shared libraries are looked up under Sysroot
	// (ClosureIn) and go into the image at their paths inside it.
	Sysroot string
}

// Spec lists the inputs of an image.
type Spec struct {
	// Init is the host path of the static binary that becomes /init.
	Init string
	// Files are copied in; dynamically linked executables among them bring
	// their shared-library closure at the libraries' host paths.
	Files []File
	// Dirs are extra empty directories to create (mount points).
	Dirs []string
}

// mountPoints every guest needs; the guest init mounts onto them.
var mountPoints = []string{"/dev", "/proc", "/sys", "/tmp", "/run"}

// entry is one regular file of the image.
type entry struct {
	guest string
	host  string
	mode  fs.FileMode
}

// Image is a cached image.
type Image struct {
	Path string // the .cpio file
	Hash string // content hash of every input
	Hit  bool   // true when the image was already in the cache
	// Rebuilt says why a cached image was not reused (damaged), if so.
	Rebuilt string
	// Files maps each guest path of a regular file to its host source.
	Files map[string]string
}

// Build returns the image for spec from cacheDir, building it when no image
// with the same input hash is there yet, or when the one there no longer has
// the size and SHA-256 recorded when it was built (HASH.cpio.sha256 beside
// it; Image.Rebuilt says what was wrong). cacheDir is created if needed.
func Build(spec Spec, cacheDir string) (Image, error) {
	entries, dirs, err := collect(spec)
	if err != nil {
		return Image{}, err
	}
	hash, err := hashInputs(entries, dirs)
	if err != nil {
		return Image{}, err
	}
	img := Image{
		Path:  filepath.Join(cacheDir, hash+".cpio"),
		Hash:  hash,
		Files: map[string]string{},
	}
	for _, e := range entries {
		img.Files[e.guest] = e.host
	}
	if _, err := os.Stat(img.Path); err == nil {
		// A cached image is the one that was built only if it still has the
		// size and SHA-256 recorded then: a truncated one boots into "No
		// working init found" in every VM, run after run.
		err := verifyCached(img.Path)
		if err == nil {
			img.Hit = true
			return img, nil
		}
		img.Rebuilt = err.Error()
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Image{}, fmt.Errorf("initramfs cache: %w", err)
	}
	tmp, err := os.CreateTemp(cacheDir, hash+".*.tmp")
	if err != nil {
		return Image{}, fmt.Errorf("initramfs cache: %w", err)
	}
	defer os.Remove(tmp.Name())
	sum := sha256.New()
	counted := &countingWriter{w: io.MultiWriter(tmp, sum)}
	if err := write(counted, entries, dirs); err != nil {
		tmp.Close()
		return Image{}, fmt.Errorf("write initramfs %s: %w", img.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return Image{}, fmt.Errorf("write initramfs %s: %w", img.Path, err)
	}
	// The digest goes first: an image is never in place without one. Rename
	// is atomic: concurrent builders of the same hash race harmlessly.
	digest := fmt.Sprintf("%d %s\n", counted.n, hex.EncodeToString(sum.Sum(nil)))
	if err := writeAtomic(digestPath(img.Path), []byte(digest)); err != nil {
		return Image{}, fmt.Errorf("initramfs cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), img.Path); err != nil {
		return Image{}, fmt.Errorf("initramfs cache: %w", err)
	}
	return img, nil
}

// digestPath is where the size and SHA-256 of a cached image are recorded.
func digestPath(image string) string { return image + ".sha256" }

// verifyCached checks a cached image against the size and SHA-256 recorded
// when it was built.
func verifyCached(path string) error {
	b, err := os.ReadFile(digestPath(path))
	if err != nil {
		return fmt.Errorf("cached initramfs %s has no recorded digest: %w", path, err)
	}
	var size int64
	var want string
	if _, err := fmt.Sscanf(string(b), "%d %s", &size, &want); err != nil {
		return fmt.Errorf("cached initramfs %s: bad digest file %s: %w", path, digestPath(path), err)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("cached initramfs %s: %w", path, err)
	}
	if n != size {
		return fmt.Errorf("cached initramfs %s is damaged: %d bytes, %d when built", path, n, size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("cached initramfs %s is damaged: SHA-256 %s, %s when built", path, got, want)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeAtomic writes path whole or not at all.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// collect expands the spec into regular files and directories.
func collect(spec Spec) ([]entry, []string, error) {
	if spec.Init == "" {
		return nil, nil, fmt.Errorf("%w: no init binary", ErrBadSpec)
	}
	byGuest := map[string]entry{}
	add := func(e entry) error {
		if prev, ok := byGuest[e.guest]; ok && prev.host != e.host {
			return fmt.Errorf("%w: %s is both %s and %s", ErrBadSpec, e.guest, prev.host, e.host)
		}
		byGuest[e.guest] = e
		return nil
	}
	addExecutable := func(host, guest, sysroot string, mode fs.FileMode) error {
		if err := add(entry{guest: guest, host: host, mode: mode}); err != nil {
			return err
		}
		if mode&0o111 == 0 {
			return nil
		}
		libs, err := ClosureIn(sysroot, host)
		if err != nil {
			return err
		}
		for _, lib := range libs {
			libHost := filepath.Join(sysroot, lib)
			fi, err := os.Stat(libHost)
			if err != nil {
				return fmt.Errorf("library of %s: %w", host, err)
			}
			if err := add(entry{guest: lib, host: libHost, mode: fi.Mode().Perm()}); err != nil {
				return err
			}
		}
		return nil
	}

	fi, err := os.Stat(spec.Init)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: init: %w", ErrBadSpec, err)
	}
	if libs, err := Closure(spec.Init); err != nil {
		return nil, nil, fmt.Errorf("init %s: %w", spec.Init, err)
	} else if len(libs) > 0 {
		return nil, nil, fmt.Errorf("%w: init %s is dynamically linked (needs %s); build it with CGO_ENABLED=0",
			ErrBadSpec, spec.Init, strings.Join(libs, ", "))
	}
	if err := add(entry{guest: "/init", host: spec.Init, mode: fi.Mode().Perm() | 0o111}); err != nil {
		return nil, nil, err
	}

	for _, f := range spec.Files {
		guest := f.Guest
		if guest == "" {
			guest = f.Host
		}
		if !path.IsAbs(guest) {
			return nil, nil, fmt.Errorf("%w: guest path %q of %s is not absolute", ErrBadSpec, guest, f.Host)
		}
		guest = path.Clean(guest)
		fi, err := os.Stat(f.Host)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadSpec, err)
		}
		if !fi.IsDir() {
			if err := addExecutable(f.Host, guest, f.Sysroot, fi.Mode().Perm()); err != nil {
				return nil, nil, err
			}
			continue
		}
		err = filepath.WalkDir(f.Host, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, err := filepath.Rel(f.Host, p)
			if err != nil {
				return err
			}
			info, err := os.Stat(p) // follow symlinks: the image holds contents
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil
			}
			return addExecutable(p, path.Join(guest, filepath.ToSlash(rel)), f.Sysroot, info.Mode().Perm())
		})
		if err != nil {
			return nil, nil, fmt.Errorf("%w: copy %s: %w", ErrBadSpec, f.Host, err)
		}
	}

	entries := make([]entry, 0, len(byGuest))
	dirSet := map[string]bool{}
	for _, d := range append(append([]string{}, mountPoints...), spec.Dirs...) {
		addParents(dirSet, path.Join(path.Clean(d), "x"))
	}
	for _, e := range byGuest {
		entries = append(entries, e)
		addParents(dirSet, e.guest)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].guest < entries[j].guest })
	dirs := make([]string, 0, len(dirSet))
	for d := range dirSet {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs) // parents sort before children
	return entries, dirs, nil
}

func addParents(set map[string]bool, p string) {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		set[d] = true
	}
}

// formatVersion changes whenever the image layout written by this package
// changes, so old cache entries are not reused.
const formatVersion = "perfconform-initramfs-v1"

func hashInputs(entries []entry, dirs []string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", formatVersion)
	for _, d := range dirs {
		fmt.Fprintf(h, "dir %s\n", d)
	}
	for _, e := range entries {
		f, err := os.Open(e.host)
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", e.host, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return "", fmt.Errorf("hash %s: %w", e.host, err)
		}
		fmt.Fprintf(h, "file %s %o %d\n", e.guest, e.mode, fi.Size())
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("hash %s: %w", e.host, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// epoch is the fixed mtime of every entry: images depend on contents only.
var epoch = time.Unix(0, 0)

func write(w io.Writer, entries []entry, dirs []string) error {
	cw := cpio.NewWriter(w)
	ino := int64(1)
	for _, d := range dirs {
		hdr := &cpio.Header{Name: strings.TrimPrefix(d, "/"), Mode: cpio.TypeDir | 0o755, Links: 2, ModTime: epoch, Inode: ino}
		ino++
		if err := cw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("dir %s: %w", d, err)
		}
	}
	for _, e := range entries {
		f, err := os.Open(e.host)
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		hdr := &cpio.Header{
			Name: strings.TrimPrefix(e.guest, "/"), Mode: cpio.TypeReg | cpio.FileMode(e.mode.Perm()),
			Links: 1, Size: fi.Size(), ModTime: epoch, Inode: ino,
		}
		ino++
		if err := cw.WriteHeader(hdr); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", e.guest, err)
		}
		n, err := io.Copy(cw, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", e.guest, err)
		}
		if n != fi.Size() {
			return fmt.Errorf("%s: %s changed while copying (%d of %d bytes)", e.guest, e.host, n, fi.Size())
		}
	}
	return cw.Close()
}

// Archive returns a newc archive holding the given files (guest path →
// contents, mode 0644) and their parent directories. Appended to a cached
// image it adds per-VM data without rebuilding the image.
func Archive(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	cw := cpio.NewWriter(&buf)
	names := make([]string, 0, len(files))
	dirSet := map[string]bool{}
	for name := range files {
		if !path.IsAbs(name) {
			return nil, fmt.Errorf("%w: guest path %q is not absolute", ErrBadSpec, name)
		}
		names = append(names, name)
		addParents(dirSet, name)
	}
	sort.Strings(names)
	dirs := make([]string, 0, len(dirSet))
	for d := range dirSet {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	// High inode numbers keep these entries apart from the base image's.
	ino := int64(1 << 20)
	for _, d := range dirs {
		if err := cw.WriteHeader(&cpio.Header{Name: strings.TrimPrefix(d, "/"), Mode: cpio.TypeDir | 0o755, Links: 2, ModTime: epoch, Inode: ino}); err != nil {
			return nil, err
		}
		ino++
	}
	for _, name := range names {
		data := files[name]
		if err := cw.WriteHeader(&cpio.Header{Name: strings.TrimPrefix(name, "/"), Mode: cpio.TypeReg | 0o644, Links: 1, Size: int64(len(data)), ModTime: epoch, Inode: ino}); err != nil {
			return nil, err
		}
		ino++
		if _, err := cw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteWithOverlay writes base followed by an archive of files into dst:
// the initrd of one VM.
func WriteWithOverlay(dst, base string, files map[string][]byte) error {
	overlay, err := Archive(files)
	if err != nil {
		return err
	}
	in, err := os.Open(base)
	if err != nil {
		return fmt.Errorf("initrd base: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("initrd: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("initrd %s: %w", dst, err)
	}
	if _, err := out.Write(overlay); err != nil {
		out.Close()
		return fmt.Errorf("initrd %s: %w", dst, err)
	}
	return out.Close()
}
