// Package dump reads and writes QEMU's `info mtree` text without the
// memory package: a parser of `info mtree -D` (and `-o`) into a neutral
// model, the facts file mtree-facts.json, the canonical form used to
// compare dumps, a first-difference diff, and a printer from the model
// back to `info mtree`, `-D` and `-o` (SPEC A.20) used to prove the parser
// exact. Package mtree builds real memory regions from the model.
//
// # Model
//
// A Dump has two layers. The printed layer is what the text shows: Sections
// (address-space groups, then memory-region sections, in file order) whose
// Root is a tree of Nodes, one per region line, with the line number and
// every printed field. The region layer is what QEMU had: one Region per
// distinct MemoryRegion, shared by all the Nodes that print it
// (Region.Places). A Region knows its offset in its container (Addr), Size,
// Priority, flags, Owner, its direct alias target (Alias, a *Region, and
// AliasOffset), its Container, its Children in printed order, and the
// facts `info mtree -f` needs: RenderOrder, Terminates, ReadOnly.
//
// To build real regions: create one region per Dump.Regions entry (each
// has exactly one container or none); add each Region's RenderOrder in
// reverse as subregions (QEMU's list puts a later-added region of equal
// priority first, so adding in reverse reproduces the list order); point
// aliases at Alias with AliasOffset; root every address space of a group
// (Section.ASNames) at Section.Root.Region.
//
// # Format rules (checked by Parse)
//
//   - The text is `address-space:` groups, then `memory-region:` sections;
//     each is its header line(s), a level-1 root line, its subtree at two
//     more spaces per level, and one empty line. The text ends with that
//     empty line. A -D dump prints every region, so indentation grows by
//     one level at most and every section has a root line.
//   - Region lines follow FORMAT-NOTES.md section 6: the fixed prefix
//     (16-digit lower-case hex start and end, canonical signed decimal
//     priority, optional nv-, type label) is read field by field; the rest
//     (name, or "alias NAME @TARGET OFF-END"; " [disabled]"; with -o the
//     owner suffix) by the notes' regular expression with non-greedy
//     names. Without Options.Owners nothing is read as an owner suffix.
//   - A line's offset is its start minus its printed parent's start (an
//     alias's children are printed relative to the alias), and a root's
//     start is its own offset (printed at base 0). Siblings are printed by
//     ascending offset, then descending priority (SPEC R-MTREE-7).
//   - "[DETECTED OVERFLOW!] " prefixes a line exactly when its start is
//     below its parent's start or its end below its start (64-bit wrap).
//   - An alias's offset range has the same length as its range.
//   - A memory-region header names the region its root line prints.
//
// # Region identity
//
// Names are not unique and a region can be printed several times, so
// identity is inferred:
//
//   - Every place of one region prints the same subtree: same name, offset,
//     end-start, priority, flags, alias text, owner and, recursively, the
//     same children. This is the line's signature.
//   - A region has one container, so two nested lines can only be one
//     region if their parents are, and then they are children at the same
//     position: identity is decided for section roots and propagated down.
//   - Groups have distinct roots (QEMU groups address spaces by root
//     identity) and memory-region sections print distinct regions (the
//     alias queue holds each target once).
//   - Rule: a section root is the same region as every other line of equal
//     signature that stays compatible (at most one address-space-root
//     place, one memory-region-root place, one container), repeated to a
//     fixpoint. Where taking one candidate rules out another, Dump.Notes
//     records the guess; no dump of the corpus has one.
//
// In the corpus (47 dumps, 7451 region lines, 4557 regions) this merges an
// AS root with its memory-region section (47 cases: `system` in 44 dumps,
// `io` and `pci0-mem` on malta, `armsse-container` on mps2-an505), a section with the region nested in a tree (`pci`,
// `pc.bios`, `gpex_mmio_window`...; 63 cases), and an AS root with the same
// region nested in another AS tree (`system` inside `secure-memory` on
// aarch64-virt-secure; on arm-mps2-an505 `system` inside `armsse-container`
// inside `arm-sse-cpu-container0`, each also an AS root). 101 sections
// print a region found nowhere else (`pc.ram`: no container). The facts
// files' `also` lists agree exactly: for every referenced line, the places
// are the line plus its also lines.
//
// # Alias targets
//
// QEMU prints sections for the queue of alias targets (SPEC R-MTREE-3, -8),
// and the file order is the print order, so the queue is replayed: walking
// the lines in file order, the first place of each alias region queues its
// direct target unless that region is queued already (disabled aliases
// queue too: x86 `memory-region: system` comes from the disabled
// `bus master` aliases), and the k-th section prints the k-th queued
// region. An alias means a queued region or the next unqueued section
// whose name is the printed target name and whose root has the alias's
// type label (an alias prints its final target's label); if both fit, the
// pending section wins (a note is kept). A section printed before any alias
// queued it, an alias without a fitting section, and an alias loop are
// errors. No section name repeats in the corpus, so every alias resolves
// without choice.
//
// # Facts and defaults
//
// Parse gives every region the defaults of FACTS-FORMAT.md section 3: Size
// is end-start+1 in 65 bits, an "X-X" line is size 0 for an alias and 1
// otherwise; a non-alias region terminates unless it is i/o with children
// (disabled children count); a non-alias `rom` is read-only; RenderOrder is
// Children stably sorted by descending priority. Dump.ApplyFacts checks and
// applies one mtree-facts.json entry (section 4) on top of the defaults.
//
// # Owners
//
// `info mtree -o` hides disabled regions, so ParseWithOwners matches the -o
// dump against the -D dump as printed without -D: owners of disabled
// regions stay unknown (nil). Sections of the -o dump may come in any order.
// In the corpus the plain, -D and -o dumps of one run print sections in the
// same order, so all three print back byte for byte.
package dump
