package kernel_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/vmtest/kernel"
)

// TestWriteList: each state of a kernel in `conform kernels list` gets its
// row: what a usable kernel is, how to fetch a missing one, why a damaged or
// unavailable one cannot boot.
func TestWriteList(t *testing.T) {
	cached := kernel.Kernel{Name: "debian-6.1", Release: "6.1.0-57-cloud-amd64", Package: "linux-image-6.1.0-57-cloud-amd64-unsigned",
		Version: "6.1.192-3", Path: "/c/kernels/debian-6.1/vmlinuz"}
	for _, tc := range []struct {
		status kernel.Status
		want   []string // the row's cells
	}{
		{kernel.Status{Name: "debian-6.1", State: kernel.Cached, Kernel: cached},
			[]string{"debian-6.1", "cached", "6.1.0-57-cloud-amd64", "linux-image-6.1.0-57-cloud-amd64-unsigned 6.1.192-3", "/c/kernels/debian-6.1/vmlinuz"}},
		{kernel.Status{Name: kernel.Host, State: kernel.Available, Kernel: kernel.Kernel{Name: kernel.Host, Release: "6.18.4", Path: "/boot/vmlinuz-6.18.4"}},
			[]string{"host", "available", "6.18.4", "-", "/boot/vmlinuz-6.18.4"}},
		{kernel.Status{Name: "debian-5.10", State: kernel.NotFetched, Err: kernel.ErrNotFetched},
			[]string{"debian-5.10", "not fetched", "-", "-", "(conform kernels fetch debian-5.10)"}},
		{kernel.Status{Name: "debian-6.12", State: kernel.Damaged, Kernel: cached, Err: errors.New("image truncated")},
			[]string{"debian-6.12", "damaged", "-", "-", "image truncated"}},
		{kernel.Status{Name: kernel.Host, State: kernel.Unavailable, Err: errors.New("host kernel image not readable")},
			[]string{"host", "unavailable", "-", "-", "host kernel image not readable"}},
	} {
		var out strings.Builder
		if err := kernel.WriteList(&out, []kernel.Status{tc.status}); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("%s: want a header and one row, got %q", tc.status.State, out.String())
		}
		cols := regexp.MustCompile(`\s{2,}`)
		if got := cols.Split(lines[0], -1); strings.Join(got, "|") != "NAME|STATUS|RELEASE|PACKAGE|PATH" {
			t.Errorf("%s: header %q", tc.status.State, lines[0])
		}
		if got := cols.Split(strings.TrimRight(lines[1], " "), -1); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: row %q, want cells %q", tc.status.State, lines[1], tc.want)
		}
	}
}
