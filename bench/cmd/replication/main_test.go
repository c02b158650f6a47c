package main

import (
	"context"
	"os/exec"
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
		trials: 1, zkSessionTimeout: 3 * time.Second, src: "../../.."}
	if err := run(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	for _, tt := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(7), 7 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(8, 2, 6, 4), 5 * time.Millisecond},
	} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestIsKilled checks that stop tells a broker killed on purpose (SIGKILL,
// no error) from one that exited by itself (an error).
func TestIsKilled(t *testing.T) {
	killed := exec.Command("sleep", "60")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	if err := killed.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := killed.Wait(); !isKilled(err) {
		t.Errorf("isKilled(%v) = false after SIGKILL, want true", err)
	}
	if err := exec.Command("false").Run(); err == nil || isKilled(err) {
		t.Errorf("isKilled(%v) = true for exit status 1, want false", err)
	}
	if isKilled(nil) {
		t.Error("isKilled(nil) = true, want false")
	}
}
