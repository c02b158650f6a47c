package network

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// waitFor polls cond every few milliseconds until it holds, failing the
// test if it does not within timeout. Tests synchronise with it, never
// with a bare sleep.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// checkGoroutines fails the test if, once its cleanups have run, more
// goroutines are left than when it started. Register it first, so that its
// cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines leaked: %d at start, %d now\n%s", base, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			<-tick.C
		}
	})
}

// testLog returns a logger that records its entries, at Debug level so that
// every path runs its logging code.
func testLog() (*logrus.Entry, *logtest.Hook) {
	l, hook := logtest.NewNullLogger()
	l.SetLevel(logrus.DebugLevel)
	return logrus.NewEntry(l), hook
}

// linesFor returns the entries at Info or above whose remote_addr is addr.
func linesFor(hook *logtest.Hook, addr string) []*logrus.Entry {
	var out []*logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Level <= logrus.InfoLevel && e.Data["remote_addr"] == addr {
			out = append(out, e)
		}
	}
	return out
}

func plaintext(name string) conf.Listener {
	return conf.Listener{Name: name, SecurityProtocol: conf.Plaintext, Host: "127.0.0.1", Port: 0}
}

// testConfig is DefaultConfig with one PLAINTEXT listener on a loopback
// ephemeral port and a recording logger.
func testConfig() (Config, *logtest.Hook) {
	cfg := DefaultConfig()
	cfg.Listeners = []conf.Listener{plaintext("PLAINTEXT")}
	cfg.NumIOThreads = 4
	cfg.ShutdownTimeout = 5 * time.Second
	var hook *logtest.Hook
	cfg.Logger, hook = testLog()
	return cfg, hook
}

// testServer is a running Server and what stops it.
type testServer struct {
	*Server
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

// addr is the first listener's address.
func (ts *testServer) addr() string { return ts.Addrs()[0].String() }

// stop cancels Run and waits for it to return.
func (ts *testServer) stop(t testing.TB) error {
	t.Helper()
	ts.once.Do(func() {
		ts.cancel()
		select {
		case ts.err = <-ts.errc:
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
		}
	})
	return ts.err
}

// startServer runs a Server until the test ends.
func startServer(t testing.TB, cfg Config, h Handler) *testServer {
	t.Helper()
	s, err := New(cfg, h)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, cancel: cancel, errc: make(chan error, 1)}
	go func() { ts.errc <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-ts.errc:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		if err := ts.stop(t); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

// echoHandler answers every request it can decode with an empty response
// of the same key and version; a few keys get content that tests check:
// ApiVersions lists two keys, Metadata echoes its first topic as the
// cluster id, Produce with acks=0 gets no response.
func echoHandler() Handler {
	return HandlerFunc(func(_ context.Context, req *Request, respond func(kmsg.Response)) error {
		resp, err := echoResponse(req)
		if err != nil {
			return err
		}
		respond(resp)
		return nil
	})
}

func echoResponse(req *Request) (kmsg.Response, error) {
	kreq := kmsg.RequestForKey(req.Header.APIKey)
	kreq.SetVersion(req.Header.APIVersion)
	if err := kreq.ReadFrom(req.Body); err != nil {
		return nil, err
	}
	resp := kreq.ResponseKind()
	resp.SetVersion(req.Header.APIVersion)
	switch r := kreq.(type) {
	case *kmsg.ApiVersionsRequest:
		av := resp.(*kmsg.ApiVersionsResponse)
		av.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 18, MinVersion: 0, MaxVersion: 3}, {ApiKey: 3, MinVersion: 0, MaxVersion: 9}}
	case *kmsg.MetadataRequest:
		if len(r.Topics) > 0 && r.Topics[0].Topic != nil {
			resp.(*kmsg.MetadataResponse).ClusterID = r.Topics[0].Topic
		}
	case *kmsg.ProduceRequest:
		if r.Acks == 0 {
			return nil, nil
		}
	}
	return resp, nil
}

// rawConn is a test client speaking frames by hand.
type rawConn struct {
	t testing.TB
	net.Conn
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, Conn: nc}
}

// localAddr is how the server logs this connection's remote_addr.
func (rc *rawConn) localAddr() string { return rc.LocalAddr().String() }

func (rc *rawConn) write(b []byte) {
	rc.t.Helper()
	_ = rc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// send writes req as a frame with correlation id corr and client id "test".
func (rc *rawConn) send(corr int32, req kmsg.Request) {
	rc.t.Helper()
	rc.write(appendRequest(nil, req, corr, "test"))
}

// frame builds a frame around payload.
func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// readFrame reads one response frame.
func (rc *rawConn) readFrame() ([]byte, error) {
	_ = rc.SetReadDeadline(time.Now().Add(10 * time.Second))
	fr := frameReader{r: rc.Conn, max: 1 << 30}
	return fr.next()
}

// recv reads a response to req, checks its correlation id and header
// version, and decodes it.
func (rc *rawConn) recv(corr int32, req kmsg.Request) kmsg.Response {
	rc.t.Helper()
	f, err := rc.readFrame()
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	return decodeResponse(rc.t, f, corr, req)
}

func decodeResponse(t testing.TB, f []byte, corr int32, req kmsg.Request) kmsg.Response {
	t.Helper()
	if got := int32(binary.BigEndian.Uint32(f)); got != corr {
		t.Fatalf("correlation id %d, want %d", got, corr)
	}
	body := f[4:]
	hv, _ := ResponseHeaderVersion(req.Key(), req.GetVersion())
	if hv == 1 {
		if body[0] != 0 {
			t.Fatalf("response header tags: %x, want an empty section", body[0])
		}
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// expectClosed waits for the server to close the connection: a read must
// end in EOF or a reset, with no data.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	_ = rc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	n, err := rc.Read(b[:])
	switch {
	case n > 0:
		rc.t.Fatalf("read %d bytes, want the connection closed", n)
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err):
	default:
		rc.t.Fatalf("read: %v, want the connection closed", err)
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// expectSilent checks that nothing arrives for a while. It can only prove
// an absence over the time it waits, which is why it is short; tests use it
// for "not served yet", never to wait for something to happen.
func (rc *rawConn) expectSilent(d time.Duration) {
	rc.t.Helper()
	_ = rc.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	n, err := rc.Read(b[:])
	var ne net.Error
	if n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
		rc.t.Fatalf("read %d bytes, %v: want nothing within %v", n, err, d)
	}
}

// connCount is the number of connections the server counts now.
func (s *Server) connCount() int { return s.quotas.count() }

// parker runs the delayed half of handlers that answer later from another
// goroutine, as a purgatory does. Create it before startServer: its
// cleanup, which waits for those goroutines, then runs after the server
// has stopped, when no handler can start another.
type parker struct{ wg sync.WaitGroup }

func newParker(t testing.TB) *parker {
	p := &parker{}
	t.Cleanup(p.wg.Wait)
	return p
}

// park calls fn from a new goroutine once gate is closed, or once the
// handler's context ends (the server stopping for good) so that a failing
// test cannot leave it behind.
func (p *parker) park(ctx context.Context, gate <-chan struct{}, fn func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-gate:
		case <-ctx.Done():
		}
		fn()
	}()
}

// gate is a one-shot signal that can be opened more than once: by the
// test, and again by its cleanup so that a failing test releases what it
// parked.
type gate struct {
	ch   chan struct{}
	once sync.Once
}

func newGate() *gate                  { return &gate{ch: make(chan struct{})} }
func (g *gate) open()                 { g.once.Do(func() { close(g.ch) }) }
func (g *gate) wait() <-chan struct{} { return g.ch }

// openOnCleanup opens gates when the test ends, before the server stops
// (register it after startServer), so that a parked request does not hold
// up the shutdown.
func openOnCleanup(t testing.TB, gates ...*gate) {
	t.Cleanup(func() {
		for _, g := range gates {
			g.open()
		}
	})
}
