package suite

import "github.com/perfconform/perfconform/result"

// Requirement is one numbered rule the suite checks against every loader.
// docs/SPEC.md lists the same table with more evidence; a test keeps the two in
// step.
type Requirement struct {
	ID    string
	Level result.Level
	Title string
	// Fixture is the object the check loads (besides any it creates itself).
	Fixture string
	// Rationale says why the rule exists.
	Rationale string
	// Bug is the real-world failure the rule catches.
	Bug string
	// Impact is one line on what a FAIL means for users of the loader; the
	// reports print it beside each finding.
	Impact string
	// LevelWhy is one sentence on why the requirement has its level: what
	// breaks for users if a loader fails it. docs/SPEC.md quotes it in the
	// requirement's section (a test keeps the two in step).
	LevelWhy string
}

// Requirements lists every requirement in the order the suite runs them.
var Requirements = []Requirement{
	{
		ID: "SIZE-AUTO", Level: result.Must, Fixture: "perf_auto_kv",
		Title:     "a perf event array declared without max_entries gets highest possible CPU id + 1 entries",
		Rationale: "bpf_perf_event_output(BPF_F_CURRENT_CPU) indexes the array by CPU id; every possible CPU can come online and needs its slot, including ids after gaps in the possible list.",
		Bug:       "loaders that count CPUs (nproc, online count) undersize the array on machines with hotplug slots or gapped possible lists; events from high CPUs fail with E2BIG.",
		Impact:    "programs running on CPUs beyond the array size lose every event (bpf_perf_event_output returns -E2BIG).",
		LevelWhy:  "programs on CPUs past the array's end lose every event (-E2BIG) and nothing tells the user.",
	},
	{
		ID: "SIZE-KV-DEFAULT", Level: result.Should, Fixture: "perf_auto",
		Title:     "key_size and value_size left 0 in a perf event array become 4",
		Rationale: "the kernel stores a u32 perf event fd under a u32 CPU index; BTF map definitions commonly declare only the type.",
		Bug:       "libbpf 1.1 leaves them 0 and the kernel refuses the map with EINVAL.",
		Impact:    "objects that declare only the map type (the common BTF style) do not load at all.",
		LevelWhy:  "only objects that declare just the map type are affected, they fail loudly at load with EINVAL, and declaring key/value size 4 (as libbpf's and aya's examples do) fixes them, so it is a convenience every loader should offer rather than a condition of working at all.",
	},
	{
		ID: "SIZE-EXPLICIT-SMALL", Level: result.Must, Fixture: "perf_explicit_N",
		Title:     "an explicit max_entries not above the possible CPU count is kept exactly",
		Rationale: "the author chose the size; a loader may not silently grow it.",
		Bug:       "loaders that always resize perf arrays to the CPU count override deliberate sizes.",
		Impact:    "maps do not have the size the program author declared.",
		LevelWhy:  "a loader that grows a declared size gives the program a map other than the one its author and other loaders sharing the pin expect.",
	},
	{
		ID: "SIZE-EXPLICIT-LARGE", Level: result.Must, Fixture: "perf_explicit_N",
		Title:     "an explicit max_entries above the possible CPU count loads, and every online CPU delivers",
		Rationale: "objects written for big machines must still run on small ones.",
		Bug:       "loaders that open rings on every key below max_entries fail on keys with no CPU behind them.",
		Impact:    "objects sized for larger machines fail to load or to open their reader on smaller ones.",
		LevelWhy:  "an object sized for a larger machine does not load or cannot open its reader on a smaller one, so the tool does not run there.",
	},
	{
		ID: "SIZE-EXPLICIT-REPORT", Level: result.Info, Fixture: "perf_explicit_N",
		Title:     "explicit max_entries above the possible CPU count: kept or clamped (reported, not judged)",
		Rationale: "both choices run; keeping the size keeps maps pinned by libbpf or iproute2 compatible, clamping saves kernel memory.",
		Bug:       "cilium/ebpf clamps (issue 1744), so it cannot reuse a pinned map created by libbpf with the declared size.",
		Impact:    "informational: tells which behaviour the loader has.",
		LevelWhy:  "keeping and clamping both run, so nothing breaks either way; the report says which one a loader does.",
	},
	{
		ID: "SIZE-BAD", Level: result.Should, Fixture: "perf_badsize",
		Title:     "a perf event array with key_size or value_size other than 4 is refused with an error naming the map",
		Rationale: "the kernel only accepts 4; an error naming the map tells the author what to fix, a silent fix hides a wrong declaration.",
		Bug:       "loaders that forward the declaration fail with a bare EINVAL, or rewrite it silently.",
		Impact:    "a wrong declaration is accepted silently or reported without saying which map is wrong.",
		LevelWhy:  "the kernel refuses such a map whatever the loader does, so a loader that fails this only gives a worse error (no map name) or hides a wrong declaration by fixing it, and the user's program is broken either way.",
	},
	{
		ID: "SIZE-MULTI", Level: result.Must, Fixture: "perf_multi",
		Title:     "several perf event arrays in one object are each sized and given rings independently; other maps are created as declared",
		Rationale: "sizing must be per map, not a single global fix-up applied to the first array only.",
		Bug:       "loaders that special-case one 'events' map leave others with the declared 0.",
		Impact:    "objects with more than one perf array fail to load or lose events on the second array.",
		LevelWhy:  "the second perf array of an object is undersized or without rings, so its events are lost while the first array's arrive.",
	},
	{
		ID: "SIZE-LEGACY", Level: result.May, Fixture: "perf_legacy",
		Title:     "a perf event array in a legacy maps section is auto-sized like a BTF one",
		Rationale: "old objects still exist; loaders that read them must size them the same way.",
		Bug:       "libbpf 1.x dropped the legacy section entirely.",
		Impact:    "objects built with struct bpf_map_def do not load.",
		LevelWhy:  "libbpf 1.0 dropped struct bpf_map_def sections, so support for old objects is optional; where it exists it must size like the BTF path.",
	},
	{
		ID: "RING-CREATE", Level: result.Must, Fixture: "perf_auto_kv",
		Title:     "the perf reader can be created on every topology",
		Rationale: "a reader must open rings on the online CPUs it can, not fail because some possible CPU is offline or absent.",
		Bug:       "\"perf ring for CPU 4: no such device\" on VMs with hotplug slots.",
		Impact:    "the tool cannot start on machines with offline or hot-pluggable CPUs.",
		LevelWhy:  "the tool cannot start at all on machines with offline or hot-pluggable CPUs.",
	},
	{
		ID: "RING-DELIVER", Level: result.Must, Fixture: "perf_auto_kv",
		Title:     "every online CPU delivers its samples to user space",
		Rationale: "the suite writes a sample on each online CPU through the kernel; each must reach the loader's reader. Samples are recognised by their content, so readers that do not say which CPU a sample came from are judged too (attribution is RING-ATTRIBUTE).",
		Bug:       "readers that skip rings silently lose every event of some CPUs.",
		Impact:    "events from some CPUs never reach the tool.",
		LevelWhy:  "events from some CPUs never reach the user and nothing says so.",
	},
	{
		ID: "RING-KEY", Level: result.Must, Fixture: "perf_auto_kv",
		Title:     "the ring for CPU c is stored at map key c",
		Rationale: "bpf_perf_event_output(BPF_F_CURRENT_CPU) looks up the current CPU's id; a ring at another key gives -ENOENT or -EOPNOTSUPP.",
		Bug:       "cilium/ebpf v0.22.0 files rings under their position in the online list (issue 2100): with online 0,2-3 CPUs 2 and 3 lose every sample.",
		Impact:    "on sparse online masks every event from the affected CPUs is dropped in the kernel.",
		LevelWhy:  "every event from the affected CPUs is dropped in the kernel, silently.",
	},
	{
		ID: "RING-OFFLINE", Level: result.Must, Fixture: "perf_auto_kv",
		Title:     "offline possible CPUs are skipped without error and the online ones still deliver",
		Rationale: "an offline CPU has no ring to open; that is normal, not a failure.",
		Bug:       "readers that open rings on every possible CPU fail with ENODEV on hotplug slots.",
		Impact:    "the reader fails to start whenever a possible CPU is offline.",
		LevelWhy:  "the reader cannot start whenever a possible CPU is offline, which is the normal state of cloud VMs with hotplug slots.",
	},
	{
		ID: "RING-ATTRIBUTE", Level: result.Must, Fixture: "perf_auto_kv",
		Title:     "a sample the reader attributes to a CPU is attributed to the CPU that wrote it",
		Rationale: "users aggregate and debug per CPU; a wrong CPU is worse than none. Readers that hand over bare bytes (cpu -1) are not judged: the program can put the CPU into the sample itself.",
		Bug:       "readers that label records with a position in a CPU list instead of the ring's CPU id.",
		Impact:    "events are reported as coming from another CPU.",
		LevelWhy:  "users aggregate and debug per CPU, and a wrong CPU is silently wrong data, worse than no CPU.",
	},
	{
		ID: "RING-EXPLICIT-SMALL", Level: result.Must, Fixture: "perf_explicit_N",
		Title:     "an explicit max_entries below the CPU count gets a working reader: rings on the online CPUs below it, no error for the others",
		Rationale: "the author chose N entries; CPUs from N up have no slot (their -E2BIG is the author's choice), so a reader must open rings below N only.",
		Bug:       "readers that open a ring for every online CPU (bcc, gobpf, goebpf by their source) fail storing the fd of CPU N (E2BIG).",
		Impact:    "objects that declare a small perf array cannot be read on machines with more CPUs.",
		LevelWhy:  "an object that declares a small perf array cannot be read at all on a machine with more CPUs.",
	},
	{
		ID: "RING-LOST", Level: result.Should, Fixture: "perf_auto_kv",
		Title:     "records the kernel drops reach the user as a lost count, and no loss is invented",
		Rationale: "a full ring drops records (bpf_perf_event_output returns -ENOSPC) and the kernel reports the count in a PERF_RECORD_LOST ahead of the next sample; a tool that never hears of it presents incomplete data as complete.",
		Bug:       "readers that skip PERF_RECORD_LOST, or APIs whose lost callback is optional and silently dropped.",
		Impact:    "the tool cannot tell its users that events were dropped.",
		LevelWhy:  "the user is not told that events were dropped, but the events that arrive are right, so the tool is incomplete rather than wrong.",
	},
	{
		ID: "RING-LOST-CPU", Level: result.Should, Fixture: "perf_auto_kv",
		Title:     "a lost count names the CPU whose ring lost the records",
		Rationale: "the lost record comes out of one CPU's ring, so every reader knows the CPU; unlike a sample's CPU, which a program can write into the sample, it cannot be recovered once the reader drops it.",
		Bug:       "readers that report lost counts without the CPU (bpftool's event_pipe, libbpfgo's lost channel).",
		Impact:    "users cannot tell which CPU's ring overflows (a hot CPU, a burst pinned to one CPU).",
		LevelWhy:  "the user knows records were lost but not on which CPU, which only matters for finding the ring that overflows.",
	},
	{
		ID: "RING-HOTPLUG-OFFLINE", Level: result.Should, Fixture: "perf_auto_kv",
		Title:     "a CPU taken offline while the reader runs does not break it: no reader error, the other CPUs keep delivering",
		Rationale: "CPUs go offline at runtime (cloud VMs, power management, isolation); the rest of the machine's events must keep flowing.",
		Bug:       "readers that treat a ring whose CPU went away as fatal.",
		Impact:    "the tool stops, or stops receiving events, when any CPU goes offline.",
		LevelWhy:  "the tool stops, or stops receiving events, when a CPU goes offline at runtime; that happens, but far less often than the static topologies the MUSTs cover.",
	},
	{
		ID: "RING-HOTPLUG-ONLINE", Level: result.May, Fixture: "perf_auto_kv",
		Title:     "a CPU brought online after the reader was opened gets a ring, and its output reaches the user",
		Rationale: "cloud VMs hot-add CPUs; a reader that only opens rings at start loses every event of CPUs added later (-ENOENT in the kernel).",
		Bug:       "readers open rings once, for the CPUs online at that moment.",
		Impact:    "events from CPUs added while the tool runs are dropped in the kernel until the tool restarts.",
		LevelWhy:  "events of CPUs hot-added after the reader opened are dropped until the tool restarts; no loader we know follows hotplug, so it is an option, not a norm.",
	},
	{
		ID: "COMPAT-RELOAD", Level: result.Should, Fixture: "perf_auto_kv",
		Title:     "loading the same object again against the maps it pinned succeeds and delivers",
		Rationale: "tools restart; a pinned map must be reusable by the loader that pinned it.",
		Bug:       "a loader whose size calculation differs between runs refuses its own pinned map.",
		Impact:    "restarting a tool that pins its maps fails until the pins are removed.",
		LevelWhy:  "restarting a tool that pins its maps fails until the pins are removed by hand, which an operator can do.",
	},
	{
		ID: "COMPAT-FOREIGN-PIN", Level: result.Should, Fixture: "perf_auto_kv",
		Title:     "a perf event array pinned by another loader with max_entries above the CPU count is reused",
		Rationale: "libbpf and iproute2 keep declared sizes; another loader sharing the pin must accept a larger map that has a slot for every possible CPU.",
		Bug:       "cilium/ebpf clamps the expected size and then refuses the pinned map as incompatible (issue 1744).",
		Impact:    "the loader cannot reuse a perf array another loader pinned with a larger declared size (libbpf, iproute2), so programs cannot share it.",
		LevelWhy:  "two loaders cannot share a pinned perf array whose declared size is above the CPU count; each still works with its own maps.",
	},
	{
		ID: "DEGRADE-POSSIBLE", Level: result.Must, Fixture: "perf_auto_kv",
		Title:     "an unreadable possible CPU mask gives a clear error naming it, or a declared fallback, never a silently wrong size",
		Rationale: "guessing (nproc, online count, 1) produces arrays that silently drop events; failing loudly lets the operator fix or override detection.",
		Bug:       "loaders that fall back to the online count when /sys is not mounted in a container undersize the array.",
		Impact:    "in containers or sandboxes without a readable sysfs the loader silently sizes arrays wrong.",
		LevelWhy:  "in a container or sandbox without a readable sysfs the loader silently sizes arrays wrong and events are lost without an error.",
	},
}

// RequirementByID returns the requirement with id.
func RequirementByID(id string) (Requirement, bool) {
	for _, r := range Requirements {
		if r.ID == id {
			return r, true
		}
	}
	return Requirement{}, false
}

// Impacts maps requirement IDs to their Impact line, for the reports.
func Impacts() map[string]string {
	out := make(map[string]string, len(Requirements))
	for _, r := range Requirements {
		out[r.ID] = r.Impact
	}
	return out
}

// Levels maps requirement IDs to their current level, for reports of results
// judged under older levels (report.Options.Levels).
func Levels() map[string]result.Level {
	out := make(map[string]result.Level, len(Requirements))
	for _, r := range Requirements {
		out[r.ID] = r.Level
	}
	return out
}
