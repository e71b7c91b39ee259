// Package kversion reads the "major.minor" series of a Linux kernel release
// string ("6.1.0-56-cloud-amd64", "5.10.0-43-cloud-amd64", "6.18.44") and
// orders series. It is how the topology catalog picks the expectation for a
// kernel and how the suite enforces its oldest supported kernel.
package kversion

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadRelease: the string does not start with "major.minor".
var ErrBadRelease = errors.New("not a kernel release (want major.minor...)")

// Series is a kernel's major and minor version.
type Series struct{ Major, Minor int }

// String is "major.minor".
func (s Series) String() string { return fmt.Sprintf("%d.%d", s.Major, s.Minor) }

// Compare returns a negative number when s is older than o, zero when they
// are the same series, a positive number when s is newer.
func (s Series) Compare(o Series) int {
	if s.Major != o.Major {
		return s.Major - o.Major
	}
	return s.Minor - o.Minor
}

// Parse reads the leading "major.minor" of a kernel release; whatever follows
// the minor number's digits is ignored.
func Parse(release string) (Series, error) {
	fields := strings.SplitN(release, ".", 3)
	if len(fields) < 2 {
		return Series{}, fmt.Errorf("%q: %w", release, ErrBadRelease)
	}
	var n [2]int
	for i := range n {
		digits := fields[i]
		if j := strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			digits = digits[:j]
		}
		v, err := strconv.Atoi(digits)
		if err != nil {
			return Series{}, fmt.Errorf("%q: %w", release, ErrBadRelease)
		}
		n[i] = v
	}
	return Series{Major: n[0], Minor: n[1]}, nil
}

// MustParse is Parse for constants; it panics on a malformed release.
func MustParse(release string) Series {
	s, err := Parse(release)
	if err != nil {
		panic(err)
	}
	return s
}
