package kernel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/internal/debapt"
	"github.com/perfconform/perfconform/internal/filelock"
)

// ErrNoPackage: a kernel that did not come from the catalog (the host's, or
// one given by path) has no Debian package to take modules from.
var ErrNoPackage = errors.New("kernel has no Debian package")

// extraModulesDir is where ExtraModules keeps modules beside a cached image.
const extraModulesDir = "extra-modules"

// ExtraModules returns the host paths, in load order, of the named modules
// and every module they depend on (built-in ones left out) for kernel k,
// taken from k's own Debian package (k.Package at k.Version) the first time
// and kept beside the image, under extra-modules/NAMES, after that.
//
// Modules every guest needs are kept at fetch time (Entry.guestModules);
// these are for VMs that need a device the others do not (a virtio-blk
// disk): fetching them at fetch time would change every kernel.json and
// fetch every cached kernel again for a feature most runs do not use.
func (c *Cache) ExtraModules(ctx context.Context, k Kernel, names ...string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	e, ok := lookup(k.Name)
	if !ok || k.Package == "" || k.Version == "" || k.Path == "" {
		return nil, fmt.Errorf("%w: modules %s for %s: %w (only catalog kernels bring their modules)",
			ErrFetch, strings.Join(names, ", "), k, ErrNoPackage)
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	dir := filepath.Join(filepath.Dir(k.Path), extraModulesDir, strings.Join(sorted, "+"))
	unlock, err := filelock.Lock(ctx, dir+".lock", "kernel modules "+strings.Join(sorted, ", ")+" for "+k.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	orderFile := filepath.Join(dir, "order")
	if b, err := os.ReadFile(orderFile); err == nil {
		return modulePaths(dir, string(b)), nil
	}

	if err := debapt.CheckTools(); err != nil {
		return nil, fmt.Errorf("%w: modules %s for %s: %w", ErrFetch, strings.Join(names, ", "), k, err)
	}
	archive := debapt.New(c.Dir, e.ArchName(), e.sources...)
	archive.Progress = func(msg string) { c.progress("%s: %s", k.Name, msg) }
	c.progress("%s: taking modules %s from %s %s", k.Name, strings.Join(names, ", "), k.Package, k.Version)
	debs, err := archive.Download(ctx, k.Package+"="+k.Version)
	if err != nil {
		return nil, fmt.Errorf("%w: modules for %s: %w", ErrFetch, k, err)
	}
	work, err := os.MkdirTemp(filepath.Dir(filepath.Dir(dir)), "."+extraModulesDir+"-")
	if err != nil {
		return nil, fmt.Errorf("%w: modules for %s: %w", ErrFetch, k, err)
	}
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "tree")
	if err := debapt.Extract(ctx, debs[0], tree); err != nil {
		return nil, fmt.Errorf("%w: modules for %s: %w", ErrFetch, k, err)
	}
	_ = os.Remove(debs[0]) // ~80 MB; the modules are what is kept
	stage := filepath.Join(work, "modules")
	files, err := keepModules(filepath.Join(tree, "lib", "modules", k.Release), stage, names)
	if err != nil {
		return nil, fmt.Errorf("%w: modules for %s: %s: %w", ErrFetch, k, k.Package, err)
	}
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, err
	}
	order := strings.Join(files, "\n")
	if err := os.WriteFile(filepath.Join(stage, "order"), []byte(order), 0o644); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(dir) // a partial directory without its order file
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(stage, dir); err != nil {
		return nil, fmt.Errorf("%w: modules for %s: %w", ErrFetch, k, err)
	}
	return modulePaths(dir, order), nil
}

// modulePaths turns an order file's names into paths under dir.
func modulePaths(dir, order string) []string {
	var out []string
	for _, name := range strings.Fields(order) {
		out = append(out, filepath.Join(dir, name))
	}
	return out
}
