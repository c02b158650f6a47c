package zktest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func TestMain(m *testing.M) { os.Exit(RunMain(m)) }

func TestAvailability(t *testing.T) {
	missing := errors.New("no java")
	tests := []struct {
		name     string
		ci       string
		wantSkip bool
	}{
		{"local", "", true},
		{"ci", "1", false},
		{"ci set to something else", "true", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skip, msg := availability(tt.ci, missing)
			if skip != tt.wantSkip {
				t.Errorf("availability(%q) skip = %v, want %v", tt.ci, skip, tt.wantSkip)
			}
			if !strings.Contains(msg, "no java") {
				t.Errorf("message %q does not give the reason", msg)
			}
		})
	}
}

func TestFindRespectsOverrides(t *testing.T) {
	Require(t) // needs java for find to get as far as the classpath
	empty := t.TempDir()
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"classpath entry missing", map[string]string{"GREGOR_ZOOKEEPER_CLASSPATH": filepath.Join(empty, "nope.jar")}},
		{"home without jars", map[string]string{"GREGOR_ZOOKEEPER_HOME": empty}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := find(func(k string) string {
				if v, ok := tt.env[k]; ok {
					return v
				}
				return os.Getenv(k)
			})
			if !errors.Is(err, ErrNotInstalled) {
				t.Fatalf("find = %v, want ErrNotInstalled", err)
			}
		})
	}
}

// TestJavaRandom checks the generator against values java.util.Random is
// known to produce.
func TestJavaRandom(t *testing.T) {
	for _, tt := range []struct {
		seed int64
		want int32
	}{{0, -1155484576}, {42, -1170105035}} {
		if got := newJavaRandom(tt.seed).next(32); got != tt.want {
			t.Errorf("new Random(%d).nextInt() = %d, want %d", tt.seed, got, tt.want)
		}
	}
}

func TestChrootPath(t *testing.T) {
	t.Run("sub/test with spaces", func(t *testing.T) {
		p := ChrootPath(t)
		if !strings.HasPrefix(p, "/test-TestChrootPath_sub_test_with_spaces-") || strings.Count(p, "/") != 1 {
			t.Errorf("ChrootPath = %q", p)
		}
		if p == ChrootPath(t) {
			t.Error("two chroots for one test are equal")
		}
	})
}

// eventually polls cond until it holds, for at most 20s: a loaded machine
// may take a while to answer a four-letter word.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(pollInterval) // polling with a deadline
	}
}

// connect opens a go-zookeeper session to servers and waits until it has
// one. Session states are recorded through the event callback: go-zookeeper
// drops events from its channel when nobody reads it.
func connect(t *testing.T, servers string, timeout time.Duration) (*zk.Conn, *stateRecorder) {
	t.Helper()
	r := &stateRecorder{changed: make(chan struct{}, 1)}
	conn, _, err := zk.Connect(strings.Split(servers, ","), timeout,
		zk.WithLogInfo(false), zk.WithLogger(testLogger{t}), zk.WithEventCallback(r.record))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	r.wait(t, zk.StateHasSession)
	return conn, r
}

type testLogger struct{ t *testing.T }

func (l testLogger) Printf(format string, args ...any) { l.t.Logf("zk: "+format, args...) }

// stateRecorder keeps every session state a connection went through.
type stateRecorder struct {
	mu      sync.Mutex // guards states and next
	states  []zk.State
	next    int           // states before next have been consumed by wait
	changed chan struct{} // capacity 1: signalled on each new state
}

func (r *stateRecorder) record(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	r.mu.Lock()
	r.states = append(r.states, ev.State)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// wait waits for want among the states not yet consumed, and consumes
// those up to it.
func (r *stateRecorder) wait(t *testing.T, want zk.State) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		for i := r.next; i < len(r.states); i++ {
			if r.states[i] == want {
				r.next = i + 1
				r.mu.Unlock()
				return
			}
		}
		seen := append([]zk.State(nil), r.states...)
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-timeout:
			t.Fatalf("no %v within 20s; states so far: %v", want, seen)
		}
	}
}

func TestSharedServer(t *testing.T) {
	s := Shared(t)
	if out, err := s.FourLetterWord("ruok"); err != nil || out != "imok" {
		t.Fatalf("ruok = %q, %v", out, err)
	}
	eventually(t, func() bool { return s.Mode() == "standalone" }, "Mode() is standalone")
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Errorf("Addr = %q, want a loopback address", s.Addr())
	}
	if Shared(t) != s {
		t.Error("a second Shared call started another server")
	}
}

func TestExpireSession(t *testing.T) {
	s := Shared(t)
	conn, events := connect(t, s.Connect(), 4*time.Second)
	path := "/expire-" + strings.TrimPrefix(ChrootPath(t), "/")
	if _, err := conn.Create(path, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	old := conn.SessionID()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.ExpireSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	events.wait(t, zk.StateExpired)
	t.Logf("session expired %v after ExpireSession began", time.Since(start))
	// go-zookeeper opens a new session by itself after an expiry.
	events.wait(t, zk.StateHasSession)
	if conn.SessionID() == old {
		t.Fatal("the client kept its old session")
	}
	if ok, _, err := conn.Exists(path); err != nil || ok {
		t.Fatalf("the expired session's ephemeral znode: exists=%v err=%v", ok, err)
	}
	// Expiring it again finds nothing to expire.
	if err := s.ExpireSession(ctx, old); err != nil {
		t.Fatalf("expiring an already expired session: %v", err)
	}
}

// TestKillRestart checks that a killed server comes back on the same port
// with its data. (A client connected across the restart is zkutil's
// business: go-zookeeper alone may wait minutes on a connection the server
// accepted while starting, see zkutil's dialer.go.)
func TestKillRestart(t *testing.T) {
	s := Start(t)
	conn, _ := connect(t, s.Connect(), 10*time.Second)
	if _, err := conn.Create("/kept", []byte("data"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	addr := s.Addr()
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if s.Serving() {
		t.Fatal("a killed server serves")
	}
	start := time.Now()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart took %v", time.Since(start))
	if s.Addr() != addr {
		t.Fatalf("restarted on %s, not %s", s.Addr(), addr)
	}
	conn, _ = connect(t, s.Connect(), 10*time.Second)
	data, _, err := conn.Get("/kept")
	if err != nil || string(data) != "data" {
		t.Fatalf("after restart: %q, %v", data, err)
	}
	// Restarting a running server stops it cleanly first.
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	eventually(t, s.Serving, "serving after a restart of a running server")
}

// TestPortTaken starts a second server on the first one's port: it must
// not mistake the first for itself.
func TestPortTaken(t *testing.T) {
	a := Start(t)
	b, err := newServer(Require(t), standaloneMain, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	port := a.port
	b.setConfig(port, standaloneConfig(b.dataDir(), port))
	err = b.start()
	if err == nil {
		t.Fatal("started on a port another server holds")
	}
	if !b.portClash(err) {
		t.Errorf("the failure %v is not seen as a port clash", err)
	}
	if b.proc != nil {
		t.Error("a failed start left its JVM behind")
	}
	eventually(t, a.Serving, "the first server still serves")
}

func TestPause(t *testing.T) {
	s := Start(t)
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	if s.Serving() {
		t.Fatal("a paused server answers")
	}
	if err := s.Continue(); err != nil {
		t.Fatal(err)
	}
	eventually(t, s.Serving, "a resumed server answers")
	// Stop must not hang on a paused JVM.
	if err := s.Pause(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	s.Stop() // twice is harmless
}

func TestEnsemble(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three JVMs")
	}
	start := time.Now()
	e := StartEnsemble(t, 3)
	t.Logf("ensemble %s up in %v", e, time.Since(start))
	leader := e.Leader()
	if leader == nil {
		t.Fatal("no leader")
	}
	conn, events := connect(t, e.Connect(), 10*time.Second)
	if _, err := conn.Create("/quorum", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.WaitQuorum(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Leader() == leader {
		t.Fatal("the killed server is still leader")
	}
	// The session survives the leader change.
	id := conn.SessionID()
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, _, err := conn.Get("/quorum")
		if err == nil {
			if string(data) != "x" {
				t.Fatalf("read %q", data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no read after the leader change: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // the client is reconnecting: a bounded poll
	}
	if conn.SessionID() != id {
		t.Error("the session changed across a leader change")
	}
	if err := leader.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := e.ExpireSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	events.wait(t, zk.StateExpired)
}
