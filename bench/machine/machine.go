// Package machine describes the host a benchmark ran on, so every printed
// figure can be quoted with the machine and the load it came from.
package machine

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// Line names the host the figures come from: CPUs, CPU model, kernel.
func Line() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	_ = unix.Uname(&u)
	return fmt.Sprintf("%d CPUs, %s, Linux %s", runtime.NumCPU(), model, unix.ByteSliceToString(u.Release[:]))
}

// LoadAvg is /proc/loadavg's first three fields: other work on the host
// (other engineers' VMs) shows up here and in every figure.
func LoadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Header prints the machine and the load average at the start of a
// benchmark; the returned func prints the load average at its end.
func Header(w io.Writer) (end func()) {
	fmt.Fprintln(w, "machine:", Line())
	fmt.Fprintln(w, "load average at start:", LoadAvg())
	return func() { fmt.Fprintln(w, "load average at end:", LoadAvg()) }
}
