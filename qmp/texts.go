package qmp

// The error descriptions the server sends. The first block holds QEMU's,
// byte for byte, with the QEMU source file each comes from; keeping them in
// one place lets tests and reviewers compare them with QEMU. No
// other file of the package spells an error text sent to clients (syntax
// errors that QEMU words differently fall back to encoding/json's own
// description, see syntaxError).
const (
	// qapi/qmp-dispatch.c, qmp_dispatch and qmp_dispatch_check_obj.
	textNotObject       = "QMP input must be a JSON object"
	textMemberString    = "QMP input member '%s' must be a string"
	textArgumentsObject = "QMP input member 'arguments' must be an object"
	textMemberUnexpect  = "QMP input member '%s' is unexpected"
	textLacksExecute    = "QMP input lacks member 'execute'"
	textCommandNotFound = "The command %s has not been found"

	// monitor/qmp.c, monitor_qmp_dispatch: replaces the description of every
	// CommandNotFound error while the client has not negotiated.
	textExpectingCaps = "Expecting capabilities negotiation with 'qmp_capabilities'"

	// monitor/qmp-cmds-control.c, qmp_qmp_capabilities and qmp_caps_accept.
	textCapsComplete     = "Capabilities negotiation is already complete, command ignored"
	textCapsNotAvailable = "Capability %s not available"

	// include/qapi/qmp/qerror.h (QERR_MISSING_PARAMETER,
	// QERR_INVALID_PARAMETER_TYPE, QERR_INVALID_PARAMETER_VALUE) as used by
	// qapi/qobject-input-visitor.c; the rest from the same visitor and
	// qapi/qapi-visit-core.c (input_type_enum).
	textParamMissing    = "Parameter '%s' is missing"
	textParamUnexpected = "Parameter '%s' is unexpected"
	textParamType       = "Invalid parameter type for '%s', expected: %s"
	textParamValue      = "Parameter '%s' expects %s"
	textParamEnum       = "Parameter '%s' does not accept value '%s'"

	// qobject/json-parser.c (parse_error) and qobject/json-streamer.c.
	textJSONParse      = "JSON parse error, %s"
	textJSONStray      = "stray '%s'"
	textJSONSize       = "JSON token size limit exceeded"
	textJSONNesting    = "JSON nesting depth limit exceeded"
	textExpectingValue = "expecting value"
	textMissingColon   = "missing : in object pair"
	textDictSeparator  = "expected separator in dict"
	textListSeparator  = "expected separator in list"
	textKeyNotString   = "key is not a string in object"
	textBadEscape      = "invalid escape sequence in string"
	textBadHexEscape   = "invalid hex escape sequence in string"
	textInvalidKeyword = "invalid keyword '%s'"
)

// qmem's own texts, for failures QEMU's C code cannot have: a handler that
// panics, a result encoding/json cannot marshal. Both are GenericError.
const (
	textCommandPanicked = "internal error in command '%s': %v"
	textEncodeResult    = "internal error encoding the result of '%s': %v"
)
