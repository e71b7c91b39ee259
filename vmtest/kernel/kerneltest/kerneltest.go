// Package kerneltest writes fake kernel images for tests: files that carry
// just the x86 boot header fields kernel.ReadRelease reads, so tests can
// resolve "a bzImage given by path" of any release without a real kernel.
package kerneltest

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FakeBzImage writes dir/vmlinuz-<release> (dir: a new temp dir when empty)
// whose boot header announces version ("6.6.30-test (builder@host) #1 SMP";
// the release is its first word) and returns its path.
func FakeBzImage(t testing.TB, dir, version string) string {
	t.Helper()
	img := make([]byte, 0x400)
	img[0x1f1] = 1 // setup_sects: (1+1)*512 bytes = the whole file, syssize 0: a complete image
	copy(img[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(img[0x20e:], 0x100) // kernel_version string at 0x300
	copy(img[0x300:], version+"\x00")
	if dir == "" {
		dir = t.TempDir()
	}
	release := version
	for i, c := range version {
		if c == ' ' {
			release = version[:i]
			break
		}
	}
	p := filepath.Join(dir, "vmlinuz-"+release)
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
