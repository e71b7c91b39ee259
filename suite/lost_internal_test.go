package suite

import (
	"math"
	"testing"

	"github.com/perfconform/perfconform/adapters/protocol"
)

// TestLostTotalSaturates: lost counts never wrap around. A reader reporting
// 2^64-1 and then 17 where the kernel dropped 16 claims more loss than the
// kernel had; a wrapping sum would read 16 and pass RING-LOST.
func TestLostTotalSaturates(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts []uint64
		want   uint64
	}{
		{"none", nil, 0},
		{"sum", []uint64{3, 4}, 7},
		{"the largest alone", []uint64{math.MaxUint64}, math.MaxUint64},
		{"exactly the largest", []uint64{math.MaxUint64 - 1, 1}, math.MaxUint64},
		{"2^64-1 then 17", []uint64{math.MaxUint64, 17}, math.MaxUint64},
		{"wraps to zero", []uint64{1 << 63, 1 << 63}, math.MaxUint64},
		{"saturated stays", []uint64{math.MaxUint64, 1, 1}, math.MaxUint64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lost []protocol.Event
			for _, n := range tc.counts {
				lost = append(lost, protocol.Event{Event: protocol.EventLost, Map: "events", Lost: n})
			}
			if got := lostTotal(lost); got != tc.want {
				t.Errorf("lostTotal(%v) = %d, want %d", tc.counts, got, tc.want)
			}
		})
	}
}
