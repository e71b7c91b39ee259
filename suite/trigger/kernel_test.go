package trigger

import (
	"errors"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/internal/kversion"
)

func TestCheckKernel(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    error
	}{
		{"5.10.0-43-cloud-amd64", nil},
		{"5.10", nil},
		{"5.15.0-91-generic", nil},
		{"6.1.0-56-cloud-amd64", nil},
		{"6.18.44-fc-v669", nil},
		{"5.9.16", ErrKernelTooOld},
		{"5.4.0-150-generic", ErrKernelTooOld},
		{"4.19.0-27-amd64", ErrKernelTooOld},
		{"garbage", kversion.ErrBadRelease},
	} {
		err := CheckKernel(tc.release)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckKernel(%q) = %v, want %v", tc.release, err, tc.want)
		}
		if errors.Is(err, ErrKernelTooOld) && (!strings.Contains(err.Error(), tc.release) || !strings.Contains(err.Error(), "5.10")) {
			t.Errorf("CheckKernel(%q): %q does not name the kernel and the floor", tc.release, err)
		}
	}
}
