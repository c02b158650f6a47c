package server

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Admin requests that change topics wait for the cluster to act on what
// they wrote, as Kafka 2.8's ZkAdminManager does with its "topic"
// purgatory: CreateTopics and CreatePartitions (DelayedCreatePartitions)
// until the metadata cache shows a leader for every partition of each
// topic they created or grew, DeleteTopics (DelayedDeleteTopics) until
// each topic they asked to delete has left the cache. The broker writes
// ZooKeeper, the controller acts and sends UpdateMetadata, and the
// UpdateMetadata handler wakes the requests watching the topics it
// touched (onTopicsUpdated); nothing polls.
//
// The request's timeout_ms bounds the wait: a topic not done by then is
// answered REQUEST_TIMED_OUT, the others as they are. A timeout <= 0 does
// not wait at all, and every topic written is REQUEST_TIMED_OUT (the
// handlers do that without the purgatory, as Kafka does). When the broker
// shuts down the purgatory closes first, so waiting requests answer at
// once (REQUEST_TIMED_OUT for what is not done) instead of holding the
// socket server's drain.
//
// The waiting is the generic purgatory (purgatory.go) keyed by topic name;
// one timer per waiting request, no goroutine until it fires.

// topicWait is one topic an admin request waits for.
type topicWait struct {
	topic string
	// partitions is how many partitions (0..partitions-1) must have a
	// leader; for a deletion it is ignored and the topic must be gone.
	partitions int32
	deletion   bool
}

// doneIn reports whether the metadata cache shows what w waits for. A
// partition counts as led when it is cached with a leader other than -1,
// as Kafka's DelayedCreatePartitions.isMissingLeader decides: the leader
// need not be live.
func (w topicWait) doneIn(c *MetadataCache) bool {
	if w.deletion {
		return !c.Contains(w.topic)
	}
	for p := int32(0); p < w.partitions; p++ {
		ps, ok := c.PartitionInfo(w.topic, p)
		if !ok || ps.Leader == noLeader {
			return false
		}
	}
	return true
}

// delayedTopicOp is an admin request waiting for its topics.
type delayedTopicOp struct {
	delayedOp

	cache   *MetadataCache // immutable
	waits   []topicWait    // immutable
	respond func(done []bool)
}

func (d *delayedTopicOp) tryComplete() bool {
	for _, w := range d.waits {
		if !w.doneIn(d.cache) {
			return false
		}
	}
	return true
}

func (d *delayedTopicOp) onExpiration() {}

// onComplete looks at every topic once more and answers: a topic done by
// now is a success even if the timeout fired first.
func (d *delayedTopicOp) onComplete() {
	done := make([]bool, len(d.waits))
	for i, w := range d.waits {
		done[i] = w.doneIn(d.cache)
	}
	d.respond(done)
}

// newAdminPurgatory is where admin requests wait for their topics.
func newAdminPurgatory() *purgatory[string] {
	return newPurgatory[string]("topic", purgatoryConfig{})
}

// awaitTopics calls respond once, with done[i] telling whether waits[i]
// was reached, when every wait is reached or when timeout passes (or the
// broker shuts down), whichever is first. It may call respond before it
// returns. With no waits, or a timeout <= 0, it answers at once.
func (h *handlers) awaitTopics(waits []topicWait, timeout time.Duration, respond func(done []bool)) {
	if len(waits) == 0 || timeout <= 0 {
		respond(make([]bool, len(waits)))
		return
	}
	op := &delayedTopicOp{cache: h.metadata, waits: waits, respond: respond}
	op.timeout = timeout
	seen := make(map[string]bool, len(waits))
	keys := make([]string, 0, len(waits))
	for _, w := range waits {
		if !seen[w.topic] {
			seen[w.topic] = true
			keys = append(keys, w.topic)
		}
	}
	h.admin.tryCompleteElseWatch(op, keys)
}

// answerAfterTopics is how the admin APIs answer: it waits for waits, whose
// i-th entry is the response's topic waiting[i], fails each topic still
// not done at timeoutMs with REQUEST_TIMED_OUT, then sends the response.
func (h *handlers) answerAfterTopics(waits []topicWait, waiting []int, timeoutMs int32, fail func(topic int, err error), send func()) {
	h.awaitTopics(waits, time.Duration(timeoutMs)*time.Millisecond, func(done []bool) {
		for i, ok := range done {
			if !ok {
				fail(waiting[i], kerr.RequestTimedOut)
			}
		}
		send()
	})
}

// onTopicsUpdated wakes the admin requests waiting on the topics an
// UpdateMetadata just changed in the cache (Kafka's
// tryCompleteDelayedTopicOperations, called from handleUpdateMetadata).
// Call it after the update is applied, with no lock held.
func (h *handlers) onTopicsUpdated(u *MetadataUpdate) {
	if h.admin == nil || h.admin.delayed() == 0 {
		return
	}
	seen := make(map[string]bool)
	for i := range u.Partitions {
		topic := u.Partitions[i].Topic
		if !seen[topic] {
			seen[topic] = true
			h.admin.checkAndComplete(topic)
		}
	}
}
