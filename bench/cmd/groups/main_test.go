package main

import (
	"context"
	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestRun runs the whole benchmark small: three brokers, one join trial
// of three members, and both commit runs for a fraction of a second.
func TestRun(t *testing.T) {
	zktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config{members: 3, partitions: 6, joinTrials: 1, committers: 2, commitDuration: 300 * time.Millisecond, Source: cluster.Source{Src: "../../.."}}
	if err := run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}
