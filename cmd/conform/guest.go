package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/guest"
)

// guestPayload is what `conform guest` runs inside a VM once the topology is
// realized. The suite replaces it with the conformance run; the default only
// reports what it saw, so the harness can be exercised on its own.
var guestPayload guest.Payload = func(ctx context.Context, env guest.Env, emit func(event.Event)) error {
	emit(event.Log("conform guest: kernel %s (%s), topology %s, possible %s present %s online %s, args %q",
		env.Kernel, env.Release, env.Topology.Name, env.Masks.Possible, env.Masks.Present, env.Masks.Online, env.Args))
	return nil
}

var guestCmd = &cobra.Command{
	Use:    guest.GuestArg,
	Short:  "Run as PID 1 inside a perfconform VM (started by the kernel, not by hand)",
	Hidden: true,
	Args:   cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		guest.Main(guestPayload) // never returns
		return nil
	},
}

func init() {
	rootCmd.AddCommand(guestCmd)
}
