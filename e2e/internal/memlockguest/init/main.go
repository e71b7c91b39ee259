// Command init is the guest init of the reference's locked-memory VM test:
// it runs memlockguest.Payload as PID 1.
package main

import (
	"fmt"
	"os"

	"github.com/perfconform/perfconform/e2e/internal/memlockguest"
	"github.com/perfconform/perfconform/vmtest/guest"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != guest.GuestArg {
		fmt.Fprintln(os.Stderr, "memlockguest: run as the init of a vmtest VM")
		os.Exit(2)
	}
	guest.Main(memlockguest.Payload)
}
