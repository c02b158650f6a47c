package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestRun runs the whole benchmark small: the memory run on 20
// partitions and 40 MiB (produce, one fetch per partition, which must
// return records), then three brokers with 60 partitions at RF 3:
// creation, a controller kill -9 and failover, a controlled shutdown, a
// clean restart and a restart after kill -9 with 8 MiB unflushed, each
// waited for with a deadline. A short session timeout keeps the kills
// short. Any wait that times out, or a broker that exits, fails it.
func TestRun(t *testing.T) {
	zktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config{memPartitions: 20, memBytes: 40 << 20, memRecordSize: 64 << 10,
		partitions: 60, rf: 3, zkSessionTimeout: 2 * time.Second, unflushed: 8 << 20, profileSeconds: 1,
		Source: cluster.Source{Src: "../../.."}, timeout: 3 * time.Minute}
	if err := run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestWatchLog checks that watchLog sees a line appended after it started,
// even written in two pieces, and not one written before.
func TestWatchLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broker.log")
	if err := os.WriteFile(path, []byte("old: controlled shutdown succeeded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := watchLog(ctx, path, "controlled shutdown succeeded")
	if _, ok := before(); ok {
		t.Fatal("saw a line written before the watch began")
	}
	seen := watchLog(ctx, path, "controlled shutdown succeeded")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t0 := time.Now()
	for _, piece := range []string{"level=info msg=\"controlled shut", "down succeeded\" attempt=1\n"} {
		if _, err := f.WriteString(piece); err != nil {
			t.Fatal(err)
		}
	}
	at, ok := seen()
	if !ok || at.Before(t0) {
		t.Fatalf("seen %v at %v; want seen after %v", ok, at, t0)
	}
}
