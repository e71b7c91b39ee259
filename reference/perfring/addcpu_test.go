package perfring_test

import (
	"testing"
	"time"

	"github.com/perfconform/perfconform/reference/perfring"
)

// TestAddCPU: a ring added while a read blocks in epoll_wait is read from
// then on, filed at its CPU's key; adding a CPU again replaces its ring in
// the map, the old ring's records are still delivered, and the old ring is
// closed once drained (its fd count goes back). CPUs cannot be hotplugged on
// the host, so the CPUs "come online" by being left out of New.
func TestAddCPU(t *testing.T) {
	requireRoot(t)
	cpus := onlineCPUs(t)
	if len(cpus) < 2 {
		t.Skip("needs two online CPUs")
	}
	first, late := cpus[0], cpus[1]
	m := newPerfArray(t)
	e := newStackEmitter(t, m, 8)
	rd := newReader(t, m, []int{first}, perfring.Options{Pages: 1})
	if ret := e.emit(t, late, 1); ret != errnoENOENT {
		t.Fatalf("CPU %d before AddCPU: bpf_perf_event_output = %d, want %d", late, ret, errnoENOENT)
	}

	got := make(chan perfring.Record, 1)
	go func() {
		rd.SetDeadline(time.Now().Add(10 * time.Second))
		rec, err := rd.Read()
		if err != nil {
			t.Error(err)
		}
		got <- rec
	}()
	time.Sleep(50 * time.Millisecond) // let the read block in epoll_wait
	if err := rd.AddCPU(late); err != nil {
		t.Fatal(err)
	}
	if ret := e.emit(t, late, 1); ret != 0 {
		t.Fatalf("CPU %d after AddCPU: bpf_perf_event_output = %d, want 0", late, ret)
	}
	if rec := <-got; rec.CPU != late {
		t.Fatalf("record from CPU %d, want %d", rec.CPU, late)
	}
	if have := rd.CPUs(); len(have) != 2 || have[1] != late {
		t.Errorf("CPUs() = %v, want [%d %d]", have, first, late)
	}

	// Replace the ring of first with one record still unread in the old.
	if ret := e.emit(t, first, 1); ret != 0 {
		t.Fatal(ret)
	}
	fds := openFDs(t)
	if err := rd.AddCPU(first); err != nil {
		t.Fatal(err)
	}
	if ret := e.emit(t, first, 1); ret != 0 {
		t.Fatalf("CPU %d after replacing its ring: bpf_perf_event_output = %d", first, ret)
	}
	recs := readN(t, rd, 2)
	for i, rec := range recs {
		e.checkSample(t, rec.RawSample, first, 0)
		if rec.CPU != first {
			t.Errorf("record %d from CPU %d, want %d", i, rec.CPU, first)
		}
	}
	expectEmpty(t, rd) // a wait sweeps the drained old ring
	if now := openFDs(t); now != fds {
		t.Errorf("%d fds open, want %d (one ring out, one in): the replaced ring was not closed", now, fds)
	}
	if have := rd.CPUs(); len(have) != 2 {
		t.Errorf("CPUs() = %v after a replacement, want two CPUs", have)
	}
	if err := rd.AddCPU(1 << 20); err == nil {
		t.Error("AddCPU of a CPU beyond max_entries succeeded")
	}
}
