// Package kernel is the catalog of kernels perfconform boots: named Debian
// cloud kernels fetched into a cache directory, the host's own kernel, or
// any kernel image given by path (an x86 bzImage or an arm64 Image). A
// kernel's architecture is the VM's: catalog entries carry it, images given
// by path are recognized by their header.
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
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/debapt"
	"github.com/perfconform/perfconform/vmtest/arch"
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
	// ErrNotBzImage: the file is neither an x86 bzImage nor an arm64 Image.
	ErrNotBzImage = errors.New("not a kernel image (bzImage or arm64 Image)")
	// ErrDamaged: a bzImage is shorter than its header says (a truncated
	// download or copy), or a cached one no longer matches the size and
	// SHA-256 recorded when it was fetched.
	ErrDamaged = errors.New("kernel image damaged")
)

// Kernel is one bootable kernel.
type Kernel struct {
	Name    string    `json:"name"`              // catalog name, "host", or the release of a kernel given by path
	Path    string    `json:"path,omitempty"`    // the bzImage or arm64 Image
	Release string    `json:"release"`           // uname -r of the kernel
	Arch    string    `json:"arch,omitempty"`    // the guest architecture (arch.Arch.Name); "" means amd64
	Package string    `json:"package,omitempty"` // Debian package it came from
	Version string    `json:"version,omitempty"` // Debian package version
	Fetched time.Time `json:"fetched,omitzero"`
	// Size and SHA256 are the image's, recorded at fetch; Cached checks
	// them (entries fetched before they were recorded get the header check
	// only).
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	// Modules are the kernel modules the guest loads before it opens the
	// event channel, in load order, as file names in the modules directory
	// beside the image (ModuleFiles gives their paths).
	Modules []string `json:"modules,omitempty"`
}

// ModuleFiles returns the host paths of k.Modules, in load order.
func (k Kernel) ModuleFiles() []string {
	out := make([]string, len(k.Modules))
	for i, m := range k.Modules {
		out[i] = filepath.Join(filepath.Dir(k.Path), "modules", m)
	}
	return out
}

// GuestArch returns the architecture of the kernel's VMs.
func (k Kernel) GuestArch() (arch.Arch, error) {
	if k.Arch == "" {
		return arch.Amd64, nil
	}
	return arch.Get(k.Arch)
}

// String is "name (release)", or "release (path)" for a kernel given by path.
func (k Kernel) String() string {
	switch {
	case k.ByPath():
		return fmt.Sprintf("%s (%s)", k.Name, k.Path)
	case k.Release == "":
		return k.Name
	}
	return fmt.Sprintf("%s (%s)", k.Name, k.Release)
}

// ByPath reports whether k was given as a bzImage path (FromFile) rather than
// by a catalog name or "host": such a kernel is named by its release, since
// its path says nothing to the reader of a report, and Path keeps the file.
func (k Kernel) ByPath() bool {
	return k.Name != Host && k.Name == k.Release && k.Package == "" && k.Path != ""
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
	// Arch is the Debian architecture of the packages and of the VMs.
	Arch string
	// guestModules are modules the guest needs that the kernel may ship as
	// loadable modules rather than built in; fetch keeps them (with their
	// modules.dep closure, in load order) beside the image.
	guestModules []string
}

var catalog = []Entry{
	{
		Name:        "debian-5.10",
		Description: "Debian bullseye cloud kernel 5.10 (linux-image-5.10.0-N-cloud-amd64-unsigned), the oldest kernel the suite supports",
		packageRE:   regexp.MustCompile(`^linux-image-5\.10\.0-([0-9]+)-cloud-amd64-unsigned$`),
		sources:     debapt.Bullseye,
	},
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
	// arm64: the event channel is a virtio console port (arch.Arm64), and
	// the 6.1 cloud kernel builds virtio, virtio_pci and virtio_console as
	// modules (6.12 builds them in).
	{
		Name:         "debian-6.1-arm64",
		Description:  "Debian bookworm cloud kernel 6.1 for arm64 (linux-image-6.1.0-N-cloud-arm64-unsigned)",
		packageRE:    regexp.MustCompile(`^linux-image-6\.1\.0-([0-9]+)-cloud-arm64-unsigned$`),
		sources:      debapt.Bookworm,
		Arch:         "arm64",
		guestModules: arm64GuestModules,
	},
	{
		Name:         "debian-6.12-arm64",
		Description:  "Debian bookworm(-security) cloud kernel 6.12 for arm64 (linux-image-6.12.N+deb12-cloud-arm64-unsigned)",
		packageRE:    regexp.MustCompile(`^linux-image-6\.12\.([0-9]+)\+deb12-cloud-arm64-unsigned$`),
		sources:      debapt.Bookworm,
		Arch:         "arm64",
		guestModules: arm64GuestModules,
	},
}

// arm64GuestModules drive the arm64 event channel: the virtio PCI transport
// and the virtio console.
var arm64GuestModules = []string{"virtio_pci", "virtio_console"}

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

// ArchName is the entry's architecture; entries without one are amd64.
func (e Entry) ArchName() string {
	if e.Arch == "" {
		return arch.Amd64.Name
	}
	return e.Arch
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
	e, ok := lookup(name)
	if !ok {
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
	if k.Arch == "" {
		k.Arch = e.ArchName()
	}
	for _, p := range append([]string{k.Path}, k.ModuleFiles()...) {
		if _, err := os.Stat(p); err != nil {
			return Kernel{}, fmt.Errorf("%w: %s: %w (run `conform kernels fetch %s`)", ErrNotFetched, name, err, name)
		}
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
	if string(hdr[0x38:0x3c]) == arm64ImageMagic {
		// An arm64 Image header records no file size (image_size is
		// the size in memory, BSS included): fetched ones are covered
		// by the size and SHA-256 recorded at fetch.
		return nil
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

// ArchOf returns the guest architecture of a kernel name without fetching
// it: the catalog entry's, the host's for "host", or read from the header of
// an image given by path.
func ArchOf(name string) (string, error) {
	if e, ok := lookup(name); ok {
		return e.ArchName(), nil
	}
	if name == Host {
		a, err := arch.Host()
		return a.Name, err
	}
	if _, err := os.Stat(name); err == nil {
		_, a, err := readImage(name)
		return a.Name, err
	}
	return "", fmt.Errorf("%w %q: not a catalog name (%s) nor an existing file", ErrUnknown, name, strings.Join(Names(), ", "))
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
		return Kernel{}, fmt.Errorf("%w: %w (the host kernel %s has no image in /boot here; use one of %s, or pass a bzImage path)",
			ErrHostKernel, err, release, strings.Join(Fetchable(), ", "))
	}
	f.Close()
	k, err := FromFile(path)
	if err != nil {
		return Kernel{}, fmt.Errorf("%w: %w", ErrHostKernel, err)
	}
	k.Name = Host
	return k, nil
}

// FromFile describes a kernel image given by path: an x86 bzImage (release
// from its boot header) or an arm64 Image (release from its version banner).
// The kernel is named by its release ("5.10.0-43-cloud-amd64"); Path is the
// file.
func FromFile(path string) (Kernel, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Kernel{}, err
	}
	release, a, err := readImage(abs)
	if err != nil {
		return Kernel{}, err
	}
	if err := checkImageSize(abs); err != nil {
		return Kernel{}, err
	}
	return Kernel{Name: release, Path: abs, Release: release, Arch: a.Name}, nil
}

// ReadRelease returns the kernel release recorded in a kernel image: an x86
// bzImage's boot protocol header has a kernel_version field pointing at a
// string that starts with the release ("6.1.0-56-cloud-amd64 (debian-kernel@...)
// #1 ..."); an arm64 Image is uncompressed and has no such field, so its
// "Linux version <release> " banner is read instead.
func ReadRelease(path string) (string, error) {
	release, _, err := readImage(path)
	return release, err
}

// arm64ImageMagic is at offset 0x38 of an arm64 Image (Documentation/arch/arm64/booting.rst).
const arm64ImageMagic = "ARM\x64"

func readImage(path string) (string, arch.Arch, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", arch.Arch{}, fmt.Errorf("kernel image: %w", err)
	}
	defer f.Close()
	var hdr [0x210]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return "", arch.Arch{}, fmt.Errorf("%s: %w: short header: %w", path, ErrNotBzImage, err)
	}
	if string(hdr[0x38:0x3c]) == arm64ImageMagic {
		release, err := arm64Release(f)
		if err != nil {
			return "", arch.Arch{}, fmt.Errorf("%s: arm64 Image: %w", path, err)
		}
		return release, arch.Arm64, nil
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", arch.Arch{}, fmt.Errorf("%s: %w: no HdrS boot header, no arm64 Image magic", path, ErrNotBzImage)
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	var buf [256]byte
	n, err := f.ReadAt(buf[:], off)
	if n == 0 {
		return "", arch.Arch{}, fmt.Errorf("%s: %w: kernel_version at %#x: %w", path, ErrNotBzImage, off, err)
	}
	s := string(buf[:n])
	if i := strings.IndexAny(s, " \x00"); i > 0 {
		s = s[:i]
	}
	if s == "" || !strings.Contains(s, ".") {
		return "", arch.Arch{}, fmt.Errorf("%s: %w: no kernel_version string", path, ErrNotBzImage)
	}
	return s, arch.Amd64, nil
}

// linuxBanner is how the kernel's version banner (linux_banner) starts.
var linuxBanner = regexp.MustCompile(`Linux version ([0-9]+\.[0-9]+[^ \x00]*) \(`)

// arm64Release finds the version banner in an uncompressed Image.
func arm64Release(f *os.File) (string, error) {
	b, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	m := linuxBanner.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%w: no \"Linux version\" banner", ErrNotBzImage)
	}
	return string(m[1]), nil
}

// Fetch downloads the named catalog kernels into the cache and returns them
// in the order given. A cached kernel is kept (even if a newer package is
// available) unless it is damaged (ErrDamaged) or c.Force is set. A name
// that is not fetchable is refused before anything is fetched.
func (c *Cache) Fetch(ctx context.Context, names ...string) ([]Kernel, error) {
	// Every name is checked before anything is fetched: a typo at the
	// end must not cost the downloads before it.
	entries := make([]Entry, len(names))
	for i, name := range names {
		e, ok := lookup(name)
		if !ok {
			if name == Host {
				return nil, fmt.Errorf("%w: %s is not fetched; it is read from /boot", ErrFetch, Host)
			}
			return nil, fmt.Errorf("%w %q (fetchable: %s)", ErrUnknown, name, strings.Join(Fetchable(), ", "))
		}
		entries[i] = e
	}
	var out []Kernel
	for i, name := range names {
		e := entries[i]
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

// Fetchable returns the names of the catalog kernels Fetch can download:
// Names without Host.
func Fetchable() []string {
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
	archive := debapt.New(c.Dir, e.ArchName(), e.sources...)
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
	modules, err := keepModules(filepath.Join(tree, "lib", "modules", release), filepath.Join(stage, "modules"), e.guestModules)
	if err != nil {
		return Kernel{}, fmt.Errorf("%w %s: %s: %w", ErrFetch, e.Name, pkg, err)
	}
	k := Kernel{Name: e.Name, Release: release, Arch: e.ArchName(), Package: pkg, Version: strings.TrimSpace(version),
		Fetched: time.Now().UTC(), Size: size, SHA256: sum, Modules: modules}
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

// keepModules moves the named modules and every module they depend on
// from the package's module tree into dst, and returns their file names in
// load order (dependencies first). Debian's packages ship no modules.dep
// (depmod runs at install), so dependencies come from each module's
// .modinfo "depends=" entry. Modules the kernel has built in
// (modules.builtin) need nothing.
func keepModules(modDir, dst string, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	files := map[string]string{} // module name -> path under modDir
	err := filepath.WalkDir(modDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			files[moduleName(p)] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	builtin, _ := os.ReadFile(filepath.Join(modDir, "modules.builtin"))
	isBuiltin := map[string]bool{}
	for _, l := range strings.Fields(string(builtin)) {
		isBuiltin[moduleName(l)] = true
	}
	var order []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name, neededBy string) error
	visit = func(name, neededBy string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("module %s: dependency cycle", name)
		case 2:
			return nil
		}
		file, ok := files[name]
		if !ok {
			if isBuiltin[name] {
				state[name] = 2
				return nil
			}
			return fmt.Errorf("module %s%s: neither in %s nor built in (modules.builtin)", name, neededBy, modDir)
		}
		state[name] = 1
		file, err := plainModule(file)
		if err != nil {
			return err
		}
		deps, err := moduleDepends(file)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, " (needed by "+name+")"); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, file)
		return nil
	}
	for _, n := range names {
		if err := visit(n, ""); err != nil {
			return nil, err
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, file := range order {
		base := filepath.Base(file)
		if err := os.Rename(file, filepath.Join(dst, base)); err != nil {
			return nil, fmt.Errorf("module %s: %w", file, err)
		}
		out = append(out, base)
	}
	return out, nil
}

// moduleDecompressors are the programs that decompress modules by suffix
// (Debian's 6.12 kernels ship module.ko.xz): the guest loads plain .ko
// files with finit_module and no flags, which any kernel takes.
var moduleDecompressors = map[string][]string{".xz": {"xz", "-dc"}, ".zst": {"zstd", "-dcq"}, ".gz": {"gzip", "-dc"}}

// plainModule returns file itself for a plain module, or the plain .ko it
// decompresses a compressed one into, beside it.
func plainModule(file string) (string, error) {
	ext := filepath.Ext(file)
	if strings.HasSuffix(file, ".ko") {
		return file, nil
	}
	cmd, ok := moduleDecompressors[ext]
	if !ok || !strings.HasSuffix(strings.TrimSuffix(file, ext), ".ko") {
		return "", fmt.Errorf("module %s: unknown compression %q (want .ko, .ko.xz, .ko.zst or .ko.gz)", file, ext)
	}
	plain := strings.TrimSuffix(file, ext)
	out, err := os.Create(plain)
	if err != nil {
		return "", fmt.Errorf("module %s: %w", file, err)
	}
	c := exec.Command(cmd[0], append(cmd[1:], file)...)
	c.Stdout = out
	var stderr strings.Builder
	c.Stderr = &stderr
	err = c.Run()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(plain)
		return "", fmt.Errorf("module %s: %s: %w: %s", file, strings.Join(cmd, " "), err, strings.TrimSpace(stderr.String()))
	}
	return plain, nil
}

// moduleDepends reads the "depends=" entry of a module's .modinfo section.
func moduleDepends(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", file, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s: no .modinfo section", file)
	}
	b, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s: .modinfo: %w", file, err)
	}
	for _, kv := range strings.Split(string(b), "\x00") {
		if v, ok := strings.CutPrefix(kv, "depends="); ok {
			var deps []string
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					deps = append(deps, strings.ReplaceAll(d, "-", "_"))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// moduleName is the module name of a modules.dep path: its base name
// without .ko (and any compression suffix), dashes as underscores.
func moduleName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
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
