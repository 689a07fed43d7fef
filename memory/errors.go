package memory

import "errors"

var errTooLarge = errors.New("too large for host memory")

func errNotIOMMU(r *Region) error { return &notIOMMUError{r.String()} }

type notIOMMUError struct{ name string }

func (e *notIOMMUError) Error() string { return "memory: region " + e.name + " is not an IOMMU region" }
