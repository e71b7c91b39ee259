package adapters

import (
	"errors"
	"fmt"
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
