package kernel_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/vmtest/kernel"
)

// fakeBzImage writes a file with just the boot header fields ReadRelease uses.
func fakeBzImage(t *testing.T, version string) string {
	t.Helper()
	img := make([]byte, 0x400)
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20e:], 0x100) // string at 0x300
	copy(img[0x300:], version+"\x00")
	p := filepath.Join(t.TempDir(), "vmlinuz")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadRelease(t *testing.T) {
	p := fakeBzImage(t, "6.6.30-test (builder@host) #1 SMP")
	rel, err := kernel.ReadRelease(p)
	if err != nil || rel != "6.6.30-test" {
		t.Errorf("got %q, %v", rel, err)
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
	for _, name := range []string{"debian-6.1", "debian-6.12"} {
		k, err := (&kernel.Cache{Dir: dir}).Cached(name)
		if err != nil {
			continue
		}
		rel, err := kernel.ReadRelease(k.Path)
		if err != nil || rel != k.Release {
			t.Errorf("%s: header release %q, %v; kernel.json says %q", name, rel, err, k.Release)
		}
	}
}

func TestResolveWithoutFetching(t *testing.T) {
	c := &kernel.Cache{Dir: t.TempDir()}
	if _, err := c.Cached("debian-6.1"); !errors.Is(err, kernel.ErrNotFetched) || !strings.Contains(err.Error(), "conform kernels fetch debian-6.1") {
		t.Errorf("empty cache: %v, want ErrNotFetched saying how to fetch", err)
	}
	if _, err := c.Cached("debian-5.10"); !errors.Is(err, kernel.ErrUnknown) {
		t.Errorf("unknown name: %v, want ErrUnknown", err)
	}
	if _, err := c.Resolve(context.Background(), "no-such-kernel"); !errors.Is(err, kernel.ErrUnknown) {
		t.Errorf("resolve unknown: %v, want ErrUnknown", err)
	}
	if _, err := c.Fetch(context.Background(), kernel.Host); !errors.Is(err, kernel.ErrFetch) {
		t.Errorf("fetch host: %v, want ErrFetch", err)
	}
	p := fakeBzImage(t, "6.6.30-test")
	k, err := c.Resolve(context.Background(), p)
	if err != nil || k.Path != p || k.Release != "6.6.30-test" {
		t.Errorf("resolve path: %+v, %v", k, err)
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
