package kversion

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    Series
		err     error
	}{
		{"6.1.0-56-cloud-amd64", Series{6, 1}, nil},
		{"5.10.0-43-cloud-amd64", Series{5, 10}, nil},
		{"6.12.117+deb12-cloud-amd64", Series{6, 12}, nil},
		{"6.18", Series{6, 18}, nil},
		{"4.19.0-27-amd64", Series{4, 19}, nil},
		{"5.10-rc1", Series{5, 10}, nil},
		{"6", Series{}, ErrBadRelease},
		{"", Series{}, ErrBadRelease},
		{"x.1.0", Series{}, ErrBadRelease},
		{"6.y", Series{}, ErrBadRelease},
	} {
		got, err := Parse(tc.release)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tc.release, got, err, tc.want, tc.err)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		sign int
	}{
		{"5.10", "6.1", -1},
		{"6.1", "5.10", 1},
		{"6.9", "6.12", -1}, // numeric, not lexical
		{"6.12.117", "6.12.1", 0},
		{"4.19", "5.4", -1},
	} {
		c := MustParse(tc.a).Compare(MustParse(tc.b))
		if sign(c) != tc.sign {
			t.Errorf("%s vs %s: %d, want sign %d", tc.a, tc.b, c, tc.sign)
		}
	}
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}
