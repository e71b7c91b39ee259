// Command reference is the reference loader behind the adapter protocol
// (docs/ADAPTERS.md): the same loader `conform run --host` uses in-process,
// run as a process so it takes exactly the path other loaders take, inside
// VMs too.
package main

import (
	"context"
	"errors"

	"github.com/perfconform/perfconform/adapters/internal/adapterkit"
	"github.com/perfconform/perfconform/adapters/protocol"
	"github.com/perfconform/perfconform/adapters/reference/refadapter"
	"github.com/perfconform/perfconform/reference"
)

func main() {
	adapterkit.Main(refadapter.Info, func(ctx context.Context, args adapterkit.LoadArgs, w *adapterkit.Writer) error {
		coll, err := reference.Load(args.Object, reference.WithPinDir(args.PinDir))
		if err != nil {
			return adapterkit.Fail(protocol.StageLoad, err)
		}
		s, err := refadapter.Open(coll, args.Pages)
		if err != nil {
			coll.Close()
			return adapterkit.Fail(protocol.StageReader, err)
		}
		defer s.Close()
		if err := w.Ready(s.Maps); err != nil {
			return err
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev := <-s.Events():
				if ev.Event == protocol.EventError {
					return adapterkit.Fail(protocol.StageReader, errors.New(ev.Message))
				}
				if err := w.Emit(ev); err != nil {
					return err
				}
			}
		}
	})
}
