// Command bpftool is the perfconform adapter for bpftool (Debian's
// /usr/sbin/bpftool): `bpftool prog loadall OBJ DIR/progs-PID pinmaps DIR` loads
// the object with bpftool's defaults (libbpf sizes the maps) and pins every
// map under DIR, then one `bpftool map event_pipe pinned DIR/MAP` per perf
// event array reads the rings; its output is translated into protocol lines.
//
// event_pipe is run in plain mode: with -j bpftool does not flush stdout per
// event, so on a pipe nothing arrives until it exits. Plain mode prints lost
// counts without a CPU; they are reported with protocol.CPUUnknown.
//
// bpftool prints nothing when its rings are set up, so readiness is taken
// from the kernel: an event_pipe is ready once it sleeps in epoll_wait
// (/proc/PID/syscall), which it reaches only after filing every ring.
//
// Plain output has no end-of-sample marker either, but its shape gives one:
// bpftool dumps the raw data 16 bytes per line, and the kernel pads a raw
// sample so that its u32 size field plus the data end on an 8-byte boundary
// (raw size = 4 mod 8), so a sample's last line always holds 4 or 12 bytes.
// A line of fewer than 16 bytes therefore ends the sample, with no wait.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/protocol"
)

// Bpftool is the bpftool executable: set at build time (-ldflags -X
// main.Bpftool=PATH; the registry builds bpftool@7.5 against the one it
// unpacked from bookworm-backports), PERFCONFORM_BPFTOOL overrides it.
var Bpftool = "/usr/sbin/bpftool"

// readyTimeout bounds the wait for an event_pipe to reach its poll loop.
const readyTimeout = 20 * time.Second

func main() {
	if p := os.Getenv("PERFCONFORM_BPFTOOL"); p != "" {
		Bpftool = p
	}
	if len(os.Args) > 1 && os.Args[1] == "info" {
		if _, _, err := version(); err != nil {
			fmt.Fprintln(os.Stderr, "bpftool adapter:", err)
			os.Exit(1)
		}
	}
	v, tool, _ := version()
	adapterkit.Main(protocol.Info{
		// Named after the bpftool it runs, as the registry names it.
		Loader:   "bpftool@" + adapterkit.MajorMinor(tool),
		Version:  v,
		Protocol: protocol.Version,
		// No legacy-maps: bpftool 7 is built on libbpf 1.x.
		Capabilities: []protocol.Capability{protocol.CapPinning},
	}, load)
}

// version is "v7.1.0 (libbpf v1.1)" from `bpftool version`, and the tool's
// own "v7.1.0".
func version() (full, tool string, err error) {
	out, err := exec.Command(Bpftool, "version").Output()
	if err != nil {
		return "", "", fmt.Errorf("%s version: %w", Bpftool, err)
	}
	var lib string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && filepath.Base(f[0]) == "bpftool": // argv[0] as invoked
			tool = f[1]
		case len(f) >= 3 && f[0] == "using" && f[1] == "libbpf":
			lib = f[2]
		}
	}
	if tool == "" {
		return "", "", fmt.Errorf("%s version: no version in %q", Bpftool, out)
	}
	full = tool
	if lib != "" {
		full += " (libbpf " + lib + ")"
	}
	return full, tool, nil
}

// bpftool runs one bpftool command to completion; errors carry its stderr.
func bpftool(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, Bpftool, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("bpftool %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func load(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
	// loadall must pin the programs somewhere; a directory of this process's
	// own keeps a second load against the same pin dir from failing on the
	// program pins, so only the map pins decide (the COMPAT requirements).
	progDir := filepath.Join(args.PinDir, fmt.Sprintf("progs-%d", os.Getpid()))
	defer os.RemoveAll(progDir)
	if _, err := bpftool(ctx, "prog", "loadall", args.Object, progDir, "pinmaps", args.PinDir); err != nil {
		return adapterkit.Fail(protocol.StageLoad, err)
	}
	perfMaps, err := perfArrays(args.PinDir)
	if err != nil {
		return adapterkit.Fail(protocol.StageLoad, err)
	}

	pipes := make([]*eventPipe, 0, len(perfMaps))
	stopAll := func() {
		for _, p := range pipes {
			p.stop()
		}
	}
	for _, name := range perfMaps {
		p, err := startEventPipe(filepath.Join(args.PinDir, name), name)
		if err != nil {
			stopAll()
			return adapterkit.Fail(protocol.StageReader, err)
		}
		pipes = append(pipes, p)
	}
	for _, p := range pipes {
		if err := p.waitPolling(readyTimeout); err != nil {
			stopAll()
			return adapterkit.Fail(protocol.StageReader, err)
		}
	}
	if err := w.Ready(perfMaps); err != nil {
		stopAll()
		return err
	}

	failed := make(chan error, len(pipes))
	for _, p := range pipes {
		go func() { failed <- p.forward(w) }()
	}
	select {
	case <-ctx.Done():
		stopAll()
		return nil
	case err := <-failed: // an event_pipe ended on its own
		stopAll()
		return adapterkit.Fail(protocol.StageReader, err)
	}
}

// perfArrays lists the perf event arrays pinned directly under dir. It asks
// the kernel (BPF_OBJ_GET + map info) rather than `bpftool map show` per pin:
// which pins are perf arrays is the adapter's bookkeeping, not something
// bpftool is judged on, and a bpftool process per pin cost more than the
// rest of a load in a TCG guest.
func perfArrays(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, e.Name()), &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("pinned map %s: %w", e.Name(), err)
		}
		if m.Type() == ebpf.PerfEventArray {
			names = append(names, e.Name())
		}
		m.Close()
	}
	return names, nil
}

type eventPipe struct {
	name   string
	cmd    *exec.Cmd
	out    *os.File // event_pipe's stdout, for read deadlines
	stdout *bufio.Reader
	stderr bytes.Buffer
	once   sync.Once
}

func startEventPipe(path, name string) (*eventPipe, error) {
	p := &eventPipe{name: name}
	p.cmd = exec.Command(Bpftool, "map", "event_pipe", "pinned", path)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stderr = &p.stderr
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout = w
	err = p.cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("event_pipe for map %s: %w", name, err)
	}
	p.out = r
	p.stdout = bufio.NewReader(r)
	return p, nil
}

// pollInterval is how often waitPolling looks at /proc: a read of
// /proc/PID/syscall costs microseconds, a late look costs the whole
// interval on every load.
const pollInterval = time.Millisecond

// waitPolling waits until the event_pipe sleeps in epoll_wait.
func (p *eventPipe) waitPolling(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	file := fmt.Sprintf("/proc/%d/syscall", p.cmd.Process.Pid)
	for time.Now().Before(deadline) {
		raw, err := os.ReadFile(file)
		if err != nil {
			break // gone
		}
		if f := strings.Fields(string(raw)); len(f) > 0 {
			nr, _ := strconv.Atoi(f[0])
			if f[0] != "running" && slices.Contains(epollWaits, nr) {
				return nil
			}
		}
		if exited(p.cmd.Process.Pid) {
			break
		}
		time.Sleep(pollInterval)
	}
	p.stop()
	return fmt.Errorf("event_pipe for map %s did not start polling within %v: %s", p.name, timeout, strings.TrimSpace(p.stderr.String()))
}

// exited reports whether pid is a zombie (or gone).
func exited(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(raw, ')')
	return i < 0 || i+2 >= len(raw) || raw[i+2] == 'Z'
}

// stop ends the event_pipe (SIGINT, then SIGKILL after 2s) and reaps it.
func (p *eventPipe) stop() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() {
			p.cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		p.out.Close()
	})
}

var (
	headerRE = regexp.MustCompile(`^== @\d+\.\d+ CPU: (\d+) index: (-?\d+) =+$`)
	lostRE   = regexp.MustCompile(`^lost (\d+) events$`)
)

// sampleQuiet is how long forward waits for more hex lines after a full
// 16-byte line before it takes a sample as complete. The kernel's padding
// (see the package doc) means a sample never ends on a full line, so this
// only bounds the wait should that rule ever break.
var sampleQuiet = 50 * time.Millisecond

// hexPerLine is how many bytes bpftool's fprint_hex puts on a line.
const hexPerLine = 16

// forward translates event_pipe's plain output into protocol lines until it
// ends. A sample is complete at its first hex line shorter than hexPerLine
// (see the package doc), at the next header or lost line, or when no more
// input arrives within sampleQuiet after a full line.
func (p *eventPipe) forward(w *adapterkit.Writer) error {
	var (
		cpu     = -1
		data    []byte
		pending bool
	)
	flush := func() error {
		if !pending {
			return nil
		}
		pending = false
		return w.Sample(p.name, cpu, data)
	}
	for {
		line, err := p.stdout.ReadString('\n')
		if err != nil {
			flush()
			return fmt.Errorf("event_pipe for map %s ended: %s", p.name, strings.TrimSpace(p.stderr.String()))
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case headerRE.MatchString(line):
			if err := flush(); err != nil {
				return err
			}
			m := headerRE.FindStringSubmatch(line)
			cpu, _ = strconv.Atoi(m[1])
			data, pending = nil, true
		case lostRE.MatchString(line):
			if err := flush(); err != nil {
				return err
			}
			n, _ := strconv.ParseUint(lostRE.FindStringSubmatch(line)[1], 10, 64)
			if err := w.Lost(p.name, protocol.CPUUnknown, n); err != nil {
				return err
			}
		case pending:
			b, err := hex.DecodeString(strings.ReplaceAll(line, " ", ""))
			if err != nil {
				return fmt.Errorf("event_pipe for map %s: unexpected line %q", p.name, line)
			}
			data = append(data, b...)
			if len(b) < hexPerLine {
				if err := flush(); err != nil {
					return err
				}
				continue
			}
		default:
			fmt.Fprintf(os.Stderr, "bpftool adapter: ignoring event_pipe line %q\n", line)
		}
		if pending && len(data) > 0 && p.stdout.Buffered() == 0 {
			p.out.SetReadDeadline(time.Now().Add(sampleQuiet))
			_, err := p.stdout.Peek(1)
			p.out.SetReadDeadline(time.Time{})
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
}
