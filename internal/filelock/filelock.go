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
