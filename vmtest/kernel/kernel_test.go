package kernel_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/internal/debapt"
	"github.com/perfconform/perfconform/internal/debapt/debapttest"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/kernel/kerneltest"
)

// fakeArm64Image writes an arm64 Image header (magic at 0x38) followed by a
// version banner, as an uncompressed Image carries it.
func fakeArm64Image(t *testing.T, banner string) string {
	t.Helper()
	img := make([]byte, 0x1000)
	copy(img[0x38:], "ARM\x64")
	copy(img[0x800:], banner)
	p := filepath.Join(t.TempDir(), "Image")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadRelease(t *testing.T) {
	p := kerneltest.FakeBzImage(t, "", "6.6.30-test (builder@host) #1 SMP")
	rel, err := kernel.ReadRelease(p)
	if err != nil || rel != "6.6.30-test" {
		t.Errorf("got %q, %v", rel, err)
	}
	arm := fakeArm64Image(t, "\x00Linux version 6.12.117+deb12-cloud-arm64 (debian-kernel@lists.debian.org) (gcc) #1 SMP\x00")
	if k, err := kernel.FromFile(arm); err != nil || k.Release != "6.12.117+deb12-cloud-arm64" || k.Arch != "arm64" {
		t.Errorf("arm64 Image: %+v, %v", k, err)
	}
	if k, err := kernel.FromFile(p); err != nil || k.Arch != "amd64" {
		t.Errorf("bzImage: %+v, %v", k, err)
	}
	if _, err := kernel.ReadRelease(fakeArm64Image(t, "no banner")); !errors.Is(err, kernel.ErrNotBzImage) {
		t.Errorf("arm64 Image without banner: %v, want ErrNotBzImage", err)
	}
	notBz := filepath.Join(t.TempDir(), "elf")
	if err := os.WriteFile(notBz, make([]byte, 0x400), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := kernel.ReadRelease(notBz); !errors.Is(err, kernel.ErrNotBzImage) {
		t.Errorf("zeros: %v, want ErrNotBzImage", err)
	}

	// The fetched Debian kernels, when present, must agree with kernel.json.
	dir, err := kernel.DefaultCacheDir()
	if err != nil {
		t.Skip(err)
	}
	for _, e := range kernel.Catalog() {
		k, err := (&kernel.Cache{Dir: dir}).Cached(e.Name)
		if err != nil {
			continue
		}
		got, err := kernel.FromFile(k.Path)
		if err != nil || got.Release != k.Release || got.Arch != e.ArchName() || k.Arch != e.ArchName() {
			t.Errorf("%s: image says release %q arch %q (%v); kernel.json says %q %q, catalog %q",
				e.Name, got.Release, got.Arch, err, k.Release, k.Arch, e.ArchName())
		}
	}
}

func TestResolveWithoutFetching(t *testing.T) {
	c := &kernel.Cache{Dir: t.TempDir()}
	if _, err := c.Cached("debian-6.1"); !errors.Is(err, kernel.ErrNotFetched) || !strings.Contains(err.Error(), "conform kernels fetch debian-6.1") {
		t.Errorf("empty cache: %v, want ErrNotFetched saying how to fetch", err)
	}
	if _, err := c.Cached("debian-4.19"); !errors.Is(err, kernel.ErrUnknown) {
		t.Errorf("unknown name: %v, want ErrUnknown", err)
	}
	if _, err := c.Resolve(context.Background(), "no-such-kernel"); !errors.Is(err, kernel.ErrUnknown) {
		t.Errorf("resolve unknown: %v, want ErrUnknown", err)
	}
	if _, err := c.Fetch(context.Background(), kernel.Host); !errors.Is(err, kernel.ErrFetch) {
		t.Errorf("fetch host: %v, want ErrFetch", err)
	}
	p := kerneltest.FakeBzImage(t, "", "6.6.30-test")
	k, err := c.Resolve(context.Background(), p)
	if err != nil || k.Path != p || k.Release != "6.6.30-test" || k.Name != "6.6.30-test" || !k.ByPath() {
		t.Errorf("resolve path: %+v, %v; want it named by its release, the path kept", k, err)
	}
	if got, want := k.String(), "6.6.30-test ("+p+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if k, err := c.Resolve(context.Background(), kernel.Host); err != nil {
		if !errors.Is(err, kernel.ErrHostKernel) || !strings.Contains(err.Error(), "/boot/vmlinuz-") {
			t.Errorf("host: %v, want ErrHostKernel naming the file", err)
		}
	} else if k.Release == "" {
		t.Errorf("host kernel without release: %+v", k)
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if d, err := kernel.DefaultCacheDir(); err != nil || d != "/x/cache/perfconform" {
		t.Errorf("got %q, %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, err := kernel.DefaultCacheDir(); err != nil || d != "/home/u/.cache/perfconform" {
		t.Errorf("got %q, %v", d, err)
	}
}

// fakeCacheEntry puts a bzImage of n bytes whose header says n bytes under
// dir as the cached debian-6.1, with kernel.json recording size and sha256
// when record is set.
func fakeCacheEntry(t *testing.T, dir string, n int, record bool) string {
	t.Helper()
	img := make([]byte, n)
	img[0x1f1] = 1
	binary.LittleEndian.PutUint32(img[0x1f4:], uint32((n-1024)/16))
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20e:], 0x100)
	copy(img[0x300:], "6.1.0-99-cloud-amd64\x00")
	for i := 0x400; i < n; i++ {
		img[i] = byte(i)
	}
	entry := filepath.Join(dir, "kernels", "debian-6.1")
	if err := os.MkdirAll(entry, 0o755); err != nil {
		t.Fatal(err)
	}
	k := kernel.Kernel{Name: "debian-6.1", Release: "6.1.0-99-cloud-amd64"}
	if record {
		sum := sha256.Sum256(img)
		k.Size, k.SHA256 = int64(n), hex.EncodeToString(sum[:])
	}
	b, _ := json.Marshal(k)
	if err := os.WriteFile(filepath.Join(entry, "kernel.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(entry, "vmlinuz")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDamagedImages: a truncated or altered image, cached or given by path,
// is refused with ErrDamaged saying what is wrong and how to fix it, never
// reported as cached.
func TestDamagedImages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		record bool
		damage func(path string) error
		want   string
	}{
		{"truncated, recorded", true, func(p string) error { return os.Truncate(p, 3000) }, "3000 bytes, 8192 when fetched"},
		{"truncated, not recorded", false, func(p string) error { return os.Truncate(p, 3000) }, "boot header says 8192: truncated"},
		{"altered, recorded", true, func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("x"), 5000)
			return err
		}, "SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := fakeCacheEntry(t, dir, 8192, tc.record)
			c := &kernel.Cache{Dir: dir}
			if _, err := c.Cached("debian-6.1"); err != nil {
				t.Fatalf("intact entry: %v", err)
			}
			if err := tc.damage(p); err != nil {
				t.Fatal(err)
			}
			_, err := c.Cached("debian-6.1")
			if !errors.Is(err, kernel.ErrDamaged) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "conform kernels fetch --force debian-6.1") {
				t.Fatalf("Cached = %v, want ErrDamaged saying %q and how to fetch again", err, tc.want)
			}
		})
	}
	t.Run("path", func(t *testing.T) {
		dir := t.TempDir()
		p := fakeCacheEntry(t, dir, 8192, false)
		if _, err := kernel.FromFile(p); err != nil {
			t.Fatalf("intact image: %v", err)
		}
		if err := os.Truncate(p, 4096); err != nil {
			t.Fatal(err)
		}
		if _, err := kernel.FromFile(p); !errors.Is(err, kernel.ErrDamaged) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("FromFile(truncated) = %v, want ErrDamaged saying truncated", err)
		}
	})
}

// TestFetchWithHostSourcesHidden fetches every catalog kernel into an empty
// cache with the host's apt sources hidden (APT_CONFIG names a
// configuration without any source), as on a runner whose distribution has
// no Debian kernels: the fetch must rely on debapt's own configuration only.
// `conform kernels fetch` is this call with a progress printer.
func TestFetchWithHostSourcesHidden(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads every catalog kernel from Debian's archive")
	}
	if err := debapt.CheckTools(); err != nil {
		t.Skip(err)
	}
	t.Setenv("APT_CONFIG", debapttest.HiddenSources(t))

	var names []string
	for _, e := range kernel.Catalog() {
		names = append(names, e.Name)
	}
	c := &kernel.Cache{Dir: t.TempDir(), Progress: func(msg string) { t.Log(msg) }}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ks, err := c.Fetch(ctx, names...)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range ks {
		if k.Name != names[i] || k.Package == "" || k.Version == "" {
			t.Errorf("fetched %+v for %s: want its package and version recorded", k, names[i])
		}
		rel, err := kernel.ReadRelease(k.Path)
		if err != nil || rel != k.Release {
			t.Errorf("%s: image release %q, %v; kernel.json says %q", k.Name, rel, err, k.Release)
		}
	}
}

// TestList: an empty cache lists every catalog kernel as not fetched, an
// intact entry as cached, a truncated one as damaged with the reason; the
// host kernel comes last, usable or not.
func TestList(t *testing.T) {
	dir := t.TempDir()
	c, err := kernel.NewCache(dir)
	if err != nil || c.Dir != dir {
		t.Fatalf("NewCache(%s) = %+v, %v", dir, c, err)
	}
	state := func() map[string]kernel.Status {
		m := map[string]kernel.Status{}
		list := c.List()
		for _, s := range list {
			m[s.Name] = s
		}
		if len(list) != len(kernel.Names()) || list[len(list)-1].Name != kernel.Host {
			t.Fatalf("List() = %+v, want every catalog kernel, then %s", list, kernel.Host)
		}
		return m
	}
	if s := state()["debian-6.1"]; s.State != kernel.NotFetched || !errors.Is(s.Err, kernel.ErrNotFetched) {
		t.Errorf("empty cache: %+v, want not fetched", s)
	}
	p := fakeCacheEntry(t, dir, 8192, true)
	if s := state()["debian-6.1"]; s.State != kernel.Cached || s.Err != nil || s.Kernel.Release != "6.1.0-99-cloud-amd64" {
		t.Errorf("intact entry: %+v, want cached", s)
	}
	if err := os.Truncate(p, 3000); err != nil {
		t.Fatal(err)
	}
	if s := state()["debian-6.1"]; s.State != kernel.Damaged || !errors.Is(s.Err, kernel.ErrDamaged) {
		t.Errorf("truncated entry: %+v, want damaged", s)
	}
	if s := state()[kernel.Host]; (s.State == kernel.Available) != (s.Err == nil) || (s.State != kernel.Available && s.State != kernel.Unavailable) {
		t.Errorf("host: %+v", s)
	}
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	if c, err := kernel.NewCache(""); err != nil || c.Dir != "/x/cache/perfconform" {
		t.Errorf("NewCache(\"\") = %+v, %v; want the default cache", c, err)
	}
}

// TestFetchChecksEveryNameFirst: `conform kernels fetch debian-6.1 garbage`
// must refuse garbage before fetching debian-6.1 (the context is cancelled,
// so a fetch that starts ends in the context's error, not ErrUnknown).
func TestFetchChecksEveryNameFirst(t *testing.T) {
	var progress []string
	c := &kernel.Cache{Dir: t.TempDir(), Progress: func(msg string) { progress = append(progress, msg) }}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, names := range [][]string{{"debian-6.1", "garbage"}, {"debian-6.1", kernel.Host}} {
		ks, err := c.Fetch(ctx, names...)
		if !errors.Is(err, kernel.ErrUnknown) && !errors.Is(err, kernel.ErrFetch) || !strings.Contains(err.Error(), names[1]) || len(ks) > 0 {
			t.Errorf("Fetch(%q) = %v, %v; want an error naming %s before any fetch", names, ks, err, names[1])
		}
	}
	if entries, _ := os.ReadDir(c.Dir); len(progress) > 0 || len(entries) > 0 {
		t.Errorf("fetching started: %q, cache holds %d entries", progress, len(entries))
	}
}
