// Command testguest is the guest init of vmtest's own VM tests: its payload
// is chosen by the first payload argument, so one cached image covers every
// behaviour the tests need (a clean run, a payload panic, a hang, an init
// that exits and panics the kernel).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest/event"
	"github.com/perfconform/perfconform/vmtest/guest"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != guest.GuestArg {
		fmt.Fprintln(os.Stderr, "testguest: run as the init of a vmtest VM")
		os.Exit(2)
	}
	guest.Main(payload)
}

func payload(ctx context.Context, env guest.Env, emit func(event.Event)) error {
	mode := "ok"
	if len(env.Args) > 0 {
		mode = env.Args[0]
	}
	switch mode {
	case "ok":
		// One result whose detail carries what the guest saw, so the
		// test checks data that came from inside the VM.
		emit(event.Log("testguest on %s, online %s", env.Release, env.Masks.Online))
		emit(event.Result(result.Result{
			Requirement: "VMTEST-PROBE", Level: result.Info, Status: result.Pass,
			Loader: "testguest", Detail: "online=" + env.Masks.Online,
		}))
		return nil
	case "fail":
		return fmt.Errorf("payload failed on purpose")
	case "panic":
		panic("testguest panics on purpose")
	case "hang":
		emit(event.Log("testguest hangs on purpose"))
		// Sleep rather than block forever: with nothing left to wake it,
		// the Go runtime would call a plain block a deadlock and crash.
		for {
			time.Sleep(time.Hour)
		}
	case "exit":
		// PID 1 exits: the kernel panics ("Attempted to kill init").
		os.Exit(3)
	}
	return fmt.Errorf("testguest: unknown mode %q", mode)
}
