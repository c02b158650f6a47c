package network

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// closerResponse is a response that records being closed, as a streamed
// fetch response releasing its segment would.
type closerResponse struct {
	kmsg.Response
	closed atomic.Int32
}

func (r *closerResponse) Close() error { r.closed.Add(1); return nil }

// TestGracefulShutdown: on cancel the server stops accepting, closes idle
// connections, lets a parked request finish and its response be written,
// then closes that connection too without reading what the client
// pipelined behind it.
func TestGracefulShutdown(t *testing.T) {
	checkGoroutines(t)
	gate := newGate()
	p := newParker(t)
	var handled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		if req.Header.APIKey != 3 {
			return echoHandler().Handle(ctx, req, respond)
		}
		resp, err := echoResponse(req)
		if err != nil {
			return err
		}
		handled.Add(1)
		p.park(ctx, gate.wait(), func() { respond(resp) })
		return nil
	})
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	openOnCleanup(t, gate)
	addr := ts.addr()

	idle := dialRaw(t, addr)
	served(idle, 1)
	busy := dialRaw(t, addr)
	busy.write(append(appendRequest(nil, metadataRequest(9, "parked"), 1, "test"),
		appendRequest(nil, apiVersions(3), 2, "test")...))
	waitFor(t, 5*time.Second, "the request to be parked", func() bool { return handled.Load() == 1 })

	stopped := make(chan error, 1)
	go func() { stopped <- ts.stop(t) }()

	idle.expectClosed()
	waitFor(t, 5*time.Second, "the listener to close", func() bool {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = nc.Close()
		}
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) with a request in flight", err)
	default:
	}

	gate.open()
	resp := busy.recv(1, metadataRequest(9, "")).(*kmsg.MetadataResponse)
	if resp.ClusterID == nil || *resp.ClusterID != "parked" {
		t.Fatalf("parked request answered with %v", resp.ClusterID)
	}
	busy.expectClosed() // request 2 is never read
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestShutdownTimeout: a request that is never answered holds shutdown
// only for ShutdownTimeout; then the connection is closed, the Handler's
// context is cancelled, and a response that comes after is dropped (and
// closed).
func TestShutdownTimeout(t *testing.T) {
	checkGoroutines(t)
	late := &closerResponse{Response: kmsg.NewPtrMetadataResponse()}
	var handlerCtxDone atomic.Bool
	p := newParker(t)
	var handled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		handled.Add(1)
		// A purgatory expiring its operations at shutdown: nothing but the
		// end of ctx releases it.
		p.park(ctx, nil, func() {
			handlerCtxDone.Store(ctx.Err() != nil)
			respond(late)
		})
		return nil
	})
	cfg, hook := testConfig()
	cfg.ShutdownTimeout = 100 * time.Millisecond
	ts := startServer(t, cfg, h)
	rc := dialRaw(t, ts.addr())
	rc.send(1, metadataRequest(9, "never"))
	waitFor(t, 5*time.Second, "the request to be handled", func() bool { return handled.Load() == 1 })

	start := time.Now()
	if err := ts.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d < cfg.ShutdownTimeout {
		t.Fatalf("Run returned after %v, before the shutdown timeout", d)
	}
	rc.expectClosed()
	p.wg.Wait()
	if !handlerCtxDone.Load() {
		t.Fatal("the handler's context was not cancelled")
	}
	if late.closed.Load() != 1 {
		t.Fatalf("the dropped response was closed %d times, want 1", late.closed.Load())
	}
	found := false
	for _, e := range hook.AllEntries() {
		found = found || e.Message == "shutdown timeout: closing connections with requests in flight"
	}
	if !found {
		t.Fatal("no log line about the shutdown timeout")
	}
}

// TestShutdownWithBlockedReaders: connections blocked on a full queue
// don't hold shutdown past its timeout either.
func TestShutdownWithBlockedReaders(t *testing.T) {
	checkGoroutines(t)
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		<-ctx.Done() // a busy worker, until the server stops for good
		respond(nil)
		return nil
	})
	cfg, _ := testConfig()
	cfg.NumIOThreads = 1
	cfg.QueuedMaxRequests = 1
	cfg.ShutdownTimeout = 50 * time.Millisecond
	ts := startServer(t, cfg, h)
	for range 5 {
		dialRaw(t, ts.addr()).send(1, apiVersions(3))
	}
	waitFor(t, 5*time.Second, "the queue to fill", func() bool { return len(ts.queue) == 1 && ts.connCount() == 5 })
	if err := ts.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
