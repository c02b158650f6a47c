package logstore

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// TestCleanableOffsets checks what of a log a cleaning may touch and how
// dirty it is, for the checkpoint, the high watermark, min.compaction.lag.ms
// and max.compaction.lag.ms. The log has four one-record segments, at
// offsets 0 to 3, whose records are 10h, 5h, 1h and 0h old; the last one is
// the active segment.
func TestCleanableOffsets(t *testing.T) {
	const unset = -1
	cases := []struct {
		name                        string
		checkpoint, hw              int64
		minLag, maxLag              time.Duration
		firstDirty, firstUncleanble int64
		clean, cleanable            int64 // in segments
		mustCleanNow                bool
		needsCleaning               bool // with min.cleanable.dirty.ratio 0.5
	}{
		{name: "no checkpoint: all but the active segment is dirty", checkpoint: unset, hw: unset,
			firstDirty: 0, firstUncleanble: 3, clean: 0, cleanable: 3, needsCleaning: true},
		{name: "checkpoint at 2: ratio 1/3", checkpoint: 2, hw: unset,
			firstDirty: 2, firstUncleanble: 3, clean: 2, cleanable: 1, needsCleaning: false},
		{name: "checkpoint at 1: ratio 2/3", checkpoint: 1, hw: unset,
			firstDirty: 1, firstUncleanble: 3, clean: 1, cleanable: 2, needsCleaning: true},
		{name: "checkpoint past the log end starts over", checkpoint: 100, hw: unset,
			firstDirty: 0, firstUncleanble: 3, clean: 0, cleanable: 3, needsCleaning: true},
		{name: "min.compaction.lag.ms keeps the 1h-old segment", checkpoint: unset, hw: unset, minLag: 2 * time.Hour,
			firstDirty: 0, firstUncleanble: 2, clean: 0, cleanable: 2, needsCleaning: true},
		{name: "min.compaction.lag.ms keeps the 5h-old segment and after", checkpoint: unset, hw: unset, minLag: 6 * time.Hour,
			firstDirty: 0, firstUncleanble: 1, clean: 0, cleanable: 1, needsCleaning: true},
		{name: "min.compaction.lag.ms leaves nothing dirty to clean", checkpoint: 2, hw: unset, minLag: 2 * time.Hour,
			firstDirty: 2, firstUncleanble: 2, clean: 2, cleanable: 0, needsCleaning: false},
		{name: "high watermark bounds the cleaning", checkpoint: unset, hw: 1,
			firstDirty: 0, firstUncleanble: 1, clean: 0, cleanable: 1, needsCleaning: true},
		{name: "max.compaction.lag.ms passed forces a clean ratio", checkpoint: 2, hw: unset, maxLag: 30 * time.Minute,
			firstDirty: 2, firstUncleanble: 3, clean: 2, cleanable: 1, mustCleanNow: true, needsCleaning: true},
		{name: "max.compaction.lag.ms not passed", checkpoint: 2, hw: unset, maxLag: 2 * time.Hour,
			firstDirty: 2, firstUncleanble: 3, clean: 2, cleanable: 1, needsCleaning: false},
		{name: "max.compaction.lag.ms counts from the first dirty segment", checkpoint: 0, hw: unset, maxLag: 8 * time.Hour,
			firstDirty: 0, firstUncleanble: 3, clean: 0, cleanable: 3, mustCleanNow: true, needsCleaning: true},
		{name: "max.compaction.lag.ms but nothing cleanable", checkpoint: 2, hw: unset, minLag: 2 * time.Hour, maxLag: time.Millisecond,
			firstDirty: 2, firstUncleanble: 2, clean: 2, cleanable: 0, mustCleanNow: true, needsCleaning: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := compactLogConfig()
			cfg.MinCompactionLag = tc.minLag
			cfg.MaxCompactionLag = math.MaxInt64
			if tc.maxLag > 0 {
				cfg.MaxCompactionLag = tc.maxLag
			}
			tl := openTestLog(t, cfg)
			now := tl.clock.Now()
			var size int64
			for i, age := range []time.Duration{10 * time.Hour, 5 * time.Hour, time.Hour, 0} {
				if i > 0 {
					if err := tl.Roll(); err != nil {
						t.Fatal(err)
					}
				}
				appendKeyed(t, tl.Log, nil, CompressionNone, now.Add(-age).UnixMilli(), []Record{{Key: []byte("k"), Value: []byte(fmt.Sprint(i))}})
				if i == 0 {
					size = tl.Size()
				}
			}
			hw := tc.hw
			if hw == unset {
				hw = tl.LogEndOffset()
			}
			tl.SetHighWatermark(hw)
			c, ok := tl.cleanable(tc.checkpoint, tl.Config(), now)
			if !ok {
				t.Fatal("log not cleanable")
			}
			if c.firstDirty != tc.firstDirty || c.firstUncleanable != tc.firstUncleanble {
				t.Errorf("dirty range [%d, %d), want [%d, %d)", c.firstDirty, c.firstUncleanable, tc.firstDirty, tc.firstUncleanble)
			}
			if c.cleanBytes != tc.clean*size || c.cleanableBytes != tc.cleanable*size {
				t.Errorf("clean %d bytes, cleanable %d, want %d and %d (segments of %d bytes)", c.cleanBytes, c.cleanableBytes, tc.clean*size, tc.cleanable*size, size)
			}
			if (c.maxCompactionDelay > 0) != tc.mustCleanNow {
				t.Errorf("max compaction delay %v, want positive=%v", c.maxCompactionDelay, tc.mustCleanNow)
			}
			if got := c.needsCleaning(0.5); got != tc.needsCleaning {
				t.Errorf("needs cleaning %v at ratio %.2f, want %v", got, c.ratio(), tc.needsCleaning)
			}
		})
	}
}

// TestSelectFilthiest checks the choice of the log to clean: the highest
// dirty ratio among the logs over their own min.cleanable.dirty.ratio or
// past max.compaction.lag.ms.
func TestSelectFilthiest(t *testing.T) {
	type cand struct {
		clean, cleanable int64
		minRatio         float64
		delay            time.Duration
	}
	cases := []struct {
		name  string
		cands []cand
		want  int
	}{
		{"none", nil, -1},
		{"one under its ratio", []cand{{clean: 60, cleanable: 40, minRatio: 0.5}}, -1},
		{"one at its ratio is not over it", []cand{{clean: 50, cleanable: 50, minRatio: 0.5}}, -1},
		{"one over its ratio", []cand{{clean: 40, cleanable: 60, minRatio: 0.5}}, 0},
		{"the filthiest of two", []cand{{clean: 40, cleanable: 60, minRatio: 0.5}, {clean: 10, cleanable: 90, minRatio: 0.5}}, 1},
		{"own ratios decide eligibility", []cand{{clean: 10, cleanable: 90, minRatio: 0.95}, {clean: 40, cleanable: 60, minRatio: 0.5}}, 1},
		{"max compaction lag makes a clean log eligible", []cand{{clean: 90, cleanable: 10, minRatio: 0.5, delay: time.Second}}, 0},
		{"but the filthiest still goes first", []cand{{clean: 90, cleanable: 10, minRatio: 0.5, delay: time.Second}, {clean: 40, cleanable: 60, minRatio: 0.5}}, 1},
		{"nothing cleanable is never chosen", []cand{{clean: 90, cleanable: 0, minRatio: 0, delay: time.Hour}}, -1},
		{"an empty log is never chosen", []cand{{minRatio: 0}}, -1},
		{"ratio zero takes any dirt", []cand{{clean: 99, cleanable: 1, minRatio: 0}}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cands []logToClean
			for _, c := range tc.cands {
				cands = append(cands, logToClean{c: cleanable{cleanBytes: c.clean, cleanableBytes: c.cleanable, maxCompactionDelay: c.delay}, minRatio: c.minRatio})
			}
			if got := selectFilthiest(cands); got != tc.want {
				t.Fatalf("selected %d, want %d", got, tc.want)
			}
		})
	}
}
