// Package serve turns any suite.Loader into an adapter executable: a main
// package that calls Main speaks the adapter protocol (docs/ADAPTERS.md), so
// the loader runs wherever adapters run — `conform run --loader ./adapter`,
// `conform adapter-check`, and inside the VMs, where an in-process Go loader
// cannot go.
//
//	package main
//
//	func main() { serve.Main(myloader.New()) }
//
// The protocol's command line, event lines and stop conditions are those of
// every Go adapter in this repository (adapters/internal/adapterkit). What
// serve adds is the mapping between the two contracts:
//
//   - `info` prints l.Info;
//   - `load` calls l.Load, prints ready once it returns, then forwards the
//     session's events until stdin closes or SIGTERM arrives, and closes it;
//   - a *suite.LoadError (from Load, as an error event, or from Close) is the
//     loader's refusal: an error line with its stage, exit status 1;
//   - any other failure (Load's other errors, a session that ends before it
//     was asked to stop, a Close error) is not the loader's verdict in the
//     suite either: serve prints it on stderr and exits 1 without an error
//     line, which the suite's client reports as an adapter error (ERROR).
//
// The ready line lists the session's Maps() when it has that method
// (refadapter.Session does), otherwise the object's perf event arrays, which
// is what suite.Loader promises to open readers on.
//
// LoadRequest.PossibleCPUsFile stays empty: the suite's client starts every
// adapter in a mount namespace where the replacement is bind-mounted over
// /sys/devices/system/cpu/possible, so the loader sees it where it always
// reads it.
package serve

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/process"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/suite"
)

// Main runs the adapter command line for l and exits: status 0 after `info`
// or a clean stop, 1 after a failure, 2 on a usage error.
func Main(l suite.Loader) {
	info, err := l.Info(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "info: %v\n", err)
		os.Exit(1)
	}
	adapterkit.Main(info, load(l))
}

// mapLister is the optional method of a session that names the perf event
// arrays it has a reader on (the same method process sessions have).
type mapLister interface{ Maps() []string }

func load(l suite.Loader) adapterkit.LoadFunc {
	return func(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
		sess, err := l.Load(ctx, suite.LoadRequest{Object: args.Object, PinDir: args.PinDir, Pages: args.Pages})
		if err != nil {
			if le := suite.AsLoadError(err); le != nil {
				return refusal(le)
			}
			return adapterkit.Abort(fmt.Errorf("load did not complete (not a refusal: no *suite.LoadError): %w", err))
		}
		var maps []string
		if ml, ok := sess.(mapLister); ok {
			maps = ml.Maps()
		} else if maps, err = process.PerfArrays(args.Object); err != nil {
			sess.Close()
			return adapterkit.Abort(fmt.Errorf("list the perf event arrays of %s for the ready line: %w", args.Object, err))
		}
		if err := w.Ready(maps); err != nil {
			sess.Close()
			return adapterkit.Abort(fmt.Errorf("write ready: %w", err))
		}
		return stream(ctx, sess, w)
	}
}

// stream forwards the session's events until ctx is done, then closes it.
func stream(ctx context.Context, sess suite.Session, w *adapterkit.Writer) error {
	events := sess.Events()
	for {
		select {
		case <-ctx.Done():
			// Asked to stop; what the session had already delivered is
			// still said first (select picks among ready cases at random,
			// so a reader error waiting beside the stop was lost 1 time in
			// 6): a pending error is the loader's outcome.
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						return closed(sess.Close())
					}
					if ev.Event == protocol.EventError {
						sess.Close()
						return readerError(ev)
					}
					if err := w.Emit(ev); err != nil {
						sess.Close()
						return adapterkit.Abort(fmt.Errorf("write event: %w", err))
					}
					continue
				default:
				}
				return closed(sess.Close())
			}
		case ev, ok := <-events:
			switch {
			case !ok && ctx.Err() != nil:
				// The session ended because ctx did (suite.Loader's
				// contract): a stop, not an early end.
				return closed(sess.Close())
			case !ok:
				err := sess.Close()
				if le := suite.AsLoadError(err); le != nil {
					return refusal(le)
				}
				return adapterkit.Abort(fmt.Errorf("the loader's session ended before it was asked to stop (close: %v)", err))
			case ev.Event == protocol.EventError:
				sess.Close()
				return readerError(ev)
			}
			if err := w.Emit(ev); err != nil {
				sess.Close()
				return adapterkit.Abort(fmt.Errorf("write event: %w", err))
			}
		}
	}
}

// readerError is a session's error event as the adapter's error line (a
// reader failure unless it names its stage).
func readerError(ev protocol.Event) error {
	stage := ev.Stage
	if stage == "" {
		stage = protocol.StageReader
	}
	return adapterkit.Fail(stage, errors.New(ev.Message))
}

// closed turns Close's error into Main's outcome.
func closed(err error) error {
	if err == nil {
		return nil
	}
	if le := suite.AsLoadError(err); le != nil {
		return refusal(le)
	}
	return adapterkit.Abort(fmt.Errorf("close: %w", err))
}

// refusal is a loader's LoadError as the adapter's error line. One without a
// stage is a load failure, as the suite judges it in-process: the same
// loader must get the same verdict behind serve (not an adapter error for
// an error line without a stage).
func refusal(le *suite.LoadError) error {
	err := le.Err
	if err == nil {
		err = errors.New("refused without a message")
	}
	stage := le.Stage
	if stage == "" {
		stage = protocol.StageLoad
	}
	return adapterkit.Fail(stage, err)
}
