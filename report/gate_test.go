package report_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

func TestGate(t *testing.T) {
	both := func() *report.Results {
		m, _ := report.Merge(shard("debian-6.1"), shard("debian-6.12"))
		return m
	}
	// cilium-ebpf: MUST RING-002 FAIL on hotplug-8 (both kernels);
	// SHOULD LEGACY-003 ERROR on debian-6.12/smp-2.
	ciliumBaseline := report.Baseline{Schema: 1, Loader: "cilium-ebpf", Deviations: []report.Deviation{
		{Requirement: "RING-002", Reason: "fixed in v0.23", Topology: "hotplug-8"},
	}}
	narrowBaseline := report.Baseline{Schema: 1, Loader: "cilium-ebpf", Deviations: []report.Deviation{
		{Requirement: "RING-002", Reason: "6.1 only", Kernel: "debian-6.1"},
	}}
	withShouldFail := func() *report.Results {
		r := both()
		for i := range r.Results {
			if r.Results[i].Loader == "reference" && r.Results[i].Requirement == "LEGACY-003" && r.Results[i].Kernel == "debian-6.1" && r.Results[i].Topology == "smp-2" {
				r.Results[i].Status = result.Fail
			}
		}
		return r
	}
	// libbpf@1.1 fails RING-002 and SIZE-001, libbpf@1.4 SIZE-001, and
	// libbpfgo (another loader whose name starts the same) SIZE-001.
	versioned := func() *report.Results {
		r := &report.Results{Generated: testTime, Runs: []report.Run{run("debian-6.1", "smp-2")}}
		for _, l := range []string{"libbpf@1.1", "libbpf@1.4", "libbpfgo@v0.8.0"} {
			r.Results = append(r.Results,
				res("debian-6.1", "smp-2", l, "SIZE-001", result.Must, result.Fail, "EINVAL"),
				res("debian-6.1", "smp-2", l, "RING-002", result.Must, result.Pass, ""))
		}
		r.Results[1].Status = result.Fail
		return r
	}
	// Results written before loaders had versions.
	unversioned := &report.Results{Generated: testTime, Runs: []report.Run{run("debian-6.1", "smp-2")},
		Results: []result.Result{res("debian-6.1", "smp-2", "libbpf", "SIZE-001", result.Must, result.Fail, "EINVAL")}}
	bare := report.Baseline{Schema: 1, Loader: "libbpf", Deviations: []report.Deviation{{Requirement: "SIZE-001", Reason: "every version"}}}
	only14 := report.Baseline{Schema: 1, Loader: "libbpf@1.4", Deviations: []report.Deviation{{Requirement: "RING-002", Reason: "not this one"}}}
	withRunError := func() *report.Results {
		r := both()
		r.Runs[0].Error = "qemu exited: KVM internal error"
		return r
	}
	// libbpfgo got no verdict at all: every result ERROR or SKIP.
	noVerdict := func() *report.Results {
		r := both()
		r.Results = append(r.Results,
			res("debian-6.1", "smp-2", "libbpfgo", "SIZE-001", result.Must, result.Error, "cannot run in this environment"),
			res("debian-6.1", "smp-2", "libbpfgo", "RING-002", result.Must, result.Error, "cannot run in this environment"),
			res("debian-6.1", "smp-2", "libbpfgo", "LEGACY-003", result.Should, result.Skip, "no legacy-maps"))
		return r
	}
	// A run that lists a loader (it was in the run) without any result of
	// it in that run: a truncated or edited results.json.
	listing := func(r *report.Results, kernel, topo, loader string) *report.Results {
		for i := range r.Runs {
			if r.Runs[i].Kernel.Name == kernel && r.Runs[i].Topology == topo {
				r.Runs[i].Loaders = append(r.Runs[i].Loaders, report.Loader{Name: loader, Version: "v9"})
			}
		}
		return r
	}
	withNotRealizable := func() *report.Results {
		r := both()
		nr := run("debian-6.12", "sparse")
		nr.Realized, nr.NotRealizable = false, "hotplug slots are not possible CPUs on 6.12"
		r.Runs = append(r.Runs, nr)
		return r
	}
	// cilium-ebpf's results of one run are gone, its listing stays.
	withoutCilium := func(kernel, topo string) *report.Results {
		r := both()
		r.Results = slices.DeleteFunc(r.Results, func(res result.Result) bool {
			return res.Loader == "cilium-ebpf" && res.Kernel == kernel && res.Topology == topo
		})
		return r
	}
	for _, tc := range []struct {
		name    string
		results *report.Results
		opts    report.GateOptions
		want    []string // violations, as "kernel/topology/loader: prefix"
	}{
		{"reference MUSTs pass", both(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}}, nil},
		{"all loaders: cilium MUST fails on both kernels", both(), report.GateOptions{FailLevel: result.Must},
			[]string{"debian-6.1/hotplug-8/cilium-ebpf: MUST RING-002 failed", "debian-6.12/hotplug-8/cilium-ebpf: MUST RING-002 failed"}},
		{"baseline covers the known MUST failure", both(), report.GateOptions{FailLevel: result.Must,
			Baselines: map[string]report.Baseline{"cilium-ebpf": ciliumBaseline}}, nil},
		{"kernel-narrowed baseline leaves 6.12 gating", both(), report.GateOptions{FailLevel: result.Must,
			Baselines: map[string]report.Baseline{"cilium-ebpf": narrowBaseline}},
			[]string{"debian-6.12/hotplug-8/cilium-ebpf: MUST RING-002 failed"}},
		{"should level sees the SHOULD ERROR", both(), report.GateOptions{FailLevel: result.Should, Loaders: []string{"cilium-ebpf"},
			Baselines: map[string]report.Baseline{"cilium-ebpf": ciliumBaseline}},
			[]string{"debian-6.12/smp-2/cilium-ebpf: SHOULD LEGACY-003 could not be checked (ERROR)"}},
		{"allow errors", both(), report.GateOptions{FailLevel: result.Should, Loaders: []string{"cilium-ebpf"}, AllowErrors: true,
			Baselines: map[string]report.Baseline{"cilium-ebpf": ciliumBaseline}}, nil},
		{"SHOULD FAIL does not gate at must", withShouldFail(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}}, nil},
		{"SHOULD FAIL gates at should", withShouldFail(), report.GateOptions{FailLevel: result.Should, Loaders: []string{"reference"}},
			[]string{"debian-6.1/smp-2/reference: SHOULD LEGACY-003 failed"}},
		{"run error gates", withRunError(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}},
			[]string{"debian-6.1/hotplug-8: run error: qemu exited"}},
		{"run error allowed", withRunError(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}, AllowErrors: true}, nil},
		{"gated loader without results", both(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"aya"}},
			[]string{"aya: no results for this loader"}},
		{"empty results never pass", &report.Results{}, report.GateOptions{FailLevel: result.Must},
			[]string{"no results to gate on"}},
		// Every loader is every loader the runs list, not only those with
		// results (issue 24, item 6).
		{"a run's loader without results gates by default", listing(both(), "debian-6.12", "smp-2", "aya"), report.GateOptions{FailLevel: result.Must},
			[]string{"debian-6.1/hotplug-8/cilium-ebpf: MUST RING-002 failed", "debian-6.12/hotplug-8/cilium-ebpf: MUST RING-002 failed",
				"debian-6.12/smp-2/aya: the run lists this loader but it has no results there"}},
		{"only loader of a run without results", listing(&report.Results{Runs: []report.Run{run("debian-6.1", "smp-2")}}, "debian-6.1", "smp-2", "aya"),
			report.GateOptions{FailLevel: result.Must},
			[]string{"debian-6.1/smp-2/cilium-ebpf: the run lists this loader", "debian-6.1/smp-2/reference: the run lists this loader",
				"debian-6.1/smp-2/aya: the run lists this loader", "no results to gate on"}}, // in the run's (the plan's) order
		{"a loader's results gone from one run", withoutCilium("debian-6.1", "smp-2"), report.GateOptions{FailLevel: result.Must, Loaders: []string{"cilium-ebpf"},
			Baselines: map[string]report.Baseline{"cilium-ebpf": ciliumBaseline}},
			[]string{"debian-6.1/smp-2/cilium-ebpf: the run lists this loader but it has no results there"}},
		{"gated by name, listed without results", listing(both(), "debian-6.12", "smp-2", "aya"), report.GateOptions{FailLevel: result.Must, Loaders: []string{"aya"}},
			[]string{"debian-6.12/smp-2/aya: the run lists this loader", "aya: no results for this loader"}},
		{"a loader without results is not gated by another gate", listing(both(), "debian-6.12", "smp-2", "aya"), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}}, nil},
		{"a run error accounts for its missing results", listing(withRunError(), "debian-6.1", "hotplug-8", "aya"), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference", "aya"}},
			[]string{"debian-6.1/hotplug-8: run error: qemu exited", "aya: no results for this loader"}},
		{"a not realizable run has no results to miss", withNotRealizable(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}}, nil},
		// A bare --gate or baseline name covers every version of the loader,
		// a versioned one that version only; a baseline filed under the full
		// name wins over the bare one.
		{"bare gate covers every version", versioned(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpf"}}, []string{
			"debian-6.1/smp-2/libbpf@1.1: MUST RING-002 failed", "debian-6.1/smp-2/libbpf@1.1: MUST SIZE-001 failed",
			"debian-6.1/smp-2/libbpf@1.4: MUST SIZE-001 failed"}},
		{"versioned gate covers that version", versioned(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpf@1.4"}},
			[]string{"debian-6.1/smp-2/libbpf@1.4: MUST SIZE-001 failed"}},
		{"leading v is optional", versioned(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpfgo@0.8.0"}},
			[]string{"debian-6.1/smp-2/libbpfgo@v0.8.0: MUST SIZE-001 failed"}},
		{"version not in the run", versioned(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpf@1.5"}},
			[]string{"libbpf@1.5: no results for this loader"}},
		{"bare baseline covers every version", versioned(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpf"},
			Baselines: map[string]report.Baseline{"libbpf": bare}}, []string{"debian-6.1/smp-2/libbpf@1.1: MUST RING-002 failed"}},
		{"versioned baseline wins over the bare one", versioned(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpf"},
			Baselines: map[string]report.Baseline{"libbpf": bare, "libbpf@1.4": only14}},
			[]string{"debian-6.1/smp-2/libbpf@1.1: MUST RING-002 failed", "debian-6.1/smp-2/libbpf@1.4: MUST SIZE-001 failed"}},
		// --allow-errors lets a requirement that could not be checked pass,
		// not a loader that was never judged.
		{"no verdict gates with errors allowed", noVerdict(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpfgo"}, AllowErrors: true},
			[]string{"libbpfgo: no verdict at all"}},
		{"no verdict gates among all loaders", noVerdict(), report.GateOptions{FailLevel: result.Must, AllowErrors: true,
			Baselines: map[string]report.Baseline{"cilium-ebpf": ciliumBaseline}}, []string{"libbpfgo: no verdict at all"}},
		{"no verdict and its errors", noVerdict(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpfgo"}}, []string{
			"debian-6.1/smp-2/libbpfgo: MUST RING-002 could not be checked (ERROR)", "debian-6.1/smp-2/libbpfgo: MUST SIZE-001 could not be checked (ERROR)",
			"libbpfgo: no verdict at all"}},
		{"no verdict allowed when asked", noVerdict(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpfgo"}, AllowErrors: true, AllowNoVerdict: true}, nil},
		{"no verdict of a loader not gated", noVerdict(), report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}, AllowErrors: true}, nil},
		{"unversioned results gate by bare name", unversioned, report.GateOptions{FailLevel: result.Must, Loaders: []string{"libbpf"}},
			[]string{"debian-6.1/smp-2/libbpf: MUST SIZE-001 failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := report.Gate(tc.results, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var strs []string
			for _, v := range got {
				strs = append(strs, v.String())
			}
			if len(strs) != len(tc.want) {
				t.Fatalf("violations:\n%s\nwant prefixes:\n%s", strings.Join(strs, "\n"), strings.Join(tc.want, "\n"))
			}
			for i := range strs {
				if !strings.HasPrefix(strs[i], tc.want[i]) {
					t.Errorf("violation %d: %q, want prefix %q", i, strs[i], tc.want[i])
				}
			}
		})
	}
}

// TestNoVerdict: a loader with results but not one PASS or FAIL anywhere.
func TestNoVerdict(t *testing.T) {
	for _, tc := range []struct {
		name     string
		statuses map[string][]result.Status // loader -> its results' statuses
		want     []string
	}{
		{"none", nil, nil},
		{"every loader judged", map[string][]result.Status{"a": {result.Pass}, "b": {result.Fail, result.Error}}, nil},
		{"all ERROR", map[string][]result.Status{"a": {result.Pass}, "b": {result.Error, result.Error}}, []string{"b"}},
		{"ERROR and SKIP", map[string][]result.Status{"b": {result.Error, result.Skip}, "a": {result.Skip}}, []string{"a", "b"}},
		{"one verdict anywhere is a verdict", map[string][]result.Status{"a": {result.Error, result.Error, result.Fail}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &report.Results{}
			for l, sts := range tc.statuses {
				for _, st := range sts {
					r.Results = append(r.Results, res("debian-6.1", "smp-2", l, "SIZE-001", result.Must, st, ""))
				}
			}
			if got := report.NoVerdict(r); !slices.Equal(got, tc.want) {
				t.Errorf("NoVerdict = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestGateRefusesBadResults (issue 24, item 6): results the gate cannot
// vouch for are refused, naming the entries, not judged: two results for one
// (kernel, topology, loader, requirement) cell, and a requirement ID the
// caller's KnownRequirement does not know (a typo, an edited file, another
// suite's results). Without KnownRequirement any ID is taken.
func TestGateRefusesBadResults(t *testing.T) {
	known := func(id string) bool {
		return slices.Contains([]string{"SIZE-001", "RING-002", "LEGACY-003", "EXPLICIT-004"}, id)
	}
	one := func(results ...result.Result) *report.Results {
		return &report.Results{Runs: []report.Run{run("debian-6.1", "smp-2")}, Results: results}
	}
	pass := func(loader, req string) result.Result {
		return res("debian-6.1", "smp-2", loader, req, result.Must, result.Pass, "")
	}
	fail := func(loader, req string) result.Result {
		return res("debian-6.1", "smp-2", loader, req, result.Must, result.Fail, "no")
	}
	for _, tc := range []struct {
		name    string
		results *report.Results
		known   func(string) bool
		want    []string // substrings of the error; none: no error
	}{
		{"good", one(pass("reference", "SIZE-001"), pass("cilium-ebpf", "SIZE-001")), known, nil},
		{"duplicate cell", one(pass("reference", "SIZE-001"), pass("cilium-ebpf", "SIZE-001"), pass("reference", "SIZE-001")), known,
			[]string{"results[2] repeats results[0]", "debian-6.1/smp-2/reference SIZE-001"}},
		{"duplicate cell, conflicting", one(fail("reference", "RING-002"), pass("cilium-ebpf", "SIZE-001"), pass("reference", "RING-002")), nil,
			[]string{"results[2] repeats results[0]"}},
		{"duplicate cell of a loader not gated", one(pass("reference", "SIZE-001"), pass("cilium-ebpf", "SIZE-001"), pass("cilium-ebpf", "SIZE-001")), known,
			[]string{"results[2] repeats results[1]"}},
		{"unknown requirement", one(pass("reference", "SIZE-001"), pass("cilium-ebpf", "SIZE-001"), pass("reference", "RING-02")), known,
			[]string{`results[2] (debian-6.1/smp-2/reference): requirement "RING-02" is unknown`}},
		{"unknown requirements, and a duplicate", one(pass("reference", "SIZE-001"), pass("cilium-ebpf", "SIZE-001"), pass("reference", "NOPE"), pass("reference", "SIZE-001"), fail("cilium-ebpf", "NOPE2")), known,
			[]string{`results[2] (debian-6.1/smp-2/reference): requirement "NOPE"`, `results[4] (debian-6.1/smp-2/cilium-ebpf): requirement "NOPE2"`, "results[3] repeats results[0]"}},
		{"any requirement without KnownRequirement", one(pass("reference", "SIZE-001"), pass("cilium-ebpf", "SIZE-001"), pass("reference", "RING-02")), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := report.Gate(tc.results, report.GateOptions{FailLevel: result.Must, Loaders: []string{"reference"}, KnownRequirement: tc.known})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Gate: %v, want none", err)
				}
				return
			}
			if !errors.Is(err, report.ErrInvalid) {
				t.Fatalf("Gate = %v, %v; want an error wrapping report.ErrInvalid", v, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestGateRejectsBadOptions(t *testing.T) {
	for _, opts := range []report.GateOptions{
		{},
		{FailLevel: result.May},
		{FailLevel: result.Must, Baselines: map[string]report.Baseline{"aya": {Schema: 1, Loader: "libbpf"}}},
	} {
		if _, err := report.Gate(&report.Results{}, opts); !errors.Is(err, report.ErrGateOptions) {
			t.Errorf("Gate(%+v): %v, want ErrGateOptions", opts, err)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]result.Level{"must": result.Must, "SHOULD": result.Should, "may": "", "": ""} {
		got, err := report.ParseLevel(in)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("ParseLevel(%q) = %q, %v", in, got, err)
		}
	}
}

func TestLoadBaseline(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		mention   string // "" = valid
	}{
		{"valid", `{"schema": 1, "loader": "aya", "deviations": [{"requirement": "RING-002", "reason": "aya#123", "topology": "hotplug-8"}]}`, ""},
		{"valid, no deviations", `{"schema": 1, "loader": "aya", "deviations": []}`, ""},
		{"no schema", `{"loader": "aya", "deviations": []}`, `schema 0, want "schema": 1`},
		{"no loader", `{"schema": 1, "deviations": []}`, `"loader" is empty`},
		{"no requirement", `{"schema": 1, "loader": "aya", "deviations": [{"reason": "x"}]}`, `deviations[0]: "requirement" is empty`},
		{"no reason", `{"schema": 1, "loader": "aya", "deviations": [{"requirement": "R"}, {"requirement": "S", "reason": " "}]}`, `deviations[0] (R): "reason" is empty`},
		{"duplicate", `{"schema": 1, "loader": "aya", "deviations": [{"requirement": "R", "reason": "a"}, {"requirement": "R", "reason": "b"}]}`, `deviations[1] (R) repeats deviations[0]`},
		{"typo in field", `{"schema": 1, "loader": "aya", "deviations": [{"requirement": "R", "reason": "a", "topolgy": "x"}]}`, `unknown field "topolgy"`},
		{"trailing data", `{"schema": 1, "loader": "aya", "deviations": []} {}`, `data after the JSON object`},
		{"not json", `schema: 1`, `invalid character`},
		// encoding/json keeps the last of two equal keys silently (and
		// matches field names in any case): the first is lost
		{"duplicate key", `{"schema": 1, "loader": "aya", "loader": "libbpf", "deviations": []}`, `key "loader" appears twice`},
		{"duplicate key in any case", `{"schema": 1, "loader": "aya", "Loader": "libbpf", "deviations": []}`, `key "Loader" appears twice`},
		{"duplicate key in a deviation", `{"schema": 1, "loader": "aya", "deviations": [{"requirement": "R", "reason": "a", "requirement": "S"}]}`, `key "requirement" appears twice in deviations[0]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "aya.baseline.json")
			if err := os.WriteFile(path, []byte(tc.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			b, err := report.LoadBaseline(path)
			if tc.mention == "" {
				if err != nil || b.Loader != "aya" {
					t.Fatalf("LoadBaseline: %+v, %v", b, err)
				}
				return
			}
			if !errors.Is(err, report.ErrBaseline) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("LoadBaseline: %v\nwant ErrBaseline naming %s and mentioning %q", err, path, tc.mention)
			}
		})
	}
	if _, err := report.LoadBaseline(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadBaselinesRejectsTwoForOneLoader(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, n := range []string{"a.json", "b.json"} {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(`{"schema": 1, "loader": "aya", "deviations": []}`), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if _, err := report.LoadBaselines(paths...); !errors.Is(err, report.ErrBaseline) || !strings.Contains(err.Error(), "a.json") {
		t.Fatalf("LoadBaselines: %v", err)
	}
	m, err := report.LoadBaselines(paths[0])
	if err != nil || !slices.Equal([]string{m["aya"].Loader}, []string{"aya"}) {
		t.Fatalf("LoadBaselines(one): %v, %v", m, err)
	}
}

func TestBaselineCheck(t *testing.T) {
	names := report.Names{
		Requirement: func(id string) bool { return id == "RING-KEY" || id == "SIZE-AUTO" },
		Topology:    func(t string) bool { return t == "sparse" },
		Kernel:      func(k string) bool { return k == "debian-6.1" },
	}
	for _, tc := range []struct {
		name  string
		devs  []report.Deviation
		names report.Names
		want  []string
	}{
		{"all known", []report.Deviation{
			{Requirement: "RING-KEY", Reason: "r", Topology: "sparse", Kernel: "debian-6.1"},
			{Requirement: "SIZE-AUTO", Reason: "r"},
		}, names, nil},
		{"unknown requirement", []report.Deviation{{Requirement: "RING-002", Reason: "r"}}, names,
			[]string{`deviations[0] (RING-002) names something that does not exist: requirement "RING-002" is unknown`}},
		{"unknown topology and kernel", []report.Deviation{
			{Requirement: "RING-KEY", Reason: "r"},
			{Requirement: "RING-KEY", Reason: "r", Topology: "hotplug-8", Kernel: "debian-4.19"},
		}, names, []string{`deviations[1] (RING-KEY) names something that does not exist: topology "hotplug-8"`,
			`deviations[1] (RING-KEY) names something that does not exist: kernel "debian-4.19"`}},
		{"nil funcs accept everything", []report.Deviation{{Requirement: "RING-002", Reason: "r", Topology: "hotplug-8"}}, report.Names{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "b.json")
			b := report.Baseline{Schema: 1, Loader: "aya", Deviations: tc.devs}
			data, _ := json.Marshal(b)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			loaded, err := report.LoadBaseline(path)
			if err != nil {
				t.Fatal(err)
			}
			errs := loaded.Check(tc.names)
			if len(errs) != len(tc.want) {
				t.Fatalf("Check = %v, want %d errors", errs, len(tc.want))
			}
			for i, err := range errs {
				if !errors.Is(err, report.ErrUnknownName) || !strings.Contains(err.Error(), tc.want[i]) || !strings.Contains(err.Error(), path) {
					t.Errorf("error %d = %v, want ErrUnknownName naming %s and %q", i, err, path, tc.want[i])
				}
			}
		})
	}
}

// TestLoadCheckedBaselines: every baseline is checked, loaders in name order
// whatever the order of the files; a file that cannot be used is an error,
// not a problem.
func TestLoadCheckedBaselines(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	libbpf := write("libbpf.json", `{"schema": 1, "loader": "libbpf", "deviations": [{"requirement": "RING-002", "reason": "r"}]}`)
	aya := write("aya.json", `{"schema": 1, "loader": "aya", "deviations": [{"requirement": "SIZE-AUTO", "reason": "r", "kernel": "debian-4.19"}]}`)
	names := report.Names{
		Requirement: func(id string) bool { return id == "SIZE-AUTO" },
		Kernel:      func(k string) bool { return k == "debian-6.1" },
	}
	bs, problems, err := report.LoadCheckedBaselines(names, libbpf, aya)
	if err != nil || len(bs) != 2 || len(problems) != 2 {
		t.Fatalf("LoadCheckedBaselines = %v, %v, %v; want both baselines and 2 problems", bs, problems, err)
	}
	for i, want := range []string{aya + `: deviations[0] (SIZE-AUTO) names something that does not exist: kernel "debian-4.19"`,
		libbpf + `: deviations[0] (RING-002) names something that does not exist: requirement "RING-002"`} {
		if !errors.Is(problems[i], report.ErrUnknownName) || !strings.Contains(problems[i].Error(), want) {
			t.Errorf("problem %d = %v, want ErrUnknownName with %q", i, problems[i], want)
		}
	}
	bad := write("bad.json", `{"schema": 1, "loader": ""}`)
	if bs, problems, err := report.LoadCheckedBaselines(names, aya, bad); !errors.Is(err, report.ErrBaseline) || bs != nil || problems != nil {
		t.Errorf("with an unusable file: %v, %v, %v; want ErrBaseline alone", bs, problems, err)
	}
}
