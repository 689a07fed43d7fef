// Package qom is qmem's object model: QEMU's QOM done in Go.
//
// Objects have a type registered by name in a [Registry], live in one
// composition tree (child<> properties, rooted at "/"), reference each other
// through typed link<> properties, and carry typed properties that can be read
// and written as JSON-compatible values. Reference counts decide exactly when
// an object dies: when the last reference goes, the object is finalized
// synchronously, exactly once, in QEMU's order (properties released first,
// then finalize hooks from the leaf type up to the root type, then the
// object's managed cleanups registered with [Object.OnFinalize]).
//
// What qom guarantees beyond QEMU:
//
//   - finalize runs at most once; a Ref on a dying or dead object is refused
//     (Ref panics with the object's name, TryRef returns an error), and so is
//     any other use of a finalized object (properties, children, links);
//   - SetLink to an object outside the composition tree is an error, not a
//     silent clear (SetLinkTarget links such objects explicitly);
//   - weak links and aliases whose target died read as empty or fail, they
//     never reach a dead object;
//   - property tables, child lists and the release order at finalization
//     follow insertion order (QEMU: hash order), so everything is
//     deterministic;
//   - every reference can name its holder ([Object.RefHold]), so that the leak
//     report ([Registry.Leaks]) lists every live object that is no longer
//     reachable from the root together with the chain of references that keeps
//     it alive, including reference cycles;
//   - no correctness depends on the garbage collector.
//
// # Concurrency
//
// The composition tree, properties and types are changed by one goroutine at a
// time: the holder of the machine lock (QEMU's big lock). qom does not take
// that lock itself. Ref and Unref are safe from any goroutine (one atomic add).
// The Unref that drops the last reference runs the finalization on the calling
// goroutine: release hooks, detach hooks (Registry.AddDetachHook), finalize
// hooks and OnFinalize cleanups, which touch the tree and whatever state the
// hooks own. So a goroutine that does not hold the machine lock may only drop
// a reference it knows is not the last; otherwise it must hand the reference
// to the lock holder to drop. Leaks, like every tree reader, needs the lock.
package qom
