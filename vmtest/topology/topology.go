// Package topology is the catalog of named CPU topologies perfconform boots
// VMs with: the QEMU -smp settings, the kernel arguments and the guest-side
// actions that produce each one, and the CPU masks each is expected to show
// on each kernel series.
//
// Expectations are measured, not derived: kernels differ in how they turn
// QEMU's firmware tables into possible CPUs (Debian 5.10 and 6.1 count
// hotplug slots as possible CPUs, 6.12 does not), so an entry lists masks per
// kernel series or says why the topology cannot be realized there. On amd64
// every entry was measured on Debian's 5.10, 6.1 and 6.12 cloud kernels
// (5.10, the oldest kernel the suite supports, shows exactly what 6.1
// shows). Architectures differ too (QEMU's arm64 virt machine has no CPU
// hotplug): an expectation may be for one architecture only.
// docs/VMTEST.md records the boots that back every entry.
package topology

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/perfconform/perfconform/internal/kversion"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/qemu"
)

var (
	// ErrUnknown: no topology or set has that name.
	ErrUnknown = errors.New("unknown topology")
	// ErrNotRealizable: the topology cannot be produced on that kernel.
	ErrNotRealizable = errors.New("topology not realizable on this kernel")
)

// Topology is one named CPU topology.
type Topology struct {
	Name        string `json:"name"`
	Description string `json:"description"`

	// QEMU -smp fields; zero means "leave it to QEMU".
	CPUs    int `json:"cpus"`
	MaxCPUs int `json:"max_cpus,omitempty"`
	Sockets int `json:"sockets,omitempty"`
	Cores   int `json:"cores,omitempty"`
	Threads int `json:"threads,omitempty"`

	// KernelArgs are appended to the kernel command line (maxcpus=, nr_cpus=, possible_cpus=).
	KernelArgs []string `json:"kernel_args,omitempty"`

	// Offline lists CPUs the guest takes offline (writes 0 to cpuN/online)
	// before it reads the masks.
	Offline []int `json:"offline,omitempty"`
	// PossibleOverride, when set, is bind-mounted by the guest over
	// /sys/devices/system/cpu/possible. Only synthetic topologies use it.
	PossibleOverride string `json:"possible_override,omitempty"`
	// Synthetic topologies are shaped by the guest rather than by QEMU and
	// the kernel: the possible mask is a file we wrote.
	Synthetic bool `json:"synthetic,omitempty"`
	// LoaderCPUs, when set (a CPU list), restricts the loaders under test:
	// each adapter process runs with its CPU affinity and its cgroup
	// cpuset limited to these CPUs (the guest makes the cgroup, the
	// session wrapper joins it and sets the affinity), as a pod under
	// Kubernetes' static CPU manager or a taskset'd process does, while
	// sysfs still shows every CPU. The suite itself, which writes a sample
	// on every online CPU and judges against the real masks, and the
	// in-process reference are not restricted.
	LoaderCPUs string `json:"loader_cpus,omitempty"`

	// Expect lists the masks per kernel series, lowest series first.
	Expect []Expectation `json:"expect"`
}

// Expectation is what a topology shows on one kernel series.
type Expectation struct {
	// Arch, when set, limits the expectation to guests of that
	// architecture (arch.Arch.Name); an architecture with entries of its
	// own uses only those. Empty: measured the same on every architecture.
	Arch string `json:"arch,omitempty"`
	// Series is the oldest kernel series ("5.10", "6.12") the entry holds
	// for; it holds up to the next entry's series.
	Series string `json:"series"`
	// Masks in canonical Linux CPU-list form; zero when NotRealizable is set.
	Masks result.Masks `json:"masks"`
	// NotRealizable, when set, says why this kernel cannot produce the topology.
	NotRealizable string `json:"not_realizable,omitempty"`
}

// SMP returns the QEMU -smp settings of t.
func (t Topology) SMP() qemu.SMP {
	return qemu.SMP{CPUs: t.CPUs, MaxCPUs: t.MaxCPUs, Sockets: t.Sockets, Cores: t.Cores, Threads: t.Threads}
}

// ExpectFor returns the expectation for a guest architecture ("amd64",
// "arm64"; "" is amd64) and a kernel release ("6.1.0-56-cloud-amd64",
// "6.12.117+deb12-cloud-arm64", "6.18.44"): among the entries for that
// architecture (its own, or else those for every architecture), the one of
// the highest series not newer than the release, or the lowest entry for
// older kernels. Kernels of a series that has no entry of its own are
// assumed to behave like the nearest older measured series. A NotRealizable
// entry yields an error wrapping ErrNotRealizable with the reason.
func (t Topology) ExpectFor(archName, release string) (Expectation, error) {
	if archName == "" {
		archName = "amd64"
	}
	var own, general []Expectation
	for _, e := range t.Expect {
		switch e.Arch {
		case archName:
			own = append(own, e)
		case "":
			general = append(general, e)
		}
	}
	cands := general
	if len(own) > 0 {
		cands = own
	}
	if len(cands) == 0 {
		return Expectation{}, fmt.Errorf("topology %s: no expectations for %s", t.Name, archName)
	}
	rel, err := kversion.Parse(release)
	if err != nil {
		return Expectation{}, fmt.Errorf("topology %s: kernel release: %w", t.Name, err)
	}
	pick := cands[0]
	for _, e := range cands {
		s, err := kversion.Parse(e.Series)
		if err != nil {
			return Expectation{}, fmt.Errorf("topology %s: series: %w", t.Name, err)
		}
		if s.Compare(rel) <= 0 {
			pick = e
		}
	}
	if pick.NotRealizable != "" {
		return pick, fmt.Errorf("topology %s on %s kernel %s: %w: %s", t.Name, archName, release, ErrNotRealizable, pick.NotRealizable)
	}
	return pick, nil
}

func same(series string, m result.Masks) []Expectation {
	return []Expectation{{Series: series, Masks: m}}
}

func masks(possible, present, online string) result.Masks {
	return result.Masks{Possible: possible, Present: present, Online: online}
}

// restricted is m with the loaders' affinity.
func restricted(m result.Masks, affinity string) result.Masks {
	m.Affinity = affinity
	return m
}

// hotplugSlotsIgnored explains why QEMU hotplug slots are not possible CPUs
// on 6.12. possible_cpus= was tried on hotplug-slots only (boots of 6.12.117
// with -smp 2,maxcpus=8 and with -smp 2, both with possible_cpus=8); the
// dmesg it quotes belongs to that topology, so wide refers to it rather than
// quoting it as its own.
const hotplugSlotsIgnored = "since the x86 CPU topology rework (6.9) the kernel ignores the disabled MADT " +
	"entries QEMU 7.2 emits for hotplug slots (they lack the online-capable flag), so possible = present"

// notRealizedOnArmVirt explains why possible > present cannot be produced
// on arm64: measured on Debian 6.1 and 6.12 with QEMU 7.2 and 10.
const notRealizedOnArmVirt = "QEMU's arm64 virt machine has no CPU hotplug: -smp 2,maxcpus=8 (or 64) boots possible = present = 0-1 " +
	"(Debian 6.1 and 6.12, QEMU 7.2 and 10, with or without UEFI/ACPI), and arm64 has no possible_cpus= parameter"

// armVirtNoHotplug is the arm64 entry of every topology with hotplug slots.
var armVirtNoHotplug = Expectation{Arch: "arm64", Series: "6.1", NotRealizable: notRealizedOnArmVirt}

var catalog = []Topology{
	{
		Name: "1cpu", Description: "a single CPU",
		CPUs:   1,
		Expect: same("5.10", masks("0", "0", "0")),
	},
	{
		Name: "3cpu", Description: "three CPUs: a count that is not a power of two",
		CPUs:   3,
		Expect: same("5.10", masks("0-2", "0-2", "0-2")),
	},
	{
		Name: "4cpu", Description: "four CPUs, all online",
		CPUs:   4,
		Expect: same("5.10", masks("0-3", "0-3", "0-3")),
	},
	{
		Name: "hotplug-slots", Description: "two CPUs plus six empty hotplug slots: possible > online",
		CPUs: 2, MaxCPUs: 8,
		Expect: []Expectation{
			{Series: "5.10", Masks: masks("0-7", "0-1", "0-1")},
			{Series: "6.12", NotRealizable: hotplugSlotsIgnored + "; possible_cpus=8 only caps the count " +
				"(dmesg: \"Limiting to 8 possible CPUs\", \"Allowing 2 present CPUs plus 0 hotplug CPUs\")"},
			armVirtNoHotplug,
		},
	},
	{
		Name: "wide", Description: "two CPUs plus 62 hotplug slots: a perf array of 64 entries with 2 rings",
		CPUs: 2, MaxCPUs: 64,
		Expect: []Expectation{
			{Series: "5.10", Masks: masks("0-63", "0-1", "0-1")},
			{Series: "6.12", NotRealizable: hotplugSlotsIgnored + " (as for hotplug-slots, where possible_cpus= was tried and only capped the count)"},
			armVirtNoHotplug,
		},
	},
	{
		Name: "boot-maxcpus", Description: "four CPUs, only two brought up at boot (maxcpus=2)",
		CPUs: 4, KernelArgs: []string{"maxcpus=2"},
		Expect: same("5.10", masks("0-3", "0-3", "0-1")),
	},
	{
		Name: "nr-cpus", Description: "eight CPUs, the kernel limited to three ids (nr_cpus=3)",
		CPUs: 8, KernelArgs: []string{"nr_cpus=3"},
		Expect: same("5.10", masks("0-2", "0-2", "0-2")),
	},
	{
		Name: "sparse", Description: "four CPUs with cpu1 taken offline: online is not a prefix",
		CPUs: 4, Offline: []int{1},
		Expect: same("5.10", masks("0-3", "0-3", "0,2-3")),
	},
	{
		Name: "sparse-high", Description: "eight CPUs with 1-4 and 6 offline: few online CPUs with high ids",
		CPUs: 8, Offline: []int{1, 2, 3, 4, 6},
		Expect: same("5.10", masks("0-7", "0-7", "0,5,7")),
	},
	{
		Name: "smt32", Description: "32 CPUs as one socket of 16 cores with 2 threads",
		CPUs: 32, Sockets: 1, Cores: 16, Threads: 2,
		Expect: same("5.10", masks("0-31", "0-31", "0-31")),
	},
	{
		Name: "gapped-possible", Description: "synthetic: possible file \"0-1,4-5\" bind-mounted over sysfs, CPUs 2-3 offline; " +
			"counting possible CPUs (4) instead of highest id + 1 (6) is exposed",
		CPUs: 6, Offline: []int{2, 3}, PossibleOverride: "0-1,4-5\n", Synthetic: true,
		Expect: same("5.10", masks("0-1,4-5", "0-5", "0-1,4-5")),
	},
	{
		Name: "gapped-1cpu", Description: "synthetic: one CPU with possible file \"0,2\" bind-mounted over sysfs; " +
			"the cheapest gapped possible list (in quick): counting possible CPUs (2) instead of highest id + 1 (3) is exposed",
		CPUs: 1, PossibleOverride: "0,2\n", Synthetic: true,
		Expect: same("5.10", masks("0,2", "0", "0")),
	},
	{
		Name: "cpuset", Description: "four CPUs, all online, the loaders restricted to CPUs 0-1 (affinity and cgroup cpuset, " +
			"as under Kubernetes' static CPU manager or taskset; in quick): sizing from sched_getaffinity, nproc or Go's runtime.NumCPU() " +
			"(2) instead of highest possible id + 1 (4) is exposed",
		CPUs: 4, LoaderCPUs: "0-1",
		Expect: same("5.10", restricted(masks("0-3", "0-3", "0-3"), "0-1")),
	},
}

var sets = map[string][]string{
	// gapped-1cpu makes the default run see the possible-count bug
	// (libbpf, aya and bcc count possible CPUs), which only a gapped
	// possible list exposes; with one vCPU it costs what 1cpu costs.
	// cpuset makes it see sizing from the affinity (Kubernetes' static
	// CPU manager); it costs what 4cpu costs.
	"quick": {"1cpu", "4cpu", "hotplug-slots", "boot-maxcpus", "sparse", "gapped-1cpu", "cpuset"},
}

// All returns every topology, in catalog order.
func All() []Topology {
	out := make([]Topology, len(catalog))
	for i, t := range catalog {
		out[i] = clone(t)
	}
	return out
}

func clone(t Topology) Topology {
	t.KernelArgs = slices.Clone(t.KernelArgs)
	t.Offline = slices.Clone(t.Offline)
	t.Expect = slices.Clone(t.Expect)
	return t
}

// Get returns the topology called name.
func Get(name string) (Topology, error) {
	for _, t := range catalog {
		if t.Name == name {
			return clone(t), nil
		}
	}
	return Topology{}, fmt.Errorf("%w %q (have %s)", ErrUnknown, name, strings.Join(Names(), ", "))
}

// Names returns the topology names in catalog order.
func Names() []string {
	out := make([]string, len(catalog))
	for i, t := range catalog {
		out[i] = t.Name
	}
	return out
}

// SetNames returns the names of the topology sets: "full" (every topology)
// and "quick".
func SetNames() []string {
	names := []string{"full"}
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Resolve expands topology and set names into topologies, in the order given,
// each topology at most once.
func Resolve(names ...string) ([]Topology, error) {
	var out []Topology
	seen := map[string]bool{}
	add := func(t Topology) {
		if !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	for _, name := range names {
		switch members, ok := sets[name]; {
		case name == "full":
			for _, t := range All() {
				add(t)
			}
		case ok:
			for _, m := range members {
				t, err := Get(m)
				if err != nil {
					return nil, fmt.Errorf("set %s: %w", name, err)
				}
				add(t)
			}
		default:
			t, err := Get(name)
			if err != nil {
				return nil, err
			}
			add(t)
		}
	}
	return out, nil
}

// Describe is the topology as `conform topologies` lists it: its name and
// description, then its QEMU -smp and memory, kernel arguments, what the
// guest does, and the masks expected on each kernel series (or why it cannot
// be realized there), one line each.
func (t Topology) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", t.Name, t.Description)
	fmt.Fprintf(&b, "  qemu:    -smp %s -m %d\n", t.SMP(), qemu.MemoryFor(t.SMP()))
	if len(t.KernelArgs) > 0 {
		fmt.Fprintf(&b, "  kernel:  %s\n", strings.Join(t.KernelArgs, " "))
	}
	if len(t.Offline) > 0 {
		cpus := make([]string, len(t.Offline))
		for i, c := range t.Offline {
			cpus[i] = fmt.Sprint(c)
		}
		fmt.Fprintf(&b, "  guest:   offline CPUs %s\n", strings.Join(cpus, ","))
	}
	if t.PossibleOverride != "" {
		fmt.Fprintf(&b, "  guest:   bind-mount %q over possible (synthetic)\n", t.PossibleOverride)
	}
	if t.LoaderCPUs != "" {
		fmt.Fprintf(&b, "  guest:   loaders (each adapter process) restricted to CPUs %s: affinity and cgroup cpuset; the suite and the in-process reference are not\n", t.LoaderCPUs)
	}
	for _, e := range t.Expect {
		on := "≥" + e.Series + ":"
		if e.Arch != "" {
			on = e.Arch + " ≥" + e.Series + ":"
		}
		if e.NotRealizable != "" {
			fmt.Fprintf(&b, "  %-7s  not realizable: %s\n", on, e.NotRealizable)
			continue
		}
		aff := ""
		if e.Masks.Affinity != "" {
			aff = "  loader affinity " + e.Masks.Affinity
		}
		fmt.Fprintf(&b, "  %-7s  possible %s  present %s  online %s%s\n", on, e.Masks.Possible, e.Masks.Present, e.Masks.Online, aff)
	}
	return b.String()
}
