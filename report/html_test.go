package report_test

import (
	"bytes"
	"context"
	"errors"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/report/internal/headless"
	"github.com/perfconform/perfconform/result"
)

// TestHTMLInChromium renders report.html of the sample in headless Chromium
// and checks, in the DOM Chromium built, that the grid has exactly the
// expected cells with the expected verdicts, that the cells open to their
// requirements, that the page's own script ran (the #expand hash opens every
// cell), and, in the screenshot, that the cells are coloured.
func TestHTMLInChromium(t *testing.T) {
	bin, err := headless.Find()
	if errors.Is(err, headless.ErrNoChromium) {
		t.Skip(err)
	}
	r, opts := sample()
	dir := t.TempDir()
	page := filepath.Join(dir, report.HTMLFile)
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, r, opts); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b := headless.Browser{Binary: bin, Width: 1400, Height: 1100}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dom, err := b.DumpDOM(ctx, "file://"+page+"#expand")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}

	want := map[string]string{ // kernel/topology/loader -> verdict
		"debian-6.1/hotplug-8/cilium-ebpf":  "known",
		"debian-6.1/smp-2/cilium-ebpf":      "pass",
		"debian-6.1/hotplug-8/reference":    "pass",
		"debian-6.1/smp-2/reference":        "fail-must",
		"debian-6.12/hotplug-8/cilium-ebpf": "fail-must",
		"debian-6.12/numa-4/cilium-ebpf":    "run-error",
		"debian-6.12/smp-2/cilium-ebpf":     "error",
		"debian-6.12/hotplug-8/reference":   "pass",
		"debian-6.12/numa-4/reference":      "run-error",
		"debian-6.12/smp-2/reference":       "pass",
	}
	labels := map[string]string{"known": "FAIL (known)", "pass": "PASS", "fail-must": "FAIL (MUST)", "run-error": "run error", "error": "ERROR"}
	got := map[string]*html.Node{}
	for _, td := range findAll(doc, func(n *html.Node) bool { return n.Data == "td" && hasClass(n, "cell") }) {
		key := attr(td, "data-kernel") + "/" + attr(td, "data-topology") + "/" + attr(td, "data-loader")
		if _, dup := got[key]; dup {
			t.Errorf("cell %s appears twice", key)
		}
		got[key] = td
	}
	if len(got) != len(want) {
		t.Errorf("grid has %d cells, want %d", len(got), len(want))
	}
	for key, verdict := range want {
		td := got[key]
		if td == nil {
			t.Errorf("cell %s missing", key)
			continue
		}
		if !hasClass(td, verdict) || attr(td, "data-verdict") != verdict {
			t.Errorf("cell %s: class %q, want verdict %s", key, attr(td, "class"), verdict)
		}
		if v := findAll(td, func(n *html.Node) bool { return hasClass(n, "verdict") }); len(v) != 1 || text(v[0]) != labels[verdict] {
			t.Errorf("cell %s does not show %q", key, labels[verdict])
		}
		details := findAll(td, func(n *html.Node) bool { return n.Data == "details" })
		if verdict == "run-error" {
			if len(details) != 0 {
				t.Errorf("cell %s without results has details", key)
			}
			continue
		}
		if len(details) != 1 {
			t.Errorf("cell %s has %d <details>", key, len(details))
			continue
		}
		if _, open := attrOK(details[0], "open"); !open {
			t.Errorf("cell %s not opened by the page's script", key)
		}
		rows := findAll(details[0], func(n *html.Node) bool { return attr(n, "data-requirement") != "" })
		if len(rows) != 4 {
			t.Errorf("cell %s lists %d requirements, want 4", key, len(rows))
			continue
		}
		// FAIL and ERROR rows come first.
		for i, row := range rows {
			if st := attr(row, "data-status"); i > 0 && (st == "FAIL" || st == "ERROR") && attr(rows[i-1], "data-status") != "FAIL" && attr(rows[i-1], "data-status") != "ERROR" {
				t.Errorf("cell %s: %s row %s after a %s row", key, st, attr(row, "data-requirement"), attr(rows[i-1], "data-status"))
			}
		}
	}
	// The failing cell names the failed requirement, first, with its evidence.
	fail := got["debian-6.12/hotplug-8/cilium-ebpf"]
	rows := findAll(fail, func(n *html.Node) bool { return attr(n, "data-requirement") != "" })
	if len(rows) == 0 || attr(rows[0], "data-requirement") != "RING-002" || attr(rows[0], "data-status") != "FAIL" || !strings.Contains(text(rows[0]), "CPU 4 · errno ENODEV") {
		t.Errorf("first row of the failing cell is not RING-002 FAIL with CPU 4 · errno ENODEV")
	}
	if counts := text(fail); !strings.Contains(counts, "MUST: 1 FAIL (RING-002), 1 PASS") {
		t.Errorf("failing cell counts: %q", counts)
	}
	// The page's script shows the open cells of a row at full width below it.
	var panels int
	for _, tr := range findAll(doc, func(n *html.Node) bool { return n.Data == "tr" && hasClass(n, "panel") }) {
		if _, hidden := attrOK(tr, "hidden"); hidden {
			continue
		}
		for _, pc := range findAll(tr, func(n *html.Node) bool { return hasClass(n, "panel-cell") }) {
			panels++
			if attr(pc, "data-verdict") == "fail-must" && attr(pc, "data-topology") == "hotplug-8" {
				if r := findAll(pc, func(n *html.Node) bool { return attr(n, "data-requirement") == "RING-002" }); len(r) != 1 {
					t.Errorf("the panel of the failing cell lacks RING-002")
				}
			}
		}
	}
	if panels != 8 { // every cell with results
		t.Errorf("%d cells shown in panels after #expand, want 8", panels)
	}
	// The summary leads, one row per loader at least; findings are grouped.
	summary := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == "summary" })
	if len(summary) != 1 || !strings.Contains(text(summary[0]), "MUST: SIZE-001") || !strings.Contains(text(summary[0]), "MUST: RING-002 (known deviation)") {
		t.Errorf("summary table missing or incomplete")
	}
	// FAILs are root causes (one per cause, known ones included); the
	// findings list keeps the ERROR and the known deviation.
	if items := findAll(doc, func(n *html.Node) bool { return n.Data == "li" && attr(n, "data-cause") != "" }); len(items) != 3 {
		t.Errorf("%d root causes, want 3", len(items))
	}
	if items := findAll(doc, func(n *html.Node) bool { return n.Data == "li" && attr(n, "data-status") != "" }); len(items) != 2 {
		t.Errorf("%d findings and known deviations, want 2", len(items))
	}
	// The compatibility table comes first; a failing cell opens to its
	// evidence and links its cause.
	compat := findAll(doc, func(n *html.Node) bool { return attr(n, "id") == "compat" })
	if len(compat) != 1 {
		t.Fatal("no compatibility table")
	}
	cells := findAll(compat[0], func(n *html.Node) bool {
		return attr(n, "data-loader") == "cilium-ebpf" && attr(n, "data-state") == "fail"
	})
	if len(cells) != 1 || !strings.Contains(text(cells[0]), "CPU 4 · errno ENODEV") || len(findAll(cells[0], func(n *html.Node) bool { return n.Data == "details" })) != 1 {
		t.Errorf("the failing compatibility cell does not open to its evidence")
	}
	// Self-contained: nothing is fetched.
	for _, n := range findAll(doc, func(n *html.Node) bool { return attr(n, "src") != "" || (n.Data == "link" && attr(n, "href") != "") }) {
		t.Errorf("external asset: <%s src=%q href=%q>", n.Data, attr(n, "src"), attr(n, "href"))
	}

	shot := filepath.Join(dir, "report.png")
	// Tall enough for the compatibility table, the summary and the causes
	// above the matrix.
	b.Height = 2600
	if err := b.Screenshot(ctx, "file://"+page, shot); err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("REPORT_SCREENSHOT"); keep != "" {
		data, _ := os.ReadFile(shot)
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The grid is coloured: the MUST-failure red and the pass green are on
	// screen.
	counts := colourCounts(t, shot, map[string]color.RGBA{
		"fail-must": {0xc6, 0x28, 0x28, 0xff},
		"pass":      {0x2e, 0x7d, 0x32, 0xff},
		"run-error": {0x4a, 0x14, 0x8c, 0xff},
	})
	for name, n := range counts {
		if n < 1000 {
			t.Errorf("screenshot shows %d pixels of the %s colour, want a cell's worth", n, name)
		}
	}
}

func colourCounts(t *testing.T, path string, colours map[string]color.RGBA) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for name := range colours {
		counts[name] = 0
	}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			for name, want := range colours {
				if near(c, want) {
					counts[name]++
				}
			}
		}
	}
	return counts
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(a.R, b.R) <= 3 && d(a.G, b.G) <= 3 && d(a.B, b.B) <= 3
}

func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attr(n *html.Node, key string) string { v, _ := attrOK(n, key); return v }

func hasClass(n *html.Node, class string) bool {
	for _, c := range strings.Fields(attr(n, "class")) {
		if c == class {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// TestHTMLFitsWidthInChromium: the matrix of a full run (eleven topologies,
// four loaders, long unbroken details) fits a 1400 px window without
// horizontal scrolling, with the cells closed and with every cell open.
func TestHTMLFitsWidthInChromium(t *testing.T) {
	bin, err := headless.Find()
	if errors.Is(err, headless.ErrNoChromium) {
		t.Skip(err)
	}
	r := &report.Results{Generated: testTime}
	topos := []string{"1cpu", "3cpu", "4cpu", "boot-maxcpus", "gapped-possible", "hotplug-slots", "nr-cpus", "smt32", "sparse", "sparse-high", "wide"}
	for _, topo := range topos {
		r.Runs = append(r.Runs, report.Run{Kernel: report.Kernel{Name: "debian-6.1"}, Topology: topo, Realized: true, Synthetic: topo == "gapped-possible"})
		for _, l := range []string{"bpftool", "cilium-ebpf@v0.9.1", "libbpf@1.4", "reference"} {
			for i, req := range []string{"SIZE-AUTO", "SIZE-KV-DEFAULT", "SIZE-EXPLICIT-SMALL", "SIZE-EXPLICIT-LARGE", "SIZE-EXPLICIT-REPORT",
				"SIZE-BAD", "SIZE-MULTI", "SIZE-LEGACY", "RING-CREATE", "RING-DELIVER", "RING-KEY", "RING-OFFLINE", "COMPAT-RELOAD",
				"COMPAT-FOREIGN-PIN", "DEGRADE-POSSIBLE"} {
				x := res("debian-6.1", topo, l, req, result.Must, result.Pass, "")
				if l != "reference" && i%3 == 0 {
					x.Status = result.Fail
					x.Detail = "loading failed: bpftool prog loadall /tmp/perfconform-suite-1815982247/fixtures/perf_auto_kv.o" +
						"/sys/fs/bpf/perfconform/run-1/019-compat-foreign-pin/progs-326/" + strings.Repeat("x", 120) + " pinmaps: exit status 255"
				}
				r.Results = append(r.Results, x)
			}
		}
	}
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, r, report.Options{}); err != nil {
		t.Fatal(err)
	}
	// Test-only probe: record the document's scroll width once laid out.
	page := strings.Replace(buf.String(), "</body>", `<script>
window.addEventListener("load", function () {
  document.documentElement.setAttribute("data-scroll-width", String(document.documentElement.scrollWidth));
});
</script>
</body>`, 1)
	path := filepath.Join(t.TempDir(), report.HTMLFile)
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	b := headless.Browser{Binary: bin, Width: 1400, Height: 1000}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, hash := range []string{"", "#expand"} {
		dom, err := b.DumpDOM(ctx, "file://"+path+hash)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := html.Parse(strings.NewReader(dom))
		if err != nil {
			t.Fatal(err)
		}
		root := findAll(doc, func(n *html.Node) bool { return n.Data == "html" })
		w, ok := attrOK(root[0], "data-scroll-width")
		if !ok {
			t.Fatalf("%s: the probe did not run", hash)
		}
		if n, _ := strconv.Atoi(w); n > 1400 {
			t.Errorf("page%s is %s px wide in a 1400 px window: it scrolls horizontally", hash, w)
		}
	}
}
