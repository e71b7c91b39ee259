// Package libbpfdrv builds the libbpf perf_buffer driver the reader
// benchmark runs as a child process: c/driver.c, linked statically against
// Debian's libbpf-dev 1.1 with the flags adapters/libbpf uses. The source is
// embedded so `conform bench` works from any directory; c/Makefile builds the
// same file by hand.
package libbpfdrv

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

//go:embed c/driver.c
var source []byte

// Build compiles the driver into dir and returns its path. It needs cc and
// the static libbpf.a, libelf.a and libz.a (Debian: libbpf-dev, libelf-dev,
// zlib1g-dev).
func Build(ctx context.Context, dir string) (string, error) {
	src := filepath.Join(dir, "perfbench-libbpf.c")
	out := filepath.Join(dir, "perfbench-libbpf")
	if err := os.WriteFile(src, source, 0o644); err != nil {
		return "", fmt.Errorf("libbpf driver: %w", err)
	}
	cmd := exec.CommandContext(ctx, "cc", "-O2", "-g", "-Wall", "-Wextra", "-Werror", "-static",
		"-o", out, src, "-lbpf", "-lelf", "-lz")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("libbpf driver: cc %s: %w\n%s", src, err, msg)
	}
	return out, nil
}
