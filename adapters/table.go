package adapters

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/perfconform/perfconform/vmtest/arch"
)

// Table is what `conform adapters` lists: every built-in adapter, whether it
// builds and runs on this machine, and in the VMs of each other
// architecture (cross-built).
type Table struct {
	VMArchs []string // architectures other than the host's, one column each
	Rows    []Row    // All() order
}

// Row is one adapter in a Table.
type Row struct {
	Adapter
	// DefaultFor is the bare name this adapter answers to when it is the
	// default version of its loader ("libbpf" for libbpf@1.1), else "".
	DefaultFor string
	Here       Place   // this machine
	VMs        []Place // one per Table.VMArchs, in that order
}

// Place says whether an adapter can run somewhere, and why not.
type Place struct {
	Arch string // "" for this machine
	Err  error  // nil when the adapter builds and runs there; else wraps ErrUnavailable
	// Note is why not as one sentence naming the adapter and the place
	// ("aya in arm64 VMs: it is built with ..."); "" when it can.
	Note string
}

// Available reports whether the adapter builds and runs at the place.
func (p Place) Available() bool { return p.Err == nil }

// Availability builds the Table from Available and AvailableFor.
func Availability() Table {
	var t Table
	for _, a := range arch.All() {
		if !a.IsHost() {
			t.VMArchs = append(t.VMArchs, a.Name)
		}
	}
	for _, a := range All() {
		r := Row{Adapter: a, Here: place(a, "", a.Available())}
		if a.Default {
			r.DefaultFor = a.Base()
		}
		for _, name := range t.VMArchs {
			r.VMs = append(r.VMs, place(a, name, a.AvailableFor(name)))
		}
		t.Rows = append(t.Rows, r)
	}
	return t
}

// place turns an availability error into a Place whose note drops the
// error's "adapter unavailable here: NAME[ on ARCH]: " prefix, which the
// sentence says in its own words.
func place(a Adapter, archName string, err error) Place {
	p := Place{Arch: archName, Err: err}
	if err == nil {
		return p
	}
	why, where := err.Error(), a.Name
	if archName != "" {
		why = strings.TrimPrefix(why, ErrUnavailable.Error()+": "+a.Name+" on "+archName+": ")
		where += " in " + archName + " VMs"
	}
	p.Note = where + ": " + strings.TrimPrefix(why, ErrUnavailable.Error()+": "+a.Name+": ")
	return p
}

// WriteText writes t as `conform adapters` shows it: a table with one
// column per place, a reason an adapter cannot run somewhere as a numbered
// note under it (so the columns stay readable however long the reason),
// and how --loader names the adapters.
func (t Table) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "NAME\tDEFAULT FOR\tRUNS HERE"
	for _, a := range t.VMArchs {
		header += "\tIN " + strings.ToUpper(a) + " VMS"
	}
	fmt.Fprintln(tw, header+"\tDESCRIPTION")
	var notes []string
	cell := func(p Place) string {
		if p.Available() {
			return "\tyes"
		}
		notes = append(notes, p.Note)
		return fmt.Sprintf("\tno [%d]", len(notes))
	}
	for _, r := range t.Rows {
		def := "-"
		if r.DefaultFor != "" {
			def = r.DefaultFor
		}
		here := cell(r.Here)
		row := r.Name + "\t" + def + here
		for _, p := range r.VMs {
			row += cell(p)
		}
		fmt.Fprintf(tw, "%s\t%s\n", row, r.Description)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, n := range notes {
		fmt.Fprintf(w, "[%d] %s\n", i+1, n)
	}
	_, err := fmt.Fprintln(w, "\n--loader takes a NAME, or the bare name in DEFAULT FOR for that version; results carry the NAME.")
	return err
}
