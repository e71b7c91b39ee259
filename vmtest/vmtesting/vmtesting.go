// Package vmtesting holds what tests that boot VMs share: one rule for when
// they skip. Tests in vmtest and e2e call it so that "can VMs run here" has a
// single answer and a single set of skip messages.
package vmtesting

import (
	"os/exec"
	"slices"
	"testing"

	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/qemu"
)

// RequireVMs skips tb unless VMs can boot here: not -short, QEMU for the
// kernel's architecture in PATH and, for a catalog name, that kernel in the
// cache (a bzImage path is checked by reading it). It returns the cache
// directory.
func RequireVMs(tb testing.TB, kernelName string) (cacheDir string) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("VM test: skipped with -short")
	}
	archName, err := kernel.ArchOf(kernelName)
	if err != nil {
		tb.Skip(err)
	}
	a, err := arch.Get(archName)
	if err != nil {
		tb.Skip(err)
	}
	if _, err := exec.LookPath(qemu.BinaryFor(a)); err != nil {
		tb.Skipf("VM test: %v", err)
	}
	cacheDir, err = kernel.DefaultCacheDir()
	if err != nil {
		tb.Skip(err)
	}
	if !slices.Contains(kernel.Names(), kernelName) {
		return cacheDir // a bzImage path: ArchOf read it
	}
	if _, err := (&kernel.Cache{Dir: cacheDir}).Cached(kernelName); err != nil {
		tb.Skipf("VM test: %v (run `conform kernels fetch %s`)", err, kernelName)
	}
	return cacheDir
}
