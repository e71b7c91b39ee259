package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/protocol"
)

// TestForwardEndsSampleAtShortLine feeds forward event_pipe's plain output
// and checks what comes out and when: a sample whose last hex line is short
// (as the kernel's padding makes every sample's) is forwarded before any
// more input arrives, without the quiet wait (set to an hour here, so a pass
// cannot come from it); a sample ending on a full line is held until the
// next header.
func TestForwardEndsSampleAtShortLine(t *testing.T) {
	saved := sampleQuiet
	sampleQuiet = time.Hour
	defer func() { sampleQuiet = saved }()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p := &eventPipe{name: "events", out: r, stdout: bufio.NewReader(r)}
	outR, outW := io.Pipe()
	events := make(chan protocol.Event, 8)
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var ev protocol.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("adapter line %q: %v", sc.Text(), err)
			}
			events <- ev
		}
		close(events)
	}()
	go func() {
		p.forward(adapterkit.NewWriter(outW))
		outW.Close()
	}()
	next := func(what string) protocol.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: nothing forwarded within 10s", what)
			return protocol.Event{}
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case ev := <-events:
			t.Fatalf("%s: forwarded %+v too early", what, ev)
		case <-time.After(100 * time.Millisecond):
		}
	}
	write := func(s string) {
		t.Helper()
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}

	// A 16-byte trigger sample arrives as 20 raw bytes: 16 on a line, 4 on the next.
	write("== @1.000000001 CPU: 3 index: 3 =====\n" +
		"70 63 74 72 03 00 00 00  01 02 03 04 05 06 07 08\n" +
		"00 00 00 00\n")
	ev := next("20-byte sample")
	if ev.Event != protocol.EventSample || ev.Map != "events" || ev.CPU != 3 || len(ev.Data) != 20 || ev.Data[0] != 0x70 {
		t.Fatalf("20-byte sample forwarded as %+v", ev)
	}

	// 12 raw bytes on one line; then a lost line.
	write("== @1.000000002 CPU: 1 index: 1 =====\n" +
		"01 02 03 04 05 06 07 08  09 0a 0b 0c\n")
	if ev := next("12-byte sample"); ev.CPU != 1 || len(ev.Data) != 12 {
		t.Fatalf("12-byte sample forwarded as %+v", ev)
	}
	write("lost 7 events\n")
	if ev := next("lost line"); ev.Event != protocol.EventLost || ev.Lost != 7 || ev.CPU != protocol.CPUUnknown {
		t.Fatalf("lost line forwarded as %+v", ev)
	}

	// A sample ending on a full line (which the kernel never writes) waits
	// for what follows.
	write("== @1.000000003 CPU: 0 index: 0 =====\n" +
		"01 02 03 04 05 06 07 08  09 0a 0b 0c 0d 0e 0f 10\n")
	quiet("sample ending on a full line")
	write("== @1.000000004 CPU: 2 index: 2 =====\n")
	if ev := next("full-line sample"); ev.CPU != 0 || len(ev.Data) != 16 {
		t.Fatalf("full-line sample forwarded as %+v", ev)
	}
	write("01 02 03 04\n")
	if ev := next("sample after it"); ev.CPU != 2 || len(ev.Data) != 4 {
		t.Fatalf("sample after it forwarded as %+v", ev)
	}
}
