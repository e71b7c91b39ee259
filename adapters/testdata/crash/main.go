// Command crash is a negative-control adapter: it prints ready, starts a
// child in its process group (which must not outlive the session), then
// crashes. The process client must report ErrAdapter with this stderr.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"time"
)

func main() {
	switch os.Args[1] {
	case "info":
		fmt.Println(`{"loader":"crash","version":"0","protocol":1}`)
	case "load":
		child := exec.Command(os.Args[0], "child")
		if err := child.Start(); err != nil {
			panic(err)
		}
		fmt.Println(`{"event":"ready","maps":["events"]}`)
		time.Sleep(200 * time.Millisecond)
		fmt.Fprintln(os.Stderr, "crash control: crashing on purpose")
		panic("negative control crash")
	case "child":
		time.Sleep(time.Hour)
	}
}
