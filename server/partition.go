package server

import (
	"fmt"
	"slices"
	"sync"
	"time"

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
// It follows Kafka 2.8's kafka.cluster.Partition (DESIGN.md section 5). As
// leader it tracks each follower's log end offset and last caught-up time
// from the follower's fetches, owns the high watermark (the minimum log end
// offset over the ISR), and proposes ISR changes to the controller: a
// follower that reaches the high watermark joins, one that has not caught
// up for replica.lag.time.max.ms leaves. While a proposal is in flight the
// ISR used for the high watermark is the larger of the two ("maximal ISR",
// as Kafka's PendingExpandIsr and PendingShrinkIsr), so that the high
// watermark never counts on a replica the controller has not confirmed, and
// no second proposal is made. As follower it only holds the state; the
// replica fetcher appends to its log.
//
// Safe for concurrent use. The state changes (makeLeader, makeFollower) come
// from the replica manager, serialised by it; appends take mu for reading,
// follower fetches and ISR changes for writing. Lock order: Partition.mu ->
// Log's locks.
type Partition struct {
	topic     string                  // immutable
	partition int32                   // immutable
	brokerID  int32                   // immutable: this broker
	log       *logstore.Log           // immutable: created before the Partition
	stateLog  *logrus.Entry           // immutable: component=state_change
	tp        logstore.TopicPartition // immutable
	repl      replicationConfig       // immutable

	mu sync.RWMutex // guards the fields below
	// leader is the broker leading the partition, noLeader when unknown.
	leader int32
	// leaderEpoch is the epoch of the latest LeaderAndIsr accepted.
	leaderEpoch int32
	// isr is the in-sync replica set the controller last confirmed; only
	// the leader tracks it (a follower's is empty, as in Kafka).
	isr []int32
	// pendingISR is the ISR proposed to the controller and not yet
	// answered, nil when none is in flight.
	pendingISR []int32
	// replicas is the full assignment, in preference order.
	replicas []int32
	// zkVersion is the version of the partition state znode the
	// controller wrote with this state; a leader's AlterIsr names it.
	zkVersion int32
	// controllerEpoch is the epoch of the controller that made the
	// leadership decision (not necessarily the one that sent it).
	controllerEpoch int32
	// followers is the leader's view of the other replicas, by broker id.
	followers map[int32]*followerState
	// leaderEpochStartOffset is the log end offset when this broker
	// became leader at leaderEpoch: a follower must reach it to join the
	// ISR (its log then holds the leader's epoch history).
	leaderEpochStartOffset int64
}

// replicationConfig is what a Partition needs of the broker's replication
// settings and services.
type replicationConfig struct {
	// lagTimeMax is replica.lag.time.max.ms.
	lagTimeMax time.Duration
	// now is the clock.
	now func() time.Time
	// proposeISR hands an ISR change to the AlterIsr sender. It is called
	// with the partition's lock held and must not block or call back.
	proposeISR func(p *Partition, leaderEpoch int32, newISR []int32, zkVersion int32)
}

// followerState is the leader's view of one follower (Kafka's Replica).
type followerState struct {
	// logEndOffset is the follower's fetch offset; -1 until it fetches
	// from this leader.
	logEndOffset   int64
	logStartOffset int64
	// lastCaughtUpTime is the last time the follower had everything the
	// leader had; zero when never.
	lastCaughtUpTime time.Time
	// lastFetchLeaderLogEndOffset and lastFetchTime are the leader's log
	// end offset and the time at the follower's previous fetch.
	lastFetchLeaderLogEndOffset int64
	lastFetchTime               time.Time
}

// newPartition returns a partition over log that no LeaderAndIsr has
// reached yet: no leader, no epoch.
func newPartition(tp logstore.TopicPartition, brokerID int32, log *logstore.Log, stateLog *logrus.Entry, repl replicationConfig) *Partition {
	if repl.now == nil {
		repl.now = time.Now
	}
	if repl.lagTimeMax <= 0 {
		repl.lagTimeMax = 30 * time.Second // replica.lag.time.max.ms
	}
	if repl.proposeISR == nil {
		repl.proposeISR = func(*Partition, int32, []int32, int32) {}
	}
	return &Partition{
		repl:        repl,
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
// watermark as far as the ISR allows (reported by hwMoved: the caller wakes
// what waits on the partition). With acks -1 the append is refused with
// NOT_ENOUGH_REPLICAS when the ISR is smaller than min.insync.replicas
// (Kafka checks the confirmed ISR, not the maximal one). The state lock is
// held for reading across the append, so that leadership cannot move
// halfway (Kafka's Partition.appendRecordsToLeader holds leaderIsrUpdateLock
// the same way).
func (p *Partition) AppendRecordsToLeader(batch []byte, origin logstore.AppendOrigin, acks int16) (info logstore.AppendInfo, hwMoved bool, err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.leader != p.brokerID {
		return logstore.AppendInfo{}, false, kerr.NotLeaderForPartition
	}
	if minISR := p.log.Config().MinInSyncReplicas; acks == -1 && len(p.isr) < minISR {
		return logstore.AppendInfo{}, false, fmt.Errorf("the ISR %v of %s is smaller than min.insync.replicas=%d: %w",
			p.isr, p.tp, minISR, kerr.NotEnoughReplicas)
	}
	info, err = p.log.Append(batch, logstore.AppendOptions{Origin: origin, LeaderEpoch: p.leaderEpoch})
	if err != nil {
		return info, false, err
	}
	return info, p.maybeIncrementHighWatermarkLocked(), nil
}

// checkReplicated says whether an acks=-1 produce whose records end before
// requiredOffset can be answered, and with what (Kafka's
// Partition.checkEnoughReplicasReachOffset): NOT_LEADER_OR_FOLLOWER once
// this broker no longer leads; once the high watermark passed the records,
// NONE, or NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below
// min.insync.replicas meanwhile; otherwise not done.
func (p *Partition) checkReplicated(requiredOffset int64) (done bool, err error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.leader != p.brokerID {
		return true, kerr.NotLeaderForPartition
	}
	if p.log.HighWatermark() < requiredOffset {
		return false, nil
	}
	if minISR := p.log.Config().MinInSyncReplicas; len(p.isr) < minISR {
		return true, kerr.NotEnoughReplicasAfterAppend
	}
	return true, nil
}

// makeLeader applies a LeaderAndIsr partition state naming this broker the
// leader, whose leader epoch the replica manager has checked is newer
// (Kafka's Partition.makeLeader). The new epoch starts at the log end
// offset in the epoch history at once, so that a follower asking
// OffsetForLeaderEpoch about a later epoch of its own gets this one's start.
// ISR members count as caught up now; the others not until they catch up. A
// broker that was not the leader forgets what it knew of the followers'
// log end offsets: they must fetch from it before the high watermark counts
// them. It reports whether this broker was not the leader before, and
// whether the high watermark moved.
func (p *Partition) makeLeader(st *kmsg.LeaderAndISRRequestTopicPartition) (isNewLeader, hwMoved bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wasLeader := p.leader == p.brokerID
	p.applyStateLocked(st)
	p.isr = slices.Clone(st.ISR)
	p.leaderEpochStartOffset = p.log.LogEndOffset()
	if err := p.log.AssignEpochStartOffset(p.leaderEpoch, p.leaderEpochStartOffset); err != nil {
		return !wasLeader, false, err
	}
	now := p.repl.now()
	old := p.followers
	p.followers = make(map[int32]*followerState, len(p.replicas))
	for _, id := range p.replicas {
		if id == p.brokerID {
			continue
		}
		f := &followerState{logEndOffset: -1, logStartOffset: -1, lastFetchLeaderLogEndOffset: p.leaderEpochStartOffset, lastFetchTime: now}
		if prev, ok := old[id]; ok && wasLeader {
			f.logEndOffset, f.logStartOffset = prev.logEndOffset, prev.logStartOffset
		}
		if slices.Contains(p.isr, id) {
			f.lastCaughtUpTime = now
		}
		p.followers[id] = f
	}
	hwMoved = p.maybeIncrementHighWatermarkLocked()
	p.stateLog.WithFields(logrus.Fields{
		"leader_epoch":     p.leaderEpoch,
		"controller_epoch": p.controllerEpoch,
		"zk_version":       p.zkVersion,
		"isr":              p.isr,
		"replicas":         p.replicas,
		"high_watermark":   p.log.HighWatermark(),
		"log_end_offset":   p.log.LogEndOffset(),
	}).Info("became leader")
	return !wasLeader, hwMoved, nil
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
	p.followers = nil
	p.stateLog.WithFields(logrus.Fields{
		"leader":           p.leader,
		"leader_epoch":     p.leaderEpoch,
		"controller_epoch": p.controllerEpoch,
		"zk_version":       p.zkVersion,
		"log_end_offset":   p.log.LogEndOffset(),
	}).Info("became follower")
	return changed
}

// applyStateLocked records what makeLeader and makeFollower share. A new
// state from the controller supersedes any ISR change in flight.
func (p *Partition) applyStateLocked(st *kmsg.LeaderAndISRRequestTopicPartition) {
	p.leader = st.Leader
	p.leaderEpoch = st.LeaderEpoch
	p.controllerEpoch = st.ControllerEpoch
	p.zkVersion = st.ZKVersion
	p.replicas = slices.Clone(st.Replicas)
	p.pendingISR = nil
}

// maximalISRLocked is the ISR the high watermark waits for: the confirmed
// ISR together with a proposal in flight.
func (p *Partition) maximalISRLocked() []int32 {
	if p.pendingISR == nil {
		return p.isr
	}
	out := slices.Clone(p.isr)
	for _, id := range p.pendingISR {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// maybeIncrementHighWatermarkLocked moves a leader's high watermark up to the
// minimum log end offset over the maximal ISR (DESIGN.md section 5). A
// follower of the ISR that has not fetched from this leader yet holds it
// where it is. It reports whether it moved; it never moves back. Callers
// hold mu for reading at least.
//
// Kafka 2.8 also counts followers outside the ISR that caught up within
// replica.lag.time.max.ms. Gregor does not: a broker that has just left
// after a controlled shutdown (it followed the new leader until it stopped)
// would hold the high watermark, and every acks=all produce, for up to the
// lag time. The maximal ISR already covers a follower about to join.
func (p *Partition) maybeIncrementHighWatermarkLocked() bool {
	if p.leader != p.brokerID {
		return false
	}
	hw := p.log.LogEndOffset()
	for _, id := range p.maximalISRLocked() {
		if f, ok := p.followers[id]; ok && f.logEndOffset < hw {
			hw = f.logEndOffset
		}
	}
	return p.log.MaybeIncrementHighWatermark(hw)
}

// updateFollowerFetchState records a follower's fetch at fetchOffset, read
// while the leader's log ended at leaderEndOffset (Kafka's
// Partition.updateFollowerFetchState): the follower's log end offset, and
// when it last caught up — now if it asked for everything, or the time of
// its previous fetch if it has since reached what the leader had then. It
// may propose the follower for the ISR and move the high watermark
// (reported). A replica that is not assigned to the partition, or a broker
// that does not lead it, is ignored (ok false), as in Kafka.
func (p *Partition) updateFollowerFetchState(replicaID int32, fetchOffset, followerStartOffset, leaderEndOffset int64) (ok, hwMoved bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, known := p.followers[replicaID]
	if p.leader != p.brokerID || !known {
		return false, false
	}
	now := p.repl.now()
	switch {
	case fetchOffset >= leaderEndOffset:
		f.lastCaughtUpTime = maxTime(f.lastCaughtUpTime, now)
	case fetchOffset >= f.lastFetchLeaderLogEndOffset:
		f.lastCaughtUpTime = maxTime(f.lastCaughtUpTime, f.lastFetchTime)
	}
	f.logEndOffset, f.logStartOffset = fetchOffset, followerStartOffset
	f.lastFetchLeaderLogEndOffset, f.lastFetchTime = leaderEndOffset, now
	p.maybeExpandISRLocked(replicaID, f)
	return true, p.maybeIncrementHighWatermarkLocked()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maybeExpandISRLocked proposes adding a follower to the ISR once its log
// reaches the high watermark and the start of this leader's epoch (Kafka's
// maybeExpandIsr); not while another proposal is in flight.
func (p *Partition) maybeExpandISRLocked(id int32, f *followerState) {
	if p.pendingISR != nil || slices.Contains(p.isr, id) {
		return
	}
	if f.logEndOffset < p.log.HighWatermark() || f.logEndOffset < p.leaderEpochStartOffset {
		return
	}
	newISR := append(slices.Clone(p.isr), id)
	p.stateLog.WithFields(logrus.Fields{
		"isr": p.isr, "new_isr": newISR, "follower": id, "follower_log_end_offset": f.logEndOffset,
	}).Info("expanding the ISR")
	p.proposeISRLocked(newISR)
}

// maybeShrinkISR proposes removing from the ISR the followers that have not
// caught up for replica.lag.time.max.ms and are behind the leader's log
// end (Kafka's maybeShrinkIsr; the replica manager calls it every half
// lag time). It reports whether the high watermark moved.
func (p *Partition) maybeShrinkISR() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader != p.brokerID || p.pendingISR != nil {
		return false
	}
	now, leo := p.repl.now(), p.log.LogEndOffset()
	var out []int32
	for _, id := range p.isr {
		f, ok := p.followers[id]
		if id == p.brokerID || !ok {
			continue
		}
		if f.logEndOffset != leo && now.Sub(f.lastCaughtUpTime) > p.repl.lagTimeMax {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return false
	}
	newISR := slices.DeleteFunc(slices.Clone(p.isr), func(id int32) bool { return slices.Contains(out, id) })
	p.stateLog.WithFields(logrus.Fields{
		"isr": p.isr, "new_isr": newISR, "out_of_sync": out, "log_end_offset": leo, "high_watermark": p.log.HighWatermark(),
	}).Info("shrinking the ISR")
	p.proposeISRLocked(newISR)
	return p.maybeIncrementHighWatermarkLocked()
}

func (p *Partition) proposeISRLocked(newISR []int32) {
	p.pendingISR = newISR
	p.repl.proposeISR(p, p.leaderEpoch, slices.Clone(newISR), p.zkVersion)
}

// onISRChangeAnswered applies the controller's answer to an ISR proposal
// made at leaderEpoch (Kafka's handleAlterIsrResponse). Accepted, the ISR
// and znode version become the controller's. An answer for an older epoch,
// or to a broker that no longer leads, is ignored. Refused with
// INVALID_UPDATE_VERSION or FENCED_LEADER_EPOCH, the proposal was stale:
// the controller has sent (or will send) a LeaderAndIsr with the fresh
// state, and the next fetch or lag check proposes again from it. Any other
// failure also clears the proposal, so that it is made again. It reports
// whether the high watermark moved.
func (p *Partition) onISRChangeAnswered(leaderEpoch int32, newISR []int32, zkVersion int32, err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader != p.brokerID || p.leaderEpoch != leaderEpoch || p.pendingISR == nil {
		return false
	}
	p.pendingISR = nil
	if err != nil {
		p.stateLog.WithError(err).WithField("isr", p.isr).Warn("the controller refused the ISR change")
		return false
	}
	p.isr, p.zkVersion = slices.Clone(newISR), zkVersion
	p.stateLog.WithFields(logrus.Fields{"isr": p.isr, "zk_version": zkVersion}).Info("ISR changed")
	return p.maybeIncrementHighWatermarkLocked()
}

// updateFollowerHighWatermark is a follower's high watermark after a fetch:
// the leader's, capped at the local log end offset.
func (p *Partition) updateFollowerHighWatermark(leaderHW int64) {
	p.log.SetHighWatermark(max(leaderHW, 0))
}
