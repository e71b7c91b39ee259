package conform

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	"github.com/perfconform/perfconform/suite"
	"github.com/perfconform/perfconform/vmtest"
	"github.com/perfconform/perfconform/vmtest/arch"
)

// referenceName is the reference loader's name; it runs in-process, on the
// host and in the guest.
var referenceName = refadapter.Info.Loader

// ErrLoader marks a loader a plan cannot run.
var ErrLoader = errors.New("loader not usable")

type loaderKind int

const (
	kindBuiltin loaderKind = iota
	kindPath
	kindInProcess
	kindGo
)

// Loader is one loader of a plan: build it with Builtin, AdapterPath,
// InProcess, GoAdapter or ParseLoader.
type Loader struct {
	kind   loaderKind
	name   string // the built-in name, the path, the package
	loader suite.Loader
}

// Builtin is a built-in loader by name: "reference" (in-process), or an
// adapter of the registry ("libbpf", "libbpf@1.4", ...; see `conform
// adapters`), built into Plan.BinDir.
func Builtin(name string) Loader { return Loader{kind: kindBuiltin, name: name} }

// AdapterPath is an adapter executable (docs/ADAPTERS.md). In VMs it goes
// into the initramfs (with its library closure when dynamically linked).
func AdapterPath(path string) Loader { return Loader{kind: kindPath, name: path} }

// InProcess is a Go loader in this process, named by its Info. It runs on
// the host only: a VM cannot run this process's code (give its adapter's
// main package with GoAdapter for VMs).
func InProcess(l suite.Loader) Loader { return Loader{kind: kindInProcess, loader: l} }

// GoAdapter is a Go main package speaking the adapter protocol (one calling
// adapters/serve.Main, for example), built static (CGO_ENABLED=0) as
// `go build pkg` run in the current directory would, for the host and for
// each guest architecture, into Plan.BinDir. pkg is an import path or a
// relative directory ("./cmd/adapter").
func GoAdapter(pkg string) Loader { return Loader{kind: kindGo, name: pkg} }

// ParseLoader is the command line's --loader: a path when it contains '/',
// otherwise a built-in name.
func ParseLoader(s string) Loader {
	if strings.ContainsRune(s, '/') {
		return AdapterPath(s)
	}
	return Builtin(s)
}

// String is the loader as given: its built-in name, path or package, or
// "in-process TYPE".
func (l Loader) String() string {
	if l.kind == kindInProcess {
		return fmt.Sprintf("in-process %T", l.loader)
	}
	return l.name
}

// label names l in errors: as the --loader flag for what the command line
// can give.
func (l Loader) label() string {
	switch l.kind {
	case kindBuiltin, kindPath:
		return "--loader " + l.name
	case kindGo:
		return "Go adapter " + l.name
	}
	return l.String()
}

// check is what Validate knows about l without doing any work.
func (l Loader) check(host bool) error {
	switch {
	case l.kind == kindInProcess && l.loader == nil:
		return fmt.Errorf("%w: InProcess(nil)", ErrLoader)
	case l.kind == kindInProcess && !host:
		return fmt.Errorf("%w: %s runs on the host only: a VM cannot run this process's code; for VMs give its adapter's main package (GoAdapter) or an adapter path", ErrLoader, l)
	case l.kind != kindInProcess && l.name == "":
		return fmt.Errorf("%w: a loader without a name, path or package", ErrLoader)
	case l.kind == kindBuiltin && l.name != referenceName:
		if _, err := l.builtin(); err != nil {
			return err
		}
	case l.kind == kindPath && !host:
		if interp := scriptInterpreter(l.name); interp != "" {
			return fmt.Errorf("%w: %s is a script for the interpreter %s, which VMs do not have (their image holds the guest, the adapters and their libraries, nothing else): give a compiled adapter for VMs, or run the script with --host", ErrLoader, l.label(), interp)
		}
	}
	return nil
}

// builtin is the registry's adapter a built-in loader names.
func (l Loader) builtin() (adapters.Adapter, error) {
	a, err := adapters.Get(l.name)
	if err != nil {
		return a, fmt.Errorf("%w: %s: %w (built-ins: %s; or give an adapter path)", ErrLoader, l.label(), err, adapterNames())
	}
	return a, nil
}

// scriptInterpreter is the "#!" line of the file at path without the "#!"
// ("/usr/bin/env python3"), or "" when it is no script (or cannot be read:
// resolving the loader says why).
func scriptInterpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	if interp, ok := strings.CutPrefix(line, "#!"); ok {
		return strings.TrimSpace(interp)
	}
	return ""
}

// loaderSpec is one loader resolved on the host, before anything runs: what
// it is, where its executable is, and the name its results carry.
type loaderSpec struct {
	Given   string            // how the loader was given, for errors (Loader.label)
	Name    string            // loaderName(Info)
	Info    protocol.Info     // what the loader declares
	Path    string            // the adapter executable; "" for an in-process loader
	Builtin *adapters.Adapter // the built-in adapter Path was built from, or nil
	GoPkg   string            // the Go adapter's package, built per guest architecture
	GoDir   string            // where it is built, and the directory it is built from
	GoWork  string
	InProc  suite.Loader // the in-process loader (the reference, InProcess)
}

// loaderName is the name a loader's results carry: the loader its info line
// declares, never the adapter's file name (an adapter at
// target/release/perfconform-adapter declaring "aya" reports as aya, so
// gates and baselines for "aya" match it).
func loaderName(info protocol.Info) string { return info.Loader }

// resolveLoaderSpecs turns loaders into runnable ones: the reference and
// InProcess loaders run in-process; built-in adapters are built into binDir,
// Go adapters too; paths must be executable files. Each loader's info is
// asked here, on the host, so that results are named after it and two
// loaders declaring the same name are refused before any work.
func resolveLoaderSpecs(ctx context.Context, given []Loader, binDir string, infoTimeout time.Duration, progress func(string)) ([]loaderSpec, error) {
	if binDir == "" {
		binDir = adapters.DefaultBinDir()
	}
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return nil, fmt.Errorf("--bin-dir: %w", err)
	}
	var out []loaderSpec
	for _, l := range given {
		spec := loaderSpec{Given: l.label()}
		switch {
		case l.kind == kindInProcess:
			spec.InProc = l.loader
		case l.kind == kindBuiltin && l.name == referenceName:
			spec.Info, spec.InProc = refadapter.Info, refadapter.New()
		case l.kind == kindPath:
			if spec.Path, err = adapters.Executable(l.name); err != nil {
				return nil, fmt.Errorf("%s: %w", spec.Given, err)
			}
		case l.kind == kindGo:
			if spec.GoWork, err = os.Getwd(); err != nil {
				return nil, fmt.Errorf("%s: %w", spec.Given, err)
			}
			sum := sha256.Sum256([]byte(spec.GoWork + "\x00" + l.name))
			spec.GoPkg, spec.GoDir = l.name, filepath.Join(binDir, "go", hex.EncodeToString(sum[:6]))
			progress(fmt.Sprintf("building Go adapter %s (CGO_ENABLED=0 go build in %s) into %s", l.name, spec.GoWork, spec.GoDir))
			if spec.Path, err = vmtest.BuildStatic(ctx, spec.GoWork, spec.GoDir, l.name, arch.Arch{}); err != nil {
				return nil, fmt.Errorf("%s: %w", spec.Given, err)
			}
		default:
			a, err := l.builtin()
			if err != nil {
				return nil, err
			}
			progress(fmt.Sprintf("building adapter %s into %s", a.Name, binDir))
			if spec.Path, err = a.Build(ctx, binDir); err != nil {
				return nil, fmt.Errorf("%s: %w", spec.Given, err)
			}
			spec.Builtin = &a
		}
		if spec.Path != "" || l.kind == kindInProcess {
			ictx, cancel := context.WithTimeout(ctx, infoTimeout)
			if spec.Path != "" {
				spec.Info, err = process.New(spec.Path, process.WithInfoTimeout(infoTimeout)).Info(ictx)
			} else {
				spec.Info, err = spec.InProc.Info(ictx)
			}
			cancel()
			switch {
			case err != nil && spec.Path != "":
				return nil, fmt.Errorf("%s: %w (check the adapter with: conform adapter-check %s)", spec.Given, err, spec.Path)
			case err != nil:
				return nil, fmt.Errorf("%s: info: %w", spec.Given, err)
			}
		}
		spec.Name = loaderName(spec.Info)
		if spec.Builtin != nil && spec.Name != spec.Builtin.Name {
			// The registry names a built-in after the version it builds;
			// the adapter names itself after the library it linked.
			return nil, fmt.Errorf("%s: built-in adapter %s declares loader %q: it was not built against the version it is named after", spec.Given, spec.Builtin.Name, spec.Name)
		}
		if spec.Name == "" {
			return nil, fmt.Errorf("%s: its info declares no loader name", spec.Given)
		}
		if i := slices.IndexFunc(out, func(s loaderSpec) bool { return s.Name == spec.Name }); i >= 0 {
			return nil, fmt.Errorf("%s and %s both declare loader %q: their results would be merged into one loader", out[i].Given, spec.Given, spec.Name)
		}
		out = append(out, spec)
	}
	return out, nil
}

// adapterNames lists the built-in names a loader can be given by: each
// adapter's full name, and the bare name of each default version.
func adapterNames() string {
	var names []string
	for _, a := range adapters.All() {
		if a.Default {
			names = append(names, a.Base())
		}
		names = append(names, a.Name)
	}
	return strings.Join(names, ", ")
}

// hostLoaders turns resolved loaders into the suite's loaders on this
// machine; readyTimeout, when set, bounds each adapter's wait for ready.
func hostLoaders(specs []loaderSpec, readyTimeout time.Duration, cpus string) []suite.NamedLoader {
	var opts []process.Option
	if readyTimeout > 0 {
		opts = append(opts, process.WithReadyTimeout(readyTimeout))
	}
	if cpus != "" {
		opts = append(opts, process.WithCPUs(cpus, ""))
	}
	var out []suite.NamedLoader
	for _, s := range specs {
		if s.Path == "" {
			out = append(out, suite.NamedLoader{Name: s.Name, Loader: s.InProc})
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

func specNames(specs []loaderSpec) []string {
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}
