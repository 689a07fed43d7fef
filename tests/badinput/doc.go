// Package badinput holds the catalogue of refused inputs (docs/bad-inputs.md)
// as tests: one table per area (the memory API, QOM, YAML boards, mtree
// dumps and facts, QMP), each case with its input, the exact error qmem
// gives and a check that nothing changed afterwards. The document is
// generated from the same tables, so the two cannot drift:
//
//	go test ./tests/badinput -run TestCatalogueDoc -update
//
// rewrites it after a case is added or an error text changes.
//
// The package has no code of its own; everything is in its tests.
package badinput
