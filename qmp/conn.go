package qmp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"sync"
)

// A client is one connection. Three goroutines serve it:
//
//   - the reader splits the input into messages (stream.go) and hands them
//     to the dispatcher one at a time;
//   - the dispatcher runs them in order and queues each reply;
//   - the writer sends queued messages (the greeting, replies, events);
//
// and a fourth waits for them, then closes the connection and unregisters
// the client (start).
//
// While the dispatcher runs a command the reader has already read the next
// message, or waits in Read, so the server notices a client that hung up.
// At end of input the messages already read are still run and answered
// and the connection is then closed (a client may shut down its sending
// side and wait for its replies). A failed write, Close, or a full event
// queue tears the connection down at once: the context of the running
// command is canceled and queued messages are dropped.
type client struct {
	s    *Server
	id   uint64 // numbers clients in the log, from 1
	conn net.Conn
	out  *outQueue

	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	reqs   chan request   // reader -> dispatcher; closed by the reader
	done   chan struct{}  // closed when all three goroutines have returned
	wg     sync.WaitGroup // the three goroutines
	once   sync.Once

	negotiated bool // dispatcher's: qmp_capabilities has succeeded
}

// request is one incoming message, or the protocol error that took its
// place.
type request struct {
	raw json.RawMessage
	err *Error
}

// newClient registers a client for conn, or closes conn and returns nil if
// the server is closed.
func (s *Server) newClient(conn net.Conn) *client {
	c := &client{
		s:    s,
		conn: conn,
		out:  newOutQueue(s.cfg.MaxQueueBytes),
		reqs: make(chan request),
		done: make(chan struct{}),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		conn.Close()
		return nil
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	s.lastID++
	c.id = s.lastID
	s.clients[c] = struct{}{}
	s.wg.Add(1)
	return c
}

// start queues the greeting and starts the client's goroutines.
func (c *client) start() {
	c.out.pushReply(greeting(c.s.cfg.Version), false)
	c.wg.Add(3)
	go c.readLoop()
	go c.dispatchLoop()
	go c.writeLoop()
	go func() {
		c.wg.Wait()
		c.close() // release the connection in every case
		c.s.mu.Lock()
		delete(c.s.clients, c)
		c.s.mu.Unlock()
		close(c.done)
		c.s.wg.Done()
	}()
}

// close tears the connection down; it may be called any number of times,
// from any goroutine.
func (c *client) close() {
	c.once.Do(func() {
		c.cancel()
		c.out.close()
		c.conn.Close()
	})
}

func (c *client) readLoop() {
	defer c.wg.Done()
	defer close(c.reqs)
	r := newMessageReader(c.conn, c.s.cfg.MaxMessageSize)
	for {
		raw, perr, err := r.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.close() // a broken connection: nobody will read replies
			}
			return
		}
		select {
		case c.reqs <- request{raw: raw, err: perr}:
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *client) dispatchLoop() {
	defer c.wg.Done()
	for {
		select {
		case req, ok := <-c.reqs:
			if !ok {
				c.out.finish()
				return
			}
			reply, negotiate := c.dispatch(req)
			if !c.out.pushReply(reply, negotiate) {
				return
			}
			if negotiate {
				c.negotiated = true
			}
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *client) writeLoop() {
	defer c.wg.Done()
	var batch [][]byte
	for {
		var ok bool
		batch, ok = c.out.take(batch[:0])
		if !ok {
			c.close() // finished, or already closed
			return
		}
		bufs := net.Buffers(batch)
		if _, err := bufs.WriteTo(c.conn); err != nil {
			c.close()
			return
		}
		clear(batch)
	}
}

// dispatch answers one message (qapi/qmp-dispatch.c, qmp_dispatch, and
// monitor/qmp.c, monitor_qmp_dispatch). negotiate reports a successful
// qmp_capabilities.
func (c *client) dispatch(req request) (reply []byte, negotiate bool) {
	if req.err != nil {
		return errorReply(req.err, nil), false // parse errors carry no id
	}
	var members map[string]json.RawMessage
	if req.raw[0] != '{' || json.Unmarshal(req.raw, &members) != nil {
		return errorReply(genericf(textNotObject), nil), false
	}
	id := members["id"]
	name, args, perr := checkRequest(members)
	if perr != nil {
		return errorReply(perr, id), false
	}
	cmd := c.s.command(name)
	if cmd == nil || (!c.negotiated && name != cmdCapabilities) {
		e := Errorf(CommandNotFound, textCommandNotFound, name)
		if !c.negotiated {
			e.Desc = textExpectingCaps
		}
		return errorReply(e, id), false
	}
	checked, perr := checkArgs(cmd.Params, args, cmd.Open)
	if perr != nil {
		return errorReply(perr, id), false
	}
	if name == cmdCapabilities {
		if perr := c.capabilities(checked); perr != nil {
			return errorReply(perr, id), false
		}
		reply, _ := returnReply(nil, id)
		return reply, true
	}
	result, err := c.run(cmd, checked)
	if err != nil {
		return errorReply(asError(err), id), false
	}
	reply, err = returnReply(result, id)
	if err != nil {
		return errorReply(genericf(textEncodeResult, name, err), id), false
	}
	return reply, false
}

// checkRequest checks the members of a request object like QEMU's
// qmp_dispatch_check_obj and returns the command name and arguments.
// QEMU checks members in hash-table order; qmem checks them sorted, so
// that the error is stable when several members are wrong.
func checkRequest(members map[string]json.RawMessage) (string, map[string]any, *Error) {
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var name string
	var args map[string]any
	for _, k := range keys {
		v := members[k]
		switch k {
		case "execute":
			if v[0] != '"' || json.Unmarshal(v, &name) != nil {
				return "", nil, genericf(textMemberString, k)
			}
		case "arguments":
			if v[0] != '{' {
				return "", nil, genericf(textArgumentsObject)
			}
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if err := dec.Decode(&args); err != nil {
				return "", nil, genericf(textArgumentsObject)
			}
		case "id":
		default:
			// "exec-oob" lands here too: QEMU accepts it only from a
			// client that enabled the "oob" capability, which qmem does
			// not offer.
			return "", nil, genericf(textMemberUnexpect, k)
		}
	}
	if _, ok := members["execute"]; !ok {
		return "", nil, genericf(textLacksExecute)
	}
	if args == nil {
		args = map[string]any{}
	}
	return name, args, nil
}

// capabilities carries out qmp_capabilities (monitor/qmp-cmds-control.c).
// qmem offers no capability, so enabling any fails.
func (c *client) capabilities(args Args) *Error {
	if c.negotiated {
		return Errorf(CommandNotFound, textCapsComplete)
	}
	if enable := args.List("enable"); len(enable) > 0 {
		names := ""
		for i, e := range enable {
			if i > 0 {
				names += ", "
			}
			names += e.(string)
		}
		return genericf(textCapsNotAvailable, names)
	}
	return nil
}

// run calls a handler, turning a panic into an error.
func (c *client) run(cmd *Command, args Args) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.s.logf("qmp: client %d: command %s panicked: %v\n%s", c.id, cmd.Name, p, debug.Stack())
			result, err = nil, genericf(textCommandPanicked, cmd.Name, p)
		}
	}()
	return cmd.Handler(c.ctx, args)
}
