package server

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// benchOp is the cheapest possible operation, so the figures are the
// purgatory's own cost: a tryComplete that reads one flag.
type benchOp struct {
	delayedOp
	ready atomic.Bool
}

func (o *benchOp) tryComplete() bool { return o.ready.Load() }
func (o *benchOp) onExpiration()     {}
func (o *benchOp) onComplete()       {}

// BenchmarkPurgatoryWatchAndComplete measures one delayed request's trip:
// tryCompleteElseWatch finds it not ready, watches it under one partition
// and arms its timer (the wall clock's, as in the broker); an append makes
// it ready and checkAndComplete completes it, stopping the timer.
func BenchmarkPurgatoryWatchAndComplete(b *testing.B) {
	for _, keys := range []int{1, 4} {
		b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
			p := newPurgatory[testKey]("bench", purgatoryConfig{})
			b.Cleanup(p.close)
			watch := make([]testKey, keys)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				for k := range watch {
					watch[k] = tp(int32((i + k) % 64))
				}
				op := &benchOp{delayedOp: delayedOp{timeout: time.Minute}}
				p.tryCompleteElseWatch(op, watch)
				op.ready.Store(true)
				if p.checkAndComplete(watch[0]) != 1 {
					b.Fatal("not completed")
				}
				i++
			}
		})
	}
}

// BenchmarkPurgatoryWatchAndCompleteParallel is the same trip from every P
// at once, on 64 partitions, to show shard and timer contention.
func BenchmarkPurgatoryWatchAndCompleteParallel(b *testing.B) {
	p := newPurgatory[testKey]("bench", purgatoryConfig{})
	b.Cleanup(p.close)
	var next atomic.Int32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		key := []testKey{tp(next.Add(1) % 64)}
		for pb.Next() {
			op := &benchOp{delayedOp: delayedOp{timeout: time.Minute}}
			p.tryCompleteElseWatch(op, key)
			op.ready.Store(true)
			p.checkAndComplete(key[0])
		}
	})
}
