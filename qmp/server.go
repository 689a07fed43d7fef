package qmp

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"time"
)

// Limits used when Config leaves them zero.
const (
	// DefaultMaxMessageSize bounds one incoming message, whitespace before
	// it included: 1 MiB. QEMU's own bound is 64 MiB of tokens.
	DefaultMaxMessageSize = 1 << 20
	// DefaultMaxQueueBytes bounds a client's queue of outgoing messages;
	// see Config.MaxQueueBytes.
	DefaultMaxQueueBytes = 4 << 20
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("qmp: server closed")

// Config configures a Server.
type Config struct {
	// Version is reported in the greeting and by query-version.
	Version Version
	// MaxMessageSize bounds one incoming message in bytes, including the
	// whitespace before it (0: DefaultMaxMessageSize). A larger message is
	// answered with QEMU's "JSON token size limit exceeded" and input is
	// skipped up to the next newline (or other ASCII control character);
	// the connection stays usable.
	MaxMessageSize int
	// MaxQueueBytes bounds a client's queue of outgoing messages (0:
	// DefaultMaxQueueBytes). A client whose replies do not fit is not read
	// until they do; a client whose events do not fit is disconnected
	// (Emit never waits for a slow client).
	MaxQueueBytes int
	// ErrorLog receives what the server cannot tell a client: recovered
	// handler panics, disconnected slow clients, accept errors. Nil means
	// the log package's standard logger.
	ErrorLog *log.Logger
}

// A Server is a QMP server: it speaks QEMU's Machine Protocol to any
// number of clients at once and runs the commands registered with it.
// Create it with NewServer; its methods may be called from any goroutine.
type Server struct {
	cfg Config

	ctx    context.Context // canceled by Close; parent of client contexts
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server started

	mu        sync.Mutex // guards the fields below
	commands  map[string]*Command
	listeners map[net.Listener]struct{}
	clients   map[*client]struct{}
	lastID    uint64 // of the last client
	closed    bool

	emitMu sync.Mutex       // serializes Emit: all clients see one order
	now    func() time.Time // event timestamps; replaced by tests
}

// NewServer returns a server with the built-in commands qmp_capabilities,
// query-commands and query-version registered.
func NewServer(cfg Config) *Server {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.MaxQueueBytes <= 0 {
		cfg.MaxQueueBytes = DefaultMaxQueueBytes
	}
	s := &Server{
		cfg:       cfg,
		commands:  make(map[string]*Command),
		listeners: make(map[net.Listener]struct{}),
		clients:   make(map[*client]struct{}),
		now:       time.Now,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.registerBuiltins()
	return s
}

// Listen returns a listener for a QMP server: network "unix" with a socket
// path, or "tcp", "tcp4" or "tcp6" with a loopback host ("localhost",
// 127.0.0.1, [::1]) and a port. Other TCP addresses are refused: QMP has no
// authentication, and anyone who can connect controls the machine.
func Listen(network, address string) (net.Listener, error) {
	switch network {
	case "unix":
	case "tcp", "tcp4", "tcp6":
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("qmp: listen %s %s: %w", network, address, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("qmp: listen %s %s: not a loopback address", network, address)
		}
	default:
		return nil, fmt.Errorf("qmp: listen: unsupported network %q", network)
	}
	return net.Listen(network, address)
}

// Serve accepts connections on ln and serves each on goroutines of its
// own until ln fails or the server is closed. It closes ln before it
// returns, and returns ErrServerClosed after Close. Serve may be called
// for several listeners at once (a unix socket and a TCP port, say).
func (s *Server) Serve(ln net.Listener) error {
	defer ln.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrServerClosed
			}
			// Retry what the system calls temporary (EMFILE, ECONNABORTED,
			// ...), backing off like net/http.
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.logf("qmp: accept: %v; retrying in %v", err, delay)
				select {
				case <-time.After(delay):
					continue
				case <-s.ctx.Done():
					return ErrServerClosed
				}
			}
			return err
		}
		delay = 0
		if c := s.newClient(conn); c != nil {
			c.start()
		}
	}
}

// ServeConn serves one connection on the calling goroutine and returns
// when the connection is done (the client left, or the server was closed).
// It closes conn.
func (s *Server) ServeConn(conn net.Conn) {
	c := s.newClient(conn)
	if c == nil {
		return
	}
	c.start()
	<-c.done
}

// Close stops the server: it closes every listener and every connection,
// cancels the contexts of running commands, and waits until every
// goroutine the server started has returned (so until running handlers
// have returned). Commands in flight get no reply. Close is idempotent; it
// must not be called from a handler, which it would wait for.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	lns := make([]net.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()

	s.cancel()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range cs {
		c.close()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Emit sends the event name with data to every client that has completed
// capabilities negotiation, as {"event": name, "data": data, "timestamp":
// {"seconds": s, "microseconds": us}}; the timestamp is taken now. data
// must marshal to a JSON object, or be nil for an event without data.
//
// Emit never blocks on a client. Events reach each client whole, after
// any message queued before, and in the order of the Emit calls (which
// Emit serializes); a client whose queue is full is disconnected (see
// Config.MaxQueueBytes).
func (s *Server) Emit(name string, data any) error {
	if name == "" {
		return errors.New("qmp: event without a name")
	}
	var raw []byte
	if data != nil {
		var err error
		if raw, err = appendValue(nil, data); err != nil {
			return fmt.Errorf("qmp: event %s: %w", name, err)
		}
		if len(raw) == 0 || raw[0] != '{' {
			return fmt.Errorf("qmp: event %s: data is not a JSON object", name)
		}
	}
	s.emitMu.Lock()
	defer s.emitMu.Unlock()
	msg := eventMessage(name, raw, s.now())
	s.mu.Lock()
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		if !c.out.pushEvent(msg) {
			s.logf("qmp: client %d (%s) does not read its events; disconnecting it", c.id, c.conn.RemoteAddr())
			c.close()
		}
	}
	return nil
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.ErrorLog != nil {
		s.cfg.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}
