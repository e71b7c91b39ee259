package kernel

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNewestFirst(t *testing.T) {
	pkgs := []string{
		"linux-image-6.1.0-9-cloud-amd64-unsigned",
		"linux-image-6.1.0-56-cloud-amd64-unsigned",
		"linux-image-6.1.0-56-cloud-amd64-dbg",
		"linux-image-6.1.0-100-amd64-unsigned",
		"linux-image-6.12.9+deb12-cloud-amd64-unsigned",
		"linux-image-6.12.117+deb12-cloud-amd64-unsigned",
		"linux-image-6.12.20+deb12-cloud-amd64-unsigned",
		"linux-image-5.10.0-9-cloud-amd64-unsigned",
		"linux-image-5.10.0-46-cloud-amd64-unsigned",
		"linux-image-5.10.0-46-cloud-amd64-unsigned-dbg",
		"linux-image-5.10.0-43-rt-amd64-unsigned",
	}
	for _, tc := range []struct{ name, want string }{
		{"debian-6.1", "linux-image-6.1.0-56-cloud-amd64-unsigned"}, // numeric, not lexical; cloud only
		{"debian-6.12", "linux-image-6.12.117+deb12-cloud-amd64-unsigned"},
		{"debian-5.10", "linux-image-5.10.0-46-cloud-amd64-unsigned"},
	} {
		e, _ := lookup(tc.name)
		got, err := newestFirst(e, pkgs)
		if err != nil || got[0] != tc.want {
			t.Errorf("%s: %q, %v; want %q first", tc.name, got, err, tc.want)
		}
	}
	e, _ := lookup("debian-6.12")
	got, _ := newestFirst(e, pkgs) // the fallback order when the newest 404s
	if want := "linux-image-6.12.117+deb12-cloud-amd64-unsigned linux-image-6.12.20+deb12-cloud-amd64-unsigned linux-image-6.12.9+deb12-cloud-amd64-unsigned"; strings.Join(got, " ") != want {
		t.Errorf("debian-6.12 order %v, want %s", got, want)
	}
	e, _ = lookup("debian-6.1")
	if _, err := newestFirst(e, []string{"linux-image-6.12.117+deb12-cloud-amd64-unsigned"}); !errors.Is(err, ErrFetch) {
		t.Errorf("no candidate: %v, want ErrFetch", err)
	}
}

func TestKeepModules(t *testing.T) {
	// Built-in modules need nothing; a module neither shipped nor built in
	// is an error naming it.
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "modules.builtin"), []byte("kernel/drivers/char/virtio_console.ko\nkernel/drivers/virtio/virtio_pci.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := keepModules(tree, filepath.Join(t.TempDir(), "m"), []string{"virtio_pci", "virtio_console"})
	if err != nil || len(got) != 0 {
		t.Errorf("built in: %v, %v; want nothing to load", got, err)
	}
	if _, err := keepModules(tree, t.TempDir(), []string{"no_such_mod"}); err == nil || !strings.Contains(err.Error(), "no_such_mod") {
		t.Errorf("missing module: %v", err)
	}

	// Real modules (the arm64 6.1 kernel's, when fetched): dependencies
	// come from .modinfo and load first.
	dir, err := DefaultCacheDir()
	if err != nil {
		t.Skip(err)
	}
	k, err := (&Cache{Dir: dir}).Cached("debian-6.1-arm64")
	if err != nil {
		t.Skipf("debian-6.1-arm64 not fetched: %v", err)
	}
	src := t.TempDir()
	sub := filepath.Join(src, "kernel", "drivers")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range k.ModuleFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err = keepModules(src, filepath.Join(t.TempDir(), "m"), []string{"virtio_console"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || got[len(got)-1] != "virtio_console.ko" || !slices.Contains(got, "virtio.ko") || !slices.Contains(got, "virtio_ring.ko") {
		t.Errorf("virtio_console closure %v: want virtio and virtio_ring before virtio_console", got)
	}

	// Compressed modules (Debian's 6.12 ships .ko.xz) are read and kept
	// decompressed: the guest loads plain .ko files.
	xzSrc := t.TempDir()
	for _, f := range k.ModuleFiles() {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		plain := filepath.Join(xzSrc, filepath.Base(f))
		if err := os.WriteFile(plain, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("xz", plain).CombinedOutput(); err != nil {
			t.Skipf("xz: %v: %s", err, out)
		}
	}
	dst := filepath.Join(t.TempDir(), "m")
	xzGot, err := keepModules(xzSrc, dst, []string{"virtio_console"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(xzGot, got) {
		t.Errorf("from .ko.xz: %v, want %v", xzGot, got)
	}
	for _, m := range xzGot {
		if b, err := os.ReadFile(filepath.Join(dst, m)); err != nil || !bytes.HasPrefix(b, []byte("\x7fELF")) {
			t.Errorf("%s: not a plain ELF module (%v)", m, err)
		}
	}
	if _, err := plainModule(filepath.Join(xzSrc, "x.ko.lz4")); err == nil || !strings.Contains(err.Error(), "unknown compression") {
		t.Errorf("lz4 module: %v, want unknown compression", err)
	}
}
