// Command hang is a negative-control adapter: `load` never prints ready,
// ignores SIGTERM and stdin, and leaves a child in its process group. The
// process client must give up after its ready timeout and kill them all.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	switch os.Args[1] {
	case "info":
		fmt.Println(`{"loader":"hang","version":"0","protocol":1}`)
	case "load":
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
		child := exec.Command(os.Args[0], "child")
		if err := child.Start(); err != nil {
			panic(err)
		}
		fmt.Fprintln(os.Stderr, "hang control: never getting ready")
		time.Sleep(time.Hour)
	case "child":
		time.Sleep(time.Hour)
	}
}
