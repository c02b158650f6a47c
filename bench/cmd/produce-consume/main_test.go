package main

import (
	"context"
	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestRun runs the whole benchmark on a few records: ZooKeeper, a broker
// built from the source tree, produce, consume, and a clean stop.
func TestRun(t *testing.T) {
	zktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config{records: 5000, size: 100, partitions: 3, linger: time.Millisecond, maxBuffered: 1000, Source: cluster.Source{Src: "../../.."}}
	if err := run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}
