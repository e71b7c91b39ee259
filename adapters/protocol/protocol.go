// Package protocol defines the perfconform adapter protocol: the JSON lines an
// adapter executable prints, and the Go types that both halves (adapters written
// in Go, and the suite that drives any adapter) share, so that the two sides can
// never disagree about a field name.
//
// The protocol is documented for adapter authors in docs/ADAPTERS.md.
package protocol

// Version is the adapter protocol version this build speaks. An adapter that
// reports another version in its info line is an ERROR for that loader.
const Version = 1

// Minor is the newest minor revision of Version this build understands.
// Minor revisions only add what older suites never see from older adapters,
// so adapters of every minor revision of Version are accepted:
//
//   - 0: the first protocol. Every sample names the CPU its ring belongs to.
//   - 1: a sample may carry CPUUnknown: the loader's reader hands over bare
//     bytes without saying which CPU they came from (libbpfgo's channel).
//   - 2: an error line may have the stage StageUnsupported: the loader cannot
//     express the object at all (bcc compiles its own C dialect).
const Minor = 2

// Capability names an optional loader feature an adapter may declare in its
// info line. A spec that needs a capability the loader does not declare is
// SKIPped with the loader's reason, never failed.
type Capability string

const (
	// CapLegacyMaps: the loader understands the legacy "maps" ELF section
	// (struct bpf_map_def).
	CapLegacyMaps Capability = "legacy-maps"
	// CapPinning: the loader pins maps by name under a bpffs directory.
	CapPinning Capability = "pinning"
)

// Info is the single JSON line printed by `ADAPTER info`.
type Info struct {
	Loader   string `json:"loader"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
	// Minor is the minor revision of Protocol the adapter speaks (0 when
	// absent); see the constant Minor.
	Minor        int          `json:"protocol_minor,omitempty"`
	Capabilities []Capability `json:"capabilities,omitempty"`
}

// Has reports whether the loader declares capability c.
func (i Info) Has(c Capability) bool {
	for _, have := range i.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// EventKind is the "event" field of a line printed by `ADAPTER load`.
type EventKind string

const (
	// EventReady: the object is loaded, every map is pinned, and a reader is
	// open on every perf event array.
	EventReady EventKind = "ready"
	// EventSample: one record delivered by the loader's perf reader.
	EventSample EventKind = "sample"
	// EventLost: the loader's reader reported lost records on a CPU.
	EventLost EventKind = "lost"
	// EventError: the adapter failed; Stage says where. The adapter exits
	// non-zero after printing it.
	EventError EventKind = "error"
)

// Stage says where a loader failed.
type Stage string

const (
	StageLoad   Stage = "load"   // opening, sizing, creating maps, loading programs, pinning
	StageReader Stage = "reader" // creating or running the perf reader
	// StageEnvironment (protocol 1.1): the loader refused to start in this
	// environment before touching the object — e.g. libbpfgo 0.4 insists on
	// raising RLIMIT_MEMLOCK to 512 MiB and stops where root lacks
	// CAP_SYS_RESOURCE. The suite reports ERROR: it says nothing about
	// sizing or rings, and no requirement's FAIL may carry it.
	StageEnvironment Stage = "environment"
	// StageUnsupported (protocol 1.2): the loader cannot express the object
	// at all — bcc compiles its own C dialect, which has no perf array with
	// only its type declared and no legacy "maps" section. It is a fact about
	// the loader's language, not a refusal of the object's sizes, so no
	// requirement may FAIL or PASS on it: the suite SKIPs every requirement
	// that needs the object, with the adapter's reason.
	StageUnsupported Stage = "unsupported"
)

// MinorUnsupported is the first minor revision that allows StageUnsupported.
const MinorUnsupported = 2

// CPUUnknown is the CPU of a lost event whose loader does not say which CPU's
// ring lost the records (bpftool's event_pipe prints lost counts without one),
// and, from minor revision 1 on, of a sample whose loader does not say which
// CPU's ring it came from.
const CPUUnknown = -1

// MinorCPUUnknownSamples is the first minor revision that allows CPUUnknown
// on samples.
const MinorCPUUnknownSamples = 1

// Event is one JSON line printed by `ADAPTER load`.
type Event struct {
	Event EventKind `json:"event"`
	// Map is the perf event array's name (sample, lost).
	Map string `json:"map,omitempty"`
	// CPU is the CPU the loader's reader attributes the record to (sample,
	// lost), or CPUUnknown when the reader does not say.
	CPU int `json:"cpu"`
	// Data is the raw sample (encoding/json writes []byte as base64).
	Data []byte `json:"data,omitempty"`
	// Lost is the number of records the kernel dropped (lost).
	Lost uint64 `json:"lost,omitempty"`
	// Stage and Message describe a failure (error).
	Stage   Stage  `json:"stage,omitempty"`
	Message string `json:"message,omitempty"`
	// Maps lists the perf event arrays a reader was opened on (ready).
	Maps []string `json:"maps,omitempty"`
}
