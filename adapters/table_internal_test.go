package adapters

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestAvailabilityKeepsReasonsShort: every unavailable place has a note that
// names the adapter and the place once, without the error's own prefix
// (`conform adapters` prints it under the table); an available one has none.
func TestAvailabilityKeepsReasonsShort(t *testing.T) {
	tbl := Availability()
	if len(tbl.Rows) != len(All()) {
		t.Fatalf("%d rows for %d adapters", len(tbl.Rows), len(All()))
	}
	for _, r := range tbl.Rows {
		if len(r.VMs) != len(tbl.VMArchs) {
			t.Errorf("%s: %d VM places for %d architectures", r.Name, len(r.VMs), len(tbl.VMArchs))
		}
		if (r.DefaultFor != "") != r.Default || (r.Default && r.DefaultFor != r.Base()) {
			t.Errorf("%s: DefaultFor %q, Default %v", r.Name, r.DefaultFor, r.Default)
		}
		for _, p := range append([]Place{r.Here}, r.VMs...) {
			if p.Available() != (p.Note == "") || strings.Contains(p.Note, ErrUnavailable.Error()) ||
				(p.Note != "" && !strings.HasPrefix(p.Note, r.Name+": ") && !strings.HasPrefix(p.Note, r.Name+" in "+p.Arch+" VMs: ")) {
				t.Errorf("%s at %q: err %v, note %q", r.Name, p.Arch, p.Err, p.Note)
			}
		}
	}
}

// TestPlaceNotes: the prefix AvailableFor and Available put on their errors
// is dropped, and only that prefix.
func TestPlaceNotes(t *testing.T) {
	a := Adapter{Name: "aya"}
	for _, tc := range []struct {
		arch string
		err  error
		want string
	}{
		{"", nil, ""},
		{"", fmt.Errorf("%w: aya: no cargo", ErrUnavailable), "aya: no cargo"},
		{"arm64", fmt.Errorf("%w: aya on arm64: needs a rustup target", ErrUnavailable), "aya in arm64 VMs: needs a rustup target"},
		{"arm64", fmt.Errorf("%w: aya: source adapters/aya not in this tree", ErrUnavailable), "aya in arm64 VMs: source adapters/aya not in this tree"},
		{"", errors.New("odd"), "aya: odd"},
	} {
		if got := place(a, tc.arch, tc.err).Note; got != tc.want {
			t.Errorf("place(%q, %v).Note = %q, want %q", tc.arch, tc.err, got, tc.want)
		}
	}
}

// TestAdaptersTableKeepsReasonsOutOfColumns: `conform adapters` puts every
// reason a loader cannot run under the table as a numbered note, so the
// columns stay readable however long the reason. Checked on this machine's
// table and on one made by hand, where some places are unavailable whatever
// this machine can build.
func TestAdaptersTableKeepsReasonsOutOfColumns(t *testing.T) {
	long := fmt.Errorf("%w: aya on arm64: %s", ErrUnavailable, strings.Repeat("a long reason ", 12))
	made := Table{VMArchs: []string{"arm64", "riscv64"}, Rows: []Row{
		{Adapter: Adapter{Name: "reference", Description: "the reference"}, Here: place(Adapter{Name: "reference"}, "", nil),
			VMs: []Place{place(Adapter{Name: "reference"}, "arm64", nil), place(Adapter{Name: "reference"}, "riscv64", nil)}},
		{Adapter: Adapter{Name: "aya", Description: "aya"}, DefaultFor: "aya",
			Here: place(Adapter{Name: "aya"}, "", fmt.Errorf("%w: aya: no cargo", ErrUnavailable)),
			VMs:  []Place{place(Adapter{Name: "aya"}, "arm64", long), place(Adapter{Name: "aya"}, "riscv64", nil)}},
	}}
	for name, tbl := range map[string]Table{"Availability": Availability(), "made": made} {
		var out strings.Builder
		if err := tbl.WriteText(&out); err != nil {
			t.Fatal(err)
		}
		text := out.String()
		if strings.Contains(text, "\tno: ") || strings.Contains(text, " no: ") {
			t.Errorf("%s: a reason is inside the table:\n%s", name, text)
		}
		for _, m := range regexp.MustCompile(`no \[(\d+)\]`).FindAllStringSubmatch(text, -1) {
			if !strings.Contains(text, "\n["+m[1]+"] ") {
				t.Errorf("%s: cell %q has no note [%s]:\n%s", name, m[0], m[1], text)
			}
		}
		if name == "made" && (!strings.Contains(text, "\n[1] aya: no cargo\n") || !strings.Contains(text, "\n[2] aya in arm64 VMs: a long reason")) {
			t.Errorf("made: notes [1] and [2] missing:\n%s", text)
		}
	}
}
