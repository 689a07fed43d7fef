package qmp

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// A Handler runs a command. It receives the arguments, already checked
// against the command's parameters, and returns a result that
// encoding/json can marshal (sent as "return"; nil is sent as {}, as QEMU
// does for commands without a return value) or an error (sent as "error",
// its class chosen by [ClassOf]).
//
// A client's commands run one at a time, in order, on a goroutine of that
// client's; commands of different clients run concurrently, so a handler
// that touches shared state must lock it (the machine lock, see
// docs/architecture.md). ctx is canceled when the client's connection is
// torn down or the server is closed; a handler that may block must return
// soon after, as Close waits for it. A handler that panics is recovered:
// the client gets a GenericError and the server goes on.
type Handler func(ctx context.Context, args Args) (any, error)

// A Command is a command's name, parameters and handler.
type Command struct {
	Name    string
	Params  []Param
	Handler Handler
	// Open passes arguments that Params does not name to the handler
	// unchecked instead of rejecting them (QAPI's 'gen': false commands
	// such as device_add, which take any device property).
	Open bool
}

// Built-in commands (monitor/qmp-cmds-control.c).
const (
	cmdCapabilities  = "qmp_capabilities"
	cmdQueryCommands = "query-commands"
	cmdQueryVersion  = "query-version"
)

// capabilitiesParams is qmp_capabilities's schema: an optional list of
// QMPCapability values, of which QEMU knows only "oob".
var capabilitiesParams = []Param{{Name: "enable", Type: Array(Enum("oob")), Optional: true}}

// Register adds a command with the given parameters; see [Command].
func (s *Server) Register(name string, h Handler, params ...Param) error {
	return s.RegisterCommand(Command{Name: name, Params: params, Handler: h})
}

// RegisterCommand adds a command. It may be called at any time, also while
// the server is serving. It fails if the name is empty or taken (the
// built-in qmp_capabilities, query-commands and query-version included),
// if the handler is nil, or if two parameters share a name.
func (s *Server) RegisterCommand(c Command) error {
	if c.Name == "" || strings.ContainsAny(c.Name, " \t\r\n") {
		return fmt.Errorf("qmp: invalid command name %q", c.Name)
	}
	if c.Handler == nil {
		return fmt.Errorf("qmp: command %s has no handler", c.Name)
	}
	if err := checkParams(c.Params); err != nil {
		return fmt.Errorf("qmp: command %s: %v", c.Name, err)
	}
	c.Params = slices.Clone(c.Params)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.commands[c.Name]; dup {
		return fmt.Errorf("qmp: command %s already registered", c.Name)
	}
	s.commands[c.Name] = &c
	return nil
}

// checkParams rejects unnamed and duplicate parameters, at every level.
func checkParams(params []Param) error {
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if p.Name == "" {
			return fmt.Errorf("parameter without a name")
		}
		if seen[p.Name] {
			return fmt.Errorf("parameter %s declared twice", p.Name)
		}
		seen[p.Name] = true
		for t := p.Type; ; t = *t.elem {
			if t.kind == kindObject {
				if err := checkParams(t.fields); err != nil {
					return err
				}
			}
			if t.kind != kindArray {
				break
			}
		}
	}
	return nil
}

// command returns the named command, or nil.
func (s *Server) command(name string) *Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commands[name]
}

// registerBuiltins adds the commands every QMP server has. qmp_capabilities
// itself is carried out by the connection (it changes the connection's
// state); its entry here gives it a schema and a place in query-commands.
func (s *Server) registerBuiltins() {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(s.RegisterCommand(Command{Name: cmdCapabilities, Params: capabilitiesParams,
		Handler: func(context.Context, Args) (any, error) { return nil, nil }}))
	must(s.Register(cmdQueryCommands, s.queryCommands))
	must(s.Register(cmdQueryVersion, func(context.Context, Args) (any, error) {
		return s.cfg.Version.info(), nil
	}))
}

// commandInfo is QEMU's CommandInfo.
type commandInfo struct {
	Name string `json:"name"`
}

// queryCommands lists the registered commands, sorted by name (QEMU lists
// them in its table's order).
func (s *Server) queryCommands(context.Context, Args) (any, error) {
	s.mu.Lock()
	names := make([]string, 0, len(s.commands))
	for name := range s.commands {
		names = append(names, name)
	}
	s.mu.Unlock()
	slices.Sort(names)
	out := make([]commandInfo, len(names))
	for i, n := range names {
		out[i].Name = n
	}
	return out, nil
}
