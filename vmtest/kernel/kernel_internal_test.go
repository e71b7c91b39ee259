package kernel

import (
	"errors"
	"testing"
)

func TestPickNewest(t *testing.T) {
	pkgs := []string{
		"linux-image-6.1.0-9-cloud-amd64-unsigned",
		"linux-image-6.1.0-56-cloud-amd64-unsigned",
		"linux-image-6.1.0-56-cloud-amd64-dbg",
		"linux-image-6.1.0-100-amd64-unsigned",
		"linux-image-6.12.9+deb12-cloud-amd64-unsigned",
		"linux-image-6.12.117+deb12-cloud-amd64-unsigned",
		"linux-image-6.12.20+deb12-cloud-amd64-unsigned",
	}
	for _, tc := range []struct{ name, want string }{
		{"debian-6.1", "linux-image-6.1.0-56-cloud-amd64-unsigned"}, // numeric, not lexical; cloud only
		{"debian-6.12", "linux-image-6.12.117+deb12-cloud-amd64-unsigned"},
	} {
		e, _ := lookup(tc.name)
		got, err := pickNewest(e, pkgs)
		if err != nil || got != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	e, _ := lookup("debian-6.1")
	if _, err := pickNewest(e, []string{"linux-image-6.12.117+deb12-cloud-amd64-unsigned"}); !errors.Is(err, ErrFetch) {
		t.Errorf("no candidate: %v, want ErrFetch", err)
	}
}
