package process

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

var (
	// ErrAdapter means the adapter executable itself misbehaved: it crashed,
	// hung, printed something that is not the protocol, or exited when it
	// should not have. It says nothing about the loader behind it; a loader's
	// refusal is a *suite.LoadError instead.
	ErrAdapter = errors.New("adapter broke the protocol")
	// ErrProtocolVersion means the adapter speaks another protocol version.
	// It is always wrapped together with ErrAdapter.
	ErrProtocolVersion = errors.New("unsupported adapter protocol version")
	// ErrReady means the ready line does not list exactly the object's perf
	// event arrays (a map the object does not have, one missing, none).
	// Always wrapped together with ErrAdapter.
	ErrReady = errors.New("ready line does not match the object")
	// ErrShutdown means the adapter did not stop as the protocol says: exit
	// 0 promptly once stdin closes or SIGTERM arrives. Always wrapped
	// together with ErrAdapter.
	ErrShutdown = errors.New("did not shut down as the protocol requires")
	// ErrLine means the adapter printed a line that is not the protocol
	// (not one JSON event, an unknown event, a sample without a CPU or for a
	// map its ready line did not list, invalid base64, a negative count,
	// ...), and the client stopped the adapter there: the session ended
	// because of the line, not on the adapter's own. Always wrapped together
	// with ErrAdapter.
	ErrLine = errors.New("printed a line that breaks the protocol, so the suite stopped it")
	// ErrNeverReady means the load was not even started: an earlier load of
	// the same adapter timed out waiting for ready, and every later load
	// fails at once with that evidence. Always wrapped together with
	// ErrAdapter.
	ErrNeverReady = errors.New("adapter never got ready")
	// ErrUnsupported is the loader's own statement that it cannot express
	// the object at all (protocol.StageUnsupported). It is carried by a
	// *suite.LoadError of stage environment, so the requirement is an ERROR
	// that says why, never a FAIL.
	ErrUnsupported = errors.New("the loader cannot express this object")
)

// Error is an adapter failure with the adapter's last stderr output attached.
// errors.Is(err, ErrAdapter) holds for every *Error.
type Error struct {
	Adapter string // path of the adapter executable
	Op      string // "info", "load", "stream" or "shutdown"
	Err     error  // what went wrong
	Stderr  string // the tail of the adapter's stderr
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "adapter %s: %s: %v", e.Adapter, e.Op, e.Err)
	if s := strings.TrimRight(e.Stderr, "\n"); s != "" {
		fmt.Fprintf(&b, "\n--- adapter stderr (tail) ---\n%s", s)
	}
	return b.String()
}

// Unwrap makes both ErrAdapter and the cause visible to errors.Is / As.
func (e *Error) Unwrap() []error { return []error{ErrAdapter, e.Err} }

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return "[...]" + string(t.buf)
	}
	return string(t.buf)
}
