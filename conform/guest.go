package conform

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/guest"
	"github.com/perfconform/perfconform/vmtest/qemu"
)

// GuestLoader is one loader the guest runs: the reference in-process (Path
// empty), anything else as an adapter executable inside the initramfs.
type GuestLoader struct {
	Name string
	Path string
}

// GuestArgs is what a run hands a VM through guest.Env.Args (vmtest.Job.Args).
type GuestArgs struct {
	Loaders []GuestLoader
	Focus   []string
	Timeout time.Duration // 0: TCGSampleTimeout or KVMSampleTimeout
	// Serial and LoadersAtOnce are Plan's: how the guest's suite schedules
	// the loaders (suite.Config.Serial, suite.Config.Parallel).
	Serial        bool
	LoadersAtOnce int
}

// Per-sample and info waits in a VM when --timeout is not given (adapters
// wait process.DefaultReadyTimeout for ready): TCG emulation is 10-50x
// slower than the host, KVM about as fast.
const (
	TCGSampleTimeout = 20 * time.Second
	KVMSampleTimeout = 10 * time.Second
	// MaxTimeout is the longest Plan.Timeout (--timeout): suite.MaxTimeout.
	MaxTimeout = suite.MaxTimeout
)

// Encode renders a as guest arguments: --loader reference,
// --loader NAME=PATH, --requirement ID, --timeout D, --serial,
// --loaders-at-once N.
func (a GuestArgs) Encode() []string {
	var out []string
	for _, l := range a.Loaders {
		if l.Path == "" {
			out = append(out, "--loader", l.Name)
		} else {
			out = append(out, "--loader", l.Name+"="+l.Path)
		}
	}
	for _, id := range a.Focus {
		out = append(out, "--requirement", id)
	}
	if a.Timeout > 0 {
		out = append(out, "--timeout", a.Timeout.String())
	}
	if a.Serial {
		out = append(out, "--serial")
	}
	if a.LoadersAtOnce > 0 {
		out = append(out, "--loaders-at-once", strconv.Itoa(a.LoadersAtOnce))
	}
	return out
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// ParseGuestArgs is the inverse of GuestArgs.Encode.
func ParseGuestArgs(args []string) (GuestArgs, error) {
	var a GuestArgs
	var loaders, focus stringList
	fs := flag.NewFlagSet("conform guest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&loaders, "loader", "")
	fs.Var(&focus, "requirement", "")
	fs.DurationVar(&a.Timeout, "timeout", 0, "")
	fs.BoolVar(&a.Serial, "serial", false, "")
	fs.IntVar(&a.LoadersAtOnce, "loaders-at-once", 0, "")
	if err := fs.Parse(args); err != nil {
		return a, fmt.Errorf("guest args %q: %w", args, err)
	}
	if fs.NArg() > 0 {
		return a, fmt.Errorf("guest args %q: unexpected %q", args, fs.Args())
	}
	if a.Timeout != 0 {
		if err := suite.CheckTimeout(a.Timeout); err != nil {
			return a, fmt.Errorf("guest args: --timeout: %w", err)
		}
	}
	for _, l := range loaders {
		// The path is ours (guestPath: no '='); the name is what the
		// loader declares and may hold anything.
		name, path, hasPath := l, "", false
		if i := strings.LastIndexByte(l, '='); i >= 0 {
			name, path, hasPath = l[:i], l[i+1:], true
		}
		switch {
		case name == "":
			return a, fmt.Errorf("guest args: --loader %q has no name", l)
		case !hasPath && name != referenceName:
			return a, fmt.Errorf("guest args: --loader %q: only %s runs in-process; others need NAME=PATH", l, refadapter.Info.Loader)
		case hasPath && !strings.HasPrefix(path, "/"):
			return a, fmt.Errorf("guest args: --loader %q: the path must be absolute", l)
		}
		a.Loaders = append(a.Loaders, GuestLoader{Name: name, Path: path})
	}
	a.Focus = focus
	return a, nil
}

// guestPayload is what `conform guest` runs inside a VM once the topology is
// realized: the conformance suite against the loaders `conform run` named in
// env.Args, every result sent to the host as soon as it is known. Without
// loaders (as `conform topologies verify` boots it) it only reports what it
// saw.
var guestPayload guest.Payload = func(ctx context.Context, env guest.Env, emit func(event.Event)) error {
	emit(event.Log("conform guest: kernel %s (%s), topology %s, possible %s present %s online %s, args %q",
		env.Kernel, env.Release, env.Topology.Name, env.Masks.Possible, env.Masks.Present, env.Masks.Online, env.Args))
	args, err := ParseGuestArgs(env.Args)
	if err != nil {
		return err
	}
	if len(args.Loaders) == 0 {
		return nil
	}
	return runGuestSuite(ctx, env, args, emit)
}

func runGuestSuite(ctx context.Context, env guest.Env, args GuestArgs, emit func(event.Event)) error {
	timeout := args.Timeout
	if timeout == 0 {
		timeout = TCGSampleTimeout
		if env.Accelerator == qemu.AccelKVM {
			timeout = KVMSampleTimeout
		}
	}
	var loaders []suite.NamedLoader
	// On a topology that restricts the loaders (cpuset), every adapter
	// runs in the loaders' cgroup with its affinity limited (the session
	// wrapper applies both); its results carry that affinity. The
	// reference runs in this process and is not restricted: restricting it
	// would restrict the suite, which writes a sample on every online CPU.
	restricted := map[string]bool{}
	for _, l := range args.Loaders {
		if l.Path == "" {
			loaders = append(loaders, suite.NamedLoader{Name: l.Name, Loader: refadapter.New()})
			continue
		}
		// A missing executable is not fatal for the VM: the suite turns the
		// failing info call into an ERROR per requirement for this loader,
		// and the other loaders still run.
		if _, err := os.Stat(l.Path); err != nil {
			emit(event.Error("loader %s: %v (not in the initramfs?)", l.Name, err))
		}
		opts := []process.Option{process.WithShutdownTimeout(guestShutdownTimeout(timeout))}
		if args.Timeout > 0 {
			opts = append(opts, process.WithReadyTimeout(args.Timeout))
		}
		if env.Topology.LoaderCPUs != "" {
			opts = append(opts, process.WithCPUs(env.Topology.LoaderCPUs, env.LoaderCgroup))
			restricted[l.Name] = true
		}
		loaders = append(loaders, suite.NamedLoader{Name: l.Name, Loader: process.New(l.Path, opts...)})
	}
	emit(event.Log("conform guest: suite with %d loader(s), %v per sample or load", len(loaders), timeout))
	_, err := suite.Run(ctx, suite.Config{
		Loaders:  loaders,
		Focus:    args.Focus,
		Timeout:  timeout,
		Serial:   args.Serial,
		Parallel: args.LoadersAtOnce,
		Hotplug:  true, // a throwaway VM: the RING-HOTPLUG checks may offline its CPUs
		OnResult: func(r result.Result) {
			r.Kernel, r.Topology, r.Accelerator = env.Kernel, env.Topology.Name, env.Accelerator
			m := env.Masks
			if r.Masks != nil {
				m = *r.Masks // the suite's own reading; a copy, results share it
			}
			m.Affinity = ""
			if restricted[r.Loader] {
				m.Affinity = env.Masks.Affinity
			}
			r.Masks = &m
			emit(event.Result(r))
		},
	})
	if err != nil {
		return fmt.Errorf("suite in %s/%s: %w", env.Kernel, env.Topology.Name, err)
	}
	return nil
}

// guestShutdownTimeout bounds how long an adapter in a VM has to exit after
// its session is closed: the per-sample timeout, at least the process
// client's default. Under TCG, an adapter closing its rings beside seven
// others (loaders side by side, a 32-CPU guest on two host cores) took
// more than the default 5 s to exit, and its session became an ERROR for
// every requirement that read it. The bound only has to catch adapters that
// do not stop when asked (the ignorestop control never stops, whatever it
// is), so a longer one costs a correct adapter nothing.
func guestShutdownTimeout(sampleTimeout time.Duration) time.Duration {
	return max(sampleTimeout, process.DefaultShutdownTimeout)
}

// GuestMain runs this process as PID 1 of a perfconform VM: the suite
// against the loaders the host named (GuestArgs), every result sent to the
// host as soon as it is known, then the VM powers off. It never returns; the
// hidden `conform guest` command calls it.
func GuestMain() {
	guest.Main(guestPayload)
}
