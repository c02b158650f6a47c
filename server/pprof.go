package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// The pprof listener (gregor.pprof.listener, or `gregor server start
// --pprof host:port`) is Gregor's, not Kafka's: an HTTP server with Go's
// profiling handlers under /debug/pprof/ (index, cmdline, profile, symbol,
// trace and the named profiles: heap, goroutine, mutex, block, ...), for
// `go tool pprof http://host:port/debug/pprof/profile`. It is off unless
// configured, unauthenticated, and meant for loopback. The handlers are
// registered on a mux of its own: importing net/http/pprof also registers
// them on http.DefaultServeMux, which nothing in Gregor serves.

// listenPprof binds the pprof listener, or returns nil when it is off.
func (b *Broker) listenPprof() (net.Listener, error) {
	if b.cfg.PprofListener == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", b.cfg.PprofListener)
	if err != nil {
		return nil, fmt.Errorf("server: gregor.pprof.listener=%s: %w", b.cfg.PprofListener, err)
	}
	b.mu.Lock()
	b.pprofAddr = ln.Addr()
	b.mu.Unlock()
	return ln, nil
}

// PprofAddr is the pprof listener's bound address, nil when it is off
// (valid once Ready is closed).
func (b *Broker) PprofAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pprofAddr
}

// servePprof serves the profiling handlers on ln until ctx is done.
func servePprof(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			_ = srv.Close() // a profile being taken is cut short: the broker is stopping
		case <-served:
		}
	}()
	err := srv.Serve(ln)
	close(served)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
