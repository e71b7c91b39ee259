package readers

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWriteTableGoals: each goal is judged per (size, mode) against the
// reference (ReadInto) and reference-func (ReadFunc), met and missed alike.
func TestWriteTableGoals(t *testing.T) {
	r := func(reader string, delivered uint64) Result {
		return Result{Reader: reader, Size: 8, Mode: Drain, Attempted: delivered, Accepted: delivered, Delivered: delivered, Wall: time.Second}
	}
	leaky := r(Cilium, 100)
	leaky.Mode, leaky.Lost, leaky.Attempted = RateLimited, 3, 103
	allocs := r(ReferenceFunc, 300)
	allocs.Allocs, allocs.AllocSamples, allocs.AllocsPerSample = 30, 1000, 0.03
	res := []Result{r(Reference, 200), allocs, r(Cilium, 100), r(Libbpf, 400), leaky}
	var b bytes.Buffer
	WriteTable(&b, res)
	out := b.String()
	for _, want := range []string{
		"reference ≥ 1.5x cilium-ebpf: 2.00x, met",
		"reference ≥ libbpf: 0.50x, MISSED",
		"reference-func ≥ 1.5x cilium-ebpf: 3.00x, met",
		"reference-func ≥ libbpf: 0.75x, MISSED",
		"reference-func: 30 allocations in 1000 reads, zero-allocation goal MISSED",
		"cilium-ebpf: lost 3 samples below saturation, goal MISSED",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "reported") {
		t.Errorf("every loss was accounted for, yet:\n%s", out)
	}
}
