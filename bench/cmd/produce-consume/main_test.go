package main

import (
	"context"
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
	cfg := config{records: 5000, size: 100, partitions: 3, linger: time.Millisecond, maxBuffered: 1000, src: "../../.."}
	if err := run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestPct(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := pct(ds, tt.p); got != tt.want {
			t.Errorf("pct(1..100 ms, %d) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := pct(nil, 50); got != 0 {
		t.Errorf("pct(nil, 50) = %v, want 0", got)
	}
}
