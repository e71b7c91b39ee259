// Command garbage is a negative-control adapter: its info line is valid, but
// `load` prints something that is not a protocol line.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	switch os.Args[1] {
	case "info":
		fmt.Println(`{"loader":"garbage","version":"0","protocol":1}`)
	case "load":
		fmt.Fprintln(os.Stderr, "garbage control: printing garbage")
		fmt.Println("loaded OK, 2 maps, have fun")
		io.Copy(io.Discard, os.Stdin)
	}
}
