// Package display renders a run's events (conform.Event) the way the conform
// command shows them: one line per result on out, progress lines on errw or,
// when both are a terminal, a status line redrawn every second below the
// results, and the per-VM table at the end. An embedding test can render a
// run the same way (display.New(w, w).Event as conform.WithEvents).
package display

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
)

// Display renders one run's events; its Event method is the run's
// conform.WithEvents callback.
type Display struct {
	out, errw io.Writer
	live      *statusDisplay // the running host or VM display, if any
	host      *hostDisplay
	vm        *vmDisplay
}

// New renders results on out and progress on errw.
func New(out, errw io.Writer) *Display { return &Display{out: out, errw: errw} }

// Event renders e. Run serializes its calls.
func (d *Display) Event(e conform.Event) {
	switch e := e.(type) {
	case conform.Message:
		if d.live != nil {
			d.live.mu.Lock()
			d.live.line(e.Text)
			d.live.mu.Unlock()
			return
		}
		fmt.Fprintln(d.errw, e.Text)
	case conform.HostStarted:
		d.Stop()
		d.host = newHostDisplay(d.out, d.errw, e.Checks)
		d.live = d.host.statusDisplay
	case conform.CheckStarted:
		if d.host != nil {
			d.host.onCheck(e.Loader, e.Requirement)
		}
	case conform.VMsStarted:
		d.Stop()
		d.vm = newVMDisplay(d.out, d.errw, e.VMs)
		d.live = d.vm.statusDisplay
	case conform.VMProgress:
		if d.vm != nil {
			d.vm.progress(e.Progress)
		}
	case conform.ResultReady:
		switch {
		case d.live == nil: // after the run: results a VM did not deliver
			PrintResult(d.out, e.Result)
		case d.host != nil && d.live == d.host.statusDisplay:
			d.host.onResult(e.Result)
		default:
			d.vm.result(e.Result)
		}
	case conform.Stopped:
		d.Stop()
	case conform.VMsFinished:
		PrintVMTable(d.errw, e.Runs, e.VMs)
	}
}

// Stop ends a live status line; Event calls it at conform.Stopped, a caller
// whose run ended in an error may too. Safe to call more than once.
func (d *Display) Stop() {
	if d.live != nil {
		d.live.stop()
		d.live = nil
	}
}

// PrintSummary prints the summary line of a run's results: requirement
// results, not test results (a loader's FAIL is a finding; the exit status
// says whether the gated loaders pass). Under it, one line per loader that
// got no verdict at all (report.NoVerdict), which a count of ERRORs among
// other loaders' results would hide.
func PrintSummary(w io.Writer, rs []result.Result) {
	n := CountStatuses(rs)
	fmt.Fprintf(w, "requirement results: %d PASS, %d FAIL, %d ERROR, %d SKIP\n",
		n[result.Pass], n[result.Fail], n[result.Error], n[result.Skip])
	for _, l := range report.NoVerdict(&report.Results{Results: rs}) {
		fmt.Fprintf(w, "NO VERDICT for %s: not one requirement PASSed or FAILed (every result ERROR or SKIP): nothing is known about this loader\n", l)
	}
}

// FirstLine is s up to its first newline.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Dash is s, or "-" for an empty table cell.
func Dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// PrintResult prints one result as a line: status, level, requirement,
// loader, detail (with CPU and errno when the check found them).
func PrintResult(out io.Writer, r result.Result) {
	detail := r.Detail
	if r.CPU != nil {
		detail = fmt.Sprintf("cpu=%d %s", *r.CPU, detail)
	}
	if r.Errno != "" {
		detail = fmt.Sprintf("errno=%s %s", r.Errno, detail)
	}
	where := Name(r.Loader)
	if r.Kernel != "" && r.Kernel != "host" {
		where = fmt.Sprintf("%s@%s/%s", where, r.Kernel, r.Topology)
	}
	fmt.Fprintf(out, "%-5s %-6s %-21s %-12s %s\n", r.Status, r.Level, r.Requirement, where, Text(detail))
}

// CountStatuses counts results by status for the summary line.
func CountStatuses(rs []result.Result) map[result.Status]int {
	n := map[result.Status]int{}
	for _, r := range rs {
		n[r.Status]++
	}
	return n
}

// hostDisplay shows a host run's progress the way vmDisplay shows VMs: a
// line when a loader starts and, for a check that runs long (an adapter
// that does not get ready), a line every hostSlowCheck; on a terminal a
// status line with the results so far and the running check instead.
type hostDisplay struct {
	*statusDisplay
	total  int
	done   int
	loader string
	check  string
	since  time.Time
	warned time.Duration
}

// hostSlowCheck is how long a check runs before a non-terminal display says
// it is still running (and again every as long).
const hostSlowCheck = 10 * time.Second

func newHostDisplay(out, errw io.Writer, total int) *hostDisplay {
	d := &hostDisplay{total: total}
	d.statusDisplay = newStatusDisplay(out, errw, d.status, d.slowCheck)
	return d
}

// onCheck is suite.Config.OnCheck.
func (d *hostDisplay) onCheck(loader, requirement string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.check, d.since, d.warned = requirement, time.Now(), 0
	if loader = Name(loader); loader != d.loader {
		d.loader = loader
		d.line(fmt.Sprintf("%s %s: checking (%d/%d results so far)", d.elapsed(), loader, d.done, d.total))
		return
	}
	d.redraw()
}

// onResult is suite.Config.OnResult.
func (d *hostDisplay) onResult(r result.Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done++
	d.check = ""
	d.printResult(r)
}

// slowCheck says, without a terminal, that a check is still running.
func (d *hostDisplay) slowCheck() {
	if d.check == "" {
		return
	}
	if running := time.Since(d.since); running-d.warned >= hostSlowCheck {
		d.warned = running.Truncate(hostSlowCheck)
		d.line(fmt.Sprintf("%s %s %s: still running after %v", d.elapsed(), d.loader, d.check, d.warned))
	}
}

// status is the terminal's status line.
func (d *hostDisplay) status() string {
	s := fmt.Sprintf("%s %d/%d results", d.elapsed(), d.done, d.total)
	if d.check != "" {
		s += fmt.Sprintf("; %s %s %ds", d.loader, d.check, int(time.Since(d.since).Seconds()))
	}
	return s
}

// PrintVMTable prints one line per VM: kernel, topology, masks, realized,
// boot, after-boot and total time, result counts and the error, then what
// each loader's specs took (the sum of its results' durations), so a
// loader's cost per VM is visible.
func PrintVMTable(w io.Writer, runs []report.Run, vms []vmtest.VMResult) {
	kw := 17 // catalog names fit (debian-6.12-arm64); a kernel given by path is named by its (longer) release
	for _, run := range runs {
		kw = max(kw, len(run.Kernel.Name))
	}
	fmt.Fprintf(w, "%-*s %-14s %-4s %-8s %-8s %-8s %-8s %6s %6s %7s %s\n", kw,
		"KERNEL", "TOPOLOGY", "ACC", "POSSIBLE", "PRESENT", "ONLINE", "REALIZED", "BOOT", "AFTER", "TOTAL", "RESULTS / ERROR")
	for i, run := range runs {
		m := result.Masks{}
		if run.Masks != nil {
			m = *run.Masks
		}
		n := CountStatuses(vms[i].Results)
		status := fmt.Sprintf("%d pass %d fail %d error %d skip", n[result.Pass], n[result.Fail], n[result.Error], n[result.Skip])
		if run.Error != "" {
			status += "; " + Text(FirstLine(run.Error))
		}
		after := time.Duration(0)
		if run.Boot > 0 && run.Duration > run.Boot {
			after = run.Duration - run.Boot
		}
		if per := loaderSeconds(vms[i].Results); per != "" {
			status += "; specs: " + per
		}
		fmt.Fprintf(w, "%-*s %-14s %-4s %-8s %-8s %-8s %-8v %6s %6s %7s %s\n", kw,
			run.Kernel.Name, run.Topology, Dash(run.Accelerator), Dash(m.Possible), Dash(m.Present), Dash(m.Online),
			run.Realized, secs(run.Boot), secs(after), secs(run.Duration), status)
	}
}

// loaderSeconds is "reference 1.2s, libbpf 0.9s": each loader's results'
// durations summed, in the order the loaders first appear.
func loaderSeconds(results []result.Result) string {
	var order []string
	sum := map[string]time.Duration{}
	for _, r := range results {
		if _, ok := sum[r.Loader]; !ok {
			order = append(order, r.Loader)
		}
		sum[r.Loader] += r.Duration
	}
	parts := make([]string, 0, len(order))
	for _, l := range order {
		parts = append(parts, fmt.Sprintf("%s %.1fs", Name(l), sum[l].Seconds()))
	}
	return strings.Join(parts, ", ")
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// statusDisplay is what the VM and host progress displays share. Results
// go to stdout, one line each. Progress goes to stderr: plain timestamped
// lines, or, when both streams are a terminal, a status line (status())
// redrawn every second below the result lines. Without a terminal, tick (if
// set) is called every second instead. status and tick run with mu held.
type statusDisplay struct {
	mu      sync.Mutex
	out     io.Writer
	errw    io.Writer
	tty     bool
	start   time.Time
	drawn   bool
	status  func() string
	tick    func()
	done    chan struct{}
	stopped sync.Once
	wg      sync.WaitGroup
}

func newStatusDisplay(out, errw io.Writer, status func() string, tick func()) *statusDisplay {
	d := &statusDisplay{out: out, errw: errw, tty: isTerminal(out) && isTerminal(errw), start: time.Now(),
		status: status, tick: tick, done: make(chan struct{})}
	if d.tty || tick != nil {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-d.done:
					return
				case <-t.C:
					d.mu.Lock()
					if d.tty {
						d.redraw()
					} else {
						d.tick()
					}
					d.mu.Unlock()
				}
			}
		}()
	}
	return d
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// stop ends the status line; safe to call more than once.
func (d *statusDisplay) stop() {
	d.stopped.Do(func() {
		close(d.done)
		d.wg.Wait()
		d.mu.Lock()
		d.clear()
		d.mu.Unlock()
	})
}

func (d *statusDisplay) elapsed() string {
	return fmt.Sprintf("[%6.1fs]", time.Since(d.start).Seconds())
}

// line prints a progress line above the status line; mu held.
func (d *statusDisplay) line(msg string) {
	d.clear()
	fmt.Fprintln(d.errw, msg)
	d.redraw()
}

// printResult prints a result line above the status line; mu held.
func (d *statusDisplay) printResult(r result.Result) {
	d.clear()
	PrintResult(d.out, r)
	d.redraw()
}

func (d *statusDisplay) clear() {
	if d.tty && d.drawn {
		fmt.Fprint(d.errw, "\r\033[K")
		d.drawn = false
	}
}

func (d *statusDisplay) redraw() {
	if !d.tty {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	fmt.Fprint(d.errw, "\r\033[K"+d.status())
	d.drawn = true
}

// vmDisplay shows VM progress and results: a line per VM stage, and on a
// terminal a status line with each running VM's stage and age.
type vmDisplay struct {
	*statusDisplay
	total int
	vms   map[string]*vmState
	order []string
}

type vmState struct {
	stage string
	since time.Time
}

func newVMDisplay(out, errw io.Writer, total int) *vmDisplay {
	d := &vmDisplay{total: total, vms: map[string]*vmState{}}
	d.statusDisplay = newStatusDisplay(out, errw, d.status, nil)
	return d
}

// stageNames says what each vmtest stage means for the user.
var stageNames = map[string]string{
	"start": "booting", "booted": "booted", "realized": "running", "done": "done", "failed": "failed", "kept": "kept",
}

func (d *vmDisplay) progress(p vmtest.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := p.Kernel + "/" + p.Topology
	stage := p.Stage
	if name, ok := stageNames[stage]; ok {
		stage = name
	}
	if p.Topology != "" {
		st := d.vms[key]
		if st == nil {
			st = &vmState{}
			d.vms[key] = st
			d.order = append(d.order, key)
		}
		if p.Stage != "kept" {
			st.stage, st.since = stage, time.Now()
		}
	}
	important := p.Topology == "" || p.Stage == "done" || p.Stage == "failed" || p.Stage == "kept"
	if d.tty && !important {
		d.redraw()
		return
	}
	where := key
	if p.Topology == "" {
		where = p.Kernel
	}
	msg := fmt.Sprintf("%s %s %s: %s", d.elapsed(), strings.TrimPrefix(where, "/"), stage, Text(FirstLine(p.Message)))
	if p.Topology == "" && p.Kernel == "" {
		msg = fmt.Sprintf("%s %s: %s", d.elapsed(), stage, Text(FirstLine(p.Message)))
	}
	d.line(msg)
}

func (d *vmDisplay) result(r result.Result) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.printResult(r)
}

// status is the terminal's status line: VMs done, queued and running.
func (d *vmDisplay) status() string {
	var running []string
	finished := 0
	keys := append([]string(nil), d.order...)
	sort.Strings(keys)
	for _, k := range keys {
		st := d.vms[k]
		switch st.stage {
		case "done", "failed":
			finished++
		default:
			running = append(running, fmt.Sprintf("%s %s %ds", k, st.stage, int(time.Since(st.since).Seconds())))
		}
	}
	queued := d.total - finished - len(running)
	return fmt.Sprintf("%s %d/%d VMs done, %d queued; %s", d.elapsed(), finished, d.total, max(queued, 0), strings.Join(running, "; "))
}

// ClosedPipe wraps a run's stdout so that a reader that goes away
// (`conform run | head -2`) does not end the run: the first write that
// fails with EPIPE calls gone, and that write and every later one are
// dropped as if written. (The process must not die of SIGPIPE first: the
// conform command asks for SIGPIPE with signal.Notify, which turns it into
// EPIPE.) On a terminal the wrapper is still one (its Fd is out's).
func ClosedPipe(out io.Writer, gone func()) io.Writer {
	return &pipeWriter{w: out, gone: gone}
}

type pipeWriter struct {
	mu     sync.Mutex
	w      io.Writer
	gone   func()
	closed bool
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return len(b), nil
	}
	n, err := p.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		p.closed = true
		if p.gone != nil {
			p.gone()
		}
		return len(b), nil
	}
	return n, err
}

// Fd is the wrapped writer's, for isTerminal.
func (p *pipeWriter) Fd() uintptr {
	if f, ok := p.w.(interface{ Fd() uintptr }); ok {
		return f.Fd()
	}
	return ^uintptr(0)
}

// Name is a name from outside (the loader an adapter declares) as the
// terminal shows it: as it is, or, when it holds anything unprintable,
// quoted with Go escapes, so that it cannot start a line or send escape
// sequences.
func Name(s string) string {
	for i, r := range s {
		if !printable(s, i, r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// Text is free text from outside (a result's detail, a VM's error) on one
// line: line breaks and tabs become spaces, other unprintable characters
// Go escapes.
func Text(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case !printable(s, i, r):
			q := strconv.QuoteRune(r)
			if r == utf8.RuneError {
				q = strconv.Quote(s[i : i+1]) // an invalid byte, e.g. 0x9b, a C1 escape to some terminals
			}
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// printable says whether the rune r at s[i] can go to a terminal as it is.
func printable(s string, i int, r rune) bool {
	if r == utf8.RuneError {
		_, size := utf8.DecodeRuneInString(s[i:])
		return size > 1 // a real U+FFFD
	}
	return unicode.IsPrint(r)
}
