package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// TestDocsQuoteWhatExists checks the README, DEVELOPERS.md and docs/*.md
// against the program as it is now: every `conform ...` command line they
// quote names real subcommands and flags, and every requirement, topology,
// kernel and loader ID they quote is in the suite's requirements, the
// topology catalog, the kernel catalog or the adapter registry. The
// catalogs are read here, at test time, so new requirements, kernels and
// loaders need no edit of this test.
func TestDocsQuoteWhatExists(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md", "../../DEVELOPERS.md"}, files...)
	v := catalogVocabulary()
	var commands int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check := checkDoc(string(data), v)
		commands += check.commands
		for _, p := range check.problems {
			t.Errorf("%s: %s", filepath.Base(f), p)
		}
	}
	// The extraction itself must find something, or this test checks nothing.
	if commands < 10 {
		t.Errorf("found only %d conform command lines in %d files; the extraction is broken", commands, len(files))
	}
}

// TestCheckDocFindsStaleQuotes shows checkDoc catching each kind of stale
// quote, and accepting placeholders and real names.
func TestCheckDocFindsStaleQuotes(t *testing.T) {
	v := catalogVocabulary()
	tests := []struct {
		name string
		doc  string
		want []string // substrings of the problems, in order; none for a clean doc
	}{
		{"real commands and IDs", "```sh\nsudo bin/conform run --topology quick,sparse --kernel debian-6.1 --loader libbpf --loader ./my-adapter --out out/x\n" +
			"go run ./cmd/conform report merge out/* --out report && go run ./cmd/conform report gate report --loader aya\n```\n" +
			"Run `conform kernels fetch [NAME...]` or `conform topologies verify [--kernel K]... [NAME|SET...]`; " +
			"RING-KEY and SIZE-AUTO fail, like `CPU 4` -EOPNOTSUPP in results-K-SET on UTF-8.\n" +
			"```json\n{\"requirement\": \"RING-KEY\", \"topology\": \"sparse\", \"kernel\": \"debian-6.12\"}\n```\n" +
			"| loader | topologies |\n|---|---|\n| libbpf | sparse, gapped-possible (synthetic) |\n| bpftool | all |\n", nil},
		{"flag in a span wrapped over lines", "`conform report gate DIR [--loader NAME]...\n[--baselin FILE]...`", []string{`unknown flag --baselin`}},
		{"unknown subcommand", "`conform kernel fetch`", []string{`"conform kernel": unknown command "kernel"`}},
		{"unknown nested subcommand", "```\nbin/conform report merg out --out x\n```", []string{`unknown command "merg"`}},
		{"unknown flag", "`conform run --topolgy quick`", []string{`unknown flag --topolgy`}},
		{"flag of another command", "`conform report gate out --strict-mode`", []string{`unknown flag --strict-mode`}},
		{"unknown topology in a flag", "`conform run --topology smp-2 --kernel debian-6.1`", []string{`--topology smp-2: not a topology or set`}},
		{"unknown kernel in a flag", "`conform run --topology quick --kernel debian-4.19`", []string{`--kernel debian-4.19: not a kernel`, `debian-4.19: not a kernel`}},
		{"unknown loader", "`conform run --host --loader bcc`", []string{`--loader bcc: not a built-in loader`}},
		{"unknown requirement flag", "`conform run --host --requirement RING-002`", []string{`--requirement RING-002`, `RING-002: not a requirement`}},
		{"unknown requirement in prose", "a SIZE-001 failure", []string{`SIZE-001: not a requirement`}},
		{"unknown topology in JSON", `{"topology": "hotplug-8"}`, []string{`"topology": "hotplug-8": not a topology`}},
		{"unknown kernel in prose", "on debian-5.4 only", []string{`debian-5.4: not a kernel`}},
		{"unknown positional topology", "`conform topologies numa-4`", []string{`conform topologies numa-4: not a topology or set`}},
		{"unknown topology in a table", "| topology | masks |\n|---|---|\n| smp-2 | 0-1 |\n", []string{`table column "topology": smp-2: not a topology`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := checkDoc(tc.doc, v).problems
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got[i], w)
				}
			}
		})
	}
}

// docVocabulary is what the docs may name.
type docVocabulary struct {
	requirement    func(string) bool
	reqCategories  map[string]bool // "SIZE", "RING", ...: prefixes that make a token an ID
	topology       func(string) bool
	kernel         func(string) bool
	kernelFamilies map[string]bool // "debian": prefixes that make a token a kernel name
	loader         func(string) bool
	root           *cobra.Command
}

func catalogVocabulary() docVocabulary {
	v := docVocabulary{
		reqCategories:  map[string]bool{},
		kernelFamilies: map[string]bool{},
		root:           rootCmd,
	}
	for _, r := range suite.Requirements {
		cat, _, _ := strings.Cut(r.ID, "-")
		v.reqCategories[cat] = true
	}
	v.requirement = catalogNames().Requirement
	v.topology = func(name string) bool { _, err := topology.Resolve(name); return err == nil }
	for _, n := range kernel.Names() {
		if m := kernelName.FindStringSubmatch(n); m != nil {
			v.kernelFamilies[m[1]] = true
		}
	}
	v.kernel = func(name string) bool { return slices.Contains(kernel.Names(), name) }
	v.loader = func(name string) bool {
		_, err := adapters.Get(name)
		return err == nil || name == refadapter.Info.Loader
	}
	return v
}

var (
	// kernelName is a catalog kernel's shape: family-series ("debian-6.12").
	kernelName = regexp.MustCompile(`^([a-z][a-z0-9]*)-(\d+(?:\.\d+)+)$`)
	// requirementID is a requirement ID's shape: CATEGORY-WORD[-WORD...].
	requirementID = regexp.MustCompile(`^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+$`)
	// word is a run of characters an ID can be made of.
	word = regexp.MustCompile(`[A-Za-z0-9_.-]+`)
	// jsonField is a "topology"/"kernel"/"requirement" field in a JSON example.
	jsonField = regexp.MustCompile(`"(topology|kernel|requirement)"\s*:\s*"([^"]*)"`)
	// placeholder is an argument that stands for a value: NAME, K, DIR, NAME|SET.
	placeholder = regexp.MustCompile(`^[A-Z][A-Z0-9_|]*$`)
)

type docCheck struct {
	commands int
	problems []string
}

func (c *docCheck) problem(format string, a ...any) {
	p := fmt.Sprintf(format, a...)
	if !slices.Contains(c.problems, p) {
		c.problems = append(c.problems, p)
	}
}

// checkDoc finds the stale quotes in one Markdown document.
func checkDoc(doc string, v docVocabulary) docCheck {
	var c docCheck
	fenced, prose := splitFences(doc)
	var code []string
	code = append(code, fenced...)
	for _, span := range codeSpans(prose) {
		// A span is one line however the paragraph is wrapped.
		code = append(code, strings.ReplaceAll(span, "\n", " "))
	}
	for _, block := range code {
		for _, line := range commandLines(block) {
			c.checkCommand(line, v)
		}
	}
	for _, w := range word.FindAllString(doc, -1) {
		w = strings.Trim(w, ".")
		if requirementID.MatchString(w) {
			if cat, _, _ := strings.Cut(w, "-"); v.reqCategories[cat] && !v.requirement(w) {
				c.problem("%s: not a requirement (see 'conform spec')", w)
			}
		}
		if m := kernelName.FindStringSubmatch(w); m != nil && v.kernelFamilies[m[1]] && !v.kernel(w) {
			c.problem("%s: not a kernel of the catalog (see 'conform kernels list')", w)
		}
	}
	for _, m := range jsonField.FindAllStringSubmatch(doc, -1) {
		field, val := m[1], m[2]
		ok := true
		switch field {
		case "topology":
			ok = v.topology(val) || val == "host"
		case "kernel":
			ok = v.kernel(val) || strings.Contains(val, "/")
		case "requirement":
			ok = v.requirement(val)
		}
		if !ok {
			c.problem("%q: %q: not a %s of the catalog", field, val, field)
		}
	}
	c.checkTables(prose, v)
	return c
}

// splitFences returns the contents of the fenced code blocks and the rest.
func splitFences(doc string) (fenced []string, prose string) {
	var rest, block strings.Builder
	in := ""
	for _, line := range strings.SplitAfter(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case in == "" && strings.HasPrefix(trimmed, "```"):
			in = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, "`"))]
			block.Reset()
		case in != "" && strings.HasPrefix(trimmed, in) && strings.Trim(trimmed, "`") == "":
			in = ""
			fenced = append(fenced, block.String())
		case in != "":
			block.WriteString(line)
		default:
			rest.WriteString(line)
		}
	}
	return fenced, rest.String()
}

// codeSpans returns the contents of the Markdown code spans in prose: a run
// of backticks up to the next run of the same length, possibly over lines.
func codeSpans(prose string) []string {
	var out []string
	for {
		i := strings.IndexByte(prose, '`')
		if i < 0 {
			return out
		}
		n := len(prose[i:]) - len(strings.TrimLeft(prose[i:], "`"))
		fence, rest := prose[i:i+n], prose[i+n:]
		end := -1
		for off := 0; ; {
			j := strings.Index(rest[off:], fence)
			if j < 0 {
				break
			}
			j += off
			if j+n < len(rest) && rest[j+n] == '`' { // a longer run
				off = j + n + len(rest[j+n:]) - len(strings.TrimLeft(rest[j+n:], "`"))
				continue
			}
			end = j
			break
		}
		if end < 0 {
			prose = rest
			continue
		}
		out = append(out, rest[:end])
		prose = rest[end+n:]
	}
}

// commandLines returns the conform command lines in a code block or span:
// continuation lines joined, chains (&&, ;, a spaced |) split, comments
// dropped, each line starting at its conform word.
func commandLines(block string) [][]string {
	block = strings.ReplaceAll(block, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(block, "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		for _, part := range regexp.MustCompile(`&&|\|\||;| \| `).Split(line, -1) {
			if args, ok := conformArgs(strings.Fields(part)); ok {
				out = append(out, args)
			}
		}
	}
	return out
}

// conformArgs returns the words after the conform executable when fields is
// a command line that runs it (possibly through sudo, env, time, go run).
func conformArgs(fields []string) ([]string, bool) {
	for i, f := range fields {
		f = strings.Trim(f, `'"`)
		if f == "conform" || strings.HasSuffix(f, "/conform") {
			return fields[i+1:], true
		}
		switch {
		case f == "$", f == "sudo", f == "env", f == "time", f == "timeout", f == "go", f == "run":
		case strings.Contains(f, "=") && !strings.HasPrefix(f, "-"): // VAR=value
		case strings.Trim(f, "0123456789smh") == "": // timeout's duration
		default:
			return nil, false
		}
	}
	return nil, false
}

// checkCommand resolves a conform command line in the cobra command tree:
// subcommands must exist, flags must be the command's own or inherited,
// and the values of the flags and arguments that name catalog entries must
// name existing ones.
func (c *docCheck) checkCommand(args []string, v docVocabulary) {
	c.commands++
	cmd := v.root
	path := "conform"
	positional := 0
	for i := 0; i < len(args); i++ {
		arg := cleanArg(args[i])
		if arg == "" {
			continue
		}
		if strings.HasPrefix(arg, "-") && arg != "-" && arg != "--" {
			name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			var fl *pflag.Flag
			cmd.InitDefaultHelpFlag()
			if strings.HasPrefix(arg, "--") {
				fl = cmd.Flags().Lookup(name)
				if fl == nil {
					fl = cmd.InheritedFlags().Lookup(name)
				}
			} else if len(name) == 1 {
				fl = cmd.Flags().ShorthandLookup(name)
			}
			if fl == nil {
				c.problem("%q: unknown flag %s (see '%s --help')", path+" "+strings.Join(args, " "), arg, path)
				continue
			}
			if fl.NoOptDefVal == "" && !hasValue && i+1 < len(args) {
				i++
				value, hasValue = cleanArg(args[i]), true
			}
			if hasValue {
				c.checkValue(path, "--"+fl.Name, value, v)
			}
			continue
		}
		if positional == 0 {
			if sub := findChild(cmd, arg); sub != nil {
				cmd, path = sub, path+" "+sub.Name()
				continue
			}
			if !cmd.Runnable() {
				c.problem("%q: unknown command %q (see '%s --help')", path+" "+arg, arg, path)
				return
			}
		}
		positional++
		c.checkValue(path, "", arg, v)
	}
}

func findChild(cmd *cobra.Command, name string) *cobra.Command {
	for _, sub := range cmd.Commands() {
		if sub.Name() == name || slices.Contains(sub.Aliases, name) {
			return sub
		}
	}
	return nil
}

// cleanArg strips the quoting and synopsis decoration of an argument
// ("[--loader", "NAME]...", "'quick'") and returns "" for a placeholder.
func cleanArg(a string) string {
	a = strings.Trim(a, `'"`)
	a = strings.TrimLeft(a, "[(")
	a = strings.TrimRight(a, "])….,:")
	if a == "" || placeholder.MatchString(a) || strings.ContainsAny(a, "$*<>{}…[]") {
		return ""
	}
	return a
}

// checkValue checks a flag value (flag set) or a positional argument (flag
// empty) of the command at path that names catalog entries.
func (c *docCheck) checkValue(path, flag, value string, v docVocabulary) {
	if value == "" {
		return
	}
	var what string
	var ok func(string) bool
	switch {
	case flag == "--topology" && path == "conform run",
		flag == "" && (path == "conform topologies" || path == "conform topologies verify"):
		what, ok = "a topology or set (see 'conform topologies')", v.topology
	case flag == "--kernel":
		what = "a kernel of the catalog (see 'conform kernels list')"
		ok = func(k string) bool { return v.kernel(k) || strings.Contains(k, "/") }
	case flag == "" && path == "conform kernels fetch":
		what, ok = "a kernel of the catalog (see 'conform kernels list')", v.kernel
	case flag == "--requirement":
		what, ok = "a requirement (see 'conform spec')", v.requirement
	case flag == "--loader" && path == "conform run":
		what = "a built-in loader or an adapter path (see 'conform adapters')"
		ok = func(l string) bool { return v.loader(l) || strings.Contains(l, "/") }
	default:
		return
	}
	for _, item := range strings.Split(value, ",") {
		if item = cleanArg(item); item != "" && !ok(item) {
			if flag == "" {
				c.problem("%s %s: not %s", path, item, what)
			} else {
				c.problem("%s %s %s: not %s", path, flag, item, what)
			}
		}
	}
}

// checkTables checks the columns headed "topology" or "topologies" of the
// Markdown tables in prose: each entry (comma separated, a parenthetical
// like "(synthetic)" dropped) is a topology or set, "all" or a dash.
func (c *docCheck) checkTables(prose string, v docVocabulary) {
	col, inTable := -1, false
	for _, line := range strings.Split(prose, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if !inTable { // the header row
			inTable, col = true, -1
			for i, h := range cells {
				if h := strings.Trim(strings.TrimSpace(h), "`*"); h == "topology" || h == "topologies" {
					col = i
				}
			}
			continue
		}
		if col < 0 || col >= len(cells) || strings.Trim(cells[col], "-: ") == "" {
			continue
		}
		header := "topology"
		for _, entry := range strings.Split(cells[col], ",") {
			entry, _, _ = strings.Cut(entry, "(")
			entry = strings.Trim(strings.TrimSpace(entry), "`*")
			switch entry {
			case "", "all", "—", "-":
				continue
			}
			if !v.topology(entry) {
				c.problem("table column %q: %s: not a topology or set (see 'conform topologies')", header, entry)
			}
		}
	}
}

// TestRunHelpSaysTopologyDefault: `run --help` tells what a VM run boots
// without --topology.
func TestRunHelpSaysTopologyDefault(t *testing.T) {
	run := findChild(rootCmd, "run")
	if run == nil {
		t.Fatal("no run command")
	}
	fl := run.Flags().Lookup("topology")
	if fl == nil {
		t.Fatal("run has no --topology")
	}
	if want := "default " + defaultTopologySet; !strings.Contains(fl.Usage, want) {
		t.Errorf("--topology help %q does not say %q", fl.Usage, want)
	}
}
