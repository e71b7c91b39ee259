// Package topology reads the CPU topology a perf event array must be sized for.
//
// Linux describes CPU sets in sysfs as CPU lists ("0", "0-3", "0,2-3,7-9"):
// possible (every id that can ever come online, fixed at boot), present (ids
// with hardware behind them) and online (ids running now). A perf event array
// is indexed by CPU id, so it needs highest possible id + 1 entries: counting
// the CPUs instead undersizes it whenever the possible list has gaps
// ("0-1,4-5" needs 6 entries, not 4), and using online instead of possible
// undersizes it on machines with hotplug slots.
//
// The parser is ours on purpose: it is the subject of the suite, and it must
// not share the limits of the loaders it judges (libbpf fails on online files of
// 128 bytes or more). Bad input is an error naming the file and the offending
// text, never a panic.
package topology

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// MaxCPUID is the largest CPU id the parser accepts. Linux's NR_CPUS tops out at
// 8192; the margin keeps an absurd id from being mistaken for a topology while
// bounding the memory CPUs() may need.
const MaxCPUID = 1<<16 - 1

// ErrBadCPUList is wrapped by every error about the syntax or range of a CPU list.
var ErrBadCPUList = errors.New("bad CPU list")

// cpuRange is an inclusive range of CPU ids.
type cpuRange struct{ first, last int }

// CPUSet is a set of CPU ids, kept as sorted, disjoint, non-adjacent ranges so
// that "0-65535" costs one element. The zero value is the empty set.
type CPUSet struct {
	ranges []cpuRange
}

// ParseCPUList parses the Linux CPU-list format. Whitespace around the list
// (sysfs files end in a newline) is ignored; an empty list is an error because
// no sysfs mask this package reads may be empty on a running system.
func ParseCPUList(s string) (CPUSet, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return CPUSet{}, fmt.Errorf("%w: empty", ErrBadCPUList)
	}
	var set CPUSet
	for _, item := range strings.Split(text, ",") {
		r, err := parseItem(item)
		if err != nil {
			return CPUSet{}, fmt.Errorf("%w: %q in %q: %s", ErrBadCPUList, item, abbreviate(text), err)
		}
		set.ranges = append(set.ranges, r)
	}
	set.normalize()
	return set, nil
}

// MustParseCPUList is ParseCPUList for constants in tests and catalogs; it panics
// on a bad list.
func MustParseCPUList(s string) CPUSet {
	set, err := ParseCPUList(s)
	if err != nil {
		panic(err)
	}
	return set
}

// CPUSetOf returns the set holding exactly cpus (negative ids are dropped).
func CPUSetOf(cpus ...int) CPUSet {
	var set CPUSet
	for _, c := range cpus {
		if c >= 0 {
			set.ranges = append(set.ranges, cpuRange{c, c})
		}
	}
	set.normalize()
	return set
}

// FirstN returns the set 0..n-1 (empty for n <= 0).
func FirstN(n int) CPUSet {
	if n <= 0 {
		return CPUSet{}
	}
	return CPUSet{ranges: []cpuRange{{0, n - 1}}}
}

func parseItem(item string) (cpuRange, error) {
	if item == "" {
		return cpuRange{}, errors.New("empty element")
	}
	lo, hi, isRange := strings.Cut(item, "-")
	first, err := parseID(lo)
	if err != nil {
		return cpuRange{}, err
	}
	if !isRange {
		return cpuRange{first, first}, nil
	}
	last, err := parseID(hi)
	if err != nil {
		return cpuRange{}, err
	}
	if last < first {
		return cpuRange{}, fmt.Errorf("range ends (%d) before it starts (%d)", last, first)
	}
	return cpuRange{first, last}, nil
}

func parseID(s string) (int, error) {
	if s == "" {
		return 0, errors.New("missing CPU id")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a CPU id", s)
		}
	}
	if len(s) > 6 {
		return 0, fmt.Errorf("CPU id %s is above the maximum %d", abbreviate(s), MaxCPUID)
	}
	id, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a CPU id", s)
	}
	if id > MaxCPUID {
		return 0, fmt.Errorf("CPU id %d is above the maximum %d", id, MaxCPUID)
	}
	return id, nil
}

// abbreviate keeps error messages readable when the input is enormous.
func abbreviate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("…(%d bytes)", len(s))
}

// normalize sorts the ranges and merges overlapping or adjacent ones, so every
// set has one representation and String is canonical.
func (s *CPUSet) normalize() {
	if len(s.ranges) < 2 {
		return
	}
	sort.Slice(s.ranges, func(i, j int) bool { return s.ranges[i].first < s.ranges[j].first })
	out := s.ranges[:1]
	for _, r := range s.ranges[1:] {
		last := &out[len(out)-1]
		if r.first <= last.last+1 {
			if r.last > last.last {
				last.last = r.last
			}
			continue
		}
		out = append(out, r)
	}
	s.ranges = out
}

// String returns the canonical CPU-list form ("0,2-3"); "" for the empty set.
func (s CPUSet) String() string {
	var b strings.Builder
	for i, r := range s.ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(r.first))
		if r.last != r.first {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(r.last))
		}
	}
	return b.String()
}

// Len is the number of CPUs in the set.
func (s CPUSet) Len() int {
	n := 0
	for _, r := range s.ranges {
		n += r.last - r.first + 1
	}
	return n
}

// Empty reports whether the set has no CPU.
func (s CPUSet) Empty() bool { return len(s.ranges) == 0 }

// Highest is the highest CPU id in the set, or -1 for the empty set.
func (s CPUSet) Highest() int {
	if len(s.ranges) == 0 {
		return -1
	}
	return s.ranges[len(s.ranges)-1].last
}

// Contains reports whether cpu is in the set.
func (s CPUSet) Contains(cpu int) bool {
	i := sort.Search(len(s.ranges), func(i int) bool { return s.ranges[i].last >= cpu })
	return i < len(s.ranges) && s.ranges[i].first <= cpu
}

// CPUs lists the ids in ascending order.
func (s CPUSet) CPUs() []int {
	out := make([]int, 0, s.Len())
	for _, r := range s.ranges {
		for c := r.first; c <= r.last; c++ {
			out = append(out, c)
		}
	}
	return out
}

// Below returns the CPUs of s whose id is below limit.
func (s CPUSet) Below(limit int) CPUSet {
	var out CPUSet
	for _, r := range s.ranges {
		if r.first >= limit {
			break
		}
		if r.last >= limit {
			r.last = limit - 1
		}
		out.ranges = append(out.ranges, r)
	}
	return out
}

// Equal reports whether two sets hold the same CPUs.
func (s CPUSet) Equal(o CPUSet) bool {
	if len(s.ranges) != len(o.ranges) {
		return false
	}
	for i := range s.ranges {
		if s.ranges[i] != o.ranges[i] {
			return false
		}
	}
	return true
}

// Difference returns the CPUs in s and not in o.
func (s CPUSet) Difference(o CPUSet) CPUSet {
	var out []int
	for _, c := range s.CPUs() {
		if !o.Contains(c) {
			out = append(out, c)
		}
	}
	return CPUSetOf(out...)
}
