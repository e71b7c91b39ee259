// Package kernel is the catalog of kernels perfconform boots: named Debian
// cloud kernels fetched into a cache directory, the host's own kernel, or
// any bzImage given by path.
//
// Named kernels are fetched from Debian through package debapt (a private
// apt configuration, so any Debian or Ubuntu host works whatever its own
// sources say), then unpacked with dpkg-deb -x; the newest package of the
// series that downloads is taken and its version is recorded in kernel.json
// beside the image, so a run can say exactly which kernel it booted.
package kernel

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/debapt"
)

var (
	// ErrUnknown: the name is neither in the catalog nor an existing file.
	ErrUnknown = errors.New("unknown kernel")
	// ErrNotFetched: a named kernel is not in the cache.
	ErrNotFetched = errors.New("kernel not fetched")
	// ErrFetch: fetching a named kernel failed.
	ErrFetch = errors.New("fetch kernel")
	// ErrHostKernel: the host's kernel image cannot be read.
	ErrHostKernel = errors.New("host kernel image not readable")
	// ErrNotBzImage: the file is not an x86 bzImage.
	ErrNotBzImage = errors.New("not a bzImage")
	// ErrDamaged: a bzImage is shorter than its header says (a truncated
	// download or copy), or a cached one no longer matches the size and
	// SHA-256 recorded when it was fetched.
	ErrDamaged = errors.New("kernel image damaged")
)

// Kernel is one bootable kernel.
type Kernel struct {
	Name    string    `json:"name"`              // catalog name, or the path given
	Path    string    `json:"path,omitempty"`    // the bzImage
	Release string    `json:"release"`           // uname -r of the kernel
	Package string    `json:"package,omitempty"` // Debian package it came from
	Version string    `json:"version,omitempty"` // Debian package version
	Fetched time.Time `json:"fetched,omitzero"`
	// Size and SHA256 are the image's, recorded at fetch; Cached checks
	// them (entries fetched before they were recorded get the header check
	// only).
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

// String is "name (release)".
func (k Kernel) String() string {
	if k.Release == "" {
		return k.Name
	}
	return fmt.Sprintf("%s (%s)", k.Name, k.Release)
}

// Entry is a catalog kernel fetched from Debian.
type Entry struct {
	Name        string
	Description string
	// packageRE matches the package names of the series; the captured
	// group orders them (the ABI number for 6.1, the patch level for 6.12).
	packageRE *regexp.Regexp
	// sources are the Debian suites the series is published in.
	sources []debapt.Source
}

var catalog = []Entry{
	{
		Name:        "debian-6.1",
		Description: "Debian bookworm cloud kernel 6.1 (linux-image-6.1.0-N-cloud-amd64-unsigned)",
		packageRE:   regexp.MustCompile(`^linux-image-6\.1\.0-([0-9]+)-cloud-amd64-unsigned$`),
		sources:     debapt.Bookworm,
	},
	{
		Name:        "debian-6.12",
		Description: "Debian bookworm(-security) cloud kernel 6.12 (linux-image-6.12.N+deb12-cloud-amd64-unsigned)",
		packageRE:   regexp.MustCompile(`^linux-image-6\.12\.([0-9]+)\+deb12-cloud-amd64-unsigned$`),
		sources:     debapt.Bookworm,
	},
}

// Host is the catalog name of the running kernel's image.
const Host = "host"

// Catalog returns the fetchable kernel entries.
func Catalog() []Entry { return append([]Entry(nil), catalog...) }

// Names returns the catalog names: the fetchable kernels and "host".
func Names() []string {
	var out []string
	for _, e := range catalog {
		out = append(out, e.Name)
	}
	return append(out, Host)
}

func lookup(name string) (Entry, bool) {
	for _, e := range catalog {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

// DefaultCacheDir is $XDG_CACHE_HOME/perfconform, or ~/.cache/perfconform.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "perfconform"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("cache dir: %w (set XDG_CACHE_HOME)", err)
	}
	return filepath.Join(home, ".cache", "perfconform"), nil
}

// Progress receives one line of news about long work (fetching).
type Progress func(msg string)

// Cache holds fetched kernels under Dir/kernels/<name>/.
type Cache struct {
	Dir string
	// Progress, if set, is told about fetches.
	Progress Progress
	// Force makes Fetch download kernels again even when they are cached.
	Force bool
}

func (c *Cache) progress(format string, args ...any) {
	if c.Progress != nil {
		c.Progress(fmt.Sprintf(format, args...))
	}
}

func (c *Cache) entryDir(name string) string { return filepath.Join(c.Dir, "kernels", name) }

// Cached returns a named kernel from the cache without fetching: an error
// wrapping ErrNotFetched says how to fetch it.
func (c *Cache) Cached(name string) (Kernel, error) {
	if _, ok := lookup(name); !ok {
		return Kernel{}, fmt.Errorf("%w %q: not a fetchable catalog name (have %s)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	dir := c.entryDir(name)
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		return Kernel{}, fmt.Errorf("%w: %s (no %s; run `conform kernels fetch %s`)", ErrNotFetched, name, filepath.Join(dir, "kernel.json"), name)
	}
	var k Kernel
	if err := json.Unmarshal(b, &k); err != nil {
		return Kernel{}, fmt.Errorf("%w: %s: %s: %w", ErrNotFetched, name, filepath.Join(dir, "kernel.json"), err)
	}
	k.Path = filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(k.Path); err != nil {
		return Kernel{}, fmt.Errorf("%w: %s: %w (run `conform kernels fetch %s`)", ErrNotFetched, name, err, name)
	}
	if err := verifyCached(k); err != nil {
		return Kernel{}, fmt.Errorf("%s: %w (run `conform kernels fetch --force %s`)", name, err, name)
	}
	return k, nil
}

// verifyCached checks a cached image against what was recorded when it was
// fetched, and against its own header.
func verifyCached(k Kernel) error {
	if k.Size != 0 || k.SHA256 != "" {
		size, sum, err := fileDigest(k.Path)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDamaged, err)
		}
		if k.Size != 0 && size != k.Size {
			return fmt.Errorf("%w: %s is %d bytes, %d when fetched", ErrDamaged, k.Path, size, k.Size)
		}
		if k.SHA256 != "" && sum != k.SHA256 {
			return fmt.Errorf("%w: %s has SHA-256 %s, %s when fetched", ErrDamaged, k.Path, sum, k.SHA256)
		}
	}
	return checkImageSize(k.Path)
}

// fileDigest returns a file's size and hex SHA-256.
func fileDigest(path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", path, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// checkImageSize refuses a bzImage shorter than its boot header says: the
// real-mode setup (setup_sects + 1 sectors of 512 bytes; 0 means 4) plus
// the protected-mode kernel (syssize paragraphs of 16 bytes). A truncated
// image would otherwise boot into a guest that dies without a word.
func checkImageSize(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kernel image: %w", err)
	}
	defer f.Close()
	var hdr [0x210]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("%s: %w: short header: %w", path, ErrNotBzImage, err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return fmt.Errorf("%s: %w: no HdrS boot header", path, ErrNotBzImage)
	}
	setup := int64(hdr[0x1f1])
	if setup == 0 {
		setup = 4
	}
	want := (setup+1)*512 + int64(binary.LittleEndian.Uint32(hdr[0x1f4:]))*16
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("kernel image: %w", err)
	}
	if st.Size() < want {
		return fmt.Errorf("%w: %s is %d bytes, its boot header says %d: truncated", ErrDamaged, path, st.Size(), want)
	}
	return nil
}

// Resolve turns a name into a bootable kernel: a catalog name (fetched
// first when missing), "host", or a path to a bzImage.
func (c *Cache) Resolve(ctx context.Context, name string) (Kernel, error) {
	if _, ok := lookup(name); ok {
		if k, err := c.Cached(name); err == nil {
			return k, nil
		}
		ks, err := c.Fetch(ctx, name)
		if err != nil {
			return Kernel{}, err
		}
		return ks[0], nil
	}
	if name == Host {
		return HostKernel()
	}
	if _, err := os.Stat(name); err == nil {
		return FromFile(name)
	}
	return Kernel{}, fmt.Errorf("%w %q: not a catalog name (%s) nor an existing file", ErrUnknown, name, strings.Join(Names(), ", "))
}

// HostKernel returns /boot/vmlinuz-$(uname -r).
func HostKernel() (Kernel, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return Kernel{}, fmt.Errorf("%w: uname: %w", ErrHostKernel, err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	path := "/boot/vmlinuz-" + release
	f, err := os.Open(path)
	if err != nil {
		return Kernel{}, fmt.Errorf("%w: %w (the host kernel %s has no image in /boot here; use debian-6.1 or debian-6.12, or pass a bzImage path)",
			ErrHostKernel, err, release)
	}
	f.Close()
	k, err := FromFile(path)
	if err != nil {
		return Kernel{}, fmt.Errorf("%w: %w", ErrHostKernel, err)
	}
	k.Name = Host
	return k, nil
}

// FromFile describes a bzImage given by path, reading its release from the
// image header.
func FromFile(path string) (Kernel, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Kernel{}, err
	}
	release, err := ReadRelease(abs)
	if err != nil {
		return Kernel{}, err
	}
	if err := checkImageSize(abs); err != nil {
		return Kernel{}, err
	}
	return Kernel{Name: path, Path: abs, Release: release}, nil
}

// ReadRelease returns the kernel release recorded in an x86 bzImage: the
// boot protocol header's kernel_version field points at a string that
// starts with the release ("6.1.0-56-cloud-amd64 (debian-kernel@...) #1 ...").
func ReadRelease(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("kernel image: %w", err)
	}
	defer f.Close()
	var hdr [0x210]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return "", fmt.Errorf("%s: %w: short header: %w", path, ErrNotBzImage, err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", fmt.Errorf("%s: %w: no HdrS boot header", path, ErrNotBzImage)
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	var buf [256]byte
	n, err := f.ReadAt(buf[:], off)
	if n == 0 {
		return "", fmt.Errorf("%s: %w: kernel_version at %#x: %w", path, ErrNotBzImage, off, err)
	}
	s := string(buf[:n])
	if i := strings.IndexAny(s, " \x00"); i > 0 {
		s = s[:i]
	}
	if s == "" || !strings.Contains(s, ".") {
		return "", fmt.Errorf("%s: %w: no kernel_version string", path, ErrNotBzImage)
	}
	return s, nil
}

// Fetch downloads the named catalog kernels into the cache and returns them
// in the order given. A cached kernel is kept (even if a newer package is
// available) unless it is damaged (ErrDamaged) or c.Force is set.
func (c *Cache) Fetch(ctx context.Context, names ...string) ([]Kernel, error) {
	var out []Kernel
	for _, name := range names {
		e, ok := lookup(name)
		if !ok {
			if name == Host {
				return nil, fmt.Errorf("%w: %s is not fetched; it is read from /boot", ErrFetch, Host)
			}
			return nil, fmt.Errorf("%w %q (fetchable: %s)", ErrUnknown, name, strings.Join(names0(), ", "))
		}
		k, err := c.Cached(name)
		switch {
		case err == nil && !c.Force:
			c.progress("%s: cached (%s, %s)", name, k.Package, k.Version)
			out = append(out, k)
			continue
		case errors.Is(err, ErrDamaged):
			c.progress("%v; fetching it again", err)
		}
		k, err = c.fetch(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func names0() []string {
	var out []string
	for _, e := range catalog {
		out = append(out, e.Name)
	}
	return out
}

func (c *Cache) fetch(ctx context.Context, e Entry) (Kernel, error) {
	if err := debapt.CheckTools(); err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w; otherwise pass a bzImage path", ErrFetch, e.Name, err)
	}
	archive := debapt.New(c.Dir, "amd64", e.sources...)
	archive.Progress = func(msg string) { c.progress("%s: %s", e.Name, msg) }
	c.progress("%s: looking up the newest package", e.Name)
	names, err := archive.PackageNames(ctx, "linux-image-")
	if err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	candidates, err := newestFirst(e, names)
	if err != nil {
		return Kernel{}, err
	}
	// A suite's index can list a build whose .deb is gone from the pool
	// (bullseye-security's newest 5.10 kernels answer 404): take the newest
	// one that downloads, and say so when falling back.
	var deb, pkg string
	var tried []string
	for _, cand := range candidates {
		debs, err := archive.Download(ctx, cand)
		if err == nil {
			deb, pkg = debs[0], cand
			break
		}
		tried = append(tried, fmt.Sprintf("%s: %v", cand, err))
		c.progress("%s: %s does not download; trying the next newest", e.Name, cand)
	}
	if deb == "" {
		return Kernel{}, fmt.Errorf("%w %s: no package of the series downloads:\n%s", ErrFetch, e.Name, strings.Join(tried, "\n"))
	}
	if len(tried) > 0 {
		c.progress("%s: fell back to %s (%d newer package(s) listed but not downloadable)", e.Name, pkg, len(tried))
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "kernels"), 0o755); err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	work, err := os.MkdirTemp(filepath.Join(c.Dir, "kernels"), "."+e.Name+"-fetch-")
	if err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	defer os.RemoveAll(work)

	version, err := debapt.Field(ctx, deb, "Version")
	if err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	c.progress("%s: unpacking %s %s", e.Name, pkg, version)
	tree := filepath.Join(work, "tree")
	if err := debapt.Extract(ctx, deb, tree); err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	_ = os.Remove(deb) // ~80 MB; the unpacked image is what the cache keeps
	images, _ := filepath.Glob(filepath.Join(tree, "boot", "vmlinuz-*"))
	if len(images) != 1 {
		return Kernel{}, fmt.Errorf("%w %s: %s holds %d boot/vmlinuz-* images, want 1", ErrFetch, e.Name, pkg, len(images))
	}
	release := strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-")

	stage := filepath.Join(work, "entry")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	if err := os.Rename(images[0], filepath.Join(stage, "vmlinuz")); err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	if cfg, _ := filepath.Glob(filepath.Join(tree, "boot", "config-*")); len(cfg) == 1 {
		_ = os.Rename(cfg[0], filepath.Join(stage, "config")) // for reference only
	}
	size, sum, err := fileDigest(filepath.Join(stage, "vmlinuz"))
	if err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	k := Kernel{Name: e.Name, Release: release, Package: pkg, Version: strings.TrimSpace(version), Fetched: time.Now().UTC(),
		Size: size, SHA256: sum}
	b, _ := json.MarshalIndent(k, "", "  ")
	if err := os.WriteFile(filepath.Join(stage, "kernel.json"), append(b, '\n'), 0o644); err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	dst := c.entryDir(e.Name)
	_ = os.RemoveAll(dst) // a partial entry without kernel.json
	if err := os.Rename(stage, dst); err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %w", ErrFetch, e.Name, err)
	}
	k.Path = filepath.Join(dst, "vmlinuz")
	c.progress("%s: fetched %s (%s)", e.Name, release, k.Version)
	return k, nil
}

// newestFirst returns the packages of e's series, highest number first.
func newestFirst(e Entry, pkgs []string) ([]string, error) {
	type cand struct {
		name string
		n    int
	}
	var cands []cand
	for _, name := range pkgs {
		m := e.packageRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if n, err := strconv.Atoi(m[1]); err == nil {
			cands = append(cands, cand{name, n})
		}
	}
	if len(cands) == 0 {
		var suites []string
		for _, s := range e.sources {
			suites = append(suites, s.Suite)
		}
		return nil, fmt.Errorf("%w %s: Debian %s list no package matching %s", ErrFetch, e.Name, strings.Join(suites, ", "), e.packageRE)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].n > cands[j].n })
	out := make([]string, len(cands))
	for i, c := range cands {
		out[i] = c.name
	}
	return out, nil
}
