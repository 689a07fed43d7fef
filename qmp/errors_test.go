package qmp

import (
	"errors"
	"fmt"
	"testing"

	"qmem.dev/qmem/qom"
)

// busError is a device package's error: it cannot import qmp, so it names
// its class with a plain string.
type busError struct{}

func (busError) Error() string    { return "bus full" }
func (busError) QMPClass() string { return "DeviceNotActive" }

func TestClassOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want ErrorClass
	}{
		{"nil", nil, GenericError},
		{"plain", errors.New("x"), GenericError},
		{"qmp.Error", Errorf(KVMMissingCap, "x"), KVMMissingCap},
		{"wrapped qmp.Error", fmt.Errorf("a: %w", Errorf(DeviceNotFound, "x")), DeviceNotFound},
		{"qom.Error", &qom.Error{Class: qom.DeviceNotFound, Msg: "x"}, DeviceNotFound},
		{"wrapped qom.Error", fmt.Errorf("a: %w", &qom.Error{Class: qom.GenericError, Msg: "x"}), GenericError},
		{"ClassedError", fmt.Errorf("a: %w", busError{}), DeviceNotActive},
		{"joined: first classed wins", errors.Join(errors.New("x"), busError{}, Errorf(DeviceNotFound, "y")), DeviceNotActive},
		{"outermost wins", Errorf(CommandNotFound, "%v", &qom.Error{Class: qom.DeviceNotFound}), CommandNotFound},
	}
	for _, tt := range tests {
		if got := ClassOf(tt.err); got != tt.want {
			t.Errorf("%s: ClassOf = %s, want %s", tt.name, got, tt.want)
		}
	}
	if e := asError(fmt.Errorf("ctx: %w", busError{})); e.Class != DeviceNotActive || e.Desc != "ctx: bus full" {
		t.Errorf("asError = %+v", e)
	}
}
