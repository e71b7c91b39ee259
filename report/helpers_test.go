package report_test

import (
	"time"

	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
)

var testTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func cpu(n int) *int { return &n }

// res builds a result; the loader version and masks follow the topology.
func res(kernel, topo, loader, req string, level result.Level, status result.Status, detail string) result.Result {
	r := result.Result{
		Requirement: req, Level: level, Status: status, Detail: detail,
		Loader: loader, LoaderVersion: "v1", Kernel: kernel, Topology: topo,
		Accelerator: "tcg", Duration: 120 * time.Millisecond,
	}
	switch topo {
	case "hotplug-8":
		r.Masks = &result.Masks{Possible: "0-7", Present: "0-1", Online: "0-1"}
	default:
		r.Masks = &result.Masks{Possible: "0-1", Present: "0-1", Online: "0-1"}
	}
	return r
}

func run(kernel, topo string) report.Run {
	r := report.Run{
		Kernel:      report.Kernel{Name: kernel, Version: kernel[len("debian-"):] + ".0-cloud-amd64"},
		Topology:    topo,
		Host:        "ci/" + kernel,
		Realized:    true,
		Accelerator: "tcg",
		Loaders:     []report.Loader{{Name: "cilium-ebpf", Version: "v1"}, {Name: "reference", Version: "v1"}},
		Started:     testTime.Add(-time.Hour),
		Boot:        3 * time.Second,
		Duration:    40 * time.Second,
	}
	switch topo {
	case "hotplug-8":
		r.Requested = &result.Masks{Possible: "0-7", Present: "0-1", Online: "0-1"}
	default:
		r.Requested = &result.Masks{Possible: "0-1", Present: "0-1", Online: "0-1"}
	}
	r.Masks = r.Requested
	return r
}

// shard returns the results of one CI job: one kernel, both topologies,
// two loaders. cilium-ebpf fails the sizing MUST on hotplug-8 and its
// SHOULD is an ERROR on 6.12.
func shard(kernel string) *report.Results {
	out := &report.Results{Generated: testTime, Runs: []report.Run{run(kernel, "smp-2"), run(kernel, "hotplug-8")}}
	for _, topo := range []string{"smp-2", "hotplug-8"} {
		for _, loader := range []string{"reference", "cilium-ebpf"} {
			out.Results = append(out.Results,
				res(kernel, topo, loader, "SIZE-001", result.Must, result.Pass, ""),
				res(kernel, topo, loader, "RING-002", result.Must, result.Pass, ""),
				res(kernel, topo, loader, "LEGACY-003", result.Should, result.Skip, "loader declares no legacy-maps"),
				res(kernel, topo, loader, "EXPLICIT-004", result.Info, result.Pass, "explicit size kept"),
			)
		}
	}
	for i := range out.Results {
		r := &out.Results[i]
		if r.Loader == "cilium-ebpf" && r.Topology == "hotplug-8" && r.Requirement == "RING-002" {
			r.Status = result.Fail
			r.Detail = "perf ring for CPU 4: no such device"
			r.CPU = cpu(4)
			r.Errno = "ENODEV"
		}
		if kernel == "debian-6.12" && r.Loader == "cilium-ebpf" && r.Requirement == "LEGACY-003" && r.Topology == "smp-2" {
			r.Status = result.Error
			r.Detail = "bpffs not mounted in guest"
		}
	}
	return out
}
