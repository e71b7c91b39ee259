// Package adapterkit is the command-line half of the adapter protocol for the
// adapters written in Go in this repository: argument parsing for `info` and
// `load`, one JSON line per event on stdout, and the stop condition (stdin
// closed or SIGTERM). It holds no loader logic; each adapter brings its own.
//
// Third-party adapters do not need it: the protocol is plain JSON lines
// (docs/ADAPTERS.md).
package adapterkit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/perfconform/perfconform/adapters/protocol"
)

// LoadArgs are the arguments of `ADAPTER load`.
type LoadArgs struct {
	Object string
	PinDir string
	Pages  int
}

// LoadFunc loads args.Object, pins its maps, opens readers, calls w.Ready, and
// streams events until ctx is done. It returns nil after a clean stop, a
// *StageError (see Fail) that Main reports as an error line, or an Abort.
type LoadFunc func(ctx context.Context, args LoadArgs, w *Writer) error

// StageError is a loader failure at a protocol stage.
type StageError struct {
	Stage protocol.Stage
	Err   error
}

func (e *StageError) Error() string { return fmt.Sprintf("%s: %v", e.Stage, e.Err) }
func (e *StageError) Unwrap() error { return e.Err }

// Fail attributes err to stage. Fail(stage, nil) is nil.
func Fail(stage protocol.Stage, err error) error {
	if err == nil {
		return nil
	}
	return &StageError{Stage: stage, Err: err}
}

// Abort marks err as a failure of the adapter itself, not the loader's
// refusal: Main prints it on stderr and exits 1 without an error line, which
// the suite's client reports as an adapter error (an ERROR that says nothing
// about the loader). Abort(nil) is nil.
func Abort(err error) error {
	if err == nil {
		return nil
	}
	return &abortError{err}
}

type abortError struct{ err error }

func (e *abortError) Error() string { return e.err.Error() }
func (e *abortError) Unwrap() error { return e.err }

// Writer prints protocol events, one JSON object per line, each with a single
// write so lines from concurrent readers never interleave.
type Writer struct {
	mu  sync.Mutex
	out io.Writer
	err error
}

// NewWriter writes to out.
func NewWriter(out io.Writer) *Writer { return &Writer{out: out} }

// Emit prints ev. The first write error is kept and returned from then on.
func (w *Writer) Emit(ev protocol.Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		_, w.err = w.out.Write(append(line, '\n'))
	}
	return w.err
}

// Line prints line as it is, followed by a newline, in one write: for the
// negative controls in adapters/testdata that break the protocol on purpose
// (a line Emit could never produce).
func (w *Writer) Line(line string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		_, w.err = io.WriteString(w.out, line+"\n")
	}
	return w.err
}

// Seal lets a line being written finish and no other start: Emit blocks from
// then on. For an adapter that ends its session by exiting without stopping
// its reader goroutines (they may still be forwarding a record), so that its
// output ends with a whole line. Only for a process about to exit.
func (w *Writer) Seal() { w.mu.Lock() }

// Ready announces that every map is pinned and a reader is open on each of
// perfMaps.
func (w *Writer) Ready(perfMaps []string) error {
	return w.Emit(protocol.Event{Event: protocol.EventReady, Maps: perfMaps})
}

// Sample forwards one record.
func (w *Writer) Sample(m string, cpu int, data []byte) error {
	return w.Emit(protocol.Event{Event: protocol.EventSample, Map: m, CPU: cpu, Data: data})
}

// Lost forwards a lost-records count.
func (w *Writer) Lost(m string, cpu int, n uint64) error {
	return w.Emit(protocol.Event{Event: protocol.EventLost, Map: m, CPU: cpu, Lost: n})
}

// Main runs the adapter command line and exits: status 0 after `info` or a
// clean stop, 1 after an error line, 2 on a usage error.
func Main(info protocol.Info, load LoadFunc) {
	os.Exit(run(os.Args[1:], info, load, os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, info protocol.Info, load LoadFunc, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: %s info | load --object PATH --pin-dir DIR --pages N\n", info.Loader)
		return 2
	}
	switch args[0] {
	case "info":
		if info.Protocol == 0 {
			info.Protocol = protocol.Version
		}
		line, err := json.Marshal(info)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s\n", line)
		return 0
	case "load":
		fs := flag.NewFlagSet("load", flag.ContinueOnError)
		fs.SetOutput(stderr)
		var la LoadArgs
		fs.StringVar(&la.Object, "object", "", "BPF ELF object to load")
		fs.StringVar(&la.PinDir, "pin-dir", "", "bpffs directory to pin every map under, by name")
		fs.IntVar(&la.Pages, "pages", 8, "per-CPU perf ring size in pages")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if la.Object == "" || la.PinDir == "" || la.Pages < 1 {
			fmt.Fprintln(stderr, "load: --object, --pin-dir and --pages >= 1 are required")
			return 2
		}
		ctx, stop := StopContext(stdin)
		defer stop()
		w := NewWriter(stdout)
		err := load(ctx, la, w)
		if err == nil {
			return 0
		}
		var ae *abortError
		if errors.As(err, &ae) {
			fmt.Fprintln(stderr, ae.err)
			return 1
		}
		var se *StageError
		if !errors.As(err, &se) {
			se = &StageError{Stage: protocol.StageLoad, Err: err}
		}
		w.Emit(protocol.Event{Event: protocol.EventError, Stage: se.Stage, Message: se.Err.Error()})
		return 1
	default:
		fmt.Fprintf(stderr, "unknown command %q: want info or load\n", args[0])
		return 2
	}
}

// StopContext returns a context that is done when stdin reaches EOF (or fails)
// or SIGTERM/SIGINT arrives: the protocol's two stop conditions.
func StopContext(stdin io.Reader) (context.Context, context.CancelFunc) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	return ctx, cancel
}

// MajorMinor turns "v7.5.0" or "1.4.6" into "7.5" / "1.4": the version
// libbpf and bpftool adapters are named with ("bpftool@7.5"), as the
// registry in package adapters names them.
func MajorMinor(v string) string {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 2 {
		return strings.TrimPrefix(v, "v")
	}
	return parts[0] + "." + parts[1]
}
