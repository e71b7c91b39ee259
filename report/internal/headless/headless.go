// Package headless renders a page in headless Chromium for tests of
// self-contained HTML: the DOM after the page's scripts ran, and a
// screenshot. Every Chromium process it starts is killed when the call
// returns, on timeout too.
package headless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// ErrNoChromium: no Chromium binary was found.
var ErrNoChromium = errors.New("chromium not found")

// candidates are the names Chromium goes by, in the order Find tries them.
var candidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"}

// Find returns the path of a Chromium binary, or ErrNoChromium.
func Find() (string, error) {
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (tried %s)", ErrNoChromium, strings.Join(candidates, ", "))
}

// Browser is a Chromium binary run headless, one process per call.
type Browser struct {
	// Binary is the Chromium executable (see Find).
	Binary string
	// Width and Height are the window size in pixels (default 1400×1000).
	Width, Height int
}

// DumpDOM loads url and returns the serialized DOM after load.
func (b Browser) DumpDOM(ctx context.Context, url string) (string, error) {
	out, err := b.run(ctx, "--dump-dom", url)
	if err != nil {
		return "", err
	}
	return out, nil
}

// Screenshot loads url and writes a PNG of the window to path.
func (b Browser) Screenshot(ctx context.Context, url, path string) error {
	if _, err := b.run(ctx, "--screenshot="+path, url); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return fmt.Errorf("chromium screenshot of %s: no image written to %s", url, path)
	}
	return nil
}

func (b Browser) run(ctx context.Context, args ...string) (string, error) {
	w, h := b.Width, b.Height
	if w == 0 || h == 0 {
		w, h = 1400, 1000
	}
	profile, err := os.MkdirTemp("", "headless-profile-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(profile)

	flags := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + profile, fmt.Sprintf("--window-size=%d,%d", w, h),
	}
	cmd := exec.CommandContext(ctx, b.Binary, append(flags, args...)...)
	// Chromium forks helpers (zygote, renderer, crashpad): give them one
	// process group so a timeout kills them all, not just the browser.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if cmd.Process != nil {
		// Helpers that outlive the browser are ours too.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("chromium %s: killed: %w\n%s", strings.Join(args, " "), ctx.Err(), tail(stderr.String()))
	}
	if err != nil {
		return "", fmt.Errorf("chromium %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String()))
	}
	return stdout.String(), nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}
