package topology_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	cpulist "github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/vmtest/qemu"
	"github.com/perfconform/perfconform/vmtest/topology"
)

func TestCatalogToQEMUArgs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		smp    string
		mem    string
		append string
	}{
		{"1cpu", "1", "272", "console=ttyS0 panic=-1"},
		{"3cpu", "3", "304", "console=ttyS0 panic=-1"},
		{"4cpu", "4", "320", "console=ttyS0 panic=-1"},
		{"hotplug-slots", "2,maxcpus=8", "384", "console=ttyS0 panic=-1"},
		{"wide", "2,maxcpus=64", "1280", "console=ttyS0 panic=-1"},
		{"boot-maxcpus", "4", "320", "console=ttyS0 panic=-1 maxcpus=2"},
		{"nr-cpus", "8", "384", "console=ttyS0 panic=-1 nr_cpus=3"},
		{"sparse", "4", "320", "console=ttyS0 panic=-1"},
		{"sparse-high", "8", "384", "console=ttyS0 panic=-1"},
		{"smt32", "32,sockets=1,cores=16,threads=2", "768", "console=ttyS0 panic=-1"},
		{"gapped-possible", "6", "352", "console=ttyS0 panic=-1"},
		{"gapped-1cpu", "1", "272", "console=ttyS0 panic=-1"},
		{"cpuset", "4", "320", "console=ttyS0 panic=-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			top, err := topology.Get(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			args, err := qemu.Machine{
				Accel: qemu.AccelTCG, SMP: top.SMP(), Kernel: "/k", Initrd: "/i",
				Append: top.KernelArgs, ConsoleLog: "/vm/console.log",
			}.Args()
			if err != nil {
				t.Fatal(err)
			}
			for flag, want := range map[string]string{"-smp": tc.smp, "-m": tc.mem, "-append": tc.append} {
				i := slices.Index(args, flag)
				if i < 0 || i+1 >= len(args) || args[i+1] != want {
					t.Errorf("%s: got %v, want %q", flag, args, want)
				}
			}
		})
	}
	if got, want := len(topology.All()), 13; got != want {
		t.Errorf("catalog has %d topologies, the table covers %d", got, want)
	}
}

// limitingTo finds the possible_cpus= dmesg line quoted in a reason.
var limitingTo = regexp.MustCompile(`Limiting to (\d+) possible CPUs`)

func TestCatalogInvariants(t *testing.T) {
	for _, top := range topology.All() {
		if err := top.SMP().Validate(); err != nil {
			t.Errorf("%s: %v", top.Name, err)
		}
		if top.Description == "" || len(top.Expect) == 0 {
			t.Errorf("%s: no description or expectations", top.Name)
		}
		for _, cpu := range top.Offline {
			if cpu <= 0 || cpu >= top.CPUs {
				t.Errorf("%s: offline CPU %d is not a started CPU other than 0", top.Name, cpu)
			}
		}
		if (top.PossibleOverride != "") != top.Synthetic {
			t.Errorf("%s: synthetic %v but possible override %q", top.Name, top.Synthetic, top.PossibleOverride)
		}
		if top.LoaderCPUs != "" {
			if _, err := cpulist.ParseCPUList(top.LoaderCPUs); err != nil {
				t.Errorf("%s: loader CPUs: %v", top.Name, err)
			}
		}
		for _, e := range top.Expect {
			// The realized restriction is part of what the guest checks:
			// a restricted topology expects it, others expect none.
			if e.NotRealizable == "" && e.Masks.Affinity != top.LoaderCPUs {
				t.Errorf("%s on %s: expected affinity %q, but the topology restricts loaders to %q", top.Name, e.Series, e.Masks.Affinity, top.LoaderCPUs)
			}
			// The restriction must leave loaders fewer CPUs than are online,
			// and only online ones, or it restricts nothing.
			if top.LoaderCPUs != "" && e.NotRealizable == "" {
				aff, online := cpulist.MustParseCPUList(top.LoaderCPUs), cpulist.MustParseCPUList(e.Masks.Online)
				if !aff.Difference(online).Empty() || online.Difference(aff).Empty() {
					t.Errorf("%s on %s: loader CPUs %s are not a proper subset of online %s", top.Name, e.Series, aff, online)
				}
			}
			if (e.NotRealizable == "") == (e.Masks.Possible == "") {
				t.Errorf("%s on %s: want masks or a reason, not both or neither", top.Name, e.Series)
			}
			// A reason that quotes a measured CPU count must be about this
			// topology's slots, not another topology's boot.
			for _, m := range limitingTo.FindAllStringSubmatch(e.NotRealizable, -1) {
				if n, _ := strconv.Atoi(m[1]); n != top.MaxCPUs {
					t.Errorf("%s on %s: reason quotes %q, but the topology has maxcpus=%d:\n%s", top.Name, e.Series, m[0], top.MaxCPUs, e.NotRealizable)
				}
			}
		}
	}
}

func TestExpectFor(t *testing.T) {
	hot, err := topology.Get("hotplug-slots")
	if err != nil {
		t.Fatal(err)
	}
	one, err := topology.Get("1cpu")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		top      topology.Topology
		arch     string
		release  string
		possible string
		err      error
		reason   string
	}{
		{hot, "amd64", "6.1.0-56-cloud-amd64", "0-7", nil, ""},
		{hot, "", "6.1.0-56-cloud-amd64", "0-7", nil, ""},       // "" is amd64
		{hot, "amd64", "6.6.30", "0-7", nil, ""},                // between measured series: the older one
		{hot, "amd64", "5.10.0-43-cloud-amd64", "0-7", nil, ""}, // measured: as on 6.1
		{hot, "amd64", "4.19.0-27-amd64", "0-7", nil, ""},       // older than any: the oldest
		{hot, "amd64", "6.12.117+deb12-cloud-amd64", "", topology.ErrNotRealizable, "online-capable"},
		{hot, "amd64", "6.18.44-fc-v595", "", topology.ErrNotRealizable, "online-capable"},
		// arm64 has entries of its own: no hotplug on the virt machine.
		{hot, "arm64", "6.1.0-57-cloud-arm64", "", topology.ErrNotRealizable, "no CPU hotplug"},
		{hot, "arm64", "6.12.117+deb12-cloud-arm64", "", topology.ErrNotRealizable, "no CPU hotplug"},
		{hot, "arm64", "5.10.0-30-cloud-arm64", "", topology.ErrNotRealizable, "no CPU hotplug"},
		// Entries without an arch hold on every architecture.
		{one, "arm64", "6.12.117+deb12-cloud-arm64", "0", nil, ""},
		{one, "amd64", "6.12.117+deb12-cloud-amd64", "0", nil, ""},
		{one, "amd64", "not-a-release", "", nil, ""}, // any error
	} {
		exp, err := tc.top.ExpectFor(tc.arch, tc.release)
		switch {
		case tc.release == "not-a-release":
			if err == nil {
				t.Errorf("%s on %s: no error", tc.top.Name, tc.release)
			}
		case tc.err != nil:
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("%s on %s %s: error %v, want %v with the reason", tc.top.Name, tc.arch, tc.release, err, tc.err)
			}
		case err != nil || exp.Masks.Possible != tc.possible:
			t.Errorf("%s on %s: possible %q, %v; want %q", tc.top.Name, tc.release, exp.Masks.Possible, err, tc.possible)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  []string
		err   error
	}{
		{[]string{"quick"}, []string{"1cpu", "4cpu", "hotplug-slots", "boot-maxcpus", "sparse", "gapped-1cpu", "cpuset"}, nil},
		{[]string{"sparse", "quick"}, []string{"sparse", "1cpu", "4cpu", "hotplug-slots", "boot-maxcpus", "gapped-1cpu", "cpuset"}, nil},
		{[]string{"full"}, topology.Names(), nil},
		{[]string{"nope"}, nil, topology.ErrUnknown},
	} {
		got, err := topology.Resolve(tc.names...)
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: error %v, want %v", tc.names, err, tc.err)
			continue
		}
		var names []string
		for _, top := range got {
			names = append(names, top.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.names, names, tc.want)
		}
	}
}

func ExampleTopology_ExpectFor() {
	top, _ := topology.Get("hotplug-slots")
	exp, _ := top.ExpectFor("amd64", "6.1.0-56-cloud-amd64")
	_, err := top.ExpectFor("amd64", "6.12.117+deb12-cloud-amd64")
	fmt.Println("6.1:", top.SMP().String(), exp.Masks.Possible, exp.Masks.Online)
	fmt.Println("6.12 not realizable:", errors.Is(err, topology.ErrNotRealizable))
	// Output:
	// 6.1: 2,maxcpus=8 0-7 0-1
	// 6.12 not realizable: true
}

// TestDescribe: the listing names what a reader needs to reproduce a
// topology by hand: -smp and memory, kernel arguments, the CPUs the guest
// takes offline, and each series' expectation or why it is not realizable.
func TestDescribe(t *testing.T) {
	for name, want := range map[string][]string{
		"sparse":        {"sparse: ", "  qemu:    -smp 4 -m 320\n", "  guest:   offline CPUs 1\n", "  ≥5.10:   possible 0-3  present 0-3  online 0,2-3\n"},
		"boot-maxcpus":  {"  kernel:  maxcpus=2\n", "possible 0-3  present 0-3  online 0-1"},
		"hotplug-slots": {"  ≥6.12:   not realizable: ", "  arm64 ≥6.1:  not realizable: "},
		"cpuset": {"  guest:   loaders (each adapter process) restricted to CPUs 0-1: affinity and cgroup cpuset; the suite and the in-process reference are not\n",
			"  ≥5.10:   possible 0-3  present 0-3  online 0-3  loader affinity 0-1\n"},
	} {
		tops, err := topology.Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		got := tops[0].Describe()
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: Describe() =\n%s\nlacks %q", name, got, w)
			}
		}
	}
}
