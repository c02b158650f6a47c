package zkutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
)

// The integration tests share one ZooKeeper, started on first use, and
// each takes a chroot of its own, so they run in parallel. Once they are
// done, no goroutine of zkutil or go-zookeeper may be left: every client
// was closed, and Close waits for everything it started.
func TestMain(m *testing.M) {
	code := zktest.RunMain(m)
	if code == 0 {
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left after the tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to 5s for zkutil's and go-zookeeper's
// goroutines to end, and returns the stacks of those that do not.
func leakedGoroutines() string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "TestMain") || strings.HasPrefix(g, "goroutine "+"1 ") {
				continue
			}
			if strings.Contains(g, "go-zookeeper/zk.") || strings.Contains(g, "gregor/zkutil.") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// testTimeout bounds each integration test's ZooKeeper calls.
const testTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testConfig is a Config for connect with a fixed clock and the log going
// to t.
func testConfig(t *testing.T, connect string) Config {
	t.Helper()
	zkc, err := conf.ParseZooKeeperConnect(connect)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(testWriter{t})
	log.SetLevel(logrus.WarnLevel) // Info and Debug: see the session events and retries of a test
	return Config{
		ZooKeeper:         zkc,
		SessionTimeout:    6 * time.Second,
		ConnectionTimeout: 10 * time.Second,
		Log:               logrus.NewEntry(log),
		Now:               func() time.Time { return time.UnixMilli(1620000000000) },
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// connectTo connects to connect and closes the client when t ends.
func connectTo(t *testing.T, connect string) *Client {
	t.Helper()
	c, err := Connect(testContext(t), testConfig(t, connect))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newChroot returns a connect string with a fresh chroot on the shared
// server.
func newChroot(t *testing.T) string {
	t.Helper()
	return zktest.Shared(t).Chroot(t)
}

// testClient connects to a fresh chroot on the shared server.
func testClient(t *testing.T) *Client {
	t.Helper()
	return connectTo(t, newChroot(t))
}

// clients connects n clients to one fresh chroot.
func clients(t *testing.T, n int) []*Client {
	t.Helper()
	connect := newChroot(t)
	out := make([]*Client, n)
	for i := range out {
		out[i] = connectTo(t, connect)
	}
	return out
}

// waitWatch waits for a watch to fire.
func waitWatch(t *testing.T, w <-chan WatchEvent) WatchEvent {
	t.Helper()
	select {
	case ev := <-w:
		return ev
	case <-time.After(testTimeout):
		t.Fatal("the watch did not fire")
	}
	panic("unreachable")
}

// noWatch checks that a watch has not fired.
func noWatch(t *testing.T, w <-chan WatchEvent) {
	t.Helper()
	select {
	case ev := <-w:
		t.Fatalf("the watch fired: %+v", ev)
	default:
	}
}

func TestConnectCreatesChroot(t *testing.T) {
	t.Parallel()
	connect := newChroot(t) + "/nested/deeper"
	c := connectTo(t, connect)
	if c.Chroot() == "" || !strings.HasSuffix(c.Chroot(), "/nested/deeper") {
		t.Fatalf("Chroot() = %q", c.Chroot())
	}
	root := connectTo(t, zktest.Shared(t).Connect())
	ok, _, err := root.exists(testContext(t), c.Chroot())
	if err != nil || !ok {
		t.Fatalf("chroot %s: exists=%v err=%v", c.Chroot(), ok, err)
	}
	// Paths are relative to the chroot: a znode created through c lives
	// under it, and c sees it at its relative path.
	ctx := testContext(t)
	if _, err := c.create(ctx, "/x", []byte("1"), zk.FlagPersistent); err != nil {
		t.Fatal(err)
	}
	if data, _, err := root.get(ctx, c.Chroot()+"/x"); err != nil || string(data) != "1" {
		t.Fatalf("the znode under the chroot: %q, %v", data, err)
	}
	if ok, _, _ := root.exists(ctx, "/x"); ok {
		t.Fatal("the znode was created outside the chroot")
	}
}

func TestConnectFailsFast(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := testConfig(t, addr)
	cfg.ConnectionTimeout = 300 * time.Millisecond
	start := time.Now()
	if _, err := Connect(context.Background(), cfg); err == nil {
		t.Fatal("connected to nothing")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Connect took %v to give up", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Connect(ctx, testConfig(t, addr)); !errors.Is(err, context.Canceled) {
		t.Errorf("Connect with a cancelled context: %v", err)
	}
	if _, err := Connect(context.Background(), Config{}); err == nil {
		t.Error("Connect without servers succeeded")
	}
}

func TestCreateTopLevelPaths(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx := testContext(t)
	for range 2 { // twice: the second finds everything there
		if err := c.CreateTopLevelPaths(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range topLevelPaths() {
		if ok, _, err := c.exists(ctx, p); err != nil || !ok {
			t.Errorf("%s: exists=%v err=%v", p, ok, err)
		}
	}
}

func TestContextCheckedFirst(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Topics(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Topics with a cancelled context: %v", err)
	}
	if _, err := c.RegisterBroker(ctx, BrokerInfo{ID: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("RegisterBroker with a cancelled context: %v", err)
	}
	if _, err := c.ClaimProducerIDBlock(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("ClaimProducerIDBlock with a cancelled context: %v", err)
	}
}

func TestConditionalSetConflict(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx := testContext(t)
	if _, err := c.create(ctx, "/n", []byte("a"), zk.FlagPersistent); err != nil {
		t.Fatal(err)
	}
	st, err := c.set(ctx, "/n", []byte("b"), 0)
	if err != nil || st.Version != 1 {
		t.Fatalf("set at version 0: %+v, %v", st, err)
	}
	_, err = c.set(ctx, "/n", []byte("c"), 0)
	if !errors.Is(err, ErrVersionConflict) || !errors.Is(err, zk.ErrBadVersion) {
		t.Fatalf("stale set: %v, want ErrVersionConflict (wrapping zk.ErrBadVersion)", err)
	}
	if !strings.Contains(err.Error(), "/n") {
		t.Errorf("error %q does not name the znode", err)
	}
	if _, _, err := c.get(ctx, "/missing"); !errors.Is(err, ErrNoNode) || !errors.Is(err, zk.ErrNoNode) {
		t.Errorf("get of a missing znode: %v", err)
	}
	if _, err := c.create(ctx, "/n", nil, zk.FlagPersistent); !errors.Is(err, ErrNodeExists) {
		t.Errorf("create of an existing znode: %v", err)
	}
}

// TestResolveLostWrites checks how a retried write recognises its own
// earlier success, as it must after a connection drop swallowed the
// answer.
func TestResolveLostWrites(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	c, other := cs[0], cs[1]
	ctx := testContext(t)
	if _, err := c.create(ctx, "/n", []byte("v0"), zk.FlagPersistent); err != nil {
		t.Fatal(err)
	}
	if _, err := c.set(ctx, "/n", []byte("mine"), 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.resolveSet(ctx, "/n", []byte("mine"), 0); !ok {
		t.Error("the znode holds the data at the next version, but resolveSet says it is not ours")
	}
	if _, ok := c.resolveSet(ctx, "/n", []byte("other"), 0); ok {
		t.Error("resolveSet claimed different data")
	}
	if _, ok := c.resolveSet(ctx, "/n", []byte("mine"), 1); ok {
		t.Error("resolveSet claimed a write at another version")
	}
	if _, err := other.create(ctx, "/e", []byte("x"), zk.FlagEphemeral); err != nil {
		t.Fatal(err)
	}
	if c.resolveCreate(ctx, "/e", []byte("x"), zk.FlagEphemeral) {
		t.Error("resolveCreate claimed another session's ephemeral znode")
	}
	if !other.resolveCreate(ctx, "/e", []byte("x"), zk.FlagEphemeral) {
		t.Error("resolveCreate did not recognise the session's own ephemeral znode")
	}
}

func TestCloseEndsWatchesAndSubscriptions(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx := testContext(t)
	_, watch, err := c.WatchTopics(ctx)
	if errors.Is(err, ErrNoNode) {
		if err := c.CreateTopLevelPaths(ctx); err != nil {
			t.Fatal(err)
		}
		_, watch, err = c.WatchTopics(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	events, stop := c.SessionEvents()
	defer stop()
	c.Close()
	ev := waitWatch(t, watch)
	if ev.Type != WatchLost || !errors.Is(ev.Err, ErrClosed) {
		t.Errorf("watch after Close: %+v", ev)
	}
	if _, ok := <-watch; ok {
		t.Error("the watch channel was not closed after its event")
	}
	if ev, ok := <-events; ok {
		t.Errorf("session events after Close: %+v", ev)
	}
	if _, err := c.Topics(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("a call after Close: %v", err)
	}
	c.Close() // twice is harmless
	stop()
}

// TestRetryThroughRestart kills the server under a client and checks that
// a read made while it is down completes once it is back, with the same
// session, and that the session events say so.
func TestRetryThroughRestart(t *testing.T) {
	t.Parallel()
	srv := zktest.Start(t)
	cfg := testConfig(t, srv.Connect())
	cfg.SessionTimeout = 20 * time.Second
	c, err := Connect(testContext(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testContext(t)
	if err := c.CreateTopLevelPaths(ctx); err != nil {
		t.Fatal(err)
	}
	events, stop := c.SessionEvents()
	defer stop()
	session := c.SessionID()
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	expectSessionEvent(t, events, SessionDisconnected, session)
	var wg sync.WaitGroup
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, readErr = c.Topics(ctx)
	}()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if readErr != nil {
		t.Fatalf("read across the restart: %v", readErr)
	}
	expectSessionEvent(t, events, SessionReconnected, session)
	if c.SessionID() != session {
		t.Errorf("session changed across a restart within its timeout")
	}
}

// expectSessionEvent reads session events until want arrives; events other
// than want may come first (a second Disconnected while reconnecting is
// not one of them: zkutil reports each state change once).
func expectSessionEvent(t *testing.T, events <-chan SessionEvent, want SessionEventType, session int64) SessionEvent {
	t.Helper()
	timeout := time.After(testTimeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("session events closed while waiting for %v", want)
			}
			t.Logf("session event: %v 0x%x", ev.Type, ev.SessionID)
			if ev.Type == want {
				if session != 0 && ev.SessionID != session {
					t.Fatalf("%v for session 0x%x, want 0x%x", want, ev.SessionID, session)
				}
				return ev
			}
		case <-timeout:
			t.Fatalf("no %v session event", want)
		}
	}
}
