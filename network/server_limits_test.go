package network

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// served checks that rc gets an answer.
func served(rc *rawConn, corr int32) {
	rc.t.Helper()
	rc.send(corr, apiVersions(3))
	rc.recv(corr, apiVersions(3))
}

func TestMaxConnectionsPerIP(t *testing.T) {
	for _, tt := range []struct {
		name      string
		perIP     int
		overrides map[string]int
		want      int
	}{
		{"limit", 2, nil, 2},
		{"override by address", 2, map[string]int{"127.0.0.1": 4}, 4},
		{"override by host name", 3, map[string]int{"localhost": 1}, 1},
		{"override for another address", 2, map[string]int{"10.1.2.3": 9}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			cfg, hook := testConfig()
			cfg.MaxConnectionsPerIP = tt.perIP
			cfg.MaxConnectionsPerIPOverrides = tt.overrides
			ts := startServer(t, cfg, echoHandler())
			var kept []*rawConn
			for i := range tt.want {
				rc := dialRaw(t, ts.addr())
				served(rc, int32(i))
				kept = append(kept, rc)
			}
			over := dialRaw(t, ts.addr())
			over.expectClosed()
			lines := linesFor(hook, over.localAddr())
			if len(lines) != 1 || lines[0].Message != "rejected connection" ||
				!strings.Contains(lines[0].Data["error"].(error).Error(), "maximum of "+itoa(tt.want)+" connections") {
				t.Fatalf("log lines: %v", lines)
			}
			// Closing one makes room for another.
			_ = kept[0].Close()
			waitFor(t, 5*time.Second, "the closed connection to be released", func() bool { return ts.connCount() == tt.want-1 })
			served(dialRaw(t, ts.addr()), 9)
		})
	}
}

// TestMaxConnectionsBlocksAccepting: at max.connections the acceptor stops
// taking connections; the next one waits, unserved, until one closes.
func TestMaxConnectionsBlocksAccepting(t *testing.T) {
	checkGoroutines(t)
	cfg, _ := testConfig()
	cfg.MaxConnections = 2
	ts := startServer(t, cfg, echoHandler())
	a, b := dialRaw(t, ts.addr()), dialRaw(t, ts.addr())
	served(a, 1)
	served(b, 1)
	waiting := dialRaw(t, ts.addr()) // the kernel completes the handshake
	waiting.send(1, apiVersions(3))
	waiting.expectSilent(100 * time.Millisecond)
	if n := ts.connCount(); n != 2 {
		t.Fatalf("%d connections counted, want 2", n)
	}
	_ = a.Close()
	waiting.recv(1, apiVersions(3))
}

// TestInterBrokerListenerIsProtected: with several listeners, the
// inter-broker one is exempt from max.connections, and a connection of
// another listener is closed to make room (KIP-402).
func TestInterBrokerListenerIsProtected(t *testing.T) {
	checkGoroutines(t)
	cfg, hook := testConfig()
	cfg.Listeners = []conf.Listener{plaintext("CLIENT"), plaintext("REPLICATION")}
	cfg.InterBrokerListenerName = "REPLICATION"
	cfg.MaxConnections = 2
	ts := startServer(t, cfg, echoHandler())
	clientAddr, brokerAddr := ts.Addrs()[0].String(), ts.Addrs()[1].String()

	older, newer := dialRaw(t, clientAddr), dialRaw(t, clientAddr)
	served(older, 1)
	served(newer, 1)
	served(newer, 2) // newer is the more recently active
	broker := dialRaw(t, brokerAddr)
	served(broker, 1)
	older.expectClosed()
	if lines := linesFor(hook, older.localAddr()); len(lines) != 1 || !strings.Contains(lines[0].Message, "make room for an inter-broker connection") {
		t.Fatalf("log lines: %v", lines)
	}
	served(newer, 3)
	waitFor(t, 5*time.Second, "the closed connection to be released", func() bool { return ts.connCount() == 2 })
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	checkGoroutines(t)
	cfg, hook := testConfig()
	cfg.ConnectionsMaxIdle = 100 * time.Millisecond
	parkFor := newGate()
	p := newParker(t)
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		if req.Header.APIKey == 3 { // park Metadata until the test has seen an idle close
			resp, err := echoResponse(req)
			if err != nil {
				return err
			}
			p.park(ctx, parkFor.wait(), func() { respond(resp) })
			return nil
		}
		return echoHandler().Handle(ctx, req, respond)
	})
	ts := startServer(t, cfg, h)
	openOnCleanup(t, parkFor)

	busy := dialRaw(t, ts.addr())
	busy.send(1, metadataRequest(9, "parked"))
	start := time.Now()
	idle := dialRaw(t, ts.addr())
	idle.expectClosed()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("closed after %v, before it was idle for connections.max.idle.ms", d)
	}
	if lines := linesFor(hook, idle.localAddr()); len(lines) != 0 {
		t.Fatalf("an idle close logs at Debug only, got %v", lines)
	}
	// The parked request has been in flight longer than the idle time:
	// its connection is not idle.
	parkFor.open()
	busy.recv(1, metadataRequest(9, ""))
	served(busy, 2)
	busy.expectClosed() // idle again after its last response
}
