package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/perfconform/perfconform/report"
)

// runInVMs runs the suite inside QEMU VMs, one per (kernel, topology).
func runInVMs(ctx context.Context, cmd *cobra.Command, f runFlags) (*report.Results, error) {
	return nil, fmt.Errorf("VM runs are not wired into this build yet")
}
