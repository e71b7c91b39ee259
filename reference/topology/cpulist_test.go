package topology

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	long := make([]string, 0, 512)
	for c := 0; c < 1024; c += 2 {
		long = append(long, strconv.Itoa(c))
	}
	tests := []struct {
		name    string
		in      string
		want    string // canonical form
		len     int
		highest int
	}{
		{"single", "0", "0", 1, 0},
		{"single with newline", "0\n", "0", 1, 0},
		{"range", "0-3\n", "0-3", 4, 3},
		{"mixed", "0,2-3,7-9", "0,2-3,7-9", 6, 9},
		{"gapped possible", "0-1,4-5\n", "0-1,4-5", 4, 5},
		{"sparse online", "0,2-3", "0,2-3", 3, 3},
		{"unsorted and overlapping merge", "7-9,0,8,1", "0-1,7-9", 5, 9},
		{"adjacent ranges merge", "0-1,2-3", "0-3", 4, 3},
		{"degenerate range", "5-5", "5", 1, 5},
		{"leading zeros", "007", "7", 1, 7},
		{"long list beyond libbpf's 128 bytes", strings.Join(long, ",") + "\n", strings.Join(long, ","), 512, 1022},
		{"max id", strconv.Itoa(MaxCPUID), strconv.Itoa(MaxCPUID), 1, MaxCPUID},
		{"wide", "0-8191", "0-8191", 8192, 8191},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := ParseCPUList(tt.in)
			if err != nil {
				t.Fatalf("ParseCPUList(%q): %v", tt.in, err)
			}
			if got := set.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := set.Len(); got != tt.len {
				t.Errorf("Len() = %d, want %d", got, tt.len)
			}
			if got := set.Highest(); got != tt.highest {
				t.Errorf("Highest() = %d, want %d", got, tt.highest)
			}
		})
	}
}

func TestParseCPUListErrors(t *testing.T) {
	tests := []struct {
		name, in, mention string
	}{
		{"empty", "", "empty"},
		{"only newline", "\n", "empty"},
		{"descending range", "3-1", `"3-1"`},
		{"letter", "a", `"a"`},
		{"open range", "1-", "missing CPU id"},
		{"open start", "-1", "missing CPU id"},
		{"empty element", "0,,2", "empty element"},
		{"trailing comma", "0,", "empty element"},
		{"overflow", "99999999999999999999999", "above the maximum"},
		{"above max", strconv.Itoa(MaxCPUID + 1), "above the maximum"},
		{"negative", "0,-3", "missing CPU id"},
		{"spaces inside", "0, 2", `" 2"`},
		{"hex", "0x3", `"0x3"`},
		{"double dash", "1--3", `"-3"`},
		{"two ranges in one item", "1-2-3", `"2-3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCPUList(tt.in)
			if err == nil {
				t.Fatalf("ParseCPUList(%q) succeeded, want an error", tt.in)
			}
			if !errors.Is(err, ErrBadCPUList) {
				t.Errorf("error %v does not wrap ErrBadCPUList", err)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestCPUSetOperations(t *testing.T) {
	s := MustParseCPUList("0,2-3,7-9")
	for cpu, want := range map[int]bool{0: true, 1: false, 2: true, 3: true, 4: false, 7: true, 9: true, 10: false, -1: false} {
		if got := s.Contains(cpu); got != want {
			t.Errorf("Contains(%d) = %v, want %v", cpu, got, want)
		}
	}
	if got := s.Below(3).String(); got != "0,2" {
		t.Errorf("Below(3) = %q, want 0,2", got)
	}
	if got := s.Below(0).String(); got != "" {
		t.Errorf("Below(0) = %q, want empty", got)
	}
	if got := s.Below(100).String(); got != s.String() {
		t.Errorf("Below(100) = %q, want %q", got, s)
	}
	if got := MustParseCPUList("0-7").Difference(s).String(); got != "1,4-6" {
		t.Errorf("Difference = %q, want 1,4-6", got)
	}
	if !CPUSetOf(3, 2, 0).Equal(MustParseCPUList("0,2-3")) {
		t.Error("CPUSetOf(3,2,0) != 0,2-3")
	}
	if got := FirstN(4).String(); got != "0-3" {
		t.Errorf("FirstN(4) = %q", got)
	}
	var empty CPUSet
	if empty.Highest() != -1 || !empty.Empty() || empty.String() != "" || len(empty.CPUs()) != 0 {
		t.Errorf("zero CPUSet is not empty: %q", empty)
	}
}

func TestPerfArraySize(t *testing.T) {
	tests := []struct {
		possible string
		want     uint32
	}{
		{"0", 1},
		{"0-1", 2},
		{"0-3", 4},
		{"0-1,4-5", 6}, // counting CPUs would give 4: the bug this exists for
		{"0-7", 8},
		{"0-63", 64},
		{"0,5,7", 8},
	}
	for _, tt := range tests {
		if got := PerfArraySize(MustParseCPUList(tt.possible)); got != tt.want {
			t.Errorf("PerfArraySize(%s) = %d, want %d", tt.possible, got, tt.want)
		}
	}
}

func TestRingCPUs(t *testing.T) {
	tests := []struct {
		name             string
		possible, online string
		maxEntries       uint32
		want             string
	}{
		{"all online", "0-3", "0-3", 4, "0-3"},
		{"hotplug slots: offline possible skipped", "0-7", "0-1", 8, "0-1"},
		{"sparse online keeps ids", "0-3", "0,2-3", 4, "0,2-3"},
		{"map smaller than CPUs", "0-3", "0-3", 2, "0-1"},
		{"map larger than CPUs", "0-1", "0-1", 128, "0-1"},
		{"gapped possible", "0-1,4-5", "0-1,4-5", 6, "0-1,4-5"},
		{"one entry", "0-3", "0,2-3", 1, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topo := Topology{Possible: MustParseCPUList(tt.possible), Online: MustParseCPUList(tt.online)}
			if got := RingCPUs(topo, tt.maxEntries).String(); got != tt.want {
				t.Errorf("RingCPUs = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, seed := range []string{"0", "0-3\n", "0,2-3,7-9", "0-1,4-5", "", "3-1", "a", "1-", "99999999999999999999", "0,,1", "65535"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		set, err := ParseCPUList(in)
		if err != nil {
			if !errors.Is(err, ErrBadCPUList) {
				t.Fatalf("error %v does not wrap ErrBadCPUList", err)
			}
			return
		}
		if set.Empty() {
			t.Fatalf("ParseCPUList(%q) returned an empty set without error", in)
		}
		if set.Highest() > MaxCPUID {
			t.Fatalf("highest %d above MaxCPUID", set.Highest())
		}
		// The canonical form must parse back to the same set.
		again, err := ParseCPUList(set.String())
		if err != nil || !again.Equal(set) {
			t.Fatalf("round trip of %q via %q: %v, %v", in, set.String(), again, err)
		}
	})
}
