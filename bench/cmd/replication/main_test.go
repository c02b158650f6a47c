package main

import (
	"context"
	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestRun runs the whole benchmark small: ZooKeeper, three brokers built
// from the source tree, both throughput runs on a few records, one
// failover trial (kill -9, first acks=all produce, restart, back in the
// ISR) and a clean stop. A short session timeout keeps the trial short.
func TestRun(t *testing.T) {
	zktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config{records: 2000, size: 100, partitions: 3, linger: time.Millisecond, maxBuffered: 1000,
		trials: 1, zkSessionTimeout: 3 * time.Second, Source: cluster.Source{Src: "../../.."}}
	if err := run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}
