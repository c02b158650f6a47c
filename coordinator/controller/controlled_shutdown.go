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

// Controlled shutdown (Kafka 2.8's KafkaController.doControlledShutdown).
//
// A broker about to stop asks the controller, with ControlledShutdown, to
// move its work elsewhere first, so that clients see a leader change
// rather than a dead leader. The controller, on its loop:
//
//   - refuses a broker that is not registered (BROKER_NOT_AVAILABLE) or
//     that names an older broker epoch than its registration's
//     (STALE_BROKER_EPOCH; requests before v2 carry none);
//   - marks the broker shutting down (Kafka's shuttingDownBrokerIds) until
//     its registration goes: it is passed over by every leader election
//     (t.canLead) and may not rejoin an ISR (AlterISR);
//   - for each partition with more than one replica that it leads, elects
//     another leader among the live ISR members not shutting down
//     (ElectControlledShutdownLeader); the ISR loses the broker and the
//     leader epoch is bumped. With no such member the partition stays as
//     it is;
//   - for each partition with more than one replica that it follows,
//     takes it out of the ISR, bumping the leader epoch (Kafka's
//     OfflineReplica transition), unless it is the last ISR member, and
//     sends it StopReplica without delete (its fetcher stops, the log
//     stays). Kafka 2.8 sends that StopReplica with the leader epoch the
//     broker holds, which a broker refuses as fenced; here it goes after
//     the write, with the new epoch, or -1 where nothing changed;
//   - in two steps, as Kafka does: first the leaderships, then the ISR
//     places. Each step writes its new states behind the controller epoch
//     fence (batched, zkutil.SetPartitionStates) and sends LeaderAndIsr to
//     the live replicas of the partitions whose state changed and
//     UpdateMetadata to every broker. The leadership step's LeaderAndIsr
//     goes to the broker shutting down too, which makes it a follower (as
//     Kafka's controlled-shutdown election sends to replicas of
//     shutting-down brokers); the ISR step's does not, its replicas being
//     stopped. So the new leaders, and every broker's metadata, learn of
//     the moved leaderships without waiting for the ISR step's writes or
//     for the brokers to apply its (larger) LeaderAndIsr;
//   - answers with the partitions of more than one replica it still leads
//     (remaining_partitions): the broker tries again, after a backoff, up
//     to controlled.shutdown.max.retries times. Partitions with a single
//     replica are not counted: nothing can take them over.
//
// Topics being deleted are left alone, as in Kafka. A write that meets a
// version conflict re-reads the state and leaves that partition to the
// broker's next attempt.

// ControlledShutdown serves ControlledShutdown (API 7) on the controller's
// loop; see above. It fails with kerr.NotController when this broker is
// not the controller, and kerr.RequestTimedOut when ctx ends first.
func (c *Controller) ControlledShutdown(ctx context.Context, req *kmsg.ControlledShutdownRequest) (*kmsg.ControlledShutdownResponse, error) {
	return answerOnLoop(ctx, c, func(ctx context.Context, t *term) (*kmsg.ControlledShutdownResponse, error) {
		return t.controlledShutdown(ctx, req)
	})
}

// canLead is alive without the brokers in a controlled shutdown.
func (t *term) canLead(alive func(int32) bool) func(int32) bool {
	return func(id int32) bool { return alive(id) && !t.shuttingDown[id] }
}

// noEpoch is the leader epoch of a StopReplica that stops a replica
// whatever epoch it holds (Kafka's LeaderAndIsr.NoEpoch).
const noEpoch int32 = -1

func (t *term) isShuttingDown(id int32) bool { return t.shuttingDown[id] }

// controlledShutdown is ControlledShutdown on the loop. A nil response
// with an error means the term was fenced.
func (t *term) controlledShutdown(ctx context.Context, req *kmsg.ControlledShutdownRequest) (*kmsg.ControlledShutdownResponse, error) {
	resp := req.ResponseKind().(*kmsg.ControlledShutdownResponse)
	id := req.BrokerID
	log := t.log.WithField("broker_id", id)
	reg, ok := t.brokers[id]
	switch {
	case !ok:
		resp.ErrorCode = kerr.BrokerNotAvailable.Code
		return resp, nil
	case req.Version >= 2 && req.BrokerEpoch >= 0 && req.BrokerEpoch < reg.Epoch:
		log.WithField("broker_epoch", req.BrokerEpoch).Info("ignoring ControlledShutdown with a stale broker epoch")
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp, nil
	}
	if !t.shuttingDown[id] {
		log.Info("broker shutting down: moving its leadership and ISR places away")
	}
	t.shuttingDown[id] = true

	// Leadership first, on its own (Kafka's doControlledShutdown moves
	// the leaders in one batch of requests, then takes the broker out of
	// the ISRs it follows in another): the new leaders' LeaderAndIsr and
	// everyone's UpdateMetadata carry only the partitions that changed
	// hands, so brokers apply them, and clients see the new leaders,
	// without waiting for the ISR shrinks of the partitions it follows.
	var leads, follows []zkutil.PartitionStateWrite
	var stops []zkutil.TopicPartition // partitions it follows
	for _, tp := range t.replicasOn(id) {
		p := t.partition(tp)
		if len(p.replicas) < 2 {
			continue
		}
		next := p.state
		next.LeaderEpoch = p.state.LeaderEpoch + 1
		next.ControllerEpoch = t.epoch
		w := zkutil.PartitionStateWrite{TopicPartition: tp, ZkVersion: p.zkVersion}
		if p.state.Leader == id {
			leader, isr := ElectControlledShutdownLeader(p.replicas, p.state.ISR, t.alive, t.isShuttingDown)
			if leader == NoLeader {
				continue
			}
			next.Leader, next.ISR = leader, isr
			w.State = next
			leads = append(leads, w)
			continue
		}
		stops = append(stops, tp)
		if !slices.Contains(p.state.ISR, id) || len(p.state.ISR) == 1 {
			continue
		}
		next.ISR = slices.DeleteFunc(slices.Clone(p.state.ISR), func(r int32) bool { return r == id })
		w.State = next
		follows = append(follows, w)
	}
	moved, err := t.writeShutdownStates(ctx, id, leads)
	if err != nil {
		return nil, err
	}
	// The broker shutting down gets these too: it becomes a follower.
	t.sendLeaderAndISRSkipping(moved, func(int32, zkutil.TopicPartition) bool { return false })
	if len(moved) > 0 {
		t.sendUpdateMetadata(moved, nil, nil)
	}

	shrunk, err := t.writeShutdownStates(ctx, id, follows)
	if err != nil {
		return nil, err
	}
	if s, ok := t.senders[id]; ok && len(stops) > 0 {
		s.enqueue(t.stopReplicaKeep(reg, stops, shrunk))
	}
	// Not to the broker shutting down, whose replicas were just stopped.
	t.sendLeaderAndISRSkipping(shrunk, func(broker int32, _ zkutil.TopicPartition) bool { return broker == id })
	if len(shrunk) > 0 {
		t.sendUpdateMetadata(shrunk, nil, nil)
	}
	for _, tp := range t.replicasOn(id) {
		if p := t.partition(tp); p.state.Leader == id && len(p.replicas) > 1 {
			rp := kmsg.NewControlledShutdownResponsePartitionsRemaining()
			rp.Topic, rp.Partition = tp.Topic, tp.Partition
			resp.PartitionsRemaining = append(resp.PartitionsRemaining, rp)
		}
	}
	log.WithField("remaining_partitions", len(resp.PartitionsRemaining)).Info("controlled shutdown step done")
	return resp, nil
}

// writeShutdownStates writes the states of a controlled shutdown of
// broker id behind the term's fence and returns the partitions whose state
// changed: those written, and those found changed by another writer (a
// version conflict), which are re-read and left to the broker's next
// attempt. An error matching zkutil.ErrEpochFenced means another
// controller took over.
func (t *term) writeShutdownStates(ctx context.Context, id int32, writes []zkutil.PartitionStateWrite) (tpSet, error) {
	changed := tpSet{}
	if len(writes) == 0 {
		return changed, nil
	}
	var reread []zkutil.TopicPartition
	for _, r := range t.c.cfg.ZK.SetPartitionStates(ctx, t.fence, writes) {
		p := t.partition(r.TopicPartition)
		switch {
		case r.Err == nil:
			p.state, p.zkVersion = r.State, r.ZkVersion
			changed[r.TopicPartition] = true
			t.stateLog(r.TopicPartition).WithFields(logrus.Fields{
				"leader": r.State.Leader, "leader_epoch": r.State.LeaderEpoch, "isr": r.State.ISR, "shutting_down": id,
			}).Info("partition state changed for a controlled shutdown")
		case errors.Is(r.Err, zkutil.ErrEpochFenced):
			return nil, r.Err
		case errors.Is(r.Err, zkutil.ErrVersionConflict):
			reread = append(reread, r.TopicPartition)
		default:
			t.log.WithError(r.Err).WithFields(logrus.Fields{"broker_id": id, "partition": r.TopicPartition.String()}).
				Warn("writing partition state failed")
		}
	}
	if len(reread) > 0 {
		if err := t.readStates(ctx, reread); err != nil {
			t.log.WithError(err).WithField("broker_id", id).Warn("re-reading partition states failed")
		}
		for _, tp := range reread {
			changed[tp] = true
		}
	}
	return changed, nil
}

// sendLeaderAndISRSkipping sends the live replicas of parts a LeaderAndIsr
// for the partitions they replicate, except where skip says so.
func (t *term) sendLeaderAndISRSkipping(parts tpSet, skip func(broker int32, tp zkutil.TopicPartition) bool) {
	perBroker := map[int32][]zkutil.TopicPartition{}
	for _, tp := range t.sortedPartitions() {
		p := t.partition(tp)
		if !parts[tp] || !p.hasState {
			continue
		}
		for _, r := range p.replicas {
			if t.alive(r) && !skip(r, tp) {
				perBroker[r] = append(perBroker[r], tp)
			}
		}
	}
	for id, tps := range perBroker {
		if s, ok := t.senders[id]; ok {
			s.enqueue(t.leaderAndISR(s.broker, tps, nil))
		}
	}
}

// stopReplicaKeep builds the StopReplica v3 that stops broker's replicas of
// tps (sorted) without deleting them. A partition whose state just changed
// (bumped) carries its new leader epoch; the others -1 (no epoch), since
// brokers refuse a StopReplica with the epoch they already hold
// (FENCED_LEADER_EPOCH, KIP-570).
func (t *term) stopReplicaKeep(broker zkutil.BrokerRegistration, tps []zkutil.TopicPartition, bumped tpSet) *kmsg.StopReplicaRequest {
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version = stopReplicaVersion
	req.ControllerID = t.c.cfg.BrokerID
	req.ControllerEpoch = t.epoch
	req.BrokerEpoch = broker.Epoch
	for _, tp := range tps {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewStopReplicaRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		ps := kmsg.NewStopReplicaRequestTopicPartitionState()
		ps.Partition = tp.Partition
		ps.LeaderEpoch = noEpoch
		if bumped[tp] {
			ps.LeaderEpoch = t.partition(tp).state.LeaderEpoch
		}
		ps.Delete = false
		rt := &req.Topics[len(req.Topics)-1]
		rt.PartitionStates = append(rt.PartitionStates, ps)
	}
	return req
}
