package initramfs_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"

	"github.com/perfconform/perfconform/vmtest/initramfs"
)

// readArchive returns name → contents ("" for directories, "dir" marked)
// of the first archive in data.
func readArchive(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	r := cpio.NewReader(bytes.NewReader(data))
	for {
		hdr, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Mode.IsDir() {
			out[hdr.Name+"/"] = "dir"
			continue
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[hdr.Name] = string(b)
	}
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBuildContentsAndCache(t *testing.T) {
	src := t.TempDir()
	cache := t.TempDir()
	// A script is not ELF: it has no library closure, so it may be init here.
	initBin := writeFile(t, filepath.Join(src, "init"), "#!/bin/true\n", 0o755)
	writeFile(t, filepath.Join(src, "fixtures", "a.o"), "object a", 0o644)
	writeFile(t, filepath.Join(src, "fixtures", "sub", "b.o"), "object b", 0o644)
	spec := initramfs.Spec{
		Init: initBin,
		Files: []initramfs.File{
			{Host: filepath.Join(src, "fixtures"), Guest: "/fixtures"},
			{Host: "/bin/true", Guest: "/loaders/true"},
		},
	}
	img, err := initramfs.Build(spec, cache)
	if err != nil {
		t.Fatal(err)
	}
	if img.Hit {
		t.Error("first build reported a cache hit")
	}
	data, err := os.ReadFile(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	got := readArchive(t, data)
	for name, want := range map[string]string{
		"init":                       "#!/bin/true\n",
		"fixtures/a.o":               "object a",
		"fixtures/sub/b.o":           "object b",
		"fixtures/sub/":              "dir",
		"dev/":                       "dir",
		"proc/":                      "dir",
		"sys/":                       "dir",
		"lib64/":                     "dir",
		"loaders/":                   "dir",
		"lib64/ld-linux-x86-64.so.2": "",
	} {
		v, ok := got[name]
		if !ok {
			t.Errorf("image lacks %s", name)
		} else if want != "" && v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	trueBin, _ := os.ReadFile("/bin/true")
	if got["loaders/true"] != string(trueBin) {
		t.Error("loaders/true is not /bin/true")
	}
	if !slices.ContainsFunc(mapKeys(got), func(k string) bool { return strings.HasSuffix(k, "/libc.so.6") }) {
		t.Errorf("image lacks libc.so.6 for /bin/true: %v", mapKeys(got))
	}

	// Same inputs: a hit, same file.
	again, err := initramfs.Build(spec, cache)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Hit || again.Path != img.Path {
		t.Errorf("second build: hit %v path %s, want a hit on %s", again.Hit, again.Path, img.Path)
	}

	// A changed input: a new image.
	writeFile(t, filepath.Join(src, "fixtures", "a.o"), "object a, rebuilt", 0o644)
	changed, err := initramfs.Build(spec, cache)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Hit || changed.Path == img.Path {
		t.Errorf("after a change: hit %v path %s, want a new image", changed.Hit, changed.Path)
	}
	if got := readArchive(t, mustRead(t, changed.Path))["fixtures/a.o"]; got != "object a, rebuilt" {
		t.Errorf("rebuilt image has a.o = %q", got)
	}
}

func TestBuildRejects(t *testing.T) {
	dir := t.TempDir()
	script := writeFile(t, filepath.Join(dir, "init"), "#!/bin/true\n", 0o755)
	for _, tc := range []struct {
		name string
		spec initramfs.Spec
	}{
		{"no init", initramfs.Spec{}},
		{"missing init", initramfs.Spec{Init: filepath.Join(dir, "missing")}},
		{"dynamic init", initramfs.Spec{Init: "/bin/true"}},
		{"missing file", initramfs.Spec{Init: script, Files: []initramfs.File{{Host: filepath.Join(dir, "nope")}}}},
		{"relative guest path", initramfs.Spec{Init: script, Files: []initramfs.File{{Host: script, Guest: "x/init"}}}},
		{"clash with init", initramfs.Spec{Init: script, Files: []initramfs.File{{Host: "/bin/true", Guest: "/init"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := initramfs.Build(tc.spec, t.TempDir())
			if !errors.Is(err, initramfs.ErrBadSpec) {
				t.Errorf("error %v, want ErrBadSpec", err)
			}
		})
	}
}

func TestClosure(t *testing.T) {
	libs, err := initramfs.Closure("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	var haveLoader, haveLibc bool
	for _, l := range libs {
		haveLoader = haveLoader || strings.HasSuffix(l, "/ld-linux-x86-64.so.2")
		haveLibc = haveLibc || strings.HasSuffix(l, "/libc.so.6")
		if _, err := os.Stat(l); err != nil {
			t.Errorf("closure path %s: %v", l, err)
		}
	}
	if !haveLoader || !haveLibc {
		t.Errorf("closure of /bin/true = %v, want the loader and libc", libs)
	}

	// A script or a data file has no closure.
	script := writeFile(t, filepath.Join(t.TempDir(), "s"), "#!/bin/sh\n", 0o755)
	if libs, err := initramfs.Closure(script); err != nil || len(libs) != 0 {
		t.Errorf("closure of a script = %v, %v; want none", libs, err)
	}
	// A static Go binary (this test, when built without cgo, is one; the
	// toolchain's own go binary always is) has no closure.
	goBin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	if libs, err := initramfs.Closure(goBin); err != nil || len(libs) != 0 {
		t.Errorf("closure of %s = %v, %v; want none", goBin, libs, err)
	}
}

// TestClosureIn takes an arm64 executable's closure from a sysroot of
// unpacked arm64 packages (the one the bpftool adapter uses for arm64 VMs,
// when a run has made it).
func TestClosureIn(t *testing.T) {
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Skip(err)
	}
	root := filepath.Join(cache, "perfconform", "sysroot", "arm64", "bpftool")
	exe := filepath.Join(root, "usr/sbin/bpftool")
	if _, err := os.Stat(exe); err != nil {
		t.Skipf("no arm64 bpftool sysroot: %v", err)
	}
	libs, err := initramfs.ClosureIn(root, exe)
	if err != nil {
		t.Fatal(err)
	}
	var haveLoader, haveElf bool
	for _, l := range libs {
		haveLoader = haveLoader || l == "/lib/ld-linux-aarch64.so.1"
		haveElf = haveElf || strings.HasSuffix(l, "aarch64-linux-gnu/libelf.so.1")
		if strings.HasPrefix(l, root) {
			t.Errorf("%s: a guest path must not carry the sysroot", l)
		}
		if _, err := os.Stat(filepath.Join(root, l)); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	if !haveLoader || !haveElf {
		t.Errorf("closure %v: want the aarch64 loader and libelf", libs)
	}
	// The host's search path cannot satisfy it: wrong machine.
	if _, err := initramfs.ClosureIn("", exe); err == nil {
		t.Error("arm64 bpftool resolved against the host's libraries")
	}
}

func TestWriteWithOverlay(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, filepath.Join(dir, "base.cpio"), "", 0o644)
	baseArchive, err := initramfs.Archive(map[string][]byte{"/init": []byte("init")})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base, baseArchive, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "vm.cpio")
	files := map[string][]byte{"/perfconform/config.json": []byte(`{"kernel":"debian-6.1"}`)}
	if err := initramfs.WriteWithOverlay(dst, base, files); err != nil {
		t.Fatal(err)
	}
	data := mustRead(t, dst)
	if !bytes.HasPrefix(data, baseArchive) {
		t.Fatal("VM initrd does not start with the base image")
	}
	overlay := data[len(baseArchive):]
	if len(baseArchive)%4 != 0 {
		t.Errorf("base archive length %d is not 4-byte aligned: the kernel would not find the overlay", len(baseArchive))
	}
	got := readArchive(t, overlay)
	if got["perfconform/config.json"] != `{"kernel":"debian-6.1"}` || got["perfconform/"] != "dir" {
		t.Errorf("overlay = %v", got)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mapKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestDamagedCacheIsRebuilt (issue 24 item 10): a cached image that was
// truncated (a full disk, a killed copy) or changed is not reused, as a
// damaged kernel image is not: it is rebuilt, and Image.Rebuilt says why.
func TestDamagedCacheIsRebuilt(t *testing.T) {
	src, cache := t.TempDir(), t.TempDir()
	spec := initramfs.Spec{
		Init:  writeFile(t, filepath.Join(src, "init"), "#!/bin/true\n", 0o755),
		Files: []initramfs.File{{Host: writeFile(t, filepath.Join(src, "data"), strings.Repeat("payload ", 4096), 0o644), Guest: "/data"}},
	}
	first, err := initramfs.Build(spec, cache)
	if err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(first.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		damage func() error
		want   string
	}{
		{"truncated", func() error { return os.Truncate(first.Path, int64(len(whole)/2)) }, "bytes"},
		{"changed", func() error {
			b := slices.Clone(whole)
			b[len(b)/2] ^= 0xff
			return os.WriteFile(first.Path, b, 0o644)
		}, "SHA-256"},
	} {
		if err := tc.damage(); err != nil {
			t.Fatal(err)
		}
		img, err := initramfs.Build(spec, cache)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if img.Hit || !strings.Contains(img.Rebuilt, tc.want) {
			t.Errorf("%s cache entry: Hit %v, Rebuilt %q; want a rebuild saying %q", tc.name, img.Hit, img.Rebuilt, tc.want)
		}
		if got, _ := os.ReadFile(img.Path); !bytes.Equal(got, whole) {
			t.Errorf("%s cache entry: not rebuilt whole (%d bytes, want %d)", tc.name, len(got), len(whole))
		}
	}
	if img, err := initramfs.Build(spec, cache); err != nil || !img.Hit || img.Rebuilt != "" {
		t.Errorf("a whole cache entry: Hit %v, Rebuilt %q, %v; want a plain hit", img.Hit, img.Rebuilt, err)
	}
}
