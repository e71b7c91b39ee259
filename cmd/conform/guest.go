package main

import (
	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/conform"
	"github.com/perfconform/perfconform/vmtest/guest"
)

func init() {
	rootCmd.AddCommand(&cobra.Command{
		Use:    guest.GuestArg,
		Short:  "Run as PID 1 inside a perfconform VM (started by the kernel, not by hand)",
		Hidden: true,
		Args:   cobra.NoArgs,
		Run:    func(*cobra.Command, []string) { conform.GuestMain() },
	})
}
