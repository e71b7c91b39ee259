// Package outdir opens the directory a command writes its reports into
// (`conform run --out`, `conform report merge --out`) so that it never mixes
// two runs, never removes a file the command did not write, and is known to
// take the output before any work starts: it must be new or empty (with
// Force: hold nothing but that command's earlier output, which is then
// replaced), not one of the command's inputs, writable, with enough free
// space, and not in use: the directory is locked (flock on the directory
// itself) from Open to Close, so a second run into it is refused at once.
package outdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/filelock"
)

// ErrInUse: another process holds the directory (a run or merge writing
// into it).
var ErrInUse = errors.New("in use by another conform run or report merge")

// Options say what a command may find in its output directory.
type Options struct {
	// Force lets the directory hold the command's earlier output, which
	// ClearPrevious removes.
	Force bool
	// Command names the command in messages ("conform run").
	Command string
	// Foreign returns "" for an entry of dir that is output Command
	// writes, otherwise what in it is not (the entry's name, or a path
	// inside it); nil: nothing is.
	Foreign func(dir string, e fs.DirEntry) string
	// Inputs are paths the command reads (files or directories): the
	// directory may be none of them nor hold one of them.
	Inputs []string
	// Need is the free space, in bytes, the output needs; the earlier
	// output Force replaces counts as free.
	Need int64
}

// Dir is an opened output directory.
type Dir struct {
	Path string
	// created is the outermost directory Open created, removed again by
	// Abandon when nothing was written.
	created string
	// previous is the earlier output Force replaces.
	previous []string
	unlock   func()
}

// Open checks and locks dir for o.Command's output; a missing dir is
// created. An empty path is no output directory (a Dir whose methods do
// nothing). Errors name the flag: "--out DIR ...".
func Open(dir string, o Options) (*Dir, error) {
	d := &Dir{Path: dir}
	if dir == "" {
		return d, nil
	}
	if err := checkInputs(dir, o.Inputs); err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if d.created, err = firstMissing(dir); err != nil {
			return nil, fmt.Errorf("--out %s: %w", dir, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("--out %s: %w", dir, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	unlock, err := filelock.TryLock(dir)
	switch {
	case errors.Is(err, filelock.ErrLocked):
		d.Abandon()
		return nil, fmt.Errorf("--out %s is %w: wait for it to finish, or give another directory", dir, ErrInUse)
	case err == nil:
		d.unlock = unlock
	}
	// Any other error is a file system that cannot lock a directory (NFS
	// emulates flock with write locks): the output goes there unlocked,
	// as before there were locks, rather than not at all.
	if err := d.check(o); err != nil {
		d.Abandon()
		return nil, err
	}
	return d, nil
}

// Check makes Open's checks that need no work, creating, locking and
// writing nothing: dir is none of o.Inputs, and it is either missing below
// a directory this process may write to, or a directory Open would take
// (empty, or with Force holding only o.Command's output). A caller that
// validates its arguments before any work calls it; Open checks again,
// under the lock. An empty path is no output directory.
func Check(dir string, o Options) error {
	if dir == "" {
		return nil
	}
	if err := checkInputs(dir, o.Inputs); err != nil {
		return err
	}
	_, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		missing, err := firstMissing(dir)
		if err != nil {
			return fmt.Errorf("--out %s: %w", dir, err)
		}
		parent := filepath.Dir(missing)
		if st, err := os.Stat(parent); err != nil || !st.IsDir() {
			return fmt.Errorf("--out %s: %s is not a directory", dir, parent)
		}
		if err := unix.Access(parent, unix.W_OK); err != nil {
			return fmt.Errorf("--out %s cannot be created in %s: %w", dir, parent, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	_, err = previousOutput(dir, o)
	return err
}

// previousOutput is what dir holds when Open may take it: nothing, or with
// o.Force only o.Command's earlier output (returned).
func previousOutput(dir string, o Options) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	var names, previous []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	switch {
	case len(entries) > 0 && !o.Force:
		return nil, fmt.Errorf("--out %s is not empty (%s): give a new directory, or --force to replace an earlier %s output there", dir, listNames(names), o.Command)
	case len(entries) > 0:
		for _, e := range entries {
			foreign := e.Name()
			if o.Foreign != nil {
				foreign = o.Foreign(dir, e)
			}
			if foreign != "" {
				return nil, fmt.Errorf("--out %s: %s is not output of %s; --force only replaces an earlier %s output, so give a new directory", dir, foreign, o.Command, o.Command)
			}
			previous = append(previous, filepath.Join(dir, e.Name()))
		}
	}
	return previous, nil
}

// check runs under the lock: what a run that held it before left is seen.
func (d *Dir) check(o Options) error {
	dir := d.Path
	previous, err := previousOutput(dir, o)
	if err != nil {
		return err
	}
	d.previous = previous
	probe, err := os.CreateTemp(dir, ".conform-write-check-")
	if err != nil {
		return fmt.Errorf("--out %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	if o.Need > 0 {
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err == nil {
			free := int64(st.Bavail) * int64(st.Bsize)
			for _, p := range d.previous {
				free += diskUsage(p)
			}
			if free < o.Need {
				return fmt.Errorf("--out %s: %s free on its file system, and the output needs about %s: free some space or give a directory elsewhere", dir, Size(free), Size(o.Need))
			}
		}
	}
	return nil
}

// ClearPrevious removes the earlier output Force allowed, right before the
// new output is made.
func (d *Dir) ClearPrevious() error {
	for _, p := range d.previous {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("--out %s: replace the earlier output: %w", d.Path, err)
		}
	}
	d.previous = nil
	return nil
}

// Close releases the directory. Safe to call more than once.
func (d *Dir) Close() {
	if d.unlock != nil {
		d.unlock()
		d.unlock = nil
	}
}

// Abandon releases the directory and removes what Open created, if it is
// still empty.
func (d *Dir) Abandon() {
	d.Close()
	if d.created == "" {
		return
	}
	dir, err := filepath.Abs(d.Path)
	if err != nil {
		return
	}
	// Remove the created directories from the inside out while empty.
	for ; ; dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil || dir == d.created {
			return
		}
	}
}

// checkInputs refuses an output directory that is an input, or holds one.
func checkInputs(dir string, inputs []string) error {
	out, err := os.Stat(dir)
	if err != nil {
		return nil // a new directory is no input
	}
	for _, in := range inputs {
		for p := in; ; {
			if st, err := os.Stat(p); err == nil && os.SameFile(st, out) {
				return fmt.Errorf("--out %s is or holds an input (%s): give a new directory for the output", dir, in)
			}
			abs, err := filepath.Abs(p)
			if err != nil || filepath.Dir(abs) == abs {
				break
			}
			p = filepath.Dir(abs)
		}
	}
	return nil
}

// firstMissing is the outermost directory of path that does not exist yet.
func firstMissing(path string) (string, error) {
	path, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	missing := path
	for dir := filepath.Dir(path); dir != missing; dir = filepath.Dir(dir) {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		missing = dir
	}
	return missing, nil
}

// diskUsage is the bytes of the regular files under path.
func diskUsage(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Size renders bytes for messages: "512 KiB", "3.2 MiB".
func Size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func listNames(names []string) string {
	if len(names) > 3 {
		names = append(names[:3:3], fmt.Sprintf("and %d more", len(names)-3))
	}
	return strings.Join(names, ", ")
}
