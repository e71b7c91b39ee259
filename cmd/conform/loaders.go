package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/perfconform/perfconform/adapters"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/suite"
)

// loaderSpec is one --loader value resolved on the host, before anything
// runs: what it is, where its executable is, and the name its results carry.
type loaderSpec struct {
	Given   string            // the --loader value
	Name    string            // loaderName(Info)
	Info    protocol.Info     // what the loader declares
	Path    string            // the adapter executable; "" for the in-process reference
	Builtin *adapters.Adapter // the built-in adapter Path was built from, or nil
}

// loaderName is the name a loader's results carry: the loader its info line
// declares, never the adapter's file name (an adapter at
// target/release/perfconform-adapter declaring "aya" reports as aya, so
// gates and baselines for "aya" match it).
func loaderName(info protocol.Info) string { return info.Loader }

// resolveLoaderSpecs turns --loader values into loaders: the reference runs
// in-process; built-in adapters are built into binDir; paths must be
// executable files. Each adapter's info is asked here, on the host, so that
// results are named after it and two loaders declaring the same name are
// refused before any work.
func resolveLoaderSpecs(ctx context.Context, given []string, binDir string, infoTimeout time.Duration, progress func(string)) ([]loaderSpec, error) {
	if binDir == "" {
		binDir = adapters.DefaultBinDir()
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return nil, fmt.Errorf("--bin-dir: %w", err)
	}
	var out []loaderSpec
	for _, g := range given {
		spec := loaderSpec{Given: g}
		switch {
		case g == refadapter.Info.Loader:
			spec.Info = refadapter.Info
		case strings.ContainsRune(g, '/'):
			if spec.Path, err = executable(g); err != nil {
				return nil, fmt.Errorf("--loader %s: %w", g, err)
			}
		default:
			a, err := adapters.Get(g)
			if err != nil {
				return nil, fmt.Errorf("--loader %s: %w (built-ins: %s; or give an adapter path)", g, err, adapterNames())
			}
			progress(fmt.Sprintf("building adapter %s into %s", a.Name, binDir))
			if spec.Path, err = a.Build(ctx, binDir); err != nil {
				return nil, fmt.Errorf("--loader %s: %w", g, err)
			}
			spec.Builtin = &a
		}
		if spec.Path != "" {
			ictx, cancel := context.WithTimeout(ctx, infoTimeout)
			spec.Info, err = process.New(spec.Path, process.WithInfoTimeout(infoTimeout)).Info(ictx)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("--loader %s: %w (check the adapter with: conform adapter-check %s)", g, err, spec.Path)
			}
		}
		spec.Name = loaderName(spec.Info)
		if spec.Builtin != nil && spec.Name != spec.Builtin.Name {
			// The registry names a built-in after the version it builds;
			// the adapter names itself after the library it linked.
			return nil, fmt.Errorf("--loader %s: built-in adapter %s declares loader %q: it was not built against the version it is named after", g, spec.Builtin.Name, spec.Name)
		}
		if i := slices.IndexFunc(out, func(s loaderSpec) bool { return s.Name == spec.Name }); i >= 0 {
			return nil, fmt.Errorf("--loader %s and --loader %s both declare loader %q: their results would be merged into one loader", out[i].Given, g, spec.Name)
		}
		out = append(out, spec)
	}
	return out, nil
}

// executable returns the absolute path of an adapter given by path, or why
// it cannot be run.
func executable(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("not an executable file (%v; chmod +x it)", st.Mode())
	}
	return abs, nil
}

// hostLoaders turns resolved loaders into the suite's loaders on this
// machine; readyTimeout, when set, bounds each adapter's wait for ready.
func hostLoaders(specs []loaderSpec, readyTimeout time.Duration) []suite.NamedLoader {
	var opts []process.Option
	if readyTimeout > 0 {
		opts = append(opts, process.WithReadyTimeout(readyTimeout))
	}
	var out []suite.NamedLoader
	for _, s := range specs {
		if s.Path == "" {
			out = append(out, suite.NamedLoader{Name: s.Name, Loader: refadapter.New()})
			continue
		}
		out = append(out, suite.NamedLoader{Name: s.Name, Loader: process.New(s.Path, opts...)})
	}
	return out
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// guestPath is where the i-th loader's adapter goes in the initramfs: its
// file name made safe and unique, whatever the host file was called.
func guestPath(i int, hostPath string) string {
	return fmt.Sprintf("%s/%d-%s", GuestLoaderDir, i, unsafeFileChars.ReplaceAllString(filepath.Base(hostPath), "_"))
}

// checkGate returns the loaders --gate names (nil: every loader), refusing a
// name that is not a loader of this run. Without --gate it gates the
// reference when the reference runs (the other loaders' failures are
// findings) and otherwise every loader of the run.
func checkGate(gate []string, given bool, names []string) ([]string, error) {
	if !given {
		if ref := loaderName(refadapter.Info); slices.Contains(names, ref) {
			return []string{ref}, nil
		}
		return nil, nil
	}
	if slices.Contains(gate, "all") {
		if len(gate) > 1 {
			return nil, fmt.Errorf("--gate all gates every loader; it does not combine with %q", gate)
		}
		return nil, nil
	}
	for _, g := range gate {
		// A bare name gates every version of that loader (libbpf:
		// libbpf@1.1 and libbpf@1.4), a full one that version only.
		pattern := result.ParseLoaderName(g)
		if !slices.ContainsFunc(names, pattern.Selects) {
			return nil, fmt.Errorf("--gate %s: no loader of this run is called %q (loaders: %s)", g, g, strings.Join(names, ", "))
		}
	}
	return gate, nil
}

func specNames(specs []loaderSpec) []string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}
