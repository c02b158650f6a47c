//go:build unix

package network

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestManyIdleConnections opens as many idle connections as the file
// descriptor limit allows (up to 10,000), checks what each costs, drops
// them all, and checks that the broker is unharmed: every goroutine gone,
// every slot released, a new client served.
func TestManyIdleConnections(t *testing.T) {
	checkGoroutines(t)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	// Each connection takes two descriptors here, the client's and the
	// server's; keep some for everything else.
	n := min(10000, (int(min(lim.Cur, 1<<20))-256)/2) // RLIM_INFINITY is the largest uint64
	if n < 1000 {
		t.Skipf("RLIMIT_NOFILE is %d: too low for a meaningful number of connections", lim.Cur)
	}
	cfg, _ := testConfig()
	ts := startServer(t, cfg, echoHandler())

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()
	conns := make([]*rawConn, 0, n)
	for range n {
		conns = append(conns, dialRaw(t, ts.addr()))
	}
	waitFor(t, 30*time.Second, itoa(n)+" connections accepted", func() bool { return ts.connCount() == n })
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := (int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse)) / int64(n)
	t.Logf("%d idle connections: %d bytes each (client and server side), %d goroutines each",
		n, perConn, (runtime.NumGoroutine()-goroutinesBefore)/n)
	// A goroutine stack and a few small structs per side. A per-connection
	// read buffer of even 64 KiB would blow this.
	if perConn > 32<<10 {
		t.Errorf("an idle connection costs %d bytes", perConn)
	}
	if g := runtime.NumGoroutine() - goroutinesBefore; g > n+10 {
		t.Errorf("%d goroutines for %d idle connections", g, n)
	}
	served(conns[n/2], 1)

	for _, rc := range conns {
		_ = rc.Close()
	}
	waitFor(t, 30*time.Second, "every connection released", func() bool { return ts.connCount() == 0 })
	waitFor(t, 30*time.Second, "every connection goroutine gone", func() bool { return runtime.NumGoroutine() <= goroutinesBefore })
	served(dialRaw(t, ts.addr()), 1)
}
