// Package suite is the conformance suite: every requirement (Requirements,
// docs/SPEC.md) checked against loaders behind the small Loader interface,
// with the kernel as the oracle (sizes read back through pinned maps,
// samples written on chosen CPUs by suite/trigger, loss provoked by
// trigger.Flood, CPUs taken offline and brought online inside VMs).
//
// Run runs it once per process on Ginkgo v2: by default the loaders run side
// by side, requirements that only read one load share it, and the hotplug
// requirements judge every loader on one CPU change (schedule.go);
// Config.Serial runs the loaders one after another, each requirement on
// loads of its own, the schedule the side-by-side one is proven against.
// Each check ends itself (failf, errorf, skip) and the runner turns what it
// recorded into one result.Result per (loader, requirement) (runner.go).
package suite
