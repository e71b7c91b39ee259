package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/internal/docscheck"
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest/kernel"
	"github.com/perfconform/perfconform/vmtest/topology"
)

// TestDocsQuoteWhatExists checks the README, DEVELOPERS.md and docs/*.md
// against the program as it is now (internal/docscheck): every `conform ...`
// command line they quote names real subcommands and flags, and every
// requirement, topology, kernel and loader ID they quote is in the suite's
// requirements, the topology catalog, the kernel catalog or the adapter
// registry, read here at test time.
func TestDocsQuoteWhatExists(t *testing.T) {
	files, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"../../README.md", "../../DEVELOPERS.md"}, files...)
	v := docscheck.Vocabulary{
		Root:     docscheck.FromCobra(rootCmd),
		Kernels:  kernel.Names(),
		Topology: func(name string) bool { _, err := topology.Resolve(name); return err == nil },
		Loader: func(name string) bool {
			_, err := adapters.Get(name)
			return err == nil || name == refadapter.Info.Loader
		},
	}
	for _, r := range suite.Requirements {
		v.Requirements = append(v.Requirements, r.ID)
	}
	var commands int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check := docscheck.Check(string(data), v)
		commands += check.Commands
		for _, p := range check.Problems {
			t.Errorf("%s: %s", filepath.Base(f), p)
		}
	}
	// The extraction itself must find something, or this test checks nothing.
	if commands < 10 {
		t.Errorf("found only %d conform command lines in %d files; the extraction is broken", commands, len(files))
	}
}

// TestRunHelpSaysTopologyDefault: `run --help` tells what a VM run boots
// without --topology.
func TestRunHelpSaysTopologyDefault(t *testing.T) {
	run, _, err := rootCmd.Find([]string{"run"})
	if err != nil || run == rootCmd {
		t.Fatalf("no run command: %v", err)
	}
	fl := run.Flags().Lookup("topology")
	if fl == nil {
		t.Fatal("run has no --topology")
	}
	if want := "default " + conform.DefaultTopologySet; !strings.Contains(fl.Usage, want) {
		t.Errorf("--topology help %q does not say %q", fl.Usage, want)
	}
}
