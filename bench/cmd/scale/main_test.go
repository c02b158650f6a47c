package main

import (
	"context"
	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"testing"
	"time"

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
