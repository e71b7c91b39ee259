package vmtesting_test

import (
	"path/filepath"
	"testing"

	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/vmtesting"
)

// A kernel given as a bzImage path needs no cache entry; a missing path is
// skipped like a kernel that was never fetched.
func TestRequireVMsPath(t *testing.T) {
	cacheDir := vmtesting.RequireVMs(t, "debian-6.1")
	k, err := (&kernel.Cache{Dir: cacheDir}).Cached("debian-6.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		wantSkip bool
	}{
		{k.Path, false},
		{filepath.Join(t.TempDir(), "no-such-bzImage"), true},
	} {
		var skipped bool
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			defer func() { skipped = t.Skipped() }()
			vmtesting.RequireVMs(t, tc.path)
		})
		if skipped != tc.wantSkip {
			t.Errorf("RequireVMs(%s): skipped %v, want %v", tc.path, skipped, tc.wantSkip)
		}
	}
}
