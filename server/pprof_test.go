package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestPprofListener: with gregor.pprof.listener set, the broker serves
// the pprof index and profiles there; unset, nothing listens.
func TestPprofListener(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	cfg := testBrokerConfig(t, 1, zkConnect)
	cfg.PprofListener = "127.0.0.1:0"
	b := runBroker(t, cfg)
	addr := b.PprofAddr()
	if addr == nil {
		t.Fatal("no pprof listener")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
		resp, err := client.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
			t.Fatalf("GET %s: %s\n%.300s", path, resp.Status, body)
		}
	}

	// Off: a port known to be free stays closed while a broker runs.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	free := probe.Addr().String()
	probe.Close()
	off := runBroker(t, testBrokerConfig(t, 2, zkConnect))
	if a := off.PprofAddr(); a != nil {
		t.Fatalf("pprof listener at %v with gregor.pprof.listener unset", a)
	}
	if c, err := net.DialTimeout("tcp", free, time.Second); err == nil {
		c.Close()
		t.Fatalf("something listens on %s", free)
	}
}

// TestPprofListenerAddressInUse: a pprof address that cannot be bound
// stops start-up with an error naming the key.
func TestPprofListenerAddressInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := testBrokerConfig(t, 1, zktest.Shared(t).Chroot(t))
	cfg.PprofListener = taken.Addr().String()
	b, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "gregor.pprof.listener") {
		t.Fatalf("Run = %v, want an error naming gregor.pprof.listener", err)
	}
}
