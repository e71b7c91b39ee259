package suite

import "testing"

// TestEvidenceIn: the CPU and errno a loader's reader failure names, in the
// styles real loaders write them.
func TestEvidenceIn(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		cpu   int // -1: none
		errno string
	}{
		{"map events: perf ring for CPU 4: no such device", 4, "ENODEV"},
		{"perf reader for map events: failed to create perf buffer for CPU 2: E2BIG", 2, "E2BIG"},
		{"libbpf: map 'events': failed to create: Invalid argument(-22)", -1, "EINVAL"},
		{"perf_buffer__new for map events: failed to open perf buffer event on cpu #3: No such device (libbpf: ...)", 3, "ENODEV"},
		{"map events: perf ring for CPU 1 at key 1: argument list too long", 1, "E2BIG"},
		{"bpf_perf_event_output returned -EOPNOTSUPP on CPU 0", 0, "EOPNOTSUPP"},
		{"something went wrong", -1, ""},
		{"CPUs 0-3 mismatched", -1, ""},
	} {
		cpu, errno := evidenceIn(tc.msg)
		gotCPU := -1
		if cpu != nil {
			gotCPU = *cpu
		}
		if gotCPU != tc.cpu || errno != tc.errno {
			t.Errorf("evidenceIn(%q) = CPU %d, %q; want CPU %d, %q", tc.msg, gotCPU, errno, tc.cpu, tc.errno)
		}
	}
}
