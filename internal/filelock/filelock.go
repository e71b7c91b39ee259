// Package filelock serializes work on a shared cache directory across
// processes (two `go test` packages, two conform runs) with flock(2): the
// apt state of a private Debian archive, the trixie crate tree and cargo's
// output of the aya adapter.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive lock on the file path (created if missing, with
// its directory), waiting while another process holds it, until ctx is done.
// what names the work for the error a cancelled wait returns. The returned
// func releases the lock.
func Lock(ctx context.Context, path, what string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another perfconform's %s (%s): %w", what, path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ErrLocked: TryLock found the lock held by another open file (another
// process, or this one through another TryLock).
var ErrLocked = errors.New("locked by another process")

// TryLock takes an exclusive lock on the existing file or directory path
// without waiting: ErrLocked when it is held. Locking a directory itself
// leaves nothing in it or beside it; the kernel drops the lock when the
// holder exits, however it ends (kill -9 included), so a lock that can be
// taken marks something nobody is using. The returned func releases it.
func TryLock(path string) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
}

// MkdirLocked creates a new directory in parent ("" is os.TempDir()) named
// prefix followed by a random string, locked (TryLock) for as long as this
// process holds it: until release or exit, whichever comes first. What the
// directory was for is then known unused when its lock can be taken, which
// is how RemoveStale finds those of a process that was killed. It is made
// as "_"+prefix+random (a name RemoveStale does not match; not a dot name,
// which bpffs refuses) and renamed into place once locked, so RemoveStale
// never sees one that is not locked yet. The caller removes the directory
// before release.
func MkdirLocked(parent, prefix string) (dir string, release func(), err error) {
	if parent == "" {
		parent = os.TempDir()
	}
	// Not a dot name: bpffs refuses those (EPERM).
	hidden, err := os.MkdirTemp(parent, "_"+prefix)
	if err != nil {
		return "", nil, err
	}
	release, err = TryLock(hidden)
	if err != nil {
		os.Remove(hidden)
		return "", nil, err
	}
	dir = filepath.Join(parent, strings.TrimPrefix(filepath.Base(hidden), "_"))
	if err := os.Rename(hidden, dir); err != nil {
		release()
		os.Remove(hidden)
		return "", nil, err
	}
	return dir, release, nil
}

// RemoveStale removes the directories in parent ("" is os.TempDir()) whose
// names start with prefix and whose lock nobody holds: left by a process
// that died without removing them (kill -9, SIGPIPE). It returns what it
// removed.
func RemoveStale(parent, prefix string) []string {
	if parent == "" {
		parent = os.TempDir()
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		release, err := TryLock(dir)
		if err != nil {
			continue // held: in use
		}
		if os.RemoveAll(dir) == nil {
			removed = append(removed, dir)
		}
		release()
	}
	return removed
}
