package report

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"v0.9.1", "v0.11.0", -1},
		{"v0.22.0", "v0.16.0", 1},
		{"1.4", "1.10", -1},
		{"1.4", "v1.4", 0},
		{"7.5", "7.5.0", -1},
		{"0.13.1", "0.13.1-rc1", -1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
