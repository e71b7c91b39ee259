package archtest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/perfconform/perfconform/"

// rule: no package under from (a module-relative path prefix) may depend,
// directly or transitively, on a package under any of mustNot.
type rule struct {
	from    string
	mustNot []string
	why     string
}

var rules = []rule{
	{"reference", []string{"conform", "suite", "vmtest", "adapters", "report", "bench", "cmd", "e2e", "doctor"},
		"the reference loader is the model the suite judges against; it must not know the judge"},
	{"result", []string{"conform", "reference", "suite", "vmtest", "adapters", "report", "bench", "cmd", "doctor"},
		"result.Result is the leaf type every layer shares"},
	{"report", []string{"conform", "suite", "vmtest", "adapters", "bench", "cmd", "reference", "doctor"},
		"reports render results; they never run anything"},
	{"suite", []string{"conform", "vmtest", "report", "bench", "cmd", "adapters/process", "adapters/reference", "doctor"},
		"the suite judges any suite.Loader; how loaders or VMs are run is not its business"},
	{"vmtest", []string{"conform", "suite", "adapters", "report", "bench", "cmd", "doctor"},
		"the VM harness boots guests and carries events; what runs inside is the caller's"},
	{"adapters", []string{"conform", "bench", "cmd"},
		"adapters are loaders behind the protocol and its client; runs use them, not the other way round"},
	{"conform", []string{"cmd", "bench", "e2e"},
		"a run is a library under the command line; benchmarks sit beside it"},
	{"internal", []string{"conform", "suite", "vmtest", "adapters", "report", "bench", "cmd", "reference", "doctor"},
		"internal helpers sit at the bottom"},
	{"fixtures", []string{"conform", "suite", "vmtest", "adapters", "report", "bench", "cmd", "reference", "doctor"},
		"fixtures are data"},
	{"reports", []string{"conform", "suite", "vmtest", "adapters", "bench", "cmd", "reference", "doctor"},
		"the committed reports are data: results and the upstream map, read with package report"},
	{"doctor", []string{"conform", "suite", "vmtest", "adapters", "bench", "cmd"},
		"doctor reads the machine and matches results; it runs no loader and no suite"},
}

// importersOfBench: only the CLI may import the benchmarks' orchestration.
var benchImporters = []string{"cmd", "bench"}

// violations returns one line per broken rule in deps (package -> its deps,
// module-relative).
func violations(deps map[string][]string) []string {
	var out []string
	for pkg, ds := range deps {
		for _, r := range rules {
			if !under(pkg, r.from) {
				continue
			}
			for _, d := range ds {
				for _, bad := range r.mustNot {
					if under(d, bad) {
						out = append(out, fmt.Sprintf("%s depends on %s: %s", pkg, d, r.why))
					}
				}
			}
		}
		for _, d := range ds {
			if under(d, "bench") && !underAny(pkg, benchImporters) {
				out = append(out, fmt.Sprintf("%s depends on %s: only cmd/ runs benchmarks", pkg, d))
			}
		}
	}
	return out
}

func under(pkg, prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }

func underAny(pkg string, prefixes []string) bool {
	for _, p := range prefixes {
		if under(pkg, p) {
			return true
		}
	}
	return false
}

func TestImportsPointDown(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps=false", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", module+"...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(fields[0], module)
		for _, d := range fields[1:] {
			if strings.HasPrefix(d, module) {
				deps[pkg] = append(deps[pkg], strings.TrimPrefix(d, module))
			}
		}
	}
	if len(deps) < 10 {
		t.Fatalf("go list found only %d packages of the module: %s", len(deps), out)
	}
	for _, v := range violations(deps) {
		t.Error(v)
	}
}

// TestViolationsCanFail shows the checker catching upward imports.
func TestViolationsCanFail(t *testing.T) {
	got := violations(map[string][]string{
		"reference/perfring": {"suite"},
		"vmtest/guest":       {"adapters/process"},
		"suite":              {"bench/readers"},
		"cmd/conform":        {"bench/readers", "suite", "vmtest"},
		"suite/trigger":      {"conform"},
		"adapters/process":   {"conform/display"},
		"conform":            {"cmd/conform", "suite", "vmtest"},
		"doctor":             {"adapters/process"},
	})
	if len(got) != 8 { // suite→bench breaks two rules
		t.Errorf("want 8 violations (reference→suite, vmtest→adapters, suite→bench twice, suite→conform, adapters→conform, conform→cmd, doctor→adapters), got %d: %q", len(got), got)
	}
}
