package memory

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises rapid's default number of checks: the property tests of
// this package need more than 100 cases to reach rare shapes (equal-priority
// overlaps deep in a tree). -rapid.checks on the command line still wins.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set {
		_ = flag.Set("rapid.checks", "1500")
	}
	os.Exit(m.Run())
}
