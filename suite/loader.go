package suite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/perfconform/perfconform/adapters/protocol"
)

// Loader is what the suite needs from any eBPF loader under test. It is kept to
// what every loader can do: load an object with its default behaviour, pin the
// maps where the suite can inspect them through the kernel, and hand over the
// records its perf reader delivers. The reference loader implements it
// in-process; adapters implement it over the adapter protocol.
type Loader interface {
	// Info names the loader and declares its optional capabilities.
	Info(ctx context.Context) (protocol.Info, error)
	// Load loads req.Object, pins every map under req.PinDir by its name, and
	// opens the loader's perf reader on every perf event array. A loader that
	// refuses the object returns a *LoadError. ctx bounds the whole session:
	// when it is done the session ends as if closed. The loader bounds the
	// load itself (adapters have a ready timeout).
	Load(ctx context.Context, req LoadRequest) (Session, error)
}

// LoadRequest is one load of one fixture object.
type LoadRequest struct {
	// Object is the path of the BPF ELF object.
	Object string
	// PinDir is an existing bpffs directory; every map is pinned as PinDir/NAME.
	PinDir string
	// Pages is the per-CPU ring size in pages (a power of two).
	Pages int
	// PossibleCPUsFile, when not empty, is a file whose content the loader
	// must see in place of /sys/devices/system/cpu/possible (the DEGRADE
	// requirements). Process loaders get it through a private mount namespace.
	PossibleCPUsFile string
}

// Session is a loaded object with its perf reader running.
type Session interface {
	// Events delivers the reader's sample and lost events. It is closed when
	// the session ends.
	Events() <-chan protocol.Event
	// Close stops the reader and releases the loader's resources. Pinned maps
	// stay pinned; the suite removes PinDir.
	Close() error
}

// LoadError is a loader's refusal or failure, at the stage it happened.
type LoadError struct {
	Stage protocol.Stage
	Err   error
}

func (e *LoadError) Error() string { return fmt.Sprintf("%s: %v", e.Stage, e.Err) }
func (e *LoadError) Unwrap() error { return e.Err }

// AsLoadError returns the *LoadError in err's chain, or nil.
func AsLoadError(err error) *LoadError {
	var le *LoadError
	if errors.As(err, &le) {
		return le
	}
	return nil
}

// ErrEnvironmentAfterPin is wrapped by the load failure a refusal at
// protocol.StageEnvironment becomes when the loader had pinned maps first.
var ErrEnvironmentAfterPin = errors.New(`stage "environment" reported after the loader pinned maps`)

// Pins is what a pin directory holds: entry name -> inode (a pin replaced
// under the same name is a new inode).
type Pins map[string]uint64

// PinsIn lists dir's pins (none if it cannot be read).
func PinsIn(dir string) Pins {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	pins := make(Pins, len(entries))
	for _, e := range entries {
		fi, err := os.Lstat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		pins[e.Name()] = ino
	}
	return pins
}

// JudgeEnvironment returns err as the suite judges it after a load into
// pinDir, which held before when the load started. A refusal at
// protocol.StageEnvironment promises that the loader never touched the
// object, so it is no verdict (every requirement an ERROR). A loader that
// pinned a map under pinDir (a name that was not there, or a pin replaced)
// did touch it: its refusal is a failure at protocol.StageLoad, judged as
// such (a wrong size it pinned is still a FAIL), wrapping
// ErrEnvironmentAfterPin. Any other err is returned as it is.
func JudgeEnvironment(err error, pinDir string, before Pins) error {
	le := AsLoadError(err)
	if le == nil || le.Stage != protocol.StageEnvironment {
		return err
	}
	var touched int
	for name, ino := range PinsIn(pinDir) {
		if was, ok := before[name]; !ok || was != ino {
			touched++
		}
	}
	if touched == 0 {
		return err
	}
	return &LoadError{Stage: protocol.StageLoad,
		Err: fmt.Errorf("%w (%d new in its pin directory), so it had touched the object: judged as a failure at load: %w", ErrEnvironmentAfterPin, touched, le.Err)}
}
