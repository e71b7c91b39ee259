package report_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

func TestMerge(t *testing.T) {
	a := res("k", "t", "l", "R1", result.Must, result.Pass, "")
	aSlow := a
	aSlow.Duration = time.Second
	aFail := a
	aFail.Status, aFail.Detail = result.Fail, "ring missing"
	aErr := a
	aErr.Status = result.Error
	b := res("k", "t", "l", "R2", result.Should, result.Skip, "")
	other := res("k", "t", "other", "R1", result.Must, result.Pass, "")

	one := func(rs ...result.Result) *report.Results { return &report.Results{Results: rs} }
	for _, tc := range []struct {
		name      string
		inputs    []*report.Results
		want      []result.Status // statuses of the merged results, canonical order
		conflicts []result.Status // Kept of each conflict
	}{
		{"disjoint cells are all kept", []*report.Results{one(a), one(b), one(other)}, []result.Status{"PASS", "SKIP", "PASS"}, nil},
		{"same cell twice counts once", []*report.Results{one(a), one(a)}, []result.Status{"PASS"}, nil},
		{"duplicate inside one input counts once", []*report.Results{one(a, a, b)}, []result.Status{"PASS", "SKIP"}, nil},
		{"different duration is no conflict", []*report.Results{one(a), one(aSlow)}, []result.Status{"PASS"}, nil},
		{"PASS vs FAIL keeps FAIL and flags it", []*report.Results{one(a), one(aFail)}, []result.Status{"FAIL"}, []result.Status{"FAIL"}},
		{"FAIL vs PASS, other order, same outcome", []*report.Results{one(aFail), one(a)}, []result.Status{"FAIL"}, []result.Status{"FAIL"}},
		{"ERROR beats PASS", []*report.Results{one(a, b), one(aErr)}, []result.Status{"ERROR", "SKIP"}, []result.Status{"ERROR"}},
		{"three-way keeps FAIL", []*report.Results{one(aErr), one(a), one(aFail)}, []result.Status{"FAIL"}, []result.Status{"FAIL"}},
		{"nil and empty inputs", []*report.Results{nil, {}, one(b)}, []result.Status{"SKIP"}, nil},
		{"nothing", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, conflicts := report.Merge(tc.inputs...)
			var statuses []result.Status
			for _, r := range got.Results {
				statuses = append(statuses, r.Status)
			}
			if !slices.Equal(statuses, tc.want) {
				t.Errorf("merged statuses %v, want %v", statuses, tc.want)
			}
			var kept []result.Status
			for _, c := range conflicts {
				kept = append(kept, c.Kept)
				if len(c.Outcomes) < 2 {
					t.Errorf("conflict %s lists %d outcomes", c.Requirement, len(c.Outcomes))
				}
			}
			if !slices.Equal(kept, tc.conflicts) {
				t.Errorf("conflicts kept %v, want %v", kept, tc.conflicts)
			}
			if len(got.Conflicts) != len(conflicts) {
				t.Errorf("Results.Conflicts has %d, returned %d", len(got.Conflicts), len(conflicts))
			}
			// Merge is commutative.
			rev := slices.Clone(tc.inputs)
			slices.Reverse(rev)
			back, _ := report.Merge(rev...)
			if encode(t, back) != encode(t, got) {
				t.Errorf("Merge depends on input order:\n%s\n---\n%s", encode(t, got), encode(t, back))
			}
		})
	}
}

func TestMergeCarriesConflictsAndDedupsRuns(t *testing.T) {
	a := res("k", "t", "l", "R1", result.Must, result.Pass, "")
	f := a
	f.Status = result.Fail
	first, _ := report.Merge(&report.Results{Runs: []report.Run{run("debian-6.1", "smp-2")}, Results: []result.Result{a}},
		&report.Results{Runs: []report.Run{run("debian-6.1", "smp-2")}, Results: []result.Result{f}})
	if len(first.Runs) != 1 {
		t.Fatalf("identical runs kept %d times", len(first.Runs))
	}
	// Merging the merged document with a third PASS keeps the conflict.
	again, conflicts := report.Merge(first, &report.Results{Results: []result.Result{a}})
	if len(conflicts) != 1 || conflicts[0].Kept != result.Fail || len(again.Results) != 1 {
		t.Fatalf("re-merge lost the conflict: %+v", conflicts)
	}
	later := &report.Results{Generated: testTime.Add(time.Hour)}
	if m, _ := report.Merge(first, later, &report.Results{Generated: testTime}); !m.Generated.Equal(later.Generated) {
		t.Fatalf("Generated %v, want the latest input's %v", m.Generated, later.Generated)
	}
}

// Two shards merged give the same four files, byte for byte, as one run of
// their union.
func TestMergedShardsEqualUnion(t *testing.T) {
	s1, s2 := shard("debian-6.1"), shard("debian-6.12")
	union := &report.Results{
		Generated: testTime,
		Runs:      append(slices.Clone(s2.Runs), s1.Runs...), // any order: Write is canonical
		Results:   append(slices.Clone(s2.Results), s1.Results...),
	}
	merged, conflicts := report.Merge(s1, s2)
	if len(conflicts) != 0 {
		t.Fatalf("disjoint shards conflict: %+v", conflicts)
	}
	opts := report.Options{Impacts: map[string]string{"RING-002": "Events from CPUs without a ring are lost."}}
	dirU, dirM := t.TempDir(), t.TempDir()
	if err := report.WriteAll(dirU, union, opts); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteAll(dirM, merged, opts); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{report.ResultsFile, report.JUnitFile, report.MarkdownFile, report.HTMLFile} {
		u, err := os.ReadFile(filepath.Join(dirU, name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := os.ReadFile(filepath.Join(dirM, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(u) < 200 {
			t.Errorf("%s is suspiciously short (%d bytes)", name, len(u))
		}
		if !bytes.Equal(u, m) {
			t.Errorf("%s of merged shards differs from the union's:\n%s\n---\n%s", name, u, m)
		}
	}
	// And the merge is a fixed point: merging the written results again
	// changes nothing.
	back, err := report.ReadDir(dirM)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := report.Merge(back, s1); encode(t, again) != encode(t, merged) {
		t.Error("merging a merged result with one of its shards changed it")
	}
}

func encode(t *testing.T, r *report.Results) string {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestMergeDirs: the results of run directories and results.json files
// merge as Merge merges them; a path without results is an error naming it.
func TestMergeDirs(t *testing.T) {
	s1, s2 := shard("debian-6.1"), shard("debian-6.12")
	d1, d2 := t.TempDir(), t.TempDir()
	if err := report.WriteAll(d1, s1, report.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteAll(d2, s2, report.Options{}); err != nil {
		t.Fatal(err)
	}
	merged, conflicts, err := report.MergeDirs(d1, filepath.Join(d2, report.ResultsFile))
	if err != nil || len(conflicts) != 0 {
		t.Fatalf("MergeDirs = %v, %v", conflicts, err)
	}
	if want, _ := report.Merge(s1, s2); encode(t, merged) != encode(t, want) {
		t.Error("MergeDirs differs from Merge of the same results")
	}
	empty := t.TempDir()
	if _, _, err := report.MergeDirs(d1, empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("MergeDirs with an empty directory: %v, want an error naming it", err)
	}
}

// TestMergeInto: `conform report merge` in one call. The impacts file
// replaces the caller's line for its requirements, without changing the
// caller's map; SOURCE_DATE_EPOCH fixes Generated; a bad
// impacts file, input or epoch is an error naming it and writes nothing.
func TestMergeInto(t *testing.T) {
	s1, s2 := shard("debian-6.1"), shard("debian-6.12")
	d1, d2 := t.TempDir(), t.TempDir()
	for d, s := range map[string]*report.Results{d1: s1, d2: s2} {
		if err := report.WriteAll(d, s, report.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	impacts := filepath.Join(t.TempDir(), "impacts.json")
	if err := os.WriteFile(impacts, []byte(`{"RING-002": "the file's line"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	suiteLines := map[string]string{"RING-002": "the suite's line", "LEGACY-003": "the suite's other line"}
	opts := report.Options{Impacts: suiteLines}

	out := filepath.Join(t.TempDir(), "merged")
	merged, conflicts, err := report.MergeInto(out, false, opts, impacts, "86400", d1, d2)
	if err != nil || len(conflicts) != 0 {
		t.Fatalf("MergeInto = %v, %v", conflicts, err)
	}
	if !merged.Generated.Equal(time.Unix(86400, 0)) || merged.Generated.Location() != time.UTC {
		t.Errorf("Generated = %v, want 1970-01-02 UTC from the epoch", merged.Generated)
	}
	want, _ := report.Merge(s1, s2)
	want.Generated = merged.Generated
	written, err := report.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if encode(t, written) != encode(t, want) {
		t.Error("MergeInto wrote other results than Merge of its inputs")
	}
	md, err := os.ReadFile(filepath.Join(out, report.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "the file's line") || strings.Contains(string(md), "the suite's line") {
		t.Errorf("report.md does not carry the impacts file's line for RING-002:\n%s", md)
	}
	if suiteLines["RING-002"] != "the suite's line" || len(suiteLines) != 2 {
		t.Errorf("MergeInto changed the caller's impacts: %v", suiteLines)
	}
	for _, f := range []string{report.ResultsFile, report.JUnitFile, report.HTMLFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}

	if merged, _, err := report.MergeInto(t.TempDir(), false, opts, "", "", d1, d2); err != nil || !merged.Generated.Equal(testTime) {
		t.Errorf("without an epoch: Generated %v, %v; want the inputs' %v", merged.Generated, err, testTime)
	}
	empty := t.TempDir()
	for _, tc := range []struct {
		name, impacts, epoch string
		dirs                 []string
		wantErr              string
	}{
		{"bad epoch", "", "yesterday", []string{d1}, `SOURCE_DATE_EPOCH="yesterday"`},
		{"missing impacts", filepath.Join(empty, "none.json"), "", []string{d1}, "none.json"},
		{"impacts naming an unknown requirement", writeFile(t, `{"RING-002": "x", "RING-999": "y"}`), "", []string{d1}, `"RING-999" is not a requirement`},
		{"impacts with a key twice", writeFile(t, `{"RING-002": "x", "RING-002": "y"}`), "", []string{d1}, `key "RING-002" appears twice`},
		{"input without results", "", "", []string{d1, empty}, empty},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		if _, _, err := report.MergeInto(dir, false, opts, tc.impacts, tc.epoch, tc.dirs...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.wantErr)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s written anyway (%v)", tc.name, dir, err)
		}
	}
}

// TestMergeIntoIsCarefulWithOut (issue 24 item 12): --out must be new or
// empty, as for `conform run --out`; with force it may hold only an earlier
// report (the four files), which is replaced; it is never one of the
// inputs; and it is refused while another merge or run holds it.
func TestMergeIntoIsCarefulWithOut(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	s1, s2 := shard("debian-6.1"), shard("debian-6.12")
	both, _ := report.Merge(s1, s2)
	for d, s := range map[string]*report.Results{d1: s1, d2: s2} {
		if err := report.WriteAll(d, s, report.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(d1, report.ResultsFile))
	for _, force := range []bool{false, true} {
		if _, _, err := report.MergeInto(d1, force, report.Options{}, "", "", d1, d2); err == nil || !strings.Contains(err.Error(), "input") {
			t.Errorf("--out an input (force %v): %v, want a refusal saying it is an input", force, err)
		}
		if _, _, err := report.MergeInto(d1, force, report.Options{}, "", "", filepath.Join(d1, report.ResultsFile), d2); err == nil || !strings.Contains(err.Error(), "input") {
			t.Errorf("--out the directory of an input file (force %v): %v, want a refusal saying it is an input", force, err)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(d1, report.ResultsFile)); !bytes.Equal(before, after) {
		t.Error("a merge into its own input rewrote it")
	}

	out := t.TempDir()
	if _, _, err := report.MergeInto(out, false, report.Options{}, "", "", d1); err != nil {
		t.Fatalf("merge into an empty directory: %v", err)
	}
	if _, _, err := report.MergeInto(out, false, report.Options{}, "", "", d1, d2); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("merge into an earlier report without force: %v, want 'not empty'", err)
	}
	if _, _, err := report.MergeInto(out, true, report.Options{}, "", "", d1, d2); err != nil {
		t.Errorf("merge into an earlier report with force: %v", err)
	}
	if r, err := report.ReadDir(out); err != nil || len(r.Runs) != len(both.Runs) {
		t.Errorf("force did not replace the earlier report: %v", err)
	}
	os.WriteFile(filepath.Join(out, "thesis.tex"), nil, 0o644)
	if _, _, err := report.MergeInto(out, true, report.Options{}, "", "", d1); err == nil || !strings.Contains(err.Error(), "thesis.tex") {
		t.Errorf("merge with force into a directory with a foreign file: %v, want a refusal naming it", err)
	}
	if r, err := report.ReadDir(out); err != nil || len(r.Runs) != len(both.Runs) {
		t.Errorf("a refused merge changed --out: %v", err)
	}
}

// writeFile writes data to a new file and returns its path.
func writeFile(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "impacts.json")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
