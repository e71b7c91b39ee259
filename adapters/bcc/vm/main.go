// Command vm is the bcc adapter's executable in perfconform's VMs: it enters
// the bcc image the guest mounted (package bccvm) and runs the adapter there
// with its arguments. Built static by 'conform adapters --build' beside the
// host's launcher script.
package main

import (
	"fmt"
	"os"

	"github.com/perfconform/perfconform/adapters/internal/bccvm"
)

func main() {
	err := bccvm.Exec(bccvm.Mount, os.Args[1:])
	fmt.Fprintf(os.Stderr, "bcc adapter in VM: %v\n", err)
	os.Exit(126)
}
