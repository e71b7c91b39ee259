// Package docscheck finds stale quotes of the conform command in Markdown:
// command lines naming subcommands or flags that do not exist, and
// requirement, topology, kernel and loader names that are not in the
// catalogs. It works over a description of the command tree (Command, built
// from cobra with FromCobra) and the catalogs' names (Vocabulary), both
// given by the caller, so it imports neither the CLI nor the catalogs.
package docscheck

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Command is what a doc may quote of one command.
type Command struct {
	Name     string
	Aliases  []string
	Runnable bool   // takes arguments itself, not only subcommands
	Flags    []Flag // its own, inherited and help flags
	Commands []Command
}

// Flag is one flag of a Command.
type Flag struct {
	Name, Shorthand string
	NoValue         bool // --flag alone (a boolean), never --flag VALUE
}

// FromCobra describes the command tree under c, help flags included.
func FromCobra(c *cobra.Command) Command {
	c.InitDefaultHelpFlag()
	out := Command{Name: c.Name(), Aliases: c.Aliases, Runnable: c.Runnable()}
	seen := map[string]bool{}
	add := func(f *pflag.Flag) {
		if !seen[f.Name] {
			seen[f.Name] = true
			out.Flags = append(out.Flags, Flag{Name: f.Name, Shorthand: f.Shorthand, NoValue: f.NoOptDefVal != ""})
		}
	}
	c.Flags().VisitAll(add)
	c.InheritedFlags().VisitAll(add)
	for _, sub := range c.Commands() {
		out.Commands = append(out.Commands, FromCobra(sub))
	}
	return out
}

func (c *Command) child(name string) *Command {
	for i, sub := range c.Commands {
		if sub.Name == name || slices.Contains(sub.Aliases, name) {
			return &c.Commands[i]
		}
	}
	return nil
}

func (c *Command) flag(name string, short bool) *Flag {
	for i, f := range c.Flags {
		if (!short && f.Name == name) || (short && f.Shorthand == name) {
			return &c.Flags[i]
		}
	}
	return nil
}

// Vocabulary is what the docs may name.
type Vocabulary struct {
	Root Command // the conform command; its name starts the command lines
	// Requirements are the requirement IDs; their CATEGORY- prefixes make a
	// word an ID to check.
	Requirements []string
	// Kernels are the catalog's kernel names; their family- prefixes
	// ("debian") make a word a kernel name to check.
	Kernels  []string
	Topology func(string) bool // a topology or set name
	Loader   func(string) bool // a built-in loader name
}

// Result is what Check found in one document.
type Result struct {
	Commands int      // conform command lines checked
	Problems []string // each stale quote once, in order
}

func (r *Result) problem(format string, a ...any) {
	p := fmt.Sprintf(format, a...)
	if !slices.Contains(r.Problems, p) {
		r.Problems = append(r.Problems, p)
	}
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
	// chain splits a shell line into its commands.
	chain = regexp.MustCompile(`&&|\|\||;| \| `)
)

// checker is one Check: the vocabulary with the lookups it derives.
type checker struct {
	v              Vocabulary
	reqCategories  map[string]bool
	kernelFamilies map[string]bool
	Result
}

func (c *checker) requirement(id string) bool { return slices.Contains(c.v.Requirements, id) }
func (c *checker) kernel(name string) bool    { return slices.Contains(c.v.Kernels, name) }

// Check finds the stale quotes in one Markdown document.
func Check(doc string, v Vocabulary) Result {
	c := checker{v: v, reqCategories: map[string]bool{}, kernelFamilies: map[string]bool{}}
	for _, id := range v.Requirements {
		cat, _, _ := strings.Cut(id, "-")
		c.reqCategories[cat] = true
	}
	for _, n := range v.Kernels {
		if m := kernelName.FindStringSubmatch(n); m != nil {
			c.kernelFamilies[m[1]] = true
		}
	}
	fenced, prose := splitFences(doc)
	code := fenced
	for _, span := range codeSpans(prose) {
		// A span is one line however the paragraph is wrapped.
		code = append(code, strings.ReplaceAll(span, "\n", " "))
	}
	for _, block := range code {
		for _, line := range commandLines(block, v.Root.Name) {
			c.checkCommand(line)
		}
	}
	for _, w := range word.FindAllString(doc, -1) {
		w = strings.Trim(w, ".")
		if requirementID.MatchString(w) {
			if cat, _, _ := strings.Cut(w, "-"); c.reqCategories[cat] && !c.requirement(w) {
				c.problem("%s: not a requirement (see 'conform spec')", w)
			}
		}
		if m := kernelName.FindStringSubmatch(w); m != nil && c.kernelFamilies[m[1]] && !c.kernel(w) {
			c.problem("%s: not a kernel of the catalog (see 'conform kernels list')", w)
		}
	}
	for _, m := range jsonField.FindAllStringSubmatch(doc, -1) {
		field, val := m[1], m[2]
		ok := true
		switch field {
		case "topology":
			ok = v.Topology(val) || val == "host"
		case "kernel":
			ok = c.kernel(val) || strings.Contains(val, "/")
		case "requirement":
			ok = c.requirement(val)
		}
		if !ok {
			c.problem("%q: %q: not a %s of the catalog", field, val, field)
		}
	}
	c.checkTables(prose)
	return c.Result
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

// commandLines returns the command lines running exe in a code block or
// span: continuation lines joined, chains (&&, ;, a spaced |) split,
// comments dropped, each line the words after exe.
func commandLines(block, exe string) [][]string {
	block = strings.ReplaceAll(block, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(block, "\n") {
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		for _, part := range chain.Split(line, -1) {
			if args, ok := commandArgs(strings.Fields(part), exe); ok {
				out = append(out, args)
			}
		}
	}
	return out
}

// commandArgs returns the words after exe when fields is a command line
// that runs it (possibly through sudo, env, time, timeout, go run).
func commandArgs(fields []string, exe string) ([]string, bool) {
	for i, f := range fields {
		f = strings.Trim(f, `'"`)
		if f == exe || strings.HasSuffix(f, "/"+exe) {
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

// checkCommand resolves a command line in the command tree: subcommands
// must exist, flags must be the command's own or inherited, and the values
// of the flags and arguments that name catalog entries must name existing
// ones.
func (c *checker) checkCommand(args []string) {
	c.Commands++
	cmd := &c.v.Root
	path := cmd.Name
	positional := 0
	for i := 0; i < len(args); i++ {
		arg := cleanArg(args[i])
		if arg == "" {
			continue
		}
		if strings.HasPrefix(arg, "-") && arg != "-" && arg != "--" {
			name, value, hasValue := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			var fl *Flag
			if long := strings.HasPrefix(arg, "--"); long || len(name) == 1 {
				fl = cmd.flag(name, !long)
			}
			if fl == nil {
				c.problem("%q: unknown flag %s (see '%s --help')", c.v.Root.Name+" "+strings.Join(args, " "), arg, path)
				continue
			}
			if !fl.NoValue && !hasValue && i+1 < len(args) {
				i++
				value, hasValue = cleanArg(args[i]), true
			}
			if hasValue {
				c.checkValue(path, "--"+fl.Name, value)
			}
			continue
		}
		if positional == 0 {
			if sub := cmd.child(arg); sub != nil {
				cmd, path = sub, path+" "+sub.Name
				continue
			}
			if !cmd.Runnable {
				c.problem("%q: unknown command %q (see '%s --help')", path+" "+arg, arg, path)
				return
			}
		}
		positional++
		c.checkValue(path, "", arg)
	}
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
func (c *checker) checkValue(path, flag, value string) {
	if value == "" {
		return
	}
	sub := strings.TrimPrefix(path, c.v.Root.Name+" ")
	var what string
	var ok func(string) bool
	switch {
	case flag == "--topology" && sub == "run",
		flag == "" && (sub == "topologies" || sub == "topologies verify"):
		what, ok = "a topology or set (see 'conform topologies')", c.v.Topology
	case flag == "--kernel":
		what = "a kernel of the catalog (see 'conform kernels list')"
		ok = func(k string) bool { return c.kernel(k) || strings.Contains(k, "/") }
	case flag == "" && sub == "kernels fetch":
		what, ok = "a kernel of the catalog (see 'conform kernels list')", c.kernel
	case flag == "--requirement":
		what, ok = "a requirement (see 'conform spec')", c.requirement
	case flag == "--loader" && sub == "run":
		what = "a built-in loader or an adapter path (see 'conform adapters')"
		ok = func(l string) bool { return c.v.Loader(l) || strings.Contains(l, "/") }
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
func (c *checker) checkTables(prose string) {
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
		for _, entry := range strings.Split(cells[col], ",") {
			entry, _, _ = strings.Cut(entry, "(")
			entry = strings.Trim(strings.TrimSpace(entry), "`*")
			switch entry {
			case "", "all", "—", "-":
				continue
			}
			if !c.v.Topology(entry) {
				c.problem("table column %q: %s: not a topology or set (see 'conform topologies')", "topology", entry)
			}
		}
	}
}
