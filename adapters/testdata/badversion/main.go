// Command badversion is a negative-control adapter that claims protocol
// version 99; the process client must refuse it before loading anything.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	switch os.Args[1] {
	case "info":
		fmt.Fprintln(os.Stderr, "badversion control: speaking protocol 99")
		fmt.Println(`{"loader":"badversion","version":"0","protocol":99}`)
	case "load":
		fmt.Println(`{"event":"ready","maps":["events"]}`)
		io.Copy(io.Discard, os.Stdin)
	}
}
