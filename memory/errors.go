package memory

import "errors"

var errTooLarge = errors.New("too large for host memory")
