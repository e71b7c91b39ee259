package kernel

import (
	"errors"
	"strings"
	"testing"
)

func TestNewestFirst(t *testing.T) {
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
		got, err := newestFirst(e, pkgs)
		if err != nil || got[0] != tc.want {
			t.Errorf("%s: %q, %v; want %q first", tc.name, got, err, tc.want)
		}
	}
	e, _ := lookup("debian-6.12")
	got, _ := newestFirst(e, pkgs) // the fallback order when the newest 404s
	if want := "linux-image-6.12.117+deb12-cloud-amd64-unsigned linux-image-6.12.20+deb12-cloud-amd64-unsigned linux-image-6.12.9+deb12-cloud-amd64-unsigned"; strings.Join(got, " ") != want {
		t.Errorf("debian-6.12 order %v, want %s", got, want)
	}
	e, _ = lookup("debian-6.1")
	if _, err := newestFirst(e, []string{"linux-image-6.12.117+deb12-cloud-amd64-unsigned"}); !errors.Is(err, ErrFetch) {
		t.Errorf("no candidate: %v, want ErrFetch", err)
	}
}
