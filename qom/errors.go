package qom

import (
	"errors"
	"fmt"
)

// ErrorClass is the QMP error class an error maps to.
type ErrorClass string

// QMP error classes used by qom errors.
const (
	GenericError   ErrorClass = "GenericError"
	DeviceNotFound ErrorClass = "DeviceNotFound"
)

// Error is an error with a QMP error class. Its message is the text QEMU uses
// for the same condition wherever QEMU has one.
type Error struct {
	Class ErrorClass
	Msg   string
}

// Error returns the message, which is what QMP sends as "desc".
func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error {
	return &Error{Class: GenericError, Msg: fmt.Sprintf(format, args...)}
}

// ClassOf returns the QMP error class of err: the class of the first *Error
// in its chain, or GenericError.
func ClassOf(err error) ErrorClass {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return GenericError
}

// FinalizedError reports the use of an object that is being finalized or has
// been finalized.
type FinalizedError struct {
	Object string // the object's name as Object.String prints it
	Op     string // what was attempted
}

// Error names the operation and the object.
func (e *FinalizedError) Error() string {
	return fmt.Sprintf("qom: %s of finalized object %s", e.Op, e.Object)
}
