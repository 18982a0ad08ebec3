// Command memflow runs, validates and inspects memflow flows.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "memflow: not yet built")
	os.Exit(2)
}
