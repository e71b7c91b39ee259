package conform

import (
	"context"
	"time"

	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/vmtest/initramfs"
)

// GuestPayload is what a VM needs to run the suite against some loaders, for
// a caller that boots VMs through vmtest itself (`conform bench vm`): the
// guest's arguments (vmtest.Job.Args), the files its initramfs needs per
// guest architecture (vmtest.WithArchFiles), and the bound on the suite's
// time (vmtest.Job.PayloadTimeout). Run builds the same for its VMs.
type GuestPayload struct {
	Loaders []string                    // the names the loaders' results carry
	Args    []string                    // the guest's arguments
	Files   map[string][]initramfs.File // arch name -> initramfs files (adapters)
	Timeout time.Duration
}

// GuestPayloads resolves loaders once, as Run does (built-ins built into
// binDir, "" = adapters.DefaultBinDir(); paths checked; each one's info
// asked), for VMs of the kernels' architectures, and returns the payload of
// each loader alone, in order, and that of all of them in one VM.
func GuestPayloads(ctx context.Context, loaders []Loader, kernels []string, binDir string, progress func(string)) (alone []GuestPayload, all GuestPayload, err error) {
	for _, l := range loaders {
		if err := l.check(false); err != nil {
			return nil, all, err
		}
	}
	arches, err := kernelArches(kernels)
	if err != nil {
		return nil, all, err
	}
	specs, err := resolveLoaderSpecs(ctx, loaders, binDir, process.DefaultInfoTimeout, progress)
	if err != nil {
		return nil, all, err
	}
	payload := func(specs []loaderSpec) (GuestPayload, error) {
		l, err := vmLoadersOf(ctx, specs, arches, progress)
		return GuestPayload{Loaders: specNames(specs), Args: GuestArgs{Loaders: l.guest}.Encode(), Files: l.files,
			Timeout: vmPayloadTimeout(len(specs), 0)}, err
	}
	for i := range specs {
		p, err := payload(specs[i : i+1])
		if err != nil {
			return nil, all, err
		}
		alone = append(alone, p)
	}
	all, err = payload(specs)
	return alone, all, err
}
