package memory

// Dirty memory clients (R-DIRTY-1): bit numbers of a dirty log mask.
const (
	DirtyVGA       = 0
	DirtyCode      = 1
	DirtyMigration = 2
)

// dirtyState is the global dirty-tracking state.
type dirtyState struct{}
