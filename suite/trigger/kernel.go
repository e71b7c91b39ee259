package trigger

import (
	"errors"
	"fmt"

	"github.com/perfconform/perfconform/internal/kversion"
)

// MinKernel is the oldest kernel series the trigger, and so the suite, runs
// on: BPF_PROG_TEST_RUN for raw_tracepoint programs and its
// BPF_F_TEST_RUN_ON_CPU flag both arrived in Linux 5.10. Older kernels would
// need another way to write a sample on a chosen CPU.
const MinKernel = "5.10"

// ErrKernelTooOld is wrapped by CheckKernel for kernels older than MinKernel.
var ErrKernelTooOld = errors.New("kernel older than the suite supports")

// CheckKernel returns nil if the kernel release ("5.10.0-43-cloud-amd64",
// uname -r) is MinKernel or newer, and otherwise an error wrapping
// ErrKernelTooOld that names the floor and why.
func CheckKernel(release string) error {
	s, err := kversion.Parse(release)
	if err != nil {
		return fmt.Errorf("kernel release: %w", err)
	}
	if s.Compare(kversion.MustParse(MinKernel)) < 0 {
		return fmt.Errorf("%w: kernel %s is older than %s, the oldest kernel the suite runs on "+
			"(its oracle runs a raw_tracepoint program with BPF_PROG_TEST_RUN and BPF_F_TEST_RUN_ON_CPU, both new in %s)",
			ErrKernelTooOld, release, MinKernel, MinKernel)
	}
	return nil
}
