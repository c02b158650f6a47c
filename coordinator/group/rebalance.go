package group

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ---- session timers (Kafka's DelayedHeartbeat) ----

// scheduleSession (re)arms m's session timer: m must heartbeat (or
// join/sync) within its session timeout, or within the new-member join
// timeout while it is new and waiting in its first JoinGroup.
func (g *group) scheduleSession(m *member) {
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
	}
	d := m.sessionTimeout
	if m.isNew {
		d = newMemberJoinTimeout
	}
	var t Timer
	t = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.unlock()
		if g.state == stateDead || g.members[m.id] != m || m.sessionTimer != t {
			return // stale: rescheduled, removed or unloaded meanwhile
		}
		m.sessionTimer = nil
		// Kafka's hasSatisfiedHeartbeat: a member waiting in JoinGroup or
		// SyncGroup is alive (unless it is new); its timer is armed again
		// when that request is answered.
		if !m.isNew && (m.awaitingJoin() || m.awaitingSync()) {
			return
		}
		g.c.lg.WithFields(map[string]any{"group": g.id, "member_id": m.id}).Info("member session expired")
		g.removeMemberLocked(m)
		g.afterMemberRemoved()
	})
	m.sessionTimer = t
}

// afterMemberRemoved is what Kafka's removeMemberAndUpdateGroup does once
// a member is gone.
func (g *group) afterMemberRemoved() {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance()
	case statePreparingRebalance:
		g.tryCompleteJoin()
	}
}

// ---- the join phase (Kafka's DelayedJoin and InitialDelayedJoin) ----

func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

func (g *group) cancelJoinTimer() {
	g.joinSeq++
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
}

func (g *group) armJoinTimer(d time.Duration) {
	g.cancelJoinTimer()
	seq := g.joinSeq
	g.joinTimer = g.c.clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer g.unlock()
		if g.joinSeq != seq || g.state != statePreparingRebalance {
			return
		}
		g.joinTimer = nil
		if g.initialJoin && g.newMemberSeen && g.joinRemaining > 0 {
			// InitialDelayedJoin: members keep arriving, wait another
			// delay, up to the rebalance timeout in all.
			g.newMemberSeen = false
			delay := min(g.c.cfg.InitialRebalanceDelay, g.joinRemaining)
			g.joinRemaining = max(g.joinRemaining-delay, 0)
			g.armJoinTimer(delay)
			return
		}
		g.completeJoin()
	})
}

// prepareRebalance is Kafka's prepareRebalance: parked SyncGroups of a
// CompletingRebalance group get REBALANCE_IN_PROGRESS, and the join phase
// starts, with the initial delay when the group was Empty.
func (g *group) prepareRebalance() {
	if g.state == stateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			g.answerSync(m, kerr.RebalanceInProgress.Code)
		}
	}
	initial := g.state == stateEmpty
	g.transition(statePreparingRebalance)
	g.initialJoin = initial
	g.newMemberSeen = false
	if initial {
		d := g.c.cfg.InitialRebalanceDelay
		g.joinRemaining = max(g.rebalanceTimeout()-d, 0)
		g.armJoinTimer(d)
		return
	}
	g.armJoinTimer(g.rebalanceTimeout())
	// Kafka's tryCompleteElseWatch: done at once if nobody is missing
	// (for instance the last member left).
	g.tryCompleteJoin()
}

func (g *group) maybePrepareRebalance() {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		g.prepareRebalance()
	}
}

// tryCompleteJoin completes the join phase early once every member has
// rejoined and no KIP-394 member id is outstanding (not during the initial
// delay, which always runs out).
func (g *group) tryCompleteJoin() {
	if g.state != statePreparingRebalance || g.initialJoin {
		return
	}
	if g.awaitingJoin == len(g.members) && len(g.pending) == 0 {
		g.cancelJoinTimer()
		g.completeJoin()
	}
}

// completeJoin is Kafka's onCompleteJoin: dynamic members that did not
// rejoin are removed, a leader is chosen among those that did, the next
// generation starts and every parked JoinGroup is answered (the leader's
// with the member list). With nobody left the group becomes Empty and the
// end of the generation is written to the log.
func (g *group) completeJoin() {
	for _, id := range append([]string(nil), g.order...) {
		m := g.members[id]
		if !m.awaitingJoin() && m.instanceID == nil {
			g.removeMemberLocked(m)
		}
	}
	if g.state == stateDead {
		return
	}
	if g.leader != "" && !g.members[g.leader].awaitingJoin() {
		g.leader = ""
		for _, id := range g.order {
			if g.members[id].awaitingJoin() {
				g.leader = id
				break
			}
		}
	}
	if g.leader == "" && len(g.members) > 0 {
		// Only static members that did not rejoin are left: wait another
		// rebalance timeout for them to rejoin or expire.
		g.initialJoin = false
		g.armJoinTimer(g.rebalanceTimeout())
		return
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.subscribed = nil
		g.transition(stateEmpty)
		g.storeGroup(nil, func(code int16) {
			if code != 0 {
				g.c.lg.WithFields(map[string]any{"group": g.id, "error_code": code}).Warn("writing the empty group failed")
			}
		})
		return
	}
	g.protocol = g.selectProtocol()
	g.subscribed = g.computeSubscribed()
	g.transition(stateCompletingRebalance)
	for _, id := range g.order {
		m := g.members[id]
		if m.awaitingJoin() {
			g.answerJoin(m, g.joinResult(m, m.joinVersion, id == g.leader))
		}
		m.isNew = false
		g.scheduleSession(m)
	}
}

// ---- writing the group (Kafka's storeGroup) ----

// groupValue is the metadata record of g, with assignments (nil: the
// members' current ones).
func (g *group) groupValue(assignments map[string][]byte) *kmsg.GroupMetadataValue {
	v := new(kmsg.GroupMetadataValue)
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" && len(g.members) > 0 {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, id := range g.order {
		m := g.members[id]
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.host
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadata(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		a, ok := assignments[m.id]
		if !ok {
			a = m.assignment
		}
		if a == nil {
			a = []byte{}
		}
		vm.Assignment = a
		v.Members = append(v.Members, vm)
	}
	return v
}

// storeGroup appends g's metadata record (after the lock is released)
// and calls done under g's lock with the error code mapped as Kafka's
// storeGroup maps it.
func (g *group) storeGroup(assignments map[string][]byte, done func(code int16)) {
	now := g.c.clock.Now().UnixMilli()
	rec := Record{Timestamp: now, Key: encodeGroupKey(g.id), Value: encodeGroupValue(g.groupValue(assignments))}
	g.appendRecords([]Record{rec}, func(err error) {
		done(mapStoreGroupError(err))
	})
}

// appendRecords appends recs to g's partition once the lock is released
// and runs done under the lock when the append finished.
func (g *group) appendRecords(recs []Record, done func(err error)) {
	p := g.part.id
	g.defer_(func() {
		g.c.log.Append(p, recs, func(err error) {
			g.mu.Lock()
			defer g.unlock()
			done(err)
		})
	})
}

func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if asKerr(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

func mapStoreGroupError(err error) int16 {
	switch c := errCode(err); c {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.RequestTimedOut.Code:
		return kerr.RebalanceInProgress.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.UnknownServerError.Code
	default:
		return c
	}
}

func mapStoreOffsetsError(err error) int16 {
	switch c := errCode(err); c {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.InvalidCommitOffsetSize.Code
	default:
		return c
	}
}
