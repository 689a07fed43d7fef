// Command qmem runs and inspects qmem machines.
package main

import (
	"fmt"
	"os"

	"qmem.dev/qmem/mtree"
	"qmem.dev/qmem/qom"
)

func main() {
	reg := qom.NewRegistry()
	if err := reg.Register(qom.TypeInfo{Name: "qmem-empty-machine", Parent: qom.TypeMachine}); err != nil {
		fmt.Fprintln(os.Stderr, "qmem:", err)
		os.Exit(1)
	}
	if _, err := reg.NewMachine("qmem-empty-machine"); err != nil {
		fmt.Fprintln(os.Stderr, "qmem:", err)
		os.Exit(1)
	}
	if err := mtree.WriteQOMTree(os.Stdout, reg, ""); err != nil {
		fmt.Fprintln(os.Stderr, "qmem:", err)
		os.Exit(1)
	}
}
