package qmp

import (
	"fmt"

	"qmem.dev/qmem/qom"
)

// ErrorClass is the "class" member of a QMP error reply. QEMU's classes are
// listed below (qapi/error.json, enum QapiErrorClass); a handler may use any
// other name, which is sent as given.
type ErrorClass string

// QEMU's QMP error classes.
const (
	GenericError    ErrorClass = "GenericError"
	CommandNotFound ErrorClass = "CommandNotFound"
	DeviceNotActive ErrorClass = "DeviceNotActive"
	DeviceNotFound  ErrorClass = "DeviceNotFound"
	KVMMissingCap   ErrorClass = "KVMMissingCap"
)

// Error is a QMP error: the class and description of an error reply.
// Handlers return it (or any error, see [ClassOf]) to choose the class.
type Error struct {
	Class ErrorClass
	Desc  string
}

// Error returns the description, like QEMU's error_get_pretty.
func (e *Error) Error() string { return e.Desc }

// QMPClass returns the error's class; it makes *Error a [ClassedError].
func (e *Error) QMPClass() string { return string(e.Class) }

// Errorf returns an *Error of the given class whose description is
// fmt.Sprintf(format, args...).
func Errorf(class ErrorClass, format string, args ...any) *Error {
	return &Error{Class: class, Desc: fmt.Sprintf(format, args...)}
}

// genericf is Errorf(GenericError, ...), QEMU's error_setg.
func genericf(format string, args ...any) *Error {
	return Errorf(GenericError, format, args...)
}

// ClassedError is an error that names its QMP class. Packages that cannot
// import qmp (everything below it in docs/architecture.md) implement it to
// choose a class; the method returns a plain string for that reason.
type ClassedError interface {
	error
	QMPClass() string
}

// ClassOf returns the QMP class of err: that of the first [ClassedError] or
// *qom.Error found in err's tree (in the order errors.As searches it), or
// GenericError when there is none.
func ClassOf(err error) ErrorClass {
	if c, ok := classOf(err); ok {
		return c
	}
	return GenericError
}

func classOf(err error) (ErrorClass, bool) {
	switch e := err.(type) {
	case nil:
		return "", false
	case ClassedError:
		return ErrorClass(e.QMPClass()), true
	case *qom.Error:
		return ErrorClass(e.Class), true
	case interface{ Unwrap() error }:
		return classOf(e.Unwrap())
	case interface{ Unwrap() []error }:
		for _, sub := range e.Unwrap() {
			if c, ok := classOf(sub); ok {
				return c, true
			}
		}
	}
	return "", false
}

// asError converts a handler's error into the *Error sent on the wire:
// the class from ClassOf and the description from err.Error().
func asError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Class: ClassOf(err), Desc: err.Error()}
}
