package event_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/event"
)

func booted() event.Event {
	return event.Event{Kind: event.KindBooted, Booted: &event.Booted{Kernel: "debian-6.1", Release: "6.1.0", Topology: "1cpu"}}
}

func realized(match bool) event.Event {
	m := result.Masks{Possible: "0", Present: "0", Online: "0"}
	return event.Event{Kind: event.KindRealized, Realized: &event.Realized{Masks: m, Expected: m, Match: match}}
}

func done() event.Event { return event.Event{Kind: event.KindDone} }

func pass() event.Event {
	return event.Result(result.Result{Requirement: "R1", Level: result.Must, Status: result.Pass, Loader: "x"})
}

// stream writes events through a Writer, the way the guest does.
func stream(t *testing.T, events ...event.Event) string {
	t.Helper()
	var buf bytes.Buffer
	w := event.NewWriter(&buf)
	for _, e := range events {
		if err := w.Emit(e); err != nil {
			t.Fatalf("emit %s: %v", e.Kind, err)
		}
	}
	return buf.String()
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		input  string
		want   []event.Kind // events delivered
		errs   []error      // sentinels the error must wrap; none: no error
		substr string       // and text it must contain
	}{
		{
			name:  "complete",
			input: stream(t, booted(), realized(true), pass(), event.Log("hi"), done()),
			want:  []event.Kind{event.KindBooted, event.KindRealized, event.KindResult, event.KindLog, event.KindDone},
		},
		{
			name:  "not realized, payload skipped",
			input: stream(t, booted(), realized(false), event.Error("topology not realized"), done()),
			want:  []event.Kind{event.KindBooted, event.KindRealized, event.KindError, event.KindDone},
		},
		{
			name:  "crlf from a cooked tty",
			input: strings.ReplaceAll(stream(t, booted(), done()), "\n", "\r\n"),
			want:  []event.Kind{event.KindBooted, event.KindDone},
		},
		{
			name:  "missing done after a panic",
			input: stream(t, booted(), realized(true), event.Error("payload panicked")),
			want:  []event.Kind{event.KindBooted, event.KindRealized, event.KindError},
			errs:  []error{event.ErrMissingDone},
		},
		{
			name:  "empty stream: the guest never started",
			input: "",
			errs:  []error{event.ErrMissingDone},
		},
		{
			name:   "truncated last line",
			input:  stream(t, booted(), realized(true)) + `{"kind":"res`,
			want:   []event.Kind{event.KindBooted, event.KindRealized},
			errs:   []error{event.ErrMalformed, event.ErrMissingDone},
			substr: "line 3",
		},
		{
			name:   "garbage in the middle is reported, later events kept",
			input:  stream(t, booted()) + "kernel noise\n" + stream(t, done()),
			want:   []event.Kind{event.KindBooted, event.KindDone},
			errs:   []error{event.ErrMalformed},
			substr: "kernel noise",
		},
		{
			name:  "unknown kind",
			input: stream(t, booted()) + `{"kind":"bogus"}` + "\n" + stream(t, done()),
			want:  []event.Kind{event.KindBooted, event.KindDone},
			errs:  []error{event.ErrMalformed},
		},
		{
			name:  "result without realized",
			input: stream(t, booted(), pass(), done()),
			want:  []event.Kind{event.KindBooted, event.KindResult, event.KindDone},
			errs:  []error{event.ErrOrder},
		},
		{
			name:  "result although not realized",
			input: stream(t, booted(), realized(false), pass(), done()),
			want:  []event.Kind{event.KindBooted, event.KindRealized, event.KindResult, event.KindDone},
			errs:  []error{event.ErrOrder},
		},
		{
			name:   "events after done",
			input:  stream(t, booted(), done()) + stream(t, event.Log("late")),
			want:   []event.Kind{event.KindBooted, event.KindDone, event.KindLog},
			errs:   []error{event.ErrOrder},
			substr: "after done",
		},
		{
			name:  "realized before booted",
			input: stream(t, realized(true), booted(), done()),
			want:  []event.Kind{event.KindRealized, event.KindBooted, event.KindDone},
			errs:  []error{event.ErrOrder},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []event.Kind
			err := event.Decode(strings.NewReader(tc.input), func(e event.Event) error {
				got = append(got, e.Kind)
				return nil
			})
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("delivered %v, want %v", got, tc.want)
			}
			if len(tc.errs) == 0 {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			for _, sentinel := range tc.errs {
				if !errors.Is(err, sentinel) {
					t.Errorf("error %v does not wrap %v", err, sentinel)
				}
			}
			if err != nil && !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q lacks %q", err, tc.substr)
			}
		})
	}
}

func TestDecodeCallbackErrorStops(t *testing.T) {
	stop := errors.New("disk full")
	n := 0
	err := event.Decode(strings.NewReader(stream(t, booted(), realized(true), done())), func(event.Event) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("got %v after %d events, want %v after 1", err, n, stop)
	}
}

func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := event.NewWriter(&buf)
	if err := w.Emit(event.Event{Kind: event.KindLog}); !errors.Is(err, event.ErrMalformed) {
		t.Errorf("log without message: %v, want ErrMalformed", err)
	}
	if err := w.Done(); err != nil {
		t.Fatal(err)
	}
	if err := w.Emit(event.Log("late")); !errors.Is(err, event.ErrClosed) {
		t.Errorf("emit after done: %v, want ErrClosed", err)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 1 {
		t.Errorf("wrote %d lines, want 1: %q", lines, buf.String())
	}
	if !strings.Contains(buf.String(), `"time":"`) {
		t.Errorf("event has no time: %q", buf.String())
	}
}

// The guest side writes, the host side decodes: a result survives the trip.
func Example() {
	var serial bytes.Buffer // ttyS1 in a real VM
	w := event.NewWriter(&serial)
	m := result.Masks{Possible: "0-3", Present: "0-3", Online: "0,2-3"}
	w.Emit(event.Event{Kind: event.KindBooted, Booted: &event.Booted{Kernel: "debian-6.1", Release: "6.1.0-56-cloud-amd64", Topology: "sparse"}})
	w.Emit(event.Event{Kind: event.KindRealized, Realized: &event.Realized{Masks: m, Expected: m, Match: true}})
	w.Emit(event.Result(result.Result{Requirement: "PERF-SIZE-1", Level: result.Must, Status: result.Pass, Loader: "reference"}))
	w.Done()

	err := event.Decode(&serial, func(e event.Event) error {
		if e.Kind == event.KindResult {
			fmt.Println(e.Result.Requirement, e.Result.Status)
		} else {
			fmt.Println(e.Kind)
		}
		return nil
	})
	fmt.Println("error:", err)
	// Output:
	// booted
	// realized
	// PERF-SIZE-1 PASS
	// done
	// error: <nil>
}
