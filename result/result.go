// Package result holds the outcome of one requirement checked against one
// loader on one kernel and topology. It is the record that travels from the
// suite (on the host or inside a VM, over the event channel) to results.json,
// junit.xml and the reports, so every stage shares this one type.
package result

import "time"

// Status is the outcome of one requirement for one loader.
type Status string

const (
	// Pass: the loader met the requirement; the kernel confirmed it.
	Pass Status = "PASS"
	// Fail: the loader broke the requirement. Detail carries the evidence.
	Fail Status = "FAIL"
	// Error: the environment could not run the spec (evidence attached); it
	// says nothing about the loader.
	Error Status = "ERROR"
	// Skip: the loader declares the feature unsupported, or the topology
	// makes the requirement vacuous; Detail says which.
	Skip Status = "SKIP"
)

// Level is the RFC 2119 level of a requirement.
type Level string

const (
	Must   Level = "MUST"
	Should Level = "SHOULD"
	May    Level = "MAY"
	// Info requirements report a behaviour (e.g. explicit sizes kept or
	// clamped) without judging it; they PASS whenever the spec could run.
	Info Level = "INFO"
)

// Masks are the CPU masks as the kernel reported them, in Linux CPU-list form.
type Masks struct {
	Possible string `json:"possible"`
	Present  string `json:"present"`
	Online   string `json:"online"`
	// Affinity is set only where the loader ran restricted to some CPUs
	// (the cpuset VM topology: its affinity and cgroup cpuset); empty means
	// the loader could run on every online CPU.
	Affinity string `json:"affinity,omitempty"`
}

// Result is one (kernel, topology, loader, requirement) outcome.
type Result struct {
	Requirement   string        `json:"requirement"`
	Level         Level         `json:"level"`
	Status        Status        `json:"status"`
	Detail        string        `json:"detail,omitempty"`
	CPU           *int          `json:"cpu,omitempty"`
	Errno         string        `json:"errno,omitempty"`
	Loader        string        `json:"loader"`
	LoaderVersion string        `json:"loader_version,omitempty"`
	Kernel        string        `json:"kernel,omitempty"`
	Topology      string        `json:"topology,omitempty"`
	Masks         *Masks        `json:"masks,omitempty"`
	Accelerator   string        `json:"accelerator,omitempty"`
	Duration      time.Duration `json:"duration_ns"`
}
