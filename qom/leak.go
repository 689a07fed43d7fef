package qom

import (
	"fmt"
	"sort"
	"strings"
)

// Hold names a reference held on an object on someone's behalf, so that the
// leak report can say who keeps the object alive (DESIGN L8).
type Hold struct {
	By  *Object // the object the reference is held for; nil when not an object
	Via string  // how, e.g. "subregion 'uart[0]' of container 'periph'"
}

// RefHold adds a reference recorded as held by h. Like Ref it panics on a
// dying or dead object.
func (o *Object) RefHold(h Hold) {
	o.Ref()
	o.reg.mu.Lock()
	if o.holds == nil {
		o.holds = make(map[Hold]int)
	}
	o.holds[h]++
	o.reg.mu.Unlock()
}

// UnrefHold drops a reference taken with RefHold(h). Dropping a hold that
// was never taken panics: the accounting would be wrong.
func (o *Object) UnrefHold(h Hold) {
	o.reg.mu.Lock()
	n := o.holds[h]
	if n == 0 {
		o.reg.mu.Unlock()
		panic(fmt.Sprintf("qom: UnrefHold of %s: no reference held by %q", o, h.Via))
	}
	if n == 1 {
		delete(o.holds, h)
	} else {
		o.holds[h] = n - 1
	}
	o.reg.mu.Unlock()
	o.Unref()
}

// Retainer is one holder of a leaked object's references.
type Retainer struct {
	Holder string // the holding object's name; "" when it is not an object
	Via    string // the property, region link or explicit reference
	Count  int    // references held this way
	// Reachable reports whether the holder is itself reachable from the
	// root (the leak is then anchored in the live tree, e.g. a link left
	// behind by a device that is still plugged).
	Reachable bool
	holder    *Object
}

// Leak describes one live object that is not reachable from the root.
type Leak struct {
	Object *Object
	Name   string // canonical path, or "<type>#<n>" for a detached object
	Type   string
	// LastPath is the canonical path the object (or, for a descendant of a
	// detached object, its detached ancestor) had when it was last
	// unparented, "" if it never had one.
	LastPath   string
	Refs       int64
	RetainedBy []Retainer
	// Chain follows the first object holder from Object outwards until it
	// reaches a holder in the live tree, a holder with no object holder (an
	// untracked reference) or an object already on the chain (a cycle).
	Chain []string
	// Cycle lists the objects of the reference cycle Object belongs to, each
	// followed by the property that holds the next one, and is empty when the
	// object is not on a cycle.
	Cycle []string
	// Site is where the object was created, when Registry.TrackSites is on.
	Site string
}

// String renders the leak on several lines.
func (l Leak) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "leaked %s (%s, %d refs", l.Name, l.Type, l.Refs)
	if l.LastPath != "" {
		fmt.Fprintf(&b, ", was %s", l.LastPath)
	}
	b.WriteByte(')')
	if l.Site != "" {
		fmt.Fprintf(&b, " created at %s", l.Site)
	}
	b.WriteByte('\n')
	for _, r := range l.RetainedBy {
		h := r.Holder
		if h == "" {
			h = "(no object)"
		}
		fmt.Fprintf(&b, "  retained by %s via %s", h, r.Via)
		if r.Count > 1 {
			fmt.Fprintf(&b, " x%d", r.Count)
		}
		b.WriteByte('\n')
	}
	if len(l.Cycle) > 0 {
		fmt.Fprintf(&b, "  cycle: %s\n", strings.Join(l.Cycle, " -> "))
	} else if len(l.Chain) > 1 {
		fmt.Fprintf(&b, "  chain: %s\n", strings.Join(l.Chain, " <- "))
	}
	return b.String()
}

// FormatLeaks renders a leak report; "no leaks\n" when empty.
func FormatLeaks(leaks []Leak) string {
	if len(leaks) == 0 {
		return "no leaks\n"
	}
	var b strings.Builder
	for _, l := range leaks {
		b.WriteString(l.String())
	}
	return b.String()
}

// leakName names o for the report: its canonical path when it has one,
// otherwise "<type>#<n>" of its detached top ancestor followed by the child
// names down to o.
func leakName(o *Object) string {
	if p := o.CanonicalPath(); p != "" {
		return p
	}
	var parts []string
	top := o
	for top.parent != nil {
		parts = append(parts, top.parentProp)
		top = top.parent
	}
	name := fmt.Sprintf("%s#%d", top.TypeName(), top.serial)
	for i := len(parts) - 1; i >= 0; i-- {
		name += "/" + parts[i]
	}
	return name
}

// lastPath returns the path o had before it (or its detached top ancestor)
// left the tree.
func lastPath(o *Object) string {
	suffix := ""
	for o.parent != nil && o.lastPath == "" {
		suffix = "/" + o.parentProp + suffix
		o = o.parent
	}
	if o.lastPath == "" {
		return ""
	}
	return o.lastPath + suffix
}

// Leaks lists every live object that is not reachable from the root through
// child<> properties, with who retains it and how (DESIGN L8): the parent's
// child property, strong links of other objects, named holds (RefHold), and
// references nobody named. Objects on a reference cycle carry the cycle.
// The root itself is never a leak, and neither is anything under the
// internal root (InternalRoot). The list is ordered by creation.
//
// Call it with the machine lock held (it reads the tree).
func (r *Registry) Leaks() []Leak {
	r.mu.Lock()
	live := make([]*Object, 0, len(r.live))
	for o := range r.live {
		live = append(live, o)
	}
	holds := make(map[*Object]map[Hold]int)
	for _, o := range live {
		if len(o.holds) > 0 {
			m := make(map[Hold]int, len(o.holds))
			for h, n := range o.holds {
				m[h] = n
			}
			holds[o] = m
		}
	}
	r.mu.Unlock()
	sort.Slice(live, func(i, j int) bool { return live[i].serial < live[j].serial })

	reachable := map[*Object]bool{}
	for _, top := range []*Object{r.root, r.internalRoot} {
		if top != nil {
			reachable[top] = true
			top.WalkChildren(func(c *Object) bool { reachable[c] = true; return true })
		}
	}

	// Who holds whom.
	retainers := map[*Object][]Retainer{}
	for _, o := range live {
		if o.parent != nil {
			retainers[o] = append(retainers[o], Retainer{
				Via: fmt.Sprintf("child property '%s'", o.parentProp), Count: 1, holder: o.parent,
			})
		}
		for _, p := range o.Properties() {
			if t := strongLinkTarget(o, p); t != nil && !t.Finalized() {
				retainers[t] = append(retainers[t], Retainer{
					Via: fmt.Sprintf("strong %s property '%s'", p.Type, p.Name), Count: 1, holder: o,
				})
			}
		}
	}
	for o, hs := range holds {
		keys := make([]Hold, 0, len(hs))
		for h := range hs {
			keys = append(keys, h)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].Via < keys[j].Via })
		for _, h := range keys {
			retainers[o] = append(retainers[o], Retainer{Via: h.Via, Count: hs[h], holder: h.By})
		}
	}

	var leaks []Leak
	leaked := map[*Object]bool{}
	for _, o := range live {
		if !reachable[o] && o != r.root && o.Alive() {
			leaked[o] = true
		}
	}
	cycles := findCycles(live, leaked, retainers)
	for _, o := range live {
		if !leaked[o] {
			continue
		}
		rs := append([]Retainer(nil), retainers[o]...)
		known := int64(0)
		for i := range rs {
			known += int64(rs[i].Count)
			if h := rs[i].holder; h != nil {
				rs[i].Holder = leakName(h)
				rs[i].Reachable = reachable[h]
			}
		}
		refs := o.RefCount()
		if extra := refs - known; extra > 0 {
			rs = append(rs, Retainer{Via: "untracked reference (Ref without a Hold)", Count: int(extra)})
		}
		leaks = append(leaks, Leak{
			Object: o, Name: leakName(o), Type: o.TypeName(), Refs: refs, LastPath: lastPath(o),
			RetainedBy: rs, Chain: holderChain(o, retainers, reachable), Cycle: cycles[o], Site: o.site,
		})
	}
	return leaks
}

// holderChain follows the first object holder of each object outwards.
func holderChain(o *Object, retainers map[*Object][]Retainer, reachable map[*Object]bool) []string {
	chain := []string{leakName(o)}
	seen := map[*Object]bool{o: true}
	for cur := o; ; {
		var next *Object
		var via string
		for _, r := range retainers[cur] {
			if r.holder != nil {
				next, via = r.holder, r.Via
				break
			}
		}
		if next == nil {
			return chain
		}
		chain = append(chain, fmt.Sprintf("%s (%s)", leakName(next), via))
		if seen[next] || reachable[next] {
			return chain
		}
		seen[next] = true
		cur = next
	}
}

// findCycles finds the strongly connected components of the "holds" graph
// restricted to leaked objects (Tarjan) and returns, for each object on a
// cycle, the cycle written as "A -[via]-> B -[via]-> ... -> A".
func findCycles(live []*Object, leaked map[*Object]bool, retainers map[*Object][]Retainer) map[*Object][]string {
	// Edges holder -> held, with the held object's retainer text.
	type edge struct {
		to  *Object
		via string
	}
	out := map[*Object][]edge{}
	for _, o := range live {
		if !leaked[o] {
			continue
		}
		for _, r := range retainers[o] {
			if r.holder != nil && leaked[r.holder] {
				out[r.holder] = append(out[r.holder], edge{to: o, via: r.Via})
			}
		}
	}
	index := map[*Object]int{}
	low := map[*Object]int{}
	onStack := map[*Object]bool{}
	var stack []*Object
	next := 0
	result := map[*Object][]string{}
	var strong func(v *Object)
	strong = func(v *Object) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range out[v] {
			if _, ok := index[e.to]; !ok {
				strong(e.to)
				low[v] = min(low[v], low[e.to])
			} else if onStack[e.to] {
				low[v] = min(low[v], index[e.to])
			}
		}
		if low[v] != index[v] {
			return
		}
		var comp []*Object
		for {
			w := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[w] = false
			comp = append(comp, w)
			if w == v {
				break
			}
		}
		inComp := map[*Object]bool{}
		for _, w := range comp {
			inComp[w] = true
		}
		selfLoop := false
		for _, e := range out[v] {
			if e.to == v {
				selfLoop = true
			}
		}
		if len(comp) == 1 && !selfLoop {
			return
		}
		// Walk the cycle from the oldest member, following edges inside it.
		sort.Slice(comp, func(i, j int) bool { return comp[i].serial < comp[j].serial })
		start := comp[0]
		text := []string{leakName(start)}
		seen := map[*Object]bool{start: true}
		for cur := start; ; {
			var e *edge
			for i := range out[cur] {
				if inComp[out[cur][i].to] && (!seen[out[cur][i].to] || out[cur][i].to == start) {
					e = &out[cur][i]
					if e.to == start {
						break
					}
				}
			}
			if e == nil {
				break
			}
			text = append(text, fmt.Sprintf("[%s] %s", e.via, leakName(e.to)))
			if e.to == start {
				break
			}
			seen[e.to] = true
			cur = e.to
		}
		for _, w := range comp {
			result[w] = text
		}
	}
	for _, o := range live {
		if leaked[o] {
			if _, ok := index[o]; !ok {
				strong(o)
			}
		}
	}
	return result
}
