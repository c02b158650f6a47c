package server

import (
	"github.com/gregor-broker/gregor/logstore"
)

// delayedFetch is a consumer fetch parked because fewer than min_bytes were
// readable and max_wait_ms > 0 (Kafka 2.8's DelayedFetch). It watches every
// partition it reads, and completes when:
//
//   - a partition can no longer be read as asked: this broker stopped
//     leading it or no longer hosts it, the client's leader epoch is fenced,
//     or the fetch offset left the log (truncation, retention) — the
//     response then carries the partition's error (Kafka's cases A-F);
//   - the bytes readable below the high watermark, counting at most
//     partition_max_bytes per partition, reach min_bytes (case G);
//   - max_wait_ms passes, or the purgatory closes: it answers with whatever
//     is readable then, possibly nothing.
//
// Whichever way it completes, onComplete reads every partition again and
// responds, as Kafka's DelayedFetch.onComplete does: the reads of the first
// attempt are dropped, so no byte is copied twice for a fetch that waits.
// tryComplete only measures: it looks regions up in the index and copies
// nothing.
type delayedFetch struct {
	delayedOp

	h       *handlers // immutable
	fetch   *fetchRead
	respond func(results []fetchPartitionResult)
}

func (d *delayedFetch) tryComplete() bool {
	var accumulated int64
	for i := range d.fetch.partitions {
		fp := &d.fetch.partitions[i]
		n, err := d.h.readableBytes(d.fetch, fp, int64(d.fetch.minBytes)-accumulated)
		if err != nil {
			return true
		}
		accumulated += n
	}
	return accumulated >= int64(d.fetch.minBytes)
}

func (d *delayedFetch) onExpiration() {}

func (d *delayedFetch) onComplete() {
	results, _, _ := d.h.readFetch(d.fetch)
	d.respond(results)
}

// keys are the partitions the fetch waits on.
func (d *delayedFetch) keys() []logstore.TopicPartition {
	keys := make([]logstore.TopicPartition, len(d.fetch.partitions))
	for i := range d.fetch.partitions {
		keys[i] = d.fetch.partitions[i].tp
	}
	return keys
}

// newFetchPurgatory is where fetches wait for min_bytes.
func newFetchPurgatory() *purgatory[logstore.TopicPartition] {
	return newPurgatory[logstore.TopicPartition]("fetch", purgatoryConfig{})
}

// onAppend wakes the fetches waiting on tp. Call it after every successful
// append to a partition this broker leads (produce, and the group and
// transaction coordinators' writes), and, once followers replicate, after
// every move of the partition's high watermark: consumers read only below
// it, so the move, not the append, is what makes bytes readable (with the
// leader alone in the ISR the two coincide). It must be called with no lock
// held that a fetch's read takes (Partition.mu, the log's locks), since a
// completed fetch reads and responds on the calling goroutine. A request
// that appends to several partitions calls it once all of them are
// appended (handlers.wakeAfterAppends), as Kafka's action queue does: a
// follower fetch woken by the first append would answer without the
// others' records, and cost a round trip more.
func (h *handlers) onAppend(tp logstore.TopicPartition) {
	if h.fetches != nil {
		h.fetches.checkAndComplete(tp)
	}
}
