package server

import (
	"slices"
	"sync"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// noLeaderEpoch is the leader epoch of a Partition no LeaderAndIsr has
// reached yet, so that any epoch the controller sends (0 and up) is newer
// (Kafka's LeaderAndIsr.InitialLeaderEpoch - 1).
const noLeaderEpoch int32 = -1

// Partition is this broker's replica of one topic partition: the leadership
// state the controller last sent in LeaderAndIsr, and the local log.
//
// It follows Kafka 2.8's kafka.cluster.Partition. As leader it owns the high
// watermark: the minimum log end offset over the ISR (DESIGN.md section 5).
// With only itself in the ISR that is its own log end offset; followers and
// their log end offsets come with replication.
//
// Safe for concurrent use. The state changes (makeLeader, makeFollower) come
// from the replica manager, serialised by it; readers on the produce and
// fetch path take mu for reading. Lock order: Partition.mu -> Log's locks.
type Partition struct {
	topic     string                  // immutable
	partition int32                   // immutable
	brokerID  int32                   // immutable: this broker
	log       *logstore.Log           // immutable: created before the Partition
	stateLog  *logrus.Entry           // immutable: component=state_change
	tp        logstore.TopicPartition // immutable

	mu sync.RWMutex // guards the fields below
	// leader is the broker leading the partition, noLeader when unknown.
	leader int32
	// leaderEpoch is the epoch of the latest LeaderAndIsr accepted.
	leaderEpoch int32
	// isr is the in-sync replica set; only the leader tracks it (a
	// follower's is empty, as in Kafka).
	isr []int32
	// replicas is the full assignment, in preference order.
	replicas []int32
	// zkVersion is the version of the partition state znode the
	// controller wrote with this state; a leader's AlterIsr names it.
	zkVersion int32
	// controllerEpoch is the epoch of the controller that made the
	// leadership decision (not necessarily the one that sent it).
	controllerEpoch int32
}

// newPartition returns a partition over log that no LeaderAndIsr has
// reached yet: no leader, no epoch.
func newPartition(tp logstore.TopicPartition, brokerID int32, log *logstore.Log, stateLog *logrus.Entry) *Partition {
	return &Partition{
		topic:       tp.Topic,
		partition:   tp.Partition,
		brokerID:    brokerID,
		log:         log,
		tp:          tp,
		stateLog:    stateLog.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}),
		leader:      noLeader,
		leaderEpoch: noLeaderEpoch,
	}
}

// Log is the partition's local log.
func (p *Partition) Log() *logstore.Log { return p.log }

// TopicPartition names the partition.
func (p *Partition) TopicPartition() logstore.TopicPartition { return p.tp }

// LeaderEpoch is the epoch of the latest LeaderAndIsr accepted.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.leaderEpoch
}

// Leader is the broker leading the partition, -1 when unknown.
func (p *Partition) Leader() int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.leader
}

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.leader == p.brokerID
}

// ISR is a copy of the in-sync replica set (empty on a follower).
func (p *Partition) ISR() []int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.isr)
}

// Replicas is a copy of the assignment.
func (p *Partition) Replicas() []int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.replicas)
}

// ZkVersion is the partition state znode version of the current state.
func (p *Partition) ZkVersion() int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.zkVersion
}

// HighWatermark is the offset below which consumers may read.
func (p *Partition) HighWatermark() int64 { return p.log.HighWatermark() }

// checkLeaderEpochLocked fences a client request carrying the leader epoch
// it believes current (KIP-320): -1 means the client does not know and
// passes; an older epoch is FENCED_LEADER_EPOCH, a newer one
// UNKNOWN_LEADER_EPOCH (this broker has not heard of it yet).
func (p *Partition) checkLeaderEpochLocked(current int32) error {
	switch {
	case current == noLeaderEpoch || current == p.leaderEpoch:
		return nil
	case current < p.leaderEpoch:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}

// CheckLeader returns nil when this broker leads the partition at the
// client's current leader epoch (-1: any), NOT_LEADER_OR_FOLLOWER when it
// does not lead it, and FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH when
// the epochs disagree. Produce, ListOffsets and consumer Fetch call it.
func (p *Partition) CheckLeader(currentLeaderEpoch int32) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.leader != p.brokerID {
		return kerr.NotLeaderForPartition
	}
	return p.checkLeaderEpochLocked(currentLeaderEpoch)
}

// AppendRecordsToLeader appends a producer's or coordinator's batch as
// leader, stamped with the current leader epoch, and advances the high
// watermark as far as the ISR allows. The state lock is held for reading
// across the append, so that leadership cannot move halfway (Kafka's
// Partition.appendRecordsToLeader holds leaderIsrUpdateLock the same way).
func (p *Partition) AppendRecordsToLeader(batch []byte, origin logstore.AppendOrigin) (logstore.AppendInfo, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.leader != p.brokerID {
		return logstore.AppendInfo{}, kerr.NotLeaderForPartition
	}
	// TODO(issue 4): refuse acks=all with NOT_ENOUGH_REPLICAS when the
	// ISR is smaller than min.insync.replicas (the caller passes acks).
	info, err := p.log.Append(batch, logstore.AppendOptions{Origin: origin, LeaderEpoch: p.leaderEpoch})
	if err != nil {
		return info, err
	}
	p.maybeIncrementHighWatermarkLocked()
	return info, nil
}

// makeLeader applies a LeaderAndIsr partition state naming this broker the
// leader, whose leader epoch the replica manager has checked is newer. It
// reports whether this broker was not the leader before (Kafka's
// Partition.makeLeader).
func (p *Partition) makeLeader(st *kmsg.LeaderAndISRRequestTopicPartition) (isNewLeader bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasLeader := p.leader == p.brokerID
	p.applyStateLocked(st)
	p.isr = slices.Clone(st.ISR)
	// TODO(issue 4): record (leader epoch, log end offset) in the
	// leader-epoch-checkpoint (Kafka's maybeAssignEpochStartOffset), and
	// reset the followers' log end offsets and last-caught-up times so
	// that followers must fetch again before the high watermark counts
	// them.
	p.maybeIncrementHighWatermarkLocked()
	p.stateLog.WithFields(logrus.Fields{
		"leader_epoch":     p.leaderEpoch,
		"controller_epoch": p.controllerEpoch,
		"zk_version":       p.zkVersion,
		"isr":              p.isr,
		"replicas":         p.replicas,
		"high_watermark":   p.log.HighWatermark(),
		"log_end_offset":   p.log.LogEndOffset(),
	}).Info("became leader")
	return !wasLeader
}

// makeFollower applies a LeaderAndIsr partition state naming another broker
// (or none) the leader. It reports whether the leader or its epoch changed,
// that is whether the follower must (re)start fetching (Kafka's
// Partition.makeFollower). A follower keeps no ISR: only the leader does.
func (p *Partition) makeFollower(st *kmsg.LeaderAndISRRequestTopicPartition) (changed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	changed = p.leader != st.Leader || p.leaderEpoch != st.LeaderEpoch
	p.applyStateLocked(st)
	p.isr = nil
	// TODO(issue 4): the replica manager truncates the log (after
	// OffsetForLeaderEpoch, KIP-279) and starts a fetcher from the new
	// leader; the follower's high watermark then follows the leader's.
	p.stateLog.WithFields(logrus.Fields{
		"leader":           p.leader,
		"leader_epoch":     p.leaderEpoch,
		"controller_epoch": p.controllerEpoch,
		"zk_version":       p.zkVersion,
	}).Info("became follower")
	return changed
}

// applyStateLocked records what makeLeader and makeFollower share.
func (p *Partition) applyStateLocked(st *kmsg.LeaderAndISRRequestTopicPartition) {
	p.leader = st.Leader
	p.leaderEpoch = st.LeaderEpoch
	p.controllerEpoch = st.ControllerEpoch
	p.zkVersion = st.ZKVersion
	p.replicas = slices.Clone(st.Replicas)
}

// maybeIncrementHighWatermarkLocked moves a leader's high watermark to the
// minimum log end offset over the ISR. With the leader alone in the ISR that
// is the log end offset; the high watermark never moves back.
func (p *Partition) maybeIncrementHighWatermarkLocked() {
	if p.leader != p.brokerID {
		return
	}
	// TODO(issue 4): take the minimum over the followers' log end offsets
	// (from their fetch offsets) for every ISR member, not only this one.
	if len(p.isr) != 1 || p.isr[0] != p.brokerID {
		return
	}
	if leo := p.log.LogEndOffset(); leo > p.log.HighWatermark() {
		p.log.SetHighWatermark(leo)
	}
}
