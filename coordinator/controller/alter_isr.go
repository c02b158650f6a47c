package controller

import (
	"context"
	"errors"
	"slices"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// loopCall is a broker's request run on the term's loop, which owns the
// state it reads and writes. An error matching zkutil.ErrEpochFenced ends
// the term, as for any other event.
type loopCall func(ctx context.Context, t *term) error

// openCalls makes the channel a new term receives loop calls on.
func (c *Controller) openCalls() chan loopCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.termDone = make(chan loopCall), make(chan struct{})
	return c.calls
}

// closeCalls ends the term's loop calls: callers waiting are answered
// NOT_CONTROLLER.
func (c *Controller) closeCalls() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.termDone)
	c.calls, c.termDone = nil, nil
}

// Quiesce makes the controller refuse the brokers' requests for its loop
// (AlterIsr, ControlledShutdown, reassignment requests) from now on, and
// answer those waiting, with NOT_CONTROLLER, at once. The broker calls it
// when it starts shutting down: its controller is about to resign, and a
// request waiting for a loop that is stuck (on an unreachable ZooKeeper,
// say) would otherwise hold the broker's drain of requests in flight for
// controller.socket.timeout.ms. The sender then looks for the next
// controller. Kafka's handlers do not wait for its controller's event
// queue, which drops what is queued when it shuts down.
func (c *Controller) Quiesce() {
	c.quiesceOnce.Do(func() { close(c.quiesced) })
}

// onLoop runs fn on the running term's loop and waits until it returned.
// It fails with kerr.NotController when this broker does not lead, its
// term ends first or the controller is quiesced, and with
// kerr.RequestTimedOut when ctx ends first (fn may then still run, later;
// its results are dropped).
func (c *Controller) onLoop(ctx context.Context, fn func(ctx context.Context, t *term) error) error {
	if ctx.Err() != nil {
		return kerr.RequestTimedOut
	}
	select {
	case <-c.quiesced:
		return kerr.NotController
	default:
	}
	c.mu.Lock()
	calls, termDone := c.calls, c.termDone
	c.mu.Unlock()
	if calls == nil {
		return kerr.NotController
	}
	finished := make(chan struct{})
	call := func(lctx context.Context, t *term) error {
		defer close(finished)
		return fn(lctx, t)
	}
	select {
	case calls <- call:
	case <-termDone:
		return kerr.NotController
	case <-c.quiesced:
		return kerr.NotController
	case <-ctx.Done():
		return kerr.RequestTimedOut
	}
	select {
	case <-finished:
		return nil
	case <-termDone:
		select {
		case <-finished: // done before the term ended
			return nil
		default:
			return kerr.NotController
		}
	case <-c.quiesced:
		select {
		case <-finished:
			return nil
		default:
			return kerr.NotController
		}
	case <-ctx.Done():
		return kerr.RequestTimedOut
	}
}

// AlterISR serves AlterIsr (AlterPartition v0, KIP-497): a partition
// leader asks to change its ISR, and the controller writes the new ISR to
// the partition's state znode, as Kafka 2.8's KafkaController.processAlterIsr
// does, on the controller's loop:
//
//   - a sender that is not a live broker, or whose broker epoch is not
//     its live registration's, gets STALE_BROKER_EPOCH for the whole
//     request;
//   - per partition: UNKNOWN_TOPIC_OR_PARTITION when the controller knows
//     no state for it; FENCED_LEADER_EPOCH when the leader epoch is not
//     the current one; NOT_LEADER_OR_FOLLOWER (kerr.NotLeaderForPartition, code 6) when the sender does not
//     lead it; a request that asks for the current ISR is answered with
//     the current state and nothing is written; INVALID_UPDATE_VERSION
//     when the state znode version (partition_epoch) is not the current
//     one, or changed under the write;
//   - otherwise the state znode is set conditionally on that version,
//     behind the controller epoch fence, with the same leader and leader
//     epoch (an ISR change does not bump the leader epoch) and this
//     controller's epoch; the answer carries the new ISR and the new
//     znode version, and every broker gets UpdateMetadata for the
//     partitions that changed. The leader gets no LeaderAndIsr: the
//     answer is its news.
//
// Departures from 2.8, following the fixes of later Kafka releases: 2.8
// answers an older leader epoch only, and writes a request from a broker
// that does not lead the partition (with the sender as leader) when the
// version matches; here a leader epoch other than the current one is
// FENCED_LEADER_EPOCH and a sender other than the leader is
// NOT_LEADER_OR_FOLLOWER. An ISR that names a replica outside the
// assignment, or leaves out the leader, is INVALID_REQUEST; one that adds
// a broker in a controlled shutdown is INELIGIBLE_REPLICA (KIP-841), so
// that a broker being drained does not rejoin ISRs.
//
// It fails with kerr.NotController when this broker is not the
// controller, and kerr.RequestTimedOut when ctx ends first.
func (c *Controller) AlterISR(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	return answerOnLoop(ctx, c, func(ctx context.Context, t *term) (*kmsg.AlterPartitionResponse, error) {
		return t.alterISR(ctx, req)
	})
}

// answerOnLoop runs serve on the running term's loop and returns its
// response: kerr.NotController when this broker is not the controller, or
// when serve returned no response because the term was fenced while it
// wrote; kerr.RequestTimedOut when ctx ends first.
func answerOnLoop[Resp any](ctx context.Context, c *Controller, serve func(context.Context, *term) (*Resp, error)) (*Resp, error) {
	var resp *Resp
	err := c.onLoop(ctx, func(ctx context.Context, t *term) error {
		var err error
		resp, err = serve(ctx, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, kerr.NotController
	}
	return resp, nil
}

// alterISR is AlterISR on the loop. A nil response with an error means the
// term was fenced.
func (t *term) alterISR(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error) {
	resp := req.ResponseKind().(*kmsg.AlterPartitionResponse)
	log := t.log.WithField("broker_id", req.BrokerID)
	if reg, ok := t.brokers[req.BrokerID]; !ok || reg.Epoch != req.BrokerEpoch {
		log.WithField("broker_epoch", req.BrokerEpoch).Info("ignoring AlterIsr with a stale broker epoch")
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp, nil
	}
	// answers locates each partition's answer in resp by index: pointers
	// into the slices would go stale as they grow.
	type at struct{ topic, partition int }
	answers := map[zkutil.TopicPartition]at{}
	var writes []zkutil.PartitionStateWrite
	for i, rt := range req.Topics {
		rtResp := kmsg.NewAlterPartitionResponseTopic()
		rtResp.Topic = rt.Topic
		resp.Topics = append(resp.Topics, rtResp)
		for _, rp := range rt.Partitions {
			ans := kmsg.NewAlterPartitionResponseTopicPartition()
			ans.Partition = rp.Partition
			tp := zkutil.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			p := t.partition(tp)
			code, write := t.checkAlterISR(req.BrokerID, p, rp)
			switch {
			case code != 0:
				ans.ErrorCode = code
			case write:
				next := p.state
				next.ISR = slices.Clone(rp.NewISR)
				next.ControllerEpoch = t.epoch
				writes = append(writes, zkutil.PartitionStateWrite{TopicPartition: tp, State: next, ZkVersion: rp.PartitionEpoch})
			default: // already so: the current state
				ans.LeaderID, ans.LeaderEpoch, ans.ISR, ans.PartitionEpoch = p.state.Leader, p.state.LeaderEpoch, slices.Clone(p.state.ISR), p.zkVersion
			}
			resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, ans)
			answers[tp] = at{i, len(resp.Topics[i].Partitions) - 1}
		}
	}
	if len(writes) == 0 {
		return resp, nil
	}
	changed := tpSet{}
	var reread []zkutil.TopicPartition
	for _, r := range t.c.cfg.ZK.SetPartitionStates(ctx, t.fence, writes) {
		loc := answers[r.TopicPartition]
		ans, p := &resp.Topics[loc.topic].Partitions[loc.partition], t.partition(r.TopicPartition)
		switch {
		case r.Err == nil:
			p.state, p.zkVersion = r.State, r.ZkVersion
			changed[r.TopicPartition] = true
			ans.LeaderID, ans.LeaderEpoch, ans.ISR, ans.PartitionEpoch = r.State.Leader, r.State.LeaderEpoch, slices.Clone(r.State.ISR), r.ZkVersion
			t.stateLog(r.TopicPartition).WithFields(logrus.Fields{"isr": r.State.ISR, "zk_version": r.ZkVersion}).Info("ISR changed by AlterIsr")
		case errors.Is(r.Err, zkutil.ErrEpochFenced):
			return nil, r.Err
		case errors.Is(r.Err, zkutil.ErrVersionConflict):
			ans.ErrorCode = kerr.InvalidUpdateVersion.Code
			reread = append(reread, r.TopicPartition)
		default:
			ans.ErrorCode = kerr.UnknownServerError.Code
			log.WithError(r.Err).WithField("partition", r.TopicPartition.String()).Warn("writing an ISR change failed")
		}
	}
	if len(reread) > 0 {
		// Someone else wrote the znode: the term's view is behind.
		if err := t.readStates(ctx, reread); err != nil {
			log.WithError(err).Warn("re-reading partition states failed")
		}
		for _, tp := range reread {
			changed[tp] = true
		}
	}
	t.sendUpdateMetadata(changed, nil, nil)
	return resp, nil
}

// checkAlterISR decides one partition of an AlterIsr from sender: an error
// code, or whether a write is due (false with code 0: nothing changes).
func (t *term) checkAlterISR(sender int32, p *partition, rp kmsg.AlterPartitionRequestTopicPartition) (code int16, write bool) {
	switch {
	case p == nil || !p.hasState:
		return kerr.UnknownTopicOrPartition.Code, false
	case rp.LeaderEpoch != p.state.LeaderEpoch:
		return kerr.FencedLeaderEpoch.Code, false
	case p.state.Leader != sender:
		return kerr.NotLeaderForPartition.Code, false
	case slices.Equal(rp.NewISR, p.state.ISR):
		return 0, false
	case rp.PartitionEpoch != p.zkVersion:
		return kerr.InvalidUpdateVersion.Code, false
	case !slices.Contains(rp.NewISR, sender):
		return kerr.InvalidRequest.Code, false
	}
	for i, r := range rp.NewISR {
		if !slices.Contains(p.replicas, r) || slices.Contains(rp.NewISR[:i], r) {
			return kerr.InvalidRequest.Code, false
		}
		// A broker may join the ISR only while it is alive and not
		// shutting down (KIP-841): a leader's proposal can name a replica
		// that died since it last fetched, and an ISR holding a dead
		// broker would stall acks=all until the lag time removed it.
		if (t.shuttingDown[r] || !t.alive(r)) && !slices.Contains(p.state.ISR, r) {
			return kerr.IneligibleReplica.Code, false
		}
	}
	return 0, true
}

// stateLog is the state-change logger for one partition (STYLE.md
// section 9).
func (t *term) stateLog(tp zkutil.TopicPartition) *logrus.Entry {
	return t.log.WithFields(logrus.Fields{"component": "state_change", "partition": tp.String()})
}
