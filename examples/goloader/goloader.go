// Package goloader is an example Go loader project that runs perfconform's
// suite against its own loader from its own `go test` (conformance_test.go),
// on the host and in VMs. Copy the pattern, not the loader:
//
//   - New returns the project's loader as a suite.Loader: Info names it,
//     Load loads an object, pins its maps and opens its perf reader (see
//     suite.Loader for the contract, including LoadRequest.PossibleCPUsFile);
//   - cmd/adapter is its adapter, one line: serve.Main(goloader.New()), which
//     is what VMs run (conform.GoAdapter builds it for each guest);
//   - conformance_test.go runs the suite with conform/conformtest.
//
// A real project puts its own loader behind New. This one reuses
// perfconform's reference loader under its own name, so the example passes
// and stays small: its loading, sizing and reading are the reference's.
package goloader

import (
	"context"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/suite"
)

// Name and Version are what results call this loader.
const (
	Name    = "goloader"
	Version = "0.1.0"
)

// Loader is the example's loader.
type Loader struct {
	ref *refadapter.Loader
}

// New returns the loader.
func New() suite.Loader { return &Loader{ref: refadapter.New()} }

// Info implements suite.Loader: the loader's own name and version, and what
// it can do.
func (l *Loader) Info(context.Context) (protocol.Info, error) {
	return protocol.Info{
		Loader:       Name,
		Version:      Version,
		Protocol:     protocol.Version,
		Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
	}, nil
}

// Load implements suite.Loader. A refusal is a *suite.LoadError with the
// stage it happened at; the session's Events carry the reader's records.
func (l *Loader) Load(ctx context.Context, req suite.LoadRequest) (suite.Session, error) {
	return l.ref.Load(ctx, req)
}
