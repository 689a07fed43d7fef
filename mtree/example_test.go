package mtree_test

import (
	"fmt"
	"os"

	"qmem.dev/qmem/mtree"
)

// The machine of SPEC A.20 printed as `info mtree`: groups in address-space
// creation order, alias targets after them (bootrom's section comes from
// the disabled alias shadow).
func ExampleWrite() {
	m, err := mtree.NewSpecExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	if err := mtree.Write(os.Stdout, m.System, mtree.Options{}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// address-space: cpu-memory-0
	// address-space: memory
	//   0000000000000000-ffffffffffffffff (prio 0, i/o): system
	//     0000000000000000-0000000007ffffff (prio 0, ram): alias ram-lo @ram 0000000000000000-0000000007ffffff
	//     0000000010000000-000000001000ffff (prio 1, i/o): periph
	//       0000000010001000-00000000100010ff (prio 0, i/o): uart
	//       0000000010002000-00000000100020ff (prio 0, i/o): timer
	//     0000000020000000-00000000200fffff (prio 0, romd): flash
	//     00000000fff00000-00000000ffffffff (prio 0, rom): bootrom
	//
	// address-space: I/O
	//   0000000000000000-000000000000ffff (prio 0, i/o): io
	//
	// memory-region: ram
	//   0000000000000000-0000000007ffffff (prio 0, ram): ram
	//
	// memory-region: bootrom
	//   00000000fff00000-00000000ffffffff (prio 0, rom): bootrom
	//
}

// The same machine as `info mtree -f -o`: one FlatView per flat-view root,
// ranges with their leaf's owner suffix (ownerless regions show their QOM
// parent).
func ExampleWrite_flat() {
	m, err := mtree.NewSpecExample()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	if err := mtree.Write(os.Stdout, m.System, mtree.Options{Flat: true, Owners: true}); err != nil {
		fmt.Println(err)
	}
	// Output:
	// FlatView #0
	//  AS "memory", root: system
	//  AS "cpu-memory-0", root: system
	//  Root memory region: system
	//   0000000000000000-0000000007ffffff (prio 0, ram): ram parent:{obj path=/machine/unattached}
	//   0000000010001000-00000000100010ff (prio 0, i/o): uart parent:{obj path=/machine/unattached}
	//   0000000010002000-00000000100020ff (prio 0, i/o): timer parent:{obj path=/machine/unattached}
	//   0000000020000000-00000000200fffff (prio 0, romd): flash parent:{obj path=/machine/unattached}
	//   00000000fff00000-00000000ffffffff (prio 0, rom): bootrom parent:{obj path=/machine/unattached}
	//
	// FlatView #1
	//  AS "I/O", root: io
	//  Root memory region: io
	//   0000000000000000-000000000000ffff (prio 0, i/o): io parent:{obj path=/machine/unattached}
	//
}
