package qmp

import (
	"context"
	"net"
)

// Shutdown stops the server gracefully: it stops accepting connections,
// stops reading from every client, lets the commands already read finish
// and their replies (and queued events) be written, then closes. If ctx
// ends first, the rest is torn down as by Close. It returns ctx's error in
// that case.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	lns := make([]net.Listener, 0, len(s.listeners))
	for ln := range s.listeners {
		lns = append(lns, ln)
	}
	cs := make([]*client, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range cs {
		if cr, ok := c.conn.(interface{ CloseRead() error }); ok && cr.CloseRead() == nil {
			continue // the reader sees end of input; replies still go out
		}
		c.close()
	}
	done := make(chan struct{})
	go func() {
		for _, c := range cs {
			<-c.done
		}
		close(done)
	}()
	select {
	case <-done:
		return s.Close()
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}
