// Package event is the typed channel between the guest init of a perfconform VM
// and the host that booted it.
//
// The guest writes one JSON object per line on its event device (ttyS1 on
// amd64, hvc0 on arm64: arch.Arch.EventDevice); the host reads the lines
// live from QEMU. A stream is only complete when it ends with a KindDone
// event: a guest that panicked, hung, crashed or whose output was cut short
// never writes one, and Decode reports ErrMissingDone so a silent VM can
// never pass for a clean one.
package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/perfconform/perfconform/result"
)

// Kind says what an Event reports and which of its fields are set.
type Kind string

const (
	// KindBooted is the first event: the guest init is running. Booted is set.
	KindBooted Kind = "booted"
	// KindRealized reports the CPU masks the guest read after applying the
	// topology's guest actions. Realized is set.
	KindRealized Kind = "realized"
	// KindResult carries one requirement's outcome. Result is set.
	KindResult Kind = "result"
	// KindLog is free text from the guest. Message is set.
	KindLog Kind = "log"
	// KindError reports a failure inside the guest. Message is set.
	KindError Kind = "error"
	// KindDone is the last event of a complete stream.
	KindDone Kind = "done"
)

// Booted describes the guest that came up.
type Booted struct {
	Kernel   string `json:"kernel"`   // catalog name the host booted, e.g. "debian-6.1"
	Release  string `json:"release"`  // uname -r inside the guest
	Topology string `json:"topology"` // topology name from the guest config
}

// Realized is the topology as the guest kernel shows it.
type Realized struct {
	Masks    result.Masks `json:"masks"`    // as read in the guest
	Expected result.Masks `json:"expected"` // what the topology expects on this kernel
	Match    bool         `json:"match"`
}

// Event is one line of the stream.
type Event struct {
	Kind     Kind           `json:"kind"`
	Time     time.Time      `json:"time"`
	Booted   *Booted        `json:"booted,omitempty"`
	Realized *Realized      `json:"realized,omitempty"`
	Result   *result.Result `json:"result,omitempty"`
	Message  string         `json:"message,omitempty"`
}

// Log returns a KindLog event.
func Log(format string, args ...any) Event {
	return Event{Kind: KindLog, Message: fmt.Sprintf(format, args...)}
}

// Error returns a KindError event.
func Error(format string, args ...any) Event {
	return Event{Kind: KindError, Message: fmt.Sprintf(format, args...)}
}

// Result returns a KindResult event carrying r.
func Result(r result.Result) Event {
	return Event{Kind: KindResult, Result: &r}
}

var (
	// ErrMalformed: a line is not a valid event.
	ErrMalformed = errors.New("malformed event")
	// ErrOrder: events came in an order the guest never produces.
	ErrOrder = errors.New("events out of order")
	// ErrMissingDone: the stream ended without a done event (guest panic,
	// hang, kernel crash or truncated output).
	ErrMissingDone = errors.New("event stream ended without done")
)

// Validate checks that the fields required by e.Kind are present.
func (e Event) Validate() error {
	switch e.Kind {
	case KindBooted:
		if e.Booted == nil {
			return fmt.Errorf("%w: booted event without booted field", ErrMalformed)
		}
	case KindRealized:
		if e.Realized == nil {
			return fmt.Errorf("%w: realized event without realized field", ErrMalformed)
		}
	case KindResult:
		if e.Result == nil {
			return fmt.Errorf("%w: result event without result field", ErrMalformed)
		}
	case KindLog, KindError:
		if e.Message == "" {
			return fmt.Errorf("%w: %s event without message", ErrMalformed, e.Kind)
		}
	case KindDone:
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrMalformed, e.Kind)
	}
	return nil
}

// Writer writes events as JSON lines. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	w    io.Writer
	done bool
	now  func() time.Time
}

// NewWriter returns a Writer on w (in the guest: the event device).
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, now: time.Now}
}

// ErrClosed is returned by Emit after Done.
var ErrClosed = errors.New("event writer is done")

// Emit writes one event. The time is set when it is zero.
func (w *Writer) Emit(e Event) error {
	if e.Kind == KindDone {
		return w.Done()
	}
	return w.emit(e)
}

// Done writes the final done event; later Emit calls fail with ErrClosed.
func (w *Writer) Done() error {
	return w.emit(Event{Kind: KindDone})
}

func (w *Writer) emit(e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = w.now().UTC()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", e.Kind, err)
	}
	line = append(line, '\n')

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return fmt.Errorf("emit %s event: %w", e.Kind, ErrClosed)
	}
	if _, err := w.w.Write(line); err != nil {
		return fmt.Errorf("write %s event: %w", e.Kind, err)
	}
	if e.Kind == KindDone {
		w.done = true
	}
	return nil
}

// maxLine bounds one event line; a result with a long detail fits easily.
const maxLine = 4 << 20

// Decode reads the stream from r until EOF, calling fn for every valid event
// as soon as its line is complete, so callers can persist events before the
// VM is gone. It checks the stream's shape: booted comes first and once,
// realized at most once, results only after a realized event whose masks
// matched, nothing after done, and done at the end.
//
// Malformed lines do not stop decoding: later events are still delivered and
// every problem is returned, joined. An error from fn stops decoding and is
// returned as is.
func Decode(r io.Reader, fn func(Event) error) error {
	var (
		errs     []error
		lineNo   int
		booted   bool
		realized *Realized
		done     bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		lineNo++
		line := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w: %v: %q", lineNo, ErrMalformed, err, truncate(line, 120)))
			continue
		}
		if err := e.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", lineNo, err))
			continue
		}
		if err := checkOrder(e, booted, realized, done); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", lineNo, err))
		}
		switch e.Kind {
		case KindBooted:
			booted = true
		case KindRealized:
			realized = e.Realized
		case KindDone:
			done = true
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("after line %d: read events: %w", lineNo, err))
	}
	if !done {
		errs = append(errs, fmt.Errorf("after %d lines: %w", lineNo, ErrMissingDone))
	}
	return errors.Join(errs...)
}

func checkOrder(e Event, booted bool, realized *Realized, done bool) error {
	switch {
	case done:
		return fmt.Errorf("%w: %s event after done", ErrOrder, e.Kind)
	case e.Kind == KindBooted && booted:
		return fmt.Errorf("%w: second booted event", ErrOrder)
	case e.Kind != KindBooted && !booted && e.Kind != KindLog && e.Kind != KindError:
		return fmt.Errorf("%w: %s event before booted", ErrOrder, e.Kind)
	case e.Kind == KindRealized && realized != nil:
		return fmt.Errorf("%w: second realized event", ErrOrder)
	case e.Kind == KindResult && realized == nil:
		return fmt.Errorf("%w: result before realized", ErrOrder)
	case e.Kind == KindResult && !realized.Match:
		return fmt.Errorf("%w: result although the topology was not realized", ErrOrder)
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
