package filelock

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLockWaitsAndCancels: a second Lock on a held file waits until the
// first is released, and gives up with the context.
func TestLockWaitsAndCancels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", ".lock")
	unlock, err := Lock(context.Background(), path, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, path, "test"); err == nil {
		t.Fatal("second Lock succeeded while the first was held")
	}
	unlock()
	unlock2, err := Lock(context.Background(), path, "test")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	unlock2()
}

// TestTryLock: a held lock on a directory refuses a second TryLock at once
// and is free again after release.
func TestTryLock(t *testing.T) {
	dir := t.TempDir()
	unlock, err := TryLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second TryLock = %v, want ErrLocked", err)
	}
	unlock()
	unlock2, err := TryLock(dir)
	if err != nil {
		t.Fatalf("TryLock after release: %v", err)
	}
	unlock2()
}

// TestRemoveStale: directories made by MkdirLocked are removed by
// RemoveStale once released without being removed (their process was
// killed), never while held; other names are left alone.
func TestRemoveStale(t *testing.T) {
	parent := t.TempDir()
	live, releaseLive, err := MkdirLocked(parent, "thing-")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseLive()
	dead, releaseDead, err := MkdirLocked(parent, "thing-")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dead, "big"), []byte("x"), 0o644)
	releaseDead() // as if killed: the directory stays, unlocked
	other := filepath.Join(parent, "other-1")
	os.Mkdir(other, 0o755)
	removed := RemoveStale(parent, "thing-")
	if len(removed) != 1 || removed[0] != dead {
		t.Errorf("RemoveStale removed %v, want only %s", removed, dead)
	}
	for _, d := range []string{live, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s removed: %v", d, err)
		}
	}
	if !strings.HasPrefix(filepath.Base(live), "thing-") {
		t.Errorf("MkdirLocked made %s, want a name starting with thing-", live)
	}
}
