package server

import (
	"fmt"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
)

// delayedProduce is an acks=-1 produce waiting for its records to be
// replicated (Kafka 2.8's DelayedProduce). It watches every partition it
// appended to, and completes when each of them is settled: the high
// watermark passed the partition's last appended offset (NONE, or
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR shrank below
// min.insync.replicas meanwhile), or this broker stopped leading it
// (NOT_LEADER_OR_FOLLOWER). What is still unsettled when timeout_ms passes is
// answered REQUEST_TIMED_OUT. Its partitions are woken by high watermark
// moves and leadership changes (handlers.onHighWatermark), never polled.
type delayedProduce struct {
	delayedOp

	h       *handlers // immutable
	respond func()
	// pending are the partitions still waiting, each with the offset the
	// high watermark must reach; they are settled into their results.
	pending []pendingProduce
}

type pendingProduce struct {
	res            *produceResult
	requiredOffset int64
	settled        bool
}

func newDelayedProduce(h *handlers, results []*produceResult, respond func()) *delayedProduce {
	d := &delayedProduce{h: h, respond: respond}
	for _, res := range results {
		if res.code == 0 {
			d.pending = append(d.pending, pendingProduce{res: res, requiredOffset: res.info.LastOffset + 1})
		}
	}
	return d
}

func (d *delayedProduce) tryComplete() bool {
	done := true
	for i := range d.pending {
		pp := &d.pending[i]
		if pp.settled {
			continue
		}
		tp := logstore.TopicPartition{Topic: pp.res.topic, Partition: pp.res.partition}
		p, err := d.h.replicas.getPartition(tp)
		var settled bool
		if err == nil {
			settled, err = p.checkReplicated(pp.requiredOffset)
		} else {
			settled = true
		}
		if !settled {
			done = false
			continue
		}
		pp.settled = true
		if err != nil {
			pp.res.code = errorCode(d.h.log, fmt.Errorf("server: replicate produce to %s: %w", tp, err))
		}
	}
	return done
}

func (d *delayedProduce) onExpiration() {
	for i := range d.pending {
		if pp := &d.pending[i]; !pp.settled {
			pp.res.code = kerr.RequestTimedOut.Code
		}
	}
}

func (d *delayedProduce) onComplete() { d.respond() }

func (d *delayedProduce) keys() []logstore.TopicPartition {
	keys := make([]logstore.TopicPartition, len(d.pending))
	for i, pp := range d.pending {
		keys[i] = logstore.TopicPartition{Topic: pp.res.topic, Partition: pp.res.partition}
	}
	return keys
}

// newProducePurgatory is where acks=-1 produces wait for replication.
func newProducePurgatory() *purgatory[logstore.TopicPartition] {
	return newPurgatory[logstore.TopicPartition]("produce", purgatoryConfig{})
}

// onHighWatermark wakes what waits on tp after its high watermark moved or
// its leadership changed: acks=-1 produces, and consumer fetches, which read
// only below the high watermark. Like onAppend, it must be called with no
// partition or log lock held.
func (h *handlers) onHighWatermark(tp logstore.TopicPartition) {
	if h.produces != nil {
		h.produces.checkAndComplete(tp)
	}
	if h.fetches != nil {
		h.fetches.checkAndComplete(tp)
	}
}
