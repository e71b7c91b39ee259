// Command perfconform-nswrap is the session wrapper of package process as an
// executable of its own (package nswrap): the VM initramfs ships it next to
// /init so that each adapter start pays for a small program's start instead of
// the whole conform binary's. Not meant to be run by hand.
package main

import "github.com/perfconform/perfconform/internal/nswrap"

func main() { nswrap.Main() }
