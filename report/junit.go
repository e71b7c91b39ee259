package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/perfconform/perfconform/result"
)

// The JUnit XML elements, as CI test reporters read them.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr,omitempty"`
}

// WriteJUnit writes junit.xml: one <testsuite> per kernel × topology ×
// loader named "KERNEL/TOPOLOGY/LOADER", one <testcase> per requirement named
// "ID [LEVEL]", with <failure> for FAIL (the detail and evidence), <error>
// for ERROR and <skipped> for SKIP. A run that failed gets a suite
// "KERNEL/TOPOLOGY" with an erroring "run" case carrying the console tail,
// so a lost VM is never a silent gap. Known deviations stay failures; their
// message says so.
func WriteJUnit(w io.Writer, r *Results, opts Options) error {
	m := buildModel(r, opts)
	doc := junitSuites{Name: "perfconform"}
	var total time.Duration
	for _, k := range m.Kernels {
		for _, t := range k.Topologies {
			for _, run := range k.Runs {
				if run.Topology != t || run.Error == "" {
					continue
				}
				body := strings.TrimSpace(run.Error)
				if len(run.ConsoleTail) > 0 {
					body += "\n\nconsole tail:\n" + strings.Join(run.ConsoleTail, "\n")
				}
				name := k.Name + "/" + t
				doc.Suites = append(doc.Suites, junitSuite{
					Name: name, Tests: 1, Errors: 1, Time: seconds(run.Duration),
					Properties: runProperties(run),
					Cases: []junitCase{{Name: "run", Classname: name, Time: seconds(run.Duration),
						Error: &junitProblem{Message: firstLine(run.Error), Type: "run error", Body: body}}},
				})
			}
			for _, row := range k.Rows {
				var c *cell
				for _, cc := range row.Cells {
					if cc.Topology == t {
						c = cc
					}
				}
				if c == nil || len(c.Results) == 0 {
					continue
				}
				s := junitSuite{Name: k.Name + "/" + t + "/" + row.Loader}
				s.Properties = []junitProperty{{"kernel", k.Name}, {"topology", t}, {"loader", row.Loader}}
				var d time.Duration
				for _, res := range c.Results {
					tc := junitCase{
						Name:      fmt.Sprintf("%s [%s]", res.Requirement, res.Level),
						Classname: s.Name,
						Time:      seconds(res.Duration),
					}
					d += res.Duration
					switch res.Status {
					case result.Fail:
						msg := firstLine(res.Detail)
						if dev, ok := BaselineFor(opts.Baselines, res.Loader).Match(res); ok {
							msg = "known deviation (" + dev.Reason + "): " + msg
						}
						tc.Failure = &junitProblem{Message: msg, Type: string(res.Level), Body: problemBody(res)}
						s.Failures++
					case result.Error:
						tc.Error = &junitProblem{Message: firstLine(res.Detail), Type: string(res.Level), Body: problemBody(res)}
						s.Errors++
					case result.Skip:
						tc.Skipped = &junitSkipped{Message: firstLine(res.Detail)}
						s.Skipped++
					}
					s.Cases = append(s.Cases, tc)
				}
				s.Tests = len(s.Cases)
				s.Time = seconds(d)
				total += d
				doc.Suites = append(doc.Suites, s)
			}
		}
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	doc.Time = seconds(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func runProperties(run Run) []junitProperty {
	ps := []junitProperty{{"kernel", run.Kernel.Name}, {"topology", run.Topology}}
	if run.Kernel.Version != "" {
		ps = append(ps, junitProperty{"kernel_version", run.Kernel.Version})
	}
	if run.Host != "" {
		ps = append(ps, junitProperty{"host", run.Host})
	}
	if run.Accelerator != "" {
		ps = append(ps, junitProperty{"accelerator", run.Accelerator})
	}
	return ps
}

func problemBody(r result.Result) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(r.Detail))
	if e := evidence(r); e != "" {
		b.WriteString("\n" + e)
	}
	if r.LoaderVersion != "" {
		b.WriteString("\nloader version: " + r.LoaderVersion)
	}
	if r.Accelerator != "" {
		b.WriteString("\naccelerator: " + r.Accelerator)
	}
	return b.String()
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
