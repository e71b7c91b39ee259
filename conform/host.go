package conform

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// hostRunClaimed is set while a host run of this process is under way or
// once one reached the suite: Ginkgo runs once per process.
var hostRunClaimed atomic.Bool

// claimHostRun claims this process's one host run before any work, or
// returns suite.ErrSecondRun. A run that ends before the suite starts gives
// its claim back with release.
func claimHostRun() (release func(), err error) {
	if err := checkTestFlags(flag.CommandLine); err != nil {
		return nil, err
	}
	if !hostRunClaimed.CompareAndSwap(false, true) {
		return nil, fmt.Errorf("run --host: a second host run in this process: %w", suite.ErrSecondRun)
	}
	return func() { hostRunClaimed.Store(false) }, nil
}

// ErrTestFlags: this process is a test binary run with go test flags under
// which the suite cannot run.
var ErrTestFlags = errors.New("go test flags the suite cannot run under")

// checkTestFlags refuses what Ginkgo, which the suite runs on, refuses by
// exiting the process from inside the suite: go test's -count other than 1
// (a repeat would be a second run in one process) and -parallel.
func checkTestFlags(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		switch {
		case err != nil:
		case f.Name == "test.count" && f.Value.String() != "1":
			err = fmt.Errorf("run --host: %w: -count=%s: the suite runs on Ginkgo, once per process; run this test with -count=1", ErrTestFlags, f.Value)
		case f.Name == "test.parallel":
			err = fmt.Errorf("run --host: %w: -parallel=%s: the suite runs on Ginkgo, which refuses go test's -parallel; run this test without it", ErrTestFlags, f.Value)
		}
	})
	return err
}

// runOnHost runs the suite on this machine, every loader once.
func runOnHost(ctx context.Context, o *options, p Plan, specs []loaderSpec) (*report.Results, error) {
	topo, err := topology.Read("")
	if err != nil {
		return nil, err
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	release := unix.ByteSliceToString(uts.Release[:])
	started := time.Now()
	o.emit(HostStarted{Checks: len(specs) * len(requirementsOf(p.Requirements))})
	// With --loader-cpus every adapter runs with that affinity (the
	// in-process reference would restrict the suite with it, so it does
	// not), and its results say so.
	var affinity string
	restricted := map[string]bool{}
	if p.LoaderCPUs != "" {
		affinity = topology.MustParseCPUList(p.LoaderCPUs).String() // Validate parsed it
		for _, s := range specs {
			restricted[s.Name] = s.Path != ""
		}
	}
	withAffinity := func(r result.Result) result.Result {
		if restricted[r.Loader] && r.Masks != nil {
			m := *r.Masks // the suite's own reading; a copy, results share it
			m.Affinity = affinity
			r.Masks = &m
		}
		return r
	}
	results, err := suite.Run(ctx, suite.Config{
		Loaders:  hostLoaders(specs, p.Timeout, p.LoaderCPUs),
		Focus:    p.Requirements,
		Timeout:  p.Timeout,
		Serial:   p.Serial,
		Parallel: p.LoadersAtOnce,
		Log:      ginkgoLog(),
		OnCheck:  func(loader, req string) { o.emit(CheckStarted{Loader: loader, Requirement: req}) },
		OnResult: func(r result.Result) { o.emit(ResultReady{Result: withAffinity(r)}) },
	})
	o.emit(Stopped{})
	if err != nil {
		return nil, err
	}
	masks := &result.Masks{Possible: topo.Possible.String(), Present: topo.Present.String(), Online: topo.Online.String()}
	run := report.Run{
		Kernel: report.Kernel{Name: "host", Version: release, Arch: runtime.GOARCH}, Topology: "host", Masks: masks, Realized: true,
		Accelerator: "host", Started: started, Duration: time.Since(started),
	}
	for i := range results {
		results[i] = withAffinity(results[i])
		results[i].Kernel, results[i].Topology, results[i].Accelerator = "host", "host", "host"
	}
	names := make([]string, len(specs))
	for i, l := range specs {
		names[i] = l.Name
	}
	run.Loaders = runLoaders(names, results)
	return &report.Results{Generated: time.Now().UTC(), Runs: []report.Run{run}, Results: results}, nil
}

// ginkgoLog is where Ginkgo's own report goes: PERFCONFORM_GINKGO_LOG=stderr
// shows it when debugging the suite.
func ginkgoLog() io.Writer {
	if os.Getenv("PERFCONFORM_GINKGO_LOG") == "stderr" {
		return os.Stderr
	}
	return io.Discard
}
