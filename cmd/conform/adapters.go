package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cilium/ebpf"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	bpffixtures "github.com/perfconform/perfconform/fixtures/bpf"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/suite/trigger"
	"github.com/perfconform/perfconform/vmtest/arch"
)

// checkFixture is the simplest fixture every loader should load: one BTF perf
// event array "events" with 4-byte key and value and no max_entries.
const checkFixture = "perf_auto_kv"

func init() {
	var build bool
	var binDir string
	listCmd := &cobra.Command{
		Use:   "adapters",
		Short: "List the built-in loader adapters and whether each can run here",
		Long: `List the built-in adapters (loaders behind the adapter protocol, docs/ADAPTERS.md)
and whether each can be built and run on this machine, or why not. With --build,
build every available one into --bin-dir and print its path and the files it
needs inside a VM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAdapters(cmd.Context(), cmd.OutOrStdout(), build, binDir)
		},
	}
	listCmd.Flags().BoolVar(&build, "build", false, "build every available adapter")
	listCmd.Flags().StringVar(&binDir, "bin-dir", adapters.DefaultBinDir(), "where adapters are built")
	rootCmd.AddCommand(listCmd)

	var cf checkFlags
	checkCmd := &cobra.Command{
		Use:   "adapter-check PATH",
		Short: "Check that an adapter executable speaks the adapter protocol",
		Long: `Run a third-party adapter executable against the simplest fixture (` + checkFixture + `)
and check, step by step: its info line, load + ready, maps pinned by name, one
sample triggered on every online CPU delivered and attributed to that CPU, and a
clean exit once stdin closes. Each failed step says what the protocol expects.
Needs root and a bpffs at /sys/fs/bpf. Exit status 1 if any step failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAdapterCheck(ctx, cmd.OutOrStdout(), args[0], cf)
		},
	}
	checkCmd.Flags().StringVar(&cf.object, "object", "", "BPF object to load instead of the "+checkFixture+" fixture (must have a perf event array named events)")
	checkCmd.Flags().DurationVar(&cf.readyTimeout, "ready-timeout", 30*time.Second, "how long the adapter may take to print ready")
	checkCmd.Flags().DurationVar(&cf.sampleTimeout, "sample-timeout", 10*time.Second, "how long a triggered sample may take to arrive")
	checkCmd.Flags().IntVar(&cf.pages, "pages", 8, "--pages passed to the adapter")
	rootCmd.AddCommand(checkCmd)
}

func runAdapters(ctx context.Context, out io.Writer, build bool, binDir string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	// Other architectures' VMs (arm64 guests on an amd64 host) get the
	// adapter cross-built: a column each.
	var foreign []arch.Arch
	header := "NAME\tDEFAULT FOR\tRUNS HERE"
	for _, a := range arch.All() {
		if !a.IsHost() {
			foreign = append(foreign, a)
			header += "\tIN " + strings.ToUpper(a.Name) + " VMS"
		}
	}
	fmt.Fprintln(tw, header+"\tDESCRIPTION")
	// A reason is a sentence: it goes under the table as a numbered note,
	// so the columns stay readable.
	var notes []string
	no := func(reason string) string {
		notes = append(notes, reason)
		return fmt.Sprintf("no [%d]", len(notes))
	}
	for _, a := range adapters.All() {
		status := "yes"
		if err := a.Available(); err != nil {
			status = no(a.Name + ": " + trimPrefix(err.Error(), adapters.ErrUnavailable.Error()+": "+a.Name+": "))
		}
		def := "-"
		if a.Default {
			def = a.Base()
		}
		row := a.Name + "\t" + def + "\t" + status
		for _, f := range foreign {
			st := "yes"
			if err := a.AvailableFor(f.Name); err != nil {
				st = no(a.Name + " in " + f.Name + " VMs: " + trimPrefix(err.Error(), adapters.ErrUnavailable.Error()+": "+a.Name+" on "+f.Name+": "))
			}
			row += "\t" + st
		}
		fmt.Fprintf(tw, "%s\t%s\n", row, a.Description)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, n := range notes {
		fmt.Fprintf(out, "[%d] %s\n", i+1, n)
	}
	fmt.Fprintln(out, "\n--loader takes a NAME, or the bare name in DEFAULT FOR for that version; results carry the NAME.")
	if !build {
		fmt.Fprintf(out, "Build them with: conform adapters --build --bin-dir %s\n", binDir)
		return nil
	}
	fmt.Fprintln(out)
	built, err := adapters.Build(ctx, binDir)
	for _, a := range adapters.All() {
		if path, ok := built[a.Name]; ok {
			fmt.Fprintf(out, "built %s: %s (in a VM: %v)\n", a.Name, path, a.VMExecutables(binDir))
		}
	}
	return err
}

func trimPrefix(s, prefix string) string {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):]
	}
	return s
}

type checkFlags struct {
	object        string
	readyTimeout  time.Duration
	sampleTimeout time.Duration
	pages         int
}

// checker prints one line per step and counts failures.
type checker struct {
	out    io.Writer
	failed int
}

func (c *checker) pass(step, format string, args ...any) {
	fmt.Fprintf(c.out, "PASS  %-9s %s\n", step, fmt.Sprintf(format, args...))
}

func (c *checker) fail(step string, err error, hint string) {
	c.failed++
	fmt.Fprintf(c.out, "FAIL  %-9s %v\n", step, err)
	if hint != "" {
		fmt.Fprintf(c.out, "      %-9s fix: %s\n", "", hint)
	}
}

func (c *checker) note(step, format string, args ...any) {
	fmt.Fprintf(c.out, "NOTE  %-9s %s\n", step, fmt.Sprintf(format, args...))
}

func (c *checker) result() error {
	if c.failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("adapter-check: %d step(s) failed", c.failed)}
	}
	fmt.Fprintln(c.out, "adapter speaks protocol version", protocol.Version)
	return nil
}

func runAdapterCheck(ctx context.Context, out io.Writer, path string, f checkFlags) error {
	c := &checker{out: out}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if _, err := executable(abs); err != nil {
		return fmt.Errorf("adapter %s: %w", path, err)
	}
	if os.Geteuid() != 0 {
		return errors.New("adapter-check loads BPF programs and needs root")
	}
	l := process.New(abs, process.WithReadyTimeout(f.readyTimeout))

	// 1. info
	info, err := l.Info(ctx)
	if err != nil {
		c.fail("info", err, fmt.Sprintf(`"ADAPTER info" must print exactly one JSON line such as {"loader":"aya","version":"0.13.1","protocol":%d,"capabilities":["pinning"]} and exit 0`, protocol.Version))
		return c.result()
	}
	c.pass("info", "loader %q version %q protocol %d capabilities %v", info.Loader, info.Version, info.Protocol, info.Capabilities)
	if !info.Has(protocol.CapPinning) {
		c.note("info", "no %q capability declared; load must still pin every map", protocol.CapPinning)
	}

	// 2. load and ready
	object, cleanup, err := checkObject(f.object)
	if err != nil {
		return err
	}
	defer cleanup()
	pinDir, err := checkPinDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(pinDir)
	s, err := l.Load(ctx, suite.LoadRequest{Object: object, PinDir: pinDir, Pages: f.pages})
	if le := suite.AsLoadError(err); le != nil {
		c.fail("load", err, fmt.Sprintf("the loader refused %s (one BTF perf event array \"events\", 4-byte key and value, no max_entries); if that is a loader limitation, the adapter is fine but every spec will fail", filepath.Base(object)))
		return c.result()
	}
	if errors.Is(err, process.ErrReady) {
		c.fail("ready", err, `list every perf event array the reader is open on, and nothing else: {"event":"ready","maps":["events"]}`)
		return c.result()
	}
	if err != nil {
		c.fail("load", err, `"ADAPTER load --object PATH --pin-dir DIR --pages N" must print {"event":"ready","maps":[...]} once every map is pinned and a reader is open, or {"event":"error","stage":"load"|"reader","message":...} and exit non-zero`)
		return c.result()
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	var maps []string
	if ms, ok := s.(interface{ Maps() []string }); ok {
		maps = ms.Maps()
	}
	c.pass("load", "ready, perf event arrays %v", maps)

	// 3. pinned by name
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "events"), nil)
	if err != nil {
		c.fail("pin", fmt.Errorf("%s: %w", filepath.Join(pinDir, "events"), err), "pin every map under --pin-dir by its name (PIN_DIR/events), on bpffs, before printing ready")
		return c.result()
	}
	defer m.Close()
	mi, err := m.Info()
	if err != nil {
		return err
	}
	topo, err := topology.Read(topology.DefaultSysfsRoot)
	if err != nil {
		return err
	}
	c.pass("pin", "%s/events: max_entries %d (possible CPUs %s, online %s; sizing is judged by 'conform run', not here)", pinDir, mi.MaxEntries, topo.Possible, topo.Online)

	// 4. samples on every online CPU
	tr, err := trigger.New(m)
	if err != nil {
		return err
	}
	defer tr.Close()
	for _, cpu := range topo.Online.CPUs() {
		if err := tr.Fire(cpu); err != nil {
			c.fail("sample", err, fireHint(err, cpu))
			continue
		}
		ev, err := awaitTriggered(ctx, s.Events(), tr, f.sampleTimeout)
		if err != nil {
			c.fail("sample", fmt.Errorf("CPU %d: %w", cpu, err), `forward every record as soon as it is read: {"event":"sample","map":"events","cpu":CPU,"data":"BASE64"}, one line each, flushed`)
			continue
		}
		if ev.Map != "events" || ev.CPU != cpu {
			c.fail("sample", fmt.Errorf("sample fired on CPU %d arrived as map %q CPU %d", cpu, ev.Map, ev.CPU), `"map" is the perf event array's name and "cpu" the CPU whose ring the reader took the record from`)
			continue
		}
		c.pass("sample", "CPU %d: delivered, attributed to CPU %d", cpu, ev.CPU)
	}

	// 5. clean shutdown
	start := time.Now()
	closed = true
	if err := s.Close(); err != nil {
		c.fail("shutdown", err, "keep running until stdin closes or SIGTERM arrives, then exit 0 promptly (within 5s); never exit on your own")
	} else {
		c.pass("shutdown", "exited 0 %v after stdin closed", time.Since(start).Round(time.Millisecond))
	}
	return c.result()
}

// fireHint explains the errno of a failed bpf_perf_event_output on cpu.
func fireHint(err error, cpu int) string {
	switch {
	case errors.Is(err, unix.E2BIG):
		return fmt.Sprintf("the perf event array has no slot for CPU %d: size it to the highest possible CPU id + 1", cpu)
	case errors.Is(err, unix.ENOENT):
		return fmt.Sprintf("no ring is filed at key %d: the reader must open a ring on every online CPU and store it at key = CPU id", cpu)
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Sprintf("the ring filed at key %d belongs to another CPU: store CPU c's ring at key c", cpu)
	}
	return ""
}

// awaitTriggered returns the first event carrying tr's sample.
func awaitTriggered(ctx context.Context, events <-chan protocol.Event, tr *trigger.Trigger, timeout time.Duration) (protocol.Event, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return ev, errors.New("the adapter's event stream ended before the sample arrived")
			}
			if _, ours := tr.Match(ev.Data); ours && ev.Event == protocol.EventSample {
				return ev, nil
			}
		case <-timer.C:
			return protocol.Event{}, fmt.Errorf("no sample line within %v", timeout)
		case <-ctx.Done():
			return protocol.Event{}, ctx.Err()
		}
	}
}

// checkObject returns the object to load: --object, or the fixture written
// to a temporary file.
func checkObject(flag string) (string, func(), error) {
	if flag != "" {
		abs, err := filepath.Abs(flag)
		return abs, func() {}, err
	}
	b, err := bpffixtures.Bytes(checkFixture)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "conform-adapter-check")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, checkFixture+".o")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// checkPinDir makes a fresh directory on the bpffs at /sys/fs/bpf.
func checkPinDir() (string, error) {
	const bpffs = "/sys/fs/bpf"
	var st unix.Statfs_t
	if err := unix.Statfs(bpffs, &st); err != nil || st.Type != unix.BPF_FS_MAGIC {
		return "", fmt.Errorf("%s is not a bpffs: mount -t bpf bpf %s", bpffs, bpffs)
	}
	return os.MkdirTemp(bpffs, "conform-adapter-check-")
}
