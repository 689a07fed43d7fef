//go:build !(linux && amd64)

package board

type kvmMapHolder struct{}
