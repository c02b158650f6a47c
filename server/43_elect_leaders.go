package server

// ElectLeaders (key 43): versions 0-2.
//
// Moves partition leadership (KIP-183): v0 elects the preferred replica,
// v1 adds election_type (KIP-460: 0 preferred, 1 unclean) and a top-level
// error code, v2 is the flexible version. Null topics means every
// partition of the cluster.
//
// As in Kafka 2.8's ZooKeeper mode, the controller does the election in its
// event loop (coordinator/controller: Controller.ElectLeaders), so only the
// controller broker serves it: elsewhere every partition asked (every
// cached partition for null topics) gets NOT_CONTROLLER, and so does the
// top-level error code from v1. Kafka leaves the top-level code NONE there;
// Gregor sets it as well because sarama's ClusterAdmin retries against a
// fresh controller only on a top-level NOT_CONTROLLER (franz-go looks at
// the first partition's code, the Java admin client at either).
//
// Per partition errors are Kafka's: ELECTION_NOT_NEEDED,
// PREFERRED_LEADER_NOT_AVAILABLE, ELIGIBLE_LEADERS_NOT_AVAILABLE,
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION for a topic being
// deleted; an election_type other than 0 or 1 fails every partition with
// INVALID_REQUEST. A partition listed twice is answered once, as Kafka
// turns the request into a set.
//
// Partitions that got a new leader wait, as Kafka's DelayedElectLeader
// does, until this broker's metadata cache shows that leader (the
// controller's UpdateMetadata reached it), or until timeout_ms: those not
// there by then get REQUEST_TIMED_OUT. The admin purgatory keyed by topic
// holds the wait (admin_purgatory.go). TODO(issue 3): no authorization
// (Kafka requires ALTER on the cluster); throttle time stays 0.

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.ElectLeaders, 0, 2, (*handlers).handleElectLeaders) }

// electionControllerGrace bounds, beyond timeout_ms, how long a request
// waits for the controller's loop to take and run the election.
const electionControllerGrace = 30 * time.Second

func (h *handlers) handleElectLeaders(ctx context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	typ := controller.ElectPreferred
	if req.Version >= 1 {
		typ = controller.ElectionType(req.ElectionType)
	}
	all := req.Topics == nil
	var asked []zkutil.TopicPartition
	if all {
		for _, name := range h.metadata.AllTopics() {
			for p := int32(0); ; p++ {
				if _, ok := h.metadata.PartitionInfo(name, p); !ok {
					break
				}
				asked = append(asked, zkutil.TopicPartition{Topic: name, Partition: p})
			}
		}
	} else {
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				asked = append(asked, zkutil.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond

	fail := func(err error) {
		results := make(map[zkutil.TopicPartition]controller.ElectionResult, len(asked))
		for _, tp := range asked {
			results[tp] = controller.ElectionResult{Err: err}
		}
		if req.Version >= 1 && errors.Is(err, kerr.NotController) {
			resp.ErrorCode = kerr.NotController.Code
		}
		fillElectLeaders(h, resp, results)
		respond(resp)
	}
	ctrl := h.elector.Load()
	switch {
	case typ != controller.ElectPreferred && typ != controller.ElectUnclean:
		fail(kerr.InvalidRequest)
		return nil
	case ctrl == nil:
		fail(kerr.NotController)
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, max(timeout, 0)+electionControllerGrace)
	results, err := ctrl.ElectLeaders(cctx, typ, asked, all)
	cancel()
	switch {
	case errors.Is(err, kerr.NotController):
		fail(kerr.NotController)
		return nil
	case err != nil:
		h.log.WithError(err).Warn("the controller did not run the leader election in time")
		fail(kerr.RequestTimedOut)
		return nil
	}
	var waits []electionWait
	for tp, res := range results {
		if res.Err == nil {
			waits = append(waits, electionWait{tp: tp, leader: res.Leader})
		}
	}
	h.awaitElections(waits, timeout, func(missing map[zkutil.TopicPartition]bool) {
		for tp := range missing {
			results[tp] = controller.ElectionResult{Err: kerr.RequestTimedOut,
				Message: "Leader election for " + tp.String() + " did not complete before the request timeout"}
		}
		fillElectLeaders(h, resp, results)
		respond(resp)
	})
	return nil
}

// fillElectLeaders writes results into resp, topics and partitions sorted.
func fillElectLeaders(h *handlers, resp *kmsg.ElectLeadersResponse, results map[zkutil.TopicPartition]controller.ElectionResult) {
	tps := make([]zkutil.TopicPartition, 0, len(results))
	for tp := range results {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b zkutil.TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	for _, tp := range tps {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		res := results[tp]
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = tp.Partition
		rp.ErrorCode = errorCode(h.log, res.Err)
		if res.Message != "" {
			rp.ErrorMessage = kmsg.StringPtr(res.Message)
		}
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
}

// electionWait is a partition whose new leader an ElectLeaders request
// waits to see in the metadata cache.
type electionWait struct {
	tp     zkutil.TopicPartition
	leader int32
}

func (w electionWait) doneIn(c *MetadataCache) bool {
	ps, ok := c.PartitionInfo(w.tp.Topic, w.tp.Partition)
	return ok && ps.Leader == w.leader
}

// delayedElectLeader is Kafka's DelayedElectLeader: an ElectLeaders request
// waiting for the metadata cache to show its new leaders.
type delayedElectLeader struct {
	delayedOp

	cache   *MetadataCache // immutable
	waits   []electionWait // immutable
	respond func(missing map[zkutil.TopicPartition]bool)
}

func (d *delayedElectLeader) tryComplete() bool {
	for _, w := range d.waits {
		if !w.doneIn(d.cache) {
			return false
		}
	}
	return true
}

func (d *delayedElectLeader) onExpiration() {}

// onComplete answers with the partitions whose leader is not in the cache
// yet, looked at once more.
func (d *delayedElectLeader) onComplete() {
	missing := map[zkutil.TopicPartition]bool{}
	for _, w := range d.waits {
		if !w.doneIn(d.cache) {
			missing[w.tp] = true
		}
	}
	d.respond(missing)
}

// awaitElections calls respond once, with the partitions of waits whose
// leader the cache does not show, when all are there, at timeout or when
// the broker shuts down. With no waits it answers at once; with a timeout
// <= 0 it answers at once with what the cache shows.
func (h *handlers) awaitElections(waits []electionWait, timeout time.Duration, respond func(missing map[zkutil.TopicPartition]bool)) {
	op := &delayedElectLeader{cache: h.metadata, waits: waits, respond: respond}
	if len(waits) == 0 || timeout <= 0 {
		op.onComplete()
		return
	}
	op.timeout = timeout
	var keys []string
	for _, w := range waits {
		if !slices.Contains(keys, w.tp.Topic) {
			keys = append(keys, w.tp.Topic)
		}
	}
	h.admin.tryCompleteElseWatch(op, keys)
}
