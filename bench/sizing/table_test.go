package sizing

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestWriteTableDifferences: what sizing adds is the load that detects minus
// the load told the answer, per loader and number of perf arrays.
func TestWriteTableDifferences(t *testing.T) {
	fig := func(format string, n int, us float64) Figure {
		return Figure{Name: fmt.Sprintf(format, n), PerOp: time.Duration(us * 1e3), N: 100}
	}
	r := Results{CiliumFirstCall: 52 * time.Microsecond, Counts: []Count{{Name: "reference, fake sysfs", Loads: 10, PerfMaps: 4, Opens: 10, File: "possible"}}}
	for _, n := range []int{1, 4} {
		r.Figures = append(r.Figures, fig(refDetect, n, 100+float64(n)*5), fig(refTold, n, 80), fig(ciliumFixup, n, 90), fig(ciliumSet, n, 90))
	}
	var b bytes.Buffer
	r.WriteTable(&b)
	for _, want := range []string{
		"first call in the process: 52µs",
		"added by sizing, 1 perf arrays: reference 25.0µs, cilium/ebpf 0.0µs",
		"added by sizing, 4 perf arrays: reference 40.0µs, cilium/ebpf 0.0µs",
		"opens of possible: 10 over 10 loads of 4 perf arrays (reference, fake sysfs)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
