package suite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/internal/bpfsys/bpfsystest"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/reference/topology/topologytest"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// Ginkgo runs one suite per process, so each scenario runs in a child copy
// of this test binary (TestMain below) and hands its results back as JSON.
const (
	scenarioEnv = "PERFCONFORM_SUITE_SCENARIO"
	outEnv      = "PERFCONFORM_SUITE_OUT"
	serialEnv   = "PERFCONFORM_SUITE_SERIAL" // "1": the serial schedule
)

func TestMain(m *testing.M) {
	// Adapters run with a substituted possible-CPU file re-execute this
	// binary as their mount-namespace wrapper.
	process.MaybeRunNamespaceWrapper()
	if name := os.Getenv(scenarioEnv); name != "" {
		os.Exit(runScenario(name, os.Getenv(outEnv)))
	}
	os.Exit(m.Run())
}

// scenarios are the loaders (and the CPU masks the suite judges against) of
// each child run.
var scenarios = map[string]func() (suite.Config, error){
	// host: the machine's real masks; the doubles' mistakes all show on any
	// machine with two or more CPUs.
	"host": func() (suite.Config, error) {
		return suite.Config{Loaders: hostDoubles("")}, nil
	},
	// fake-offline: the suite and the loaders read a sysfs copy whose
	// possible mask has two CPUs more than the machine has online, as on a
	// VM with hotplug slots. Samples are only written on the real online CPUs.
	"fake-offline": func() (suite.Config, error) {
		root, err := fakeHotplugSysfs()
		if err != nil {
			return suite.Config{}, err
		}
		ref := refadapter.New()
		ref.SysfsRoot = root
		return suite.Config{SysfsRoot: root, Loaders: []suite.NamedLoader{
			{Name: "reference", Loader: ref},
			{Name: "allpossible", Loader: &faulty{name: "allpossible", sysfsRoot: root,
				ringCPUs: func(t topology.Topology, max uint32) []int { return t.Possible.Below(int(max)).CPUs() }}},
		}}, nil
	},
	// protocol: misbehaving adapters and wrong loaders through the process
	// client, as users' adapters run.
	"protocol": protocolControls,
	// environment: a loader that cannot start here at all.
	"environment": func() (suite.Config, error) {
		return suite.Config{Loaders: []suite.NamedLoader{{Name: "envrefused", Loader: &faulty{name: "envrefused", envRefused: true}}}}, nil
	},
	// names: a loader name with every character Ginkgo refuses in labels.
	"names": func() (suite.Config, error) {
		return suite.Config{Loaders: []suite.NamedLoader{{Name: oddName, Loader: refadapter.New()}}}, nil
	},
	// aya-offline: the aya adapter and its negative control (built into
	// PERFCONFORM_SUITE_BIN by the parent) seeing the fake-offline masks
	// through the mount-namespace wrapper, as the suite judges them.
	"aya-offline": func() (suite.Config, error) {
		root, err := fakeHotplugSysfs()
		if err != nil {
			return suite.Config{}, err
		}
		bin := os.Getenv("PERFCONFORM_SUITE_BIN")
		return suite.Config{SysfsRoot: root, PossibleCPUsFile: filepath.Join(root, "possible"), Loaders: []suite.NamedLoader{
			{Name: "aya", Loader: process.New(filepath.Join(bin, "aya"))},
			{Name: "aya-possible", Loader: process.New(filepath.Join(bin, "aya-possible"))},
		}}, nil
	},
}

// oddName is a loader name as an adapter's file name or info line may have it.
const oddName = `my adapter & co | !x, (y) / "z"`

// protocolControls are the adapter-protocol negative controls
// (adapters/testdata), built into PERFCONFORM_SUITE_BIN by the parent.
func protocolControls() (suite.Config, error) {
	bin := os.Getenv("PERFCONFORM_SUITE_BIN")
	var loaders []suite.NamedLoader
	for _, c := range adapters.Controls {
		l := process.New(filepath.Join(bin, c.Name), process.WithReadyTimeout(2*time.Second), process.WithInfoTimeout(2*time.Second),
			process.WithShutdownTimeout(time.Second))
		loaders = append(loaders, suite.NamedLoader{Name: c.Name, Loader: l})
	}
	return suite.Config{Loaders: loaders}, nil
}

func hostDoubles(root string) []suite.NamedLoader {
	doubles := []*faulty{
		{name: "hardcode32", autoSize: func(topology.CPUSet) uint32 { return 32 }},
		{name: "sizeone", autoSize: func(topology.CPUSet) uint32 { return 1 }},
		{name: "keyplus1", keyOffset: 1},
		{name: "mislabel", labelOffset: 1},
		{name: "allkeys", ringCPUs: func(_ topology.Topology, max uint32) []int { return topology.FirstN(int(max)).CPUs() }},
		{name: "kvzero", keepZeroKV: true},
		{name: "growexplicit", growExplicit: true},
		{name: "acceptbad", acceptBadSize: true},
		{name: "vaguebad", vagueBadSize: true},
		{name: "nopinreuse", noPinReuse: true},
		{name: "silentfallback", silentFallback: true},
		{name: "everyonline", everyOnline: true},
		{name: "neverlost", neverLost: true},
		{name: "inventlost", inventLost: true},
		{name: "doublelost", doubleLost: true},
		{name: "bytesonly", bytesOnly: true},
	}
	loaders := []suite.NamedLoader{{Name: "reference", Loader: refadapter.New()}}
	for _, d := range doubles {
		d.sysfsRoot = root
		loaders = append(loaders, suite.NamedLoader{Name: d.name, Loader: d})
	}
	return loaders
}

// fakeHotplugSysfs copies the machine's CPU masks and extends possible by two
// CPUs that are not online.
func fakeHotplugSysfs() (string, error) {
	topo, err := topology.Read("")
	if err != nil {
		return "", err
	}
	root, err := os.MkdirTemp("", "perfconform-fake-sysfs-")
	if err != nil {
		return "", err
	}
	extra := topo.Possible.Highest() + 2
	err = topologytest.Write(root, topologytest.Masks{
		Possible: fmt.Sprintf("0-%d", extra), Present: topo.Present.String(), Online: topo.Online.String()})
	if err != nil {
		return "", err
	}
	return root, nil
}

func runScenario(name, out string) int {
	mk, ok := scenarios[name]
	if !ok {
		fmt.Fprintln(os.Stderr, "unknown scenario", name)
		return 2
	}
	cfg, err := mk()
	if err == nil {
		cfg.PinRoot = "/sys/fs/bpf/perfconform-selftest"
		// The default bound, not a shorter one: side by side, 17 loaders
		// share the test machine's cores with the other packages' tests,
		// and a sample a correct reader delivers late must not be a FAIL.
		cfg.Timeout = suite.DefaultTimeout
		cfg.Serial = os.Getenv(serialEnv) == "1"
		var results []result.Result
		if results, err = suite.Run(context.Background(), cfg); err == nil {
			var data []byte
			data, err = json.Marshal(results)
			if err == nil {
				err = os.WriteFile(out, data, 0o644)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenario", name+":", err)
		return 1
	}
	return 0
}

// runChild runs a scenario in a child process and returns its results by
// loader and requirement.
func runChild(t *testing.T, name string) map[string]map[string]result.Result {
	t.Helper()
	return runChildSchedule(t, name, false)
}

// runChildSchedule is runChild with the serial schedule when serial.
func runChildSchedule(t *testing.T, name string, serial bool) map[string]map[string]result.Result {
	t.Helper()
	bpfsystest.RequireBPF(t, "the suite loads BPF programs")
	out := filepath.Join(t.TempDir(), "results.json")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), scenarioEnv+"="+name, outEnv+"="+out)
	if serial {
		cmd.Env = append(cmd.Env, serialEnv+"=1")
	}
	switch name {
	case "protocol":
		bin := t.TempDir()
		if _, err := adapters.BuildTestdata(context.Background(), bin); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "PERFCONFORM_SUITE_BIN="+bin)
	case "aya-offline":
		cmd.Env = append(cmd.Env, "PERFCONFORM_SUITE_BIN="+buildAya(t))
	}
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scenario %s: %v\n%s", name, err, output)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var results []result.Result
	if err := json.Unmarshal(data, &results); err != nil {
		t.Fatal(err)
	}
	byLoader := map[string]map[string]result.Result{}
	for _, r := range results {
		if byLoader[r.Loader] == nil {
			byLoader[r.Loader] = map[string]result.Result{}
		}
		byLoader[r.Loader][r.Requirement] = r
	}
	return byLoader
}

func statusSet(rs map[string]result.Result, status result.Status) []string {
	var ids []string
	for id, r := range rs {
		if r.Status == status {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// TestNegativeControls is the proof that the specs can fail: each double
// breaks one thing, and must FAIL exactly the requirements that thing breaks
// (with CPU and errno where the kernel gave one), while the reference passes
// everything in the same run.
func TestNegativeControls(t *testing.T) {
	g := NewWithT(t)
	results := runChild(t, "host")
	topo, err := topology.Read("")
	g.Expect(err).NotTo(HaveOccurred())
	if topo.Online.Len() < 2 || !topo.Online.Contains(1) {
		t.Skipf("the doubles' mistakes show with CPUs 0 and 1 online; online is %s", topo.Online)
	}

	g.Expect(results).To(HaveLen(17), "one result set per loader")
	for _, rs := range results {
		g.Expect(rs).To(HaveLen(len(suite.Requirements)))
		g.Expect(statusSet(rs, result.Error)).To(BeEmpty(), "no environment errors")
		// On the host the hotplug checks must not touch the CPUs.
		g.Expect(rs["RING-HOTPLUG-OFFLINE"].Status).To(Equal(result.Skip))
		g.Expect(rs["RING-HOTPLUG-ONLINE"].Status).To(Equal(result.Skip))
	}
	g.Expect(results["reference"]["RING-HOTPLUG-ONLINE"].Detail).To(ContainSubstring("only inside perfconform's VMs"))
	g.Expect(statusSet(results["reference"], result.Pass)).To(Equal(nonHotplugIDs()), "reference passes all: %v", results["reference"])

	// What each double must fail, and why (docs/SPEC.md, "Negative controls").
	want := map[string][]string{
		// Auto-sized arrays get 32 slots instead of highest possible + 1.
		"hardcode32": {"SIZE-AUTO", "SIZE-LEGACY", "SIZE-MULTI"},
		// Auto-sized arrays get 1 slot: CPU 1 has none, so its samples are
		// refused with E2BIG wherever the size is automatic.
		// Loss is judged on CPU 0, which delivers.
		"sizeone": {"COMPAT-RELOAD", "RING-DELIVER", "RING-KEY", "SIZE-AUTO", "SIZE-LEGACY", "SIZE-MULTI"},
		// The ring for CPU c sits at key c+1: ENOENT on CPU 0, EOPNOTSUPP on
		// CPU 1, so nothing any check writes is delivered (nor attributed,
		// nor followed by a lost count).
		"keyplus1": {"COMPAT-FOREIGN-PIN", "COMPAT-RELOAD", "RING-ATTRIBUTE", "RING-DELIVER", "RING-EXPLICIT-SMALL",
			"RING-KEY", "RING-LOST", "RING-LOST-CPU", "SIZE-EXPLICIT-LARGE", "SIZE-MULTI"},
		// Rings are right but samples and lost counts are attributed to the
		// next CPU; delivery is judged by content, so only attribution fails.
		"mislabel": {"RING-ATTRIBUTE", "RING-LOST-CPU"},
		// Rings on every key below max_entries: keys without a CPU behind them
		// make the reader fail for explicit sizes above the CPU count.
		"allkeys":        {"COMPAT-FOREIGN-PIN", "SIZE-EXPLICIT-LARGE"},
		"kvzero":         {"SIZE-KV-DEFAULT"},
		"growexplicit":   {"SIZE-EXPLICIT-SMALL"},
		"acceptbad":      {"SIZE-BAD"},
		"vaguebad":       {"SIZE-BAD"},
		"nopinreuse":     {"COMPAT-FOREIGN-PIN", "COMPAT-RELOAD"},
		"silentfallback": {"DEGRADE-POSSIBLE"},
		// A ring on every online CPU: CPU 1 has no slot in an array of 1.
		"everyonline": {"RING-EXPLICIT-SMALL"},
		"neverlost":   {"RING-LOST", "RING-LOST-CPU"},
		"inventlost":  {"RING-LOST"},
		// Every loss reported twice: more than the kernel dropped. The
		// CPU is right, so RING-LOST-CPU passes.
		"doublelost": {"RING-LOST"},
		// Bare bytes: delivery is judged by content and passes; attribution
		// of samples is not judged (SKIP); a lost count without its CPU
		// fails RING-LOST-CPU only.
		"bytesonly": {"RING-LOST-CPU"},
	}
	covered := map[string]bool{}
	for loader, fails := range want {
		g.Expect(statusSet(results[loader], result.Fail)).To(Equal(fails), "FAIL set of %s", loader)
		for _, id := range fails {
			covered[id] = true
		}
	}
	// Evidence: the kernel's errno and the CPU.
	key := results["keyplus1"]["RING-KEY"]
	g.Expect(key.CPU).NotTo(BeNil())
	g.Expect(*key.CPU).To(Equal(0))
	g.Expect(key.Errno).To(Equal("ENOENT"))
	g.Expect(key.Detail).To(ContainSubstring("CPU 1: bpf_perf_event_output returned -EOPNOTSUPP"))
	one := results["sizeone"]["SIZE-AUTO"]
	g.Expect(one.Errno).To(Equal("E2BIG"))
	g.Expect(*one.CPU).To(Equal(1))
	g.Expect(results["mislabel"]["RING-ATTRIBUTE"].Detail).To(ContainSubstring("CPU 0: sample delivered as CPU 1"))
	g.Expect(results["mislabel"]["RING-LOST-CPU"].Detail).To(ContainSubstring("attributed to another CPU"))
	g.Expect(results["bytesonly"]["RING-ATTRIBUTE"].Status).To(Equal(result.Skip))
	g.Expect(results["bytesonly"]["RING-ATTRIBUTE"].Detail).To(ContainSubstring("does not say which CPU"))
	g.Expect(results["bytesonly"]["RING-LOST"].Detail).To(ContainSubstring("-ENOSPC"))
	g.Expect(results["bytesonly"]["RING-LOST-CPU"].Detail).To(ContainSubstring("without a CPU"))
	g.Expect(results["neverlost"]["RING-LOST"].Detail).To(ContainSubstring("never reached the user"))
	g.Expect(results["inventlost"]["RING-LOST"].Detail).To(ContainSubstring("dropped none"))
	g.Expect(results["doublelost"]["RING-LOST"].Detail).To(ContainSubstring("more loss than the kernel had"))
	// RING-LOST-CPU judges the experiment RING-LOST ran; one that ended its
	// check on the way is run again, with the same verdict and evidence.
	g.Expect(results["keyplus1"]["RING-LOST-CPU"].Detail).To(ContainSubstring("no ring CPU delivers a sample"))
	g.Expect(results["keyplus1"]["RING-LOST-CPU"].Detail).To(Equal(results["keyplus1"]["RING-LOST"].Detail))
	// A reader failure carries the CPU and errno the loader's message names.
	small := results["everyonline"]["RING-EXPLICIT-SMALL"]
	g.Expect(small.CPU).NotTo(BeNil())
	g.Expect(*small.CPU).To(Equal(1))
	g.Expect(small.Errno).To(Equal("E2BIG"))
	g.Expect(results["allkeys"]["SIZE-EXPLICIT-LARGE"].Detail).To(ContainSubstring("perf ring for CPU 2"))
	g.Expect(results["vaguebad"]["SIZE-BAD"].Detail).To(ContainSubstring("does not name the map"))
	g.Expect(results["silentfallback"]["DEGRADE-POSSIBLE"].Detail).To(ContainSubstring("silently sized the array to 1"))

	// Every requirement that judges anything is shown able to fail here,
	// except RING-CREATE and RING-OFFLINE (TestOfflineCPUs: a reader only
	// fails to start on this host's masks when possible CPUs are offline),
	// the hotplug ones (they run in VMs only: adapters/testdata/offlinefail
	// and docs/SPEC.md) and the informational report.
	for _, r := range suite.Requirements {
		if r.Level == result.Info || r.ID == "RING-OFFLINE" || r.ID == "RING-CREATE" || isHotplug(r.ID) {
			continue
		}
		g.Expect(covered).To(HaveKey(r.ID), "no negative control fails %s", r.ID)
	}
}

// TestEnvironmentRefusalIsNoVerdict: a loader that refuses to start in this
// environment (protocol stage "environment") gets ERROR on every requirement
// it would have been judged on — never a FAIL naming a requirement it never
// reached, nor a PASS (SIZE-BAD would otherwise count any refusal).
func TestEnvironmentRefusalIsNoVerdict(t *testing.T) {
	g := NewWithT(t)
	rs := runChild(t, "environment")["envrefused"]
	g.Expect(rs).To(HaveLen(len(suite.Requirements)))
	for id, r := range rs {
		if r.Status == result.Skip {
			continue
		}
		g.Expect(r.Status).To(Equal(result.Error), "%s: %s", id, r.Detail)
		g.Expect(r.Detail).To(ContainSubstring("cannot run in this environment"), id)
	}
	g.Expect(rs["SIZE-BAD"].Status).To(Equal(result.Error))
	g.Expect(rs["SIZE-AUTO"].Status).To(Equal(result.Error))
}

// TestOfflineCPUs shows RING-OFFLINE (and RING-CREATE) failing for a reader
// that opens rings on every possible CPU, with possible CPUs offline as on a
// VM with hotplug slots, while the reference passes every requirement.
func TestOfflineCPUs(t *testing.T) {
	g := NewWithT(t)
	results := runChild(t, "fake-offline")
	g.Expect(statusSet(results["reference"], result.Pass)).To(Equal(nonHotplugIDs()), "reference: %v", results["reference"])
	g.Expect(results["reference"]["RING-OFFLINE"].Detail).NotTo(ContainSubstring("vacuous"))
	// Every check that needs a reader fails; the size checks judge the
	// pinned maps and pass, since the sizes are right.
	g.Expect(statusSet(results["allpossible"], result.Fail)).To(Equal([]string{
		"COMPAT-FOREIGN-PIN", "COMPAT-RELOAD", "RING-ATTRIBUTE", "RING-CREATE", "RING-DELIVER", "RING-KEY",
		"RING-LOST", "RING-LOST-CPU", "RING-OFFLINE", "SIZE-EXPLICIT-LARGE", "SIZE-MULTI"}))
	off := results["allpossible"]["RING-OFFLINE"]
	g.Expect(off.Detail).To(SatisfyAll(ContainSubstring("perf ring for CPU"), ContainSubstring("offline")))
	// The reader's failure names the first fake possible CPU and the
	// kernel's errno for a CPU that does not exist (EINVAL; an offline
	// present CPU gives ENODEV).
	topo, err := topology.Read("")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(off.CPU).NotTo(BeNil(), off.Detail)
	g.Expect(*off.CPU).To(Equal(topo.Possible.Highest()+1), off.Detail)
	g.Expect(off.Errno).To(Equal("EINVAL"), off.Detail)
}

// TestProtocolControls runs the adapter negative controls through the whole
// suite: a crash, a hang, garbage output or an unknown protocol version ends
// as ERROR results carrying the adapter's stderr, never as a verdict on the
// loader and never as a harness failure, and no adapter process outlives the
// run; the wrong loaders FAIL through the protocol path too.
func TestProtocolControls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every control adapter")
	}
	g := NewWithT(t)
	results := runChild(t, "protocol")
	for _, name := range []string{"crash", "hang", "garbage", "badversion", "earlyexit"} {
		rs := results[name]
		g.Expect(rs).To(HaveLen(len(suite.Requirements)), name)
		g.Expect(statusSet(rs, result.Fail)).To(BeEmpty(), "%s: a broken adapter is not a loader verdict", name)
		g.Expect(rs["RING-DELIVER"].Status).To(Equal(result.Error), name)
	}
	g.Expect(results["hang"]["RING-DELIVER"].Detail).To(ContainSubstring("hang control: never getting ready"), "stderr attached")
	g.Expect(results["badversion"]["SIZE-AUTO"].Detail).To(ContainSubstring("99"))
	g.Expect(results["garbage"]["RING-DELIVER"].Detail).To(ContainSubstring("garbage"))
	// Shutdown violations and a lying ready line: the loader (cilium/ebpf)
	// would pass, but the adapter broke the protocol, so every requirement
	// that opened a session is an ERROR with the evidence, never a PASS.
	for name, evidence := range map[string]string{
		"exit3":      "exit status 3 after stdin was closed",
		"ignorestop": "still running",
		"badready":   `"ghost"`,
		// Issue 24, item 3: a line that breaks the protocol right after
		// ready; the client stops the adapter and its rings go with it.
		"badbase64": "illegal base64",
		// Issue 24, item 5: a sample without "cpu" is not CPU 0 (which
		// FAILed RING-ATTRIBUTE for CPU 1) but a protocol break.
		"nocpu": `sample line without "cpu"`,
	} {
		rs := results[name]
		g.Expect(rs).To(HaveLen(len(suite.Requirements)), name)
		// Only requirements whose loads the loader refuses (it prints an
		// error line and exits 1, as it should) open no session to break:
		// those keep the loader's verdict.
		refused := []string{"COMPAT-FOREIGN-PIN", "DEGRADE-POSSIBLE", "SIZE-BAD"}
		g.Expect(refused).To(ContainElements(statusSet(rs, result.Pass)), "%s: a protocol violation must not pass", name)
		g.Expect(refused).To(ContainElements(statusSet(rs, result.Fail)), "%s: a protocol violation is not a loader verdict", name)
		for _, id := range []string{"SIZE-AUTO", "SIZE-KV-DEFAULT", "RING-KEY", "RING-DELIVER"} {
			g.Expect(rs[id].Status).To(Equal(result.Error), "%s %s", name, id)
			g.Expect(rs[id].Detail).To(ContainSubstring(evidence), "%s %s", name, id)
		}
	}
	g.Expect(results["exit3"]["SIZE-AUTO"].Detail).To(ContainSubstring("the check itself found PASS"), "the verdict is kept as evidence")
	// What the checks that fire found is the protocol break itself, every
	// time: an ERROR that names the line first, never a FAIL of the rings
	// (ENOENT) the stopped adapter took with it (which may follow "then:"
	// as what the check saw afterwards).
	for _, id := range []string{"RING-KEY", "RING-DELIVER", "RING-ATTRIBUTE", "RING-LOST", "SIZE-EXPLICIT-LARGE"} {
		g.Expect(results["badbase64"][id].Detail).To(MatchRegexp(
			`the check itself found ERROR: the adapter ended during the check: adapter \S+: stream: printed a line that breaks the protocol, so the suite stopped it: line .*illegal base64`),
			"badbase64 %s", id)
	}
	// Issue 24, item 4: "environment" after pinning a 32-entry map is a
	// failure at load, judged as such (it was every requirement an ERROR).
	env := results["envafterpin"]
	g.Expect(statusSet(env, result.Error)).To(BeEmpty(), "envafterpin: %v", env)
	g.Expect(env["SIZE-AUTO"].Status).To(Equal(result.Fail))
	g.Expect(env["SIZE-AUTO"].Detail).To(ContainSubstring(`stage "environment" reported after the loader pinned maps`))
	// Issue 24, item 5: 2^64-1 and then n+1 lost is not n lost.
	lost := results["lostoverflow"]
	g.Expect(statusSet(lost, result.Error)).To(BeEmpty(), "lostoverflow: %v", lost)
	g.Expect(lost["RING-LOST"].Status).To(Equal(result.Fail))
	g.Expect(lost["RING-LOST"].Detail).To(SatisfyAll(ContainSubstring("more loss than the kernel had"), ContainSubstring("18446744073709551615")))
	// A helper started with setsid is reaped with its adapter.
	g.Expect(statusSet(results["orphan"], result.Error)).To(BeEmpty(), "orphan: %v", results["orphan"])
	g.Expect(statusSet(results["hardcode32"], result.Fail)).To(ContainElement("SIZE-AUTO"))
	g.Expect(statusSet(results["sizeone"], result.Fail)).To(ContainElements("SIZE-AUTO", "RING-KEY"))
	g.Expect(statusSet(results["keyplus1"], result.Fail)).To(ContainElements("RING-KEY", "RING-DELIVER"))
	g.Expect(results["keyplus1"]["RING-KEY"].Errno).To(Equal("ENOENT"))
	g.Expect(leftoverControls()).To(BeEmpty(), "control adapter processes still running")
}

// leftoverControls lists running processes whose executable is a control
// adapter built by this test.
func leftoverControls() []string {
	var left []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		for _, c := range adapters.Controls {
			if filepath.Base(exe) == c.Name && strings.Contains(exe, os.TempDir()) {
				left = append(left, e.Name()+" "+exe)
			}
		}
	}
	return left
}

// TestAnyLoaderName: names are not turned into Ginkgo labels, which refuse
// characters such as &|!,()/ and abort the whole run.
func TestAnyLoaderName(t *testing.T) {
	g := NewWithT(t)
	results := runChild(t, "names")
	g.Expect(results).To(HaveKey(oddName))
	g.Expect(statusSet(results[oddName], result.Pass)).To(Equal(nonHotplugIDs()), "%v", results[oddName])
}

func isHotplug(id string) bool { return strings.HasPrefix(id, "RING-HOTPLUG-") }

// nonHotplugIDs are the requirement IDs a correct loader PASSes on the host,
// sorted: all but the hotplug ones, which SKIP there.
func nonHotplugIDs() []string {
	var ids []string
	for _, r := range suite.Requirements {
		if !isHotplug(r.ID) {
			ids = append(ids, r.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestRequirementsHaveChecksAndDocs(t *testing.T) {
	g := NewWithT(t)
	doc, err := os.ReadFile("../docs/SPEC.md")
	g.Expect(err).NotTo(HaveOccurred())
	seen := map[string]bool{}
	for _, r := range suite.Requirements {
		g.Expect(seen).NotTo(HaveKey(r.ID), "duplicate requirement")
		seen[r.ID] = true
		g.Expect(string(doc)).To(ContainSubstring("### "+r.ID), "docs/SPEC.md has no section for %s", r.ID)
		g.Expect(strings.TrimSpace(r.Impact)).NotTo(BeEmpty())
	}
}

// buildAya builds the aya adapter and its negative control (the same source
// with adapters.AyaControlFeature) into a temporary directory, skipping with
// the reason when cargo, rustc or apt is missing here.
func buildAya(t *testing.T) string {
	t.Helper()
	a, err := adapters.Get("aya")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Available(); err != nil {
		t.Skip(err)
	}
	bin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := a.Build(ctx, bin); err != nil {
		t.Fatal(err)
	}
	if err := adapters.BuildAyaControl(ctx, filepath.Join(bin, "aya-possible")); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestAyaReadersOnOnlineCPUs shows the suite catching an aya adapter that
// opens its perf readers on possible instead of online CPUs, with possible
// CPUs offline (the fake-offline masks, seen by the adapters through the
// mount-namespace wrapper): the control FAILs every requirement that needs
// its reader (it fails opening a ring for the first offline CPU) where the
// real adapter, whose readers follow aya::util::online_cpus(), passes them;
// the two differ in nothing else, and neither ends in ERROR.
func TestAyaReadersOnOnlineCPUs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the aya adapter with cargo")
	}
	g := NewWithT(t)
	results := runChild(t, "aya-offline")
	topo, err := topology.Read("")
	g.Expect(err).NotTo(HaveOccurred())
	firstOffline := topo.Possible.Highest() + 1 // fakeHotplugSysfs adds two
	for _, name := range []string{"aya", "aya-possible"} {
		for _, r := range suite.Requirements {
			got := results[name][r.ID]
			t.Logf("%-4s %-20s %-12s %s", got.Status, r.ID, name, got.Detail)
		}
		g.Expect(results[name]).To(HaveLen(len(suite.Requirements)), name)
		g.Expect(statusSet(results[name], result.Error)).To(BeEmpty(), "%s: no ERROR", name)
	}
	// What needs a running reader on the online CPUs.
	readers := []string{"RING-ATTRIBUTE", "RING-CREATE", "RING-DELIVER", "RING-KEY", "RING-LOST", "RING-LOST-CPU", "RING-OFFLINE"}
	for _, id := range readers {
		g.Expect(results["aya"][id].Status).To(Equal(result.Pass), "aya %s: %s", id, results["aya"][id].Detail)
		g.Expect(results["aya-possible"][id].Status).To(Equal(result.Fail), "aya-possible %s: %s", id, results["aya-possible"][id].Detail)
	}
	g.Expect(results["aya"]["RING-OFFLINE"].Detail).NotTo(ContainSubstring("vacuous"))
	g.Expect(results["aya-possible"]["RING-OFFLINE"].Detail).To(ContainSubstring(fmt.Sprintf("for CPU %d", firstOffline)))
	// Everything else the control fails, the real adapter fails too (aya's
	// own findings), or it needs a reader (the multi-map and explicit-size
	// delivery checks).
	extra := map[string]bool{}
	for _, id := range statusSet(results["aya-possible"], result.Fail) {
		extra[id] = true
	}
	for _, id := range statusSet(results["aya"], result.Fail) {
		delete(extra, id)
	}
	for _, id := range append(readers, "SIZE-EXPLICIT-LARGE", "SIZE-MULTI") {
		delete(extra, id)
	}
	g.Expect(extra).To(BeEmpty(), "the control fails only what readers on offline CPUs break")
}

// TestSideBySideMatchesSerial is the proof that running loaders side by
// side, sharing loads and CPU changes, changes no verdict: every scenario
// with doubles runs under both schedules and every (loader, requirement)
// cell has the same status. (The same comparison in VMs, with the
// built-in loaders and the adapter controls on the quick topologies, is
// conform's TestScheduleEquivalenceVMs.)
func TestSideBySideMatchesSerial(t *testing.T) {
	for _, name := range []string{"host", "fake-offline", "protocol"} {
		t.Run(name, func(t *testing.T) {
			serial := runChildSchedule(t, name, true)
			side := runChildSchedule(t, name, false)
			if diff := statusDiff(serial, side); len(diff) > 0 {
				t.Errorf("side by side changed %d verdicts:\n%s", len(diff), strings.Join(diff, "\n"))
			}
		})
	}
}

// statusDiff lists the (loader, requirement) cells whose status differs
// between a and b, or that only one has.
func statusDiff(a, b map[string]map[string]result.Result) []string {
	var out []string
	for loader, rs := range a {
		for id, ra := range rs {
			rb, ok := b[loader][id]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s %s: %s, then missing", loader, id, ra.Status))
			case ra.Status != rb.Status:
				out = append(out, fmt.Sprintf("%s %s: %s (%s), then %s (%s)", loader, id, ra.Status, ra.Detail, rb.Status, rb.Detail))
			}
		}
	}
	for loader, rs := range b {
		for id, rb := range rs {
			if _, ok := a[loader][id]; !ok {
				out = append(out, fmt.Sprintf("%s %s: missing, then %s", loader, id, rb.Status))
			}
		}
	}
	sort.Strings(out)
	return out
}
