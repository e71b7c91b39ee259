package initramfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestClosureMissingLibrary(t *testing.T) {
	savedPath, savedConf := DefaultLibraryPath, ldSoConfPath
	t.Cleanup(func() { DefaultLibraryPath, ldSoConfPath = savedPath, savedConf })
	empty := t.TempDir()
	DefaultLibraryPath = []string{empty}
	ldSoConfPath = filepath.Join(empty, "ld.so.conf")
	t.Setenv("LD_LIBRARY_PATH", "")
	_, err := Closure("/bin/true")
	if !errors.Is(err, ErrLibraryNotFound) {
		t.Fatalf("error %v, want ErrLibraryNotFound", err)
	}
	t.Log(err)
}

func TestReadLdSoConf(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "ld.so.conf")
	if err := os.MkdirAll(filepath.Join(dir, "ld.so.conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("# comment\n/opt/a\ninclude ld.so.conf.d/*.conf\n\n/opt/z # trailing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"1.conf": "/opt/b\n", "2.conf": "/opt/c\n", "ignored.txt": "/opt/no\n"} {
		if err := os.WriteFile(filepath.Join(dir, "ld.so.conf.d", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readLdSoConf(conf, 0)
	if want := []string{"/opt/a", "/opt/b", "/opt/c", "/opt/z"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
