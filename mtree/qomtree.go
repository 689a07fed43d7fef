package mtree

import (
	"fmt"
	"io"
	"sort"

	"qmem.dev/qmem/qom"
)

// WriteQOMTree prints QEMU's `info qom-tree [PATH]` (R-QOMTREE-1..4): one
// line per object, "<indent>/<component> (<type>)", two spaces of indent per
// level below the starting object, children pre-order and sorted by name with
// byte comparison. An empty path starts at /machine (R-TREE-4). A path that
// does not resolve, or resolves ambiguously, prints QEMU's message instead
// (R-PATH-6).
func WriteQOMTree(w io.Writer, reg *qom.Registry, path string) error {
	var start *qom.Object
	if path == "" {
		start = reg.Machine()
		if start == nil {
			start = reg.Root()
		}
	} else {
		start, _ = reg.ResolvePath(path)
	}
	if start == nil {
		_, err := fmt.Fprintf(w, "Path '%s' could not be resolved.\n", path)
		return err
	}
	return writeQOMNode(w, start, 0)
}

func writeQOMNode(w io.Writer, o *qom.Object, depth int) error {
	for i := 0; i < depth; i++ {
		if _, err := io.WriteString(w, "  "); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "/%s (%s)\n", o.PathComponent(), o.TypeName()); err != nil {
		return err
	}
	children := o.Children()
	sort.Slice(children, func(i, j int) bool { return children[i].PathComponent() < children[j].PathComponent() })
	for _, c := range children {
		if err := writeQOMNode(w, c, depth+1); err != nil {
			return err
		}
	}
	return nil
}
