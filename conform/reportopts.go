package conform

import (
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/reports"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// ReportOptions are the report.Options every report of this program is
// rendered with: the suite's impact lines and current levels, topology
// classes from the masks and any loader affinity (topology.ClassesOfLists), the built-in
// reports/upstream.json (nil if it does not parse, which its test
// forbids), and the given baselines.
func ReportOptions(baselines map[string]report.Baseline) report.Options {
	up, _ := reports.Upstream()
	return report.Options{
		Impacts: suite.Impacts(), Levels: suite.Levels(), Baselines: baselines,
		Classify: ClassifyMasks, Upstream: up,
	}
}

// ClassifyMasks is the report.Classifier of this program: the topology
// classes of masks given as CPU lists.
func ClassifyMasks(m result.Masks) []string {
	var out []string
	for _, c := range topology.ClassesOfLists(m.Possible, m.Present, m.Online, m.Affinity) {
		out = append(out, string(c))
	}
	return out
}
