// Package conform is a run of the conformance suite: a Plan (loaders,
// kernels, topologies, host or VMs, timeouts, output directory, gating)
// executed by Run on this machine or in QEMU VMs, with progress as typed
// events (WithEvents) and never printed. Host and VM runs are two ways of
// executing one plan; the guest side of a VM run (GuestMain, what PID 1 runs)
// lives here too and shares the types the host hands it (GuestArgs).
//
// Loader resolution has one home here: built-in adapters by name or
// versioned name (Builtin), adapter executables (AdapterPath), Go loaders in
// this process (InProcess, host runs only) and Go main packages speaking the
// adapter protocol (GoAdapter, built static for the host and each guest
// architecture). ParseLoader is the command line's --loader.
//
// The guest binary: a VM boots a static binary of this module as /init,
// which runs GuestMain. The conform command is its own guest when it is
// statically linked; otherwise (go run, a cgo build, or an embedding test
// binary) Run builds the conform command statically (vmtest.ConformPackage,
// CGO_ENABLED=0) into the cache. One guest main for every case keeps what
// runs in a VM the same whoever started it, and is what vmtest builds for
// guests of other architectures too. WithGuestBinary overrides it.
//
// One host run per process: the suite runs on Ginkgo, which runs once per
// process, so a second host Run returns an error wrapping suite.ErrSecondRun
// (and, in a test binary run with go test's -count other than 1 or
// -parallel, which Ginkgo refuses, one wrapping ErrTestFlags) before any
// work. Put every loader into one plan. VM runs have no such limit: the
// suite runs in each guest.
//
// Package conform/display renders the events as the command line shows
// them; an embedding test can use it as well.
package conform
