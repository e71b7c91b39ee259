package headless_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/report/internal/headless"
)

func browser(t *testing.T) headless.Browser {
	t.Helper()
	bin, err := headless.Find()
	if errors.Is(err, headless.ErrNoChromium) {
		t.Skip(err)
	}
	return headless.Browser{Binary: bin, Width: 400, Height: 300}
}

func TestDumpDOMRunsScripts(t *testing.T) {
	b := browser(t)
	page := filepath.Join(t.TempDir(), "p.html")
	if err := os.WriteFile(page, []byte(`<!DOCTYPE html><p id=x>static</p><script>document.getElementById("x").textContent = "from script"</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dom, err := b.DumpDOM(ctx, "file://"+page)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `<p id="x">from script</p>`) {
		t.Fatalf("DOM after scripts:\n%s", dom)
	}
}

func TestTimeoutKillsChromium(t *testing.T) {
	b := browser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := b.DumpDOM(ctx, "about:blank")
	if err == nil && time.Since(start) < 50*time.Millisecond {
		t.Skip("chromium finished before the deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DumpDOM past its deadline: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("DumpDOM returned %v after its deadline", d)
	}
}
