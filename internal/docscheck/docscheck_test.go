package docscheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// fake is a tiny conform: the commands and names the cases below quote.
func fake() Vocabulary {
	help := Flag{Name: "help", Shorthand: "h", NoValue: true}
	return Vocabulary{
		Root: Command{Name: "conform", Flags: []Flag{help}, Commands: []Command{
			{Name: "run", Runnable: true, Flags: []Flag{help, {Name: "topology"}, {Name: "kernel"}, {Name: "loader"},
				{Name: "requirement"}, {Name: "out"}, {Name: "parallel", Shorthand: "j"}, {Name: "host", NoValue: true}}},
			{Name: "report", Flags: []Flag{help}, Commands: []Command{
				{Name: "merge", Runnable: true, Flags: []Flag{help, {Name: "out"}}},
				{Name: "gate", Runnable: true, Flags: []Flag{help, {Name: "loader"}, {Name: "baseline"}}},
			}},
			{Name: "kernels", Flags: []Flag{help, {Name: "cache-dir"}}, Commands: []Command{
				{Name: "fetch", Runnable: true, Flags: []Flag{help, {Name: "cache-dir"}}},
			}},
			{Name: "topologies", Runnable: true, Flags: []Flag{help}, Commands: []Command{
				{Name: "verify", Runnable: true, Flags: []Flag{help, {Name: "kernel"}}},
			}},
		}},
		Requirements: []string{"RING-KEY", "SIZE-AUTO", "SIZE-KV-DEFAULT"},
		Kernels:      []string{"debian-5.10", "debian-6.1", "debian-6.12"},
		Topology: func(n string) bool {
			return slices.Contains([]string{"quick", "full", "1cpu", "sparse", "gapped-possible"}, n)
		},
		Loader: func(n string) bool { return slices.Contains([]string{"reference", "libbpf", "aya"}, n) },
	}
}

// TestCheckFindsStaleQuotes shows Check catching each kind of stale quote,
// and accepting placeholders and real names.
func TestCheckFindsStaleQuotes(t *testing.T) {
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
		{"inherited, short and help flags", "`conform kernels fetch --cache-dir /tmp/k debian-6.1`, `conform run -j 1 --host`, `conform report --help`", nil},
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
			got := Check(tc.doc, fake())
			if got.Commands == 0 && strings.Contains(tc.doc, "conform ") {
				t.Errorf("no command line found in %q", tc.doc)
			}
			if len(got.Problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d matching %q", got.Problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, got.Problems[i], w)
				}
			}
		})
	}
}

// TestFromCobra: a cobra tree's subcommands, aliases, inherited and help
// flags are quotable, and a boolean flag takes no value (the kernel after
// --force is the command's argument, and is checked as one).
func TestFromCobra(t *testing.T) {
	root := &cobra.Command{Use: "conform"}
	kernels := &cobra.Command{Use: "kernels", Aliases: []string{"k"}}
	kernels.PersistentFlags().String("cache-dir", "", "")
	fetch := &cobra.Command{Use: "fetch", Run: func(*cobra.Command, []string) {}}
	fetch.Flags().Bool("force", false, "")
	kernels.AddCommand(fetch)
	root.AddCommand(kernels)
	v := fake()
	v.Root = FromCobra(root)
	for doc, want := range map[string][]string{
		"`conform kernels fetch --cache-dir x --force debian-6.1`": nil,
		"`conform k fetch -h`":                       nil,
		"`conform kernels fetch --nope`":             {`unknown flag --nope`},
		"`conform kernels fetch --force debian-9.9`": {`conform kernels fetch debian-9.9: not a kernel`, `debian-9.9: not a kernel`},
		"`conform kernels list`":                     {`unknown command "list"`},
	} {
		got := Check(doc, v).Problems
		if len(got) != len(want) {
			t.Errorf("%s: problems %q, want %q", doc, got, want)
			continue
		}
		for i, w := range want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s: problem %d = %q, want it to contain %q", doc, i, got[i], w)
			}
		}
	}
}
