// Command earlyexit is a negative-control adapter that prints ready and exits
// 0 at once, without waiting for stdin to close: the session must end with
// ErrAdapter, not look like a clean run that delivered no samples.
package main

import (
	"fmt"
	"os"
)

func main() {
	switch os.Args[1] {
	case "info":
		fmt.Println(`{"loader":"earlyexit","version":"0","protocol":1}`)
	case "load":
		fmt.Fprintln(os.Stderr, "earlyexit control: leaving right after ready")
		fmt.Println(`{"event":"ready","maps":["events"]}`)
	}
}
