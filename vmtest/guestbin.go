package vmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/perfconform/perfconform/vmtest/arch"
	"github.com/perfconform/perfconform/vmtest/initramfs"
)

// ConformPackage is the package of the conform command, whose hidden
// `guest` command is the default guest init.
const ConformPackage = "github.com/perfconform/perfconform/cmd/conform"

// NSWrapPackage is the dedicated session wrapper (package nswrap) that every
// VM image carries next to /init.
const NSWrapPackage = "github.com/perfconform/perfconform/cmd/perfconform-nswrap"

// BuildGuest builds pkg as a static binary (CGO_ENABLED=0) for the host's
// architecture into dir and returns its path. It must run inside the
// perfconform module (a test, or a checkout); go's build cache makes an
// unchanged rebuild cheap.
func BuildGuest(ctx context.Context, dir, pkg string) (string, error) {
	return BuildGuestFor(ctx, dir, pkg, arch.Arch{})
}

// BuildGuestFor is BuildGuest for guests of architecture a (GOARCH=a.Name);
// the zero Arch is the host's. Binaries for another architecture are named
// with a -<arch> suffix.
func BuildGuestFor(ctx context.Context, dir, pkg string, a arch.Arch) (string, error) {
	return BuildStatic(ctx, "", dir, pkg, a)
}

// BuildStatic builds the main package pkg statically (CGO_ENABLED=0) for
// architecture a into dir, as `go build pkg` run in workDir would: "" is the
// perfconform module (guests), another directory lets a package of another
// module (an embedding project's adapter, "./cmd/adapter") build there. The
// binary is named after the package's last element plus "-static" (and
// -<arch> for another architecture).
func BuildStatic(ctx context.Context, workDir, dir, pkg string, a arch.Arch) (string, error) {
	if a.Name == "" {
		a = arch.Arch{Name: runtime.GOARCH}
	}
	hint := "build conform with CGO_ENABLED=0 so it can be its own guest, or run inside the perfconform checkout"
	if workDir == "" {
		workDir = moduleDir()
	} else {
		hint = "the package must be a main package of the module in " + workDir
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if _, serr := os.Stat("/usr/local/go/bin/go"); serr == nil {
			goBin = "/usr/local/go/bin/go"
		} else {
			return "", fmt.Errorf("build guest %s: go toolchain not found: %w (or pass a static guest binary)", pkg, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build guest %s: %w", pkg, err)
	}
	name := path.Base(pkg)
	if name == "." || name == ".." {
		name = filepath.Base(filepath.Join(workDir, pkg))
	}
	out := filepath.Join(dir, name+"-static")
	if a.Name != runtime.GOARCH {
		out += "-" + a.Name
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+a.Name)
	cmd.WaitDelay = 5 * time.Second
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build guest %s for %s (in %s): %w: %s (%s)",
			pkg, a.Name, cmd.Dir, err, strings.TrimSpace(string(b)), hint)
	}
	return out, nil
}

// moduleDir is the working directory for go build: the source tree this
// binary was built from when it is still there (so a conform binary works
// from any directory), else the current directory (tests, checkouts).
func moduleDir() string {
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		root := filepath.Dir(filepath.Dir(file))
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return root
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

// GuestBinary returns exe when it is a static executable (a conform binary
// built with CGO_ENABLED=0 can be its own guest), and otherwise builds
// ConformPackage into the cache.
func GuestBinary(ctx context.Context, cacheDir, exe string) (string, error) {
	if exe != "" {
		libs, err := initramfs.Closure(exe)
		if err == nil && len(libs) == 0 {
			return exe, nil
		}
	}
	return BuildGuest(ctx, filepath.Join(cacheDir, "guest"), ConformPackage)
}
