// Package refadapter puts the reference loader behind the suite's Loader
// interface, in-process. `conform run --host` uses it directly; the adapter
// executable in adapters/reference streams the same sessions over the adapter
// protocol, so the reference runs through exactly the path other loaders take.
package refadapter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/reference"
	"github.com/perfconform/perfconform/reference/perfring"
	"github.com/perfconform/perfconform/reference/topology"
	"github.com/perfconform/perfconform/suite"
)

// Info describes the reference loader in the protocol's terms.
var Info = protocol.Info{
	Loader:       reference.Name,
	Version:      reference.Version,
	Protocol:     protocol.Version,
	Capabilities: []protocol.Capability{protocol.CapLegacyMaps, protocol.CapPinning},
}

// Loader is the reference loader as a suite.Loader.
type Loader struct {
	// SysfsRoot is where CPU masks are read (default /sys/devices/system/cpu).
	SysfsRoot string
	// Options are added to every load (test doubles use them to inject faults).
	Options []reference.Option
}

// New returns the in-process reference loader.
func New() *Loader { return &Loader{} }

// Info implements suite.Loader.
func (l *Loader) Info(context.Context) (protocol.Info, error) { return Info, nil }

// Load implements suite.Loader.
func (l *Loader) Load(ctx context.Context, req suite.LoadRequest) (suite.Session, error) {
	root := l.SysfsRoot
	var cleanup func()
	if req.PossibleCPUsFile != "" {
		// In-process there is no mount namespace: the loader reads a copy
		// of the CPU directory whose possible file is the requested one,
		// through the same code path it uses for /sys.
		var err error
		if root, cleanup, err = sysfsWithPossible(root, req.PossibleCPUsFile); err != nil {
			return nil, err
		}
		defer cleanup()
	}
	opts := append([]reference.Option{reference.WithPinDir(req.PinDir), reference.WithSysfsRoot(root)}, l.Options...)
	coll, err := reference.Load(req.Object, opts...)
	if err != nil {
		return nil, &suite.LoadError{Stage: protocol.StageLoad, Err: err}
	}
	s, err := Open(coll, req.Pages)
	if err != nil {
		coll.Close()
		return nil, &suite.LoadError{Stage: protocol.StageReader, Err: err}
	}
	return s, nil
}

// Session is a loaded collection with a reader on every perf event array,
// forwarding records as protocol events.
type Session struct {
	readers []*perfring.Reader
	release func() error
	events  chan protocol.Event
	wg      sync.WaitGroup
	once    sync.Once
	maps    []string
	// stopFollow ends the hotplug watchers Open starts; followers waits
	// for them.
	stopFollow context.CancelFunc
	followers  sync.WaitGroup
}

// Open starts readers on every perf event array of coll, each following CPUs
// that come online (reference.Collection.FollowCPUs). The session owns coll
// from then on.
func Open(coll *reference.Collection, pages int) (*Session, error) {
	names := coll.PerfMapNames()
	var readers []*perfring.Reader
	for _, name := range names {
		r, err := coll.NewReader(name, perfring.Options{Pages: pages})
		if err != nil {
			for _, r := range readers {
				r.Close()
			}
			return nil, err
		}
		readers = append(readers, r)
	}
	s := NewSession(names, readers, coll.Close)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopFollow = cancel
	for i, r := range readers {
		s.followers.Add(1)
		go func() {
			defer s.followers.Done()
			// A CPU whose ring cannot be added is not the end of the
			// reader: the other rings keep delivering. Say so on stderr.
			coll.FollowCPUs(ctx, names[i], r, reference.HotplugPollInterval, func(err error) {
				fmt.Fprintln(os.Stderr, "reference:", err)
			})
		}()
	}
	return s, nil
}

// NewSession forwards the records of readers (one per perf event array in
// names) as protocol events until Close, which closes the readers and then
// calls release (nil for nothing).
func NewSession(names []string, readers []*perfring.Reader, release func() error) *Session {
	s := &Session{readers: readers, release: release, events: make(chan protocol.Event, 1024), maps: names}
	for i, r := range readers {
		s.wg.Add(1)
		go s.forward(names[i], r)
	}
	return s
}

func (s *Session) forward(name string, r *perfring.Reader) {
	defer s.wg.Done()
	var rec perfring.Record
	for {
		if err := r.ReadInto(&rec); err != nil {
			if !errors.Is(err, perfring.ErrClosed) {
				s.events <- protocol.Event{Event: protocol.EventError, Stage: protocol.StageReader, Map: name, Message: err.Error()}
			}
			return
		}
		ev := protocol.Event{Event: protocol.EventSample, Map: name, CPU: rec.CPU}
		if rec.LostSamples > 0 {
			ev.Event, ev.Lost = protocol.EventLost, rec.LostSamples
		} else {
			ev.Data = append([]byte(nil), rec.RawSample...)
		}
		s.events <- ev
	}
}

// Maps lists the perf event arrays the session has a reader on: what
// adapters/serve announces in the ready line.
func (s *Session) Maps() []string { return append([]string(nil), s.maps...) }

// Events implements suite.Session.
func (s *Session) Events() <-chan protocol.Event { return s.events }

// Close implements suite.Session: readers stop, the collection is released,
// pins stay.
func (s *Session) Close() error {
	var errs *multierror.Error
	s.once.Do(func() {
		if s.stopFollow != nil {
			s.stopFollow()
			s.followers.Wait()
		}
		for _, r := range s.readers {
			if err := r.Close(); err != nil {
				errs = multierror.Append(errs, err)
			}
		}
		// Forwarders may be blocked on a full channel: drain it while they stop.
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
	drain:
		for {
			select {
			case <-s.events:
			case <-done:
				break drain
			}
		}
		close(s.events)
		if s.release != nil {
			if err := s.release(); err != nil {
				errs = multierror.Append(errs, err)
			}
		}
	})
	return errs.ErrorOrNil()
}

// sysfsWithPossible copies root's online and present files into a temporary
// directory beside the given possible file.
func sysfsWithPossible(root, possible string) (string, func(), error) {
	if root == "" {
		root = topology.DefaultSysfsRoot
	}
	dir, err := os.MkdirTemp("", "perfconform-sysfs-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	for _, f := range []struct{ from, to string }{
		{possible, "possible"},
		{filepath.Join(root, "online"), "online"},
		{filepath.Join(root, "present"), "present"},
	} {
		data, err := os.ReadFile(f.from)
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("prepare CPU masks: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.to), data, 0o644); err != nil {
			cleanup()
			return "", nil, fmt.Errorf("prepare CPU masks: %w", err)
		}
	}
	return dir, cleanup, nil
}
