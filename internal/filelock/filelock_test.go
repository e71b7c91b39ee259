package filelock

import (
	"context"
	"errors"
	"path/filepath"
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
