// Package doctor is `conform doctor` as a library: it reads the machine in
// front of it — the possible, present and online CPU masks, the CPUs the
// process may run on (its affinity and its cgroup's cpuset), the
// architecture and kernel, whether BPF memory is charged to RLIMIT_MEMLOCK —
// names the topology classes it belongs to (reference/topology.ClassesOf) and
// lists, from a set of results (the committed reports/results.json built in,
// or another), the root causes that fail on machines of those classes, with
// the loader versions, the requirements and one line of evidence each.
// Everything it reads comes through Options, so tests describe machines
// with fake sysfs and cgroup trees.
package doctor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/perfconform/perfconform/internal/bpfsys"
	"github.com/perfconform/perfconform/internal/kversion"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/report"
)

// Options say where the machine is read from; the zero value reads this
// machine.
type Options struct {
	// SysfsRoot holds possible, present and online
	// (topology.DefaultSysfsRoot when empty).
	SysfsRoot string
	// ProcSelf is the process's /proc directory ("/proc/self" when
	// empty): its cgroup file names the cgroup whose cpuset applies.
	ProcSelf string
	// CgroupRoot is where the cgroup hierarchy is mounted ("/sys/fs/cgroup"
	// when empty).
	CgroupRoot string
	// Affinity returns the CPUs the process may run on (sched_getaffinity
	// when nil).
	Affinity func() (topology.CPUSet, error)
	// Kernel returns the architecture and kernel release (runtime.GOARCH and
	// uname -r when nil).
	Kernel func() (arch, release string)
	// MemlockCharged probes whether the kernel charges BPF memory to
	// RLIMIT_MEMLOCK (bpfsys.MemlockCharged, which needs root, when nil and
	// running as root; otherwise the kernel release decides).
	MemlockCharged func() bool
}

// Machine is what Read found.
type Machine struct {
	Topology topology.Topology
	// Affinity is the process's CPU affinity; empty when unknown.
	Affinity topology.CPUSet
	// Cpuset is the effective cpuset of the process's cgroup, CpusetFile
	// the file it came from; empty when there is none or it is unreadable.
	Cpuset     topology.CPUSet
	CpusetFile string
	Arch       string
	Kernel     string
	// Memlock says whether BPF memory is charged to RLIMIT_MEMLOCK and how
	// that was found out.
	Memlock string
	Classes []topology.Class
	// Notes are what could not be read (not fatal).
	Notes []string
}

// Read reads the machine. Only the CPU masks are required: without them
// nothing can be said about sizing.
func Read(opts Options) (Machine, error) {
	var m Machine
	t, err := topology.Read(opts.SysfsRoot)
	if err != nil {
		return Machine{}, err
	}
	m.Topology = t
	affinity := opts.Affinity
	if affinity == nil {
		affinity = schedAffinity
	}
	if m.Affinity, err = affinity(); err != nil {
		m.Notes = append(m.Notes, fmt.Sprintf("affinity: %v", err))
	}
	m.Cpuset, m.CpusetFile, err = readCpuset(opts.ProcSelf, opts.CgroupRoot)
	if err != nil {
		m.Notes = append(m.Notes, fmt.Sprintf("cgroup cpuset: %v", err))
	}
	kernel := opts.Kernel
	if kernel == nil {
		kernel = uname
	}
	m.Arch, m.Kernel = kernel()
	m.Memlock = memlockText(m.Kernel, opts.MemlockCharged)
	// The CPUs this process may use: its affinity, narrowed by the
	// cpuset (a container's cpuset bounds what it may set).
	usable := m.Affinity
	if !m.Cpuset.Empty() {
		if usable.Empty() {
			usable = m.Cpuset
		} else {
			usable = usable.Difference(usable.Difference(m.Cpuset))
		}
	}
	m.Classes = topology.ClassesOf(t, usable)
	return m, nil
}

func schedAffinity() (topology.CPUSet, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return topology.CPUSet{}, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return topology.CPUSetOf(cpus...), nil
}

func uname() (string, string) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return runtime.GOARCH, "unknown"
	}
	return runtime.GOARCH, unix.ByteSliceToString(u.Release[:])
}

// readCpuset finds the process's cgroup in procSelf/cgroup and reads its
// effective cpuset: cgroup v2 ("0::/path", cpuset.cpus.effective) or the
// v1 cpuset controller ("N:cpuset:/path", cpuset.effective_cpus). A cgroup
// without a cpuset file (the controller not enabled) is no cpuset, not an
// error.
func readCpuset(procSelf, cgroupRoot string) (topology.CPUSet, string, error) {
	if procSelf == "" {
		procSelf = "/proc/self"
	}
	if cgroupRoot == "" {
		cgroupRoot = "/sys/fs/cgroup"
	}
	f, err := os.Open(filepath.Join(procSelf, "cgroup"))
	if err != nil {
		return topology.CPUSet{}, "", err
	}
	defer f.Close()
	var candidates []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			candidates = append(candidates, filepath.Join(cgroupRoot, parts[2], "cpuset.cpus.effective"))
		case slices.Contains(strings.Split(parts[1], ","), "cpuset"):
			candidates = append(candidates,
				filepath.Join(cgroupRoot, "cpuset", parts[2], "cpuset.effective_cpus"),
				filepath.Join(cgroupRoot, "cpuset", parts[2], "cpuset.cpus"))
		}
	}
	if err := sc.Err(); err != nil {
		return topology.CPUSet{}, "", err
	}
	for _, c := range candidates {
		data, err := os.ReadFile(c)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return topology.CPUSet{}, "", err
		}
		if strings.TrimSpace(string(data)) == "" {
			continue // an empty effective set means "inherit": no restriction here
		}
		set, err := topology.ParseCPUList(string(data))
		if err != nil {
			return topology.CPUSet{}, "", fmt.Errorf("%s: %w", c, err)
		}
		return set, c, nil
	}
	return topology.CPUSet{}, "", nil
}

// memlockText says whether BPF memory is charged to RLIMIT_MEMLOCK: probed
// when possible (root), else from the kernel release (charged before 5.11).
func memlockText(release string, probe func() bool) string {
	if probe == nil && os.Geteuid() == 0 {
		probe = bpfsys.MemlockCharged
	}
	if probe != nil {
		if probe() {
			return "yes (probed): loaders must raise RLIMIT_MEMLOCK (libbpf does; cilium/ebpf needs rlimit.RemoveMemlock, aya a setrlimit in main)"
		}
		return "no (probed): BPF memory is charged to the memory cgroup"
	}
	s, err := kversion.Parse(release)
	if err != nil {
		return "unknown (not root, and the kernel release does not parse)"
	}
	if s.Compare(kversion.Series{Major: 5, Minor: 11}) < 0 {
		return "yes (kernel before 5.11; not probed without root): loaders must raise RLIMIT_MEMLOCK"
	}
	return "no (kernel 5.11 or later; not probed without root)"
}

// Diagnosis is what the results say about a machine.
type Diagnosis struct {
	Machine Machine
	// Fails are the causes that fail on machines of the machine's classes
	// (or everywhere); Unclassified the causes seen only on topologies no
	// class describes, which may or may not apply.
	Fails        []*report.Cause
	Unclassified []*report.Cause
	// Loaders are the loader versions the results cover.
	Loaders []string
}

// Diagnose matches the root causes of r (report.Causes with opts) against m.
// A cause applies when it fails everywhere it ran or when m has every class
// the cause bites on.
func Diagnose(m Machine, r *report.Results, opts report.Options) Diagnosis {
	d := Diagnosis{Machine: m}
	has := map[string]bool{}
	for _, c := range m.Classes {
		has[string(c)] = true
	}
	for _, c := range report.Causes(r, opts) {
		switch {
		case c.Everywhere:
			d.Fails = append(d.Fails, c)
		case len(c.Classes) == 0:
			d.Unclassified = append(d.Unclassified, c)
		case !slices.ContainsFunc(c.Classes, func(cl string) bool { return !has[cl] }):
			d.Fails = append(d.Fails, c)
		}
	}
	for _, res := range r.Results {
		if !slices.Contains(d.Loaders, res.Loader) {
			d.Loaders = append(d.Loaders, res.Loader)
		}
	}
	return d
}

// WriteText prints the diagnosis for an operator: the machine, its classes,
// and per loader the causes that fail here.
func (d Diagnosis) WriteText(w io.Writer, source string) error {
	m := d.Machine
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("machine\n")
	p("  possible %s, present %s, online %s\n", m.Topology.Possible, m.Topology.Present, m.Topology.Online)
	p("  affinity %s\n", orUnknown(m.Affinity.String()))
	if m.CpusetFile != "" {
		p("  cgroup cpuset %s (%s)\n", m.Cpuset, m.CpusetFile)
	} else {
		p("  cgroup cpuset none\n")
	}
	p("  %s, kernel %s\n", m.Arch, m.Kernel)
	p("  BPF memory charged to RLIMIT_MEMLOCK: %s\n", m.Memlock)
	p("  a perf event array needs %d entries here (highest possible CPU %d + 1)\n",
		topology.PerfArraySize(m.Topology.Possible), m.Topology.Possible.Highest())
	for _, n := range m.Notes {
		p("  note: %s\n", n)
	}
	var classes []string
	for _, c := range m.Classes {
		classes = append(classes, string(c))
	}
	p("topology classes: %s\n", orNone(strings.Join(classes, ", ")))
	versions := fmt.Sprintf("%d loader versions", len(d.Loaders))
	if len(d.Loaders) == 1 {
		versions = "1 loader version"
	}
	p("\nfrom %s (%s):\n", source, versions)
	if len(d.Fails) == 0 {
		p("  no root cause in these results fails on machines of these classes\n")
	}
	for _, c := range d.Fails {
		where := "everywhere it ran"
		if !c.Everywhere {
			where = "on " + strings.Join(c.Classes, " + ")
		}
		p("  %s %s: %s\n", c.ID, c.Versions(), c.LevelText())
		p("    fails %s; upstream: %s\n", where, c.UpstreamText())
		p("    evidence: %s\n", c.Evidence())
	}
	if len(d.Unclassified) > 0 {
		p("\nseen only on topologies no class describes (may not apply here):\n")
		for _, c := range d.Unclassified {
			p("  %s %s: %s, %s\n", c.ID, c.Versions(), c.LevelText(), c.Bites)
		}
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
