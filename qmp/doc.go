// Package qmp is a QEMU Machine Protocol server: QEMU's JSON monitor
// protocol, spoken byte for byte as QEMU speaks it (docs/interop/qmp-spec.rst
// in QEMU's tree), independent of the commands it runs.
//
// A Server greets each client with
//
//	{"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 0}, "package": "qmem"}, "capabilities": []}}
//
// and then accepts only qmp_capabilities until that succeeds; every other
// command gets CommandNotFound "Expecting capabilities negotiation with
// 'qmp_capabilities'". After negotiation, {"execute": NAME, "arguments":
// {...}, "id": ID} runs the command registered as NAME and is answered
// with {"return": RESULT, "id": ID} or {"error": {"class": CLASS, "desc":
// TEXT}, "id": ID}, ID echoed as sent (any JSON value; left out when the
// request had none). Events ([Server.Emit]) reach negotiated clients as
// {"event": NAME, "data": {...}, "timestamp": {"seconds": S,
// "microseconds": US}}. Every message the server sends is one line of
// ASCII JSON ended by "\r\n", formatted as QEMU formats it.
//
// Requests are checked as QEMU checks them and rejected with QEMU's texts
// (texts.go names the QEMU source of each): input that is not JSON,
// not an object, without a string "execute", with "arguments" that are not
// an object or with any other member ("exec-oob" included: qmem offers no
// out-of-band execution), unknown commands, and arguments that do not match
// the command's declared parameters ([Param], [Type]): missing, unexpected
// or of the wrong type. The connection stays usable after each.
//
// # Limits
//
// A message may be at most Config.MaxMessageSize bytes (1 MiB by default,
// whitespace before it included) and nest at most 1024 arrays and objects,
// QEMU's limit. After malformed or oversized input the server answers with
// an error and skips input up to the next newline (or other ASCII control
// character but tab, or byte 0xFE or 0xFF), where QEMU's lexer also
// recovers; stream.go explains the resynchronisation and how it differs
// from QEMU's. QEMU's single-quoted string extension is not accepted. Memory per connection is bounded by these limits and
// by Config.MaxQueueBytes for outgoing messages.
//
// # Concurrency
//
// Every client is served by its own goroutines; its commands run one at a
// time in the order received, concurrently with other clients' commands.
// Handlers must do their own locking. A slow client never blocks the
// others: when its outgoing queue is full, its own commands wait, and an
// event that does not fit disconnects it. Close stops listeners and
// connections, cancels running handlers' contexts and waits for every
// goroutine the server started.
package qmp
