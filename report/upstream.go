package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/perfconform/perfconform/result"
)

// Upstream is what the loaders' maintainers know about the causes the
// reports find: reports/upstream.json, maintained by hand. Each entry maps a
// finding — a loader, the requirements it fails and a pattern of its
// evidence — to the upstream issue or pull request and its state on a date,
// so a maintainer reading the report sees what is new. A test of package
// reports keeps every entry matched by at least one result of the committed
// results.json, so an entry cannot outlive the finding it was written for.
type Upstream struct {
	Schema  int             `json:"schema"`
	Entries []UpstreamEntry `json:"entries"`
	// Unmapped are upstream reports known to concern these loaders whose
	// finding the repository does not record; kept so they are not lost,
	// matched to nothing.
	Unmapped []UpstreamRef `json:"unmapped,omitempty"`
}

// UpstreamEntry maps one finding to upstream reports.
type UpstreamEntry struct {
	// Loader is a loader name as baselines take it: a bare name covers
	// every version, NAME@VERSION that version.
	Loader string `json:"loader"`
	// Requirements the finding fails (at least one of a cause's must be
	// listed).
	Requirements []string `json:"requirements"`
	// Evidence is a regular expression that a result's detail of the
	// finding matches.
	Evidence string        `json:"evidence"`
	Refs     []UpstreamRef `json:"upstream"`

	re *regexp.Regexp
}

// UpstreamRef is one upstream report and its state on a date.
type UpstreamRef struct {
	// Ref is "owner/repo#N" (issue or pull request), or empty with State
	// StateNotReported.
	Ref  string `json:"ref,omitempty"`
	URL  string `json:"url,omitempty"`
	Kind string `json:"kind,omitempty"` // "issue" or "pull request"
	// State is "open", "closed", "merged", "unmerged", StateNotReported, or
	// "not recorded" when the repository does not know it.
	State string `json:"state"`
	// Date is when State was checked (YYYY-MM-DD, or YYYY-MM).
	Date string `json:"date,omitempty"`
	Note string `json:"note,omitempty"`
}

// StateNotReported marks a finding nobody has reported upstream (checked on
// Date).
const StateNotReported = "not reported upstream"

// Text is the reference on one line: "cilium/ebpf#2100 (issue, open,
// 2026-12-06)".
func (u UpstreamRef) Text() string {
	if u.State == StateNotReported {
		if u.Date != "" {
			return StateNotReported + " (checked " + u.Date + ")"
		}
		return StateNotReported
	}
	var attrs []string
	for _, a := range []string{u.Kind, u.State, u.Date} {
		if a != "" {
			attrs = append(attrs, a)
		}
	}
	text := u.Ref
	if len(attrs) > 0 {
		text += " (" + strings.Join(attrs, ", ") + ")"
	}
	if u.Note != "" {
		text += ": " + u.Note
	}
	return text
}

// ErrUpstream is wrapped by every problem with an upstream file.
var ErrUpstream = errors.New("invalid upstream file")

// LoadUpstream reads an upstream file; errors name it.
func LoadUpstream(path string) (*Upstream, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	u, err := ParseUpstream(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return u, nil
}

// ParseUpstream parses and checks an upstream document: schema 1, every
// entry with a loader, requirements, a compiling evidence pattern and at
// least one reference with a state; unknown fields are refused.
func ParseUpstream(data []byte) (*Upstream, error) {
	var u Upstream
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUpstream, err)
	}
	if u.Schema != 1 {
		return nil, fmt.Errorf("%w: schema %d, want 1", ErrUpstream, u.Schema)
	}
	for i := range u.Entries {
		e := &u.Entries[i]
		if e.Loader == "" || len(e.Requirements) == 0 || e.Evidence == "" || len(e.Refs) == 0 {
			return nil, fmt.Errorf("%w: entries[%d]: loader, requirements, evidence and upstream are required", ErrUpstream, i)
		}
		re, err := regexp.Compile(e.Evidence)
		if err != nil {
			return nil, fmt.Errorf("%w: entries[%d] (%s): evidence: %v", ErrUpstream, i, e.Loader, err)
		}
		e.re = re
		for j, r := range e.Refs {
			if r.State == "" || (r.Ref == "" && r.State != StateNotReported) {
				return nil, fmt.Errorf("%w: entries[%d].upstream[%d]: want a ref and a state", ErrUpstream, i, j)
			}
		}
	}
	return &u, nil
}

// Matches reports whether the entry describes r: its loader, one of its
// requirements, a FAIL whose detail matches the evidence pattern.
func (e *UpstreamEntry) Matches(r result.Result) bool {
	return r.Status == result.Fail && result.ParseLoaderName(e.Loader).Selects(r.Loader) &&
		slices.Contains(e.Requirements, r.Requirement) && e.re != nil && e.re.MatchString(r.Detail)
}

// Match returns the references of every entry that matches at least one
// result of the cause; nil for a nil Upstream.
func (u *Upstream) Match(c *Cause) []UpstreamRef {
	if u == nil {
		return nil
	}
	var out []UpstreamRef
	for i := range u.Entries {
		e := &u.Entries[i]
		if slices.ContainsFunc(c.Results, e.Matches) {
			for _, ref := range e.Refs {
				if !slices.Contains(out, ref) {
					out = append(out, ref)
				}
			}
		}
	}
	return out
}

// Unmatched returns the entries no result of r matches: stale entries (the
// finding is gone, or renamed) or patterns with a typo.
func (u *Upstream) Unmatched(r *Results) []UpstreamEntry {
	var out []UpstreamEntry
	for i := range u.Entries {
		if !slices.ContainsFunc(r.Results, u.Entries[i].Matches) {
			out = append(out, u.Entries[i])
		}
	}
	return out
}
