package group

import (
	"crypto/rand"
	"fmt"
	"maps"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newMemberID is Kafka's generateMemberId: the client id (or the group
// instance id of a static member) and a random UUID.
func newMemberID(clientID string, instanceID *string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// JoinGroup serves JoinGroup (key 11), v0-v7 as Kafka 2.8's
// handleJoinGroup.
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, client ClientInfo, respond func(*kmsg.JoinGroupResponse)) {
	fail := func(code int16) { respond(joinErrorResponse(req.Version, req.MemberID, code)) }
	if code := c.validate(req.Group, false); code != 0 {
		fail(code)
		return
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		_, _, code := c.lookup(req.Group, false)
		if code == 0 {
			code = kerr.InvalidSessionTimeout.Code
		}
		fail(code)
		return
	}
	unknown := req.MemberID == ""
	_, g, code := c.lookup(req.Group, unknown)
	if code != 0 {
		fail(code)
		return
	}
	if g == nil {
		// A member id for a group that does not exist.
		fail(kerr.UnknownMemberID.Code)
		return
	}
	rebalance := time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	if req.Version == 0 {
		rebalance = session
	}
	var instanceID *string
	if req.Version >= 5 && req.InstanceID != nil {
		id := *req.InstanceID
		instanceID = &id
	}
	protos := make([]protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		protos[i] = protocol{name: p.Name, metadata: p.Metadata}
	}
	m := &member{
		id:               req.MemberID,
		instanceID:       instanceID,
		clientID:         client.ClientID,
		host:             client.Host,
		rebalanceTimeout: rebalance,
		sessionTimeout:   session,
		protocolType:     req.ProtocolType,
		protocols:        protos,
		joinVersion:      req.Version,
		joinRespond:      respond,
	}
	requireKnownID := req.Version >= 4 && instanceID == nil

	g.mu.Lock()
	defer g.unlock()
	if g.state == stateDead {
		// Removed meanwhile (deleted, expired or unloaded): let the client
		// find the coordinator again.
		g.defer_(func() { fail(kerr.CoordinatorNotAvailable.Code) })
		return
	}
	if existing := g.members[req.MemberID]; unknown && len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize ||
		existing != nil && len(g.members) > c.cfg.MaxGroupSize && !existing.awaitingJoin() {
		// Kafka: refuse new members of a full group, and shed members of an
		// oversized one (after a max size decrease) that have not rejoined.
		if existing != nil {
			g.removeMemberLocked(existing)
			g.afterMemberRemoved()
		}
		g.defer_(func() { respond(joinErrorResponse(req.Version, "", kerr.GroupMaxSizeReached.Code)) })
		return
	}
	if !g.supportsProtocols(req.ProtocolType, protos) {
		g.defer_(func() { fail(kerr.InconsistentGroupProtocol.Code) })
		return
	}
	if unknown {
		g.joinUnknown(m, requireKnownID)
	} else {
		g.joinKnown(m)
	}
	if g.state == statePreparingRebalance {
		g.tryCompleteJoin()
	}
}

// joinUnknown is Kafka's doUnknownJoinGroup.
func (g *group) joinUnknown(m *member, requireKnownID bool) {
	m.id = newMemberID(m.clientID, m.instanceID)
	if m.instanceID != nil {
		if old, ok := g.static[*m.instanceID]; ok {
			g.replaceStatic(g.members[old], m)
			return
		}
	}
	if requireKnownID {
		// KIP-394: hand out the id; the member must come back with it
		// within its session timeout.
		id := m.id
		g.pending[id] = g.c.clock.AfterFunc(m.sessionTimeout, func() {
			g.mu.Lock()
			defer g.unlock()
			if _, ok := g.pending[id]; !ok || g.state == stateDead {
				return
			}
			delete(g.pending, id)
			g.tryCompleteJoin()
		})
		respond, v := m.joinRespond, m.joinVersion
		g.defer_(func() { respond(joinErrorResponse(v, id, kerr.MemberIDRequired.Code)) })
		return
	}
	g.addMemberAndRebalance(m)
}

// replaceStatic is Kafka's static member rejoin with an unknown member
// id: the new member id takes over old's place; the old id is fenced.
// In Stable or CompletingRebalance no rebalance happens (KIP-345) unless
// the member's protocols changed the group's choice.
func (g *group) replaceStatic(old, m *member) {
	if old.awaitingJoin() {
		g.answerJoin(old, g.joinError(old.joinVersion, old.id, kerr.FencedInstanceID.Code))
	}
	if old.awaitingSync() {
		g.answerSync(old, kerr.FencedInstanceID.Code)
	}
	if old.sessionTimer != nil {
		old.sessionTimer.Stop()
		old.sessionTimer = nil
	}
	prevLeader := g.leader
	swap := func(from, to *member) {
		delete(g.members, from.id)
		g.members[to.id] = to
		for i, id := range g.order {
			if id == from.id {
				g.order[i] = to.id
			}
		}
		if g.leader == from.id {
			g.leader = to.id
		}
		g.static[*to.instanceID] = to.id
		if to.awaitingJoin() {
			g.awaitingJoin++
		}
		if from.awaitingJoin() {
			g.awaitingJoin--
		}
	}
	m.assignment = old.assignment
	oldProtocols := old.protocols
	swap(old, m)

	switch g.state {
	case statePreparingRebalance:
		g.scheduleSession(m)
	case stateCompletingRebalance:
		g.scheduleSession(m)
		r := g.joinResult(m, m.joinVersion, false)
		r.LeaderID = prevLeader // so that the old leader does not assign again
		g.answerJoin(m, r)
	case stateStable:
		if sel := g.selectProtocol(); sel != g.protocol || !sameProtocolNames(oldProtocols, m.protocols) {
			g.scheduleSession(m)
			g.prepareRebalance()
			return
		}
		g.scheduleSession(m)
		// Kafka 2.8 writes the group with the new member id before
		// answering, and puts the old id back when that fails.
		gen := g.generation
		g.storeGroup(nil, func(code int16) {
			if g.state == stateDead || g.members[m.id] != m {
				return
			}
			if code != 0 {
				g.answerJoin(m, g.joinError(m.joinVersion, m.id, code))
				if g.generation == gen && g.state == stateStable {
					if m.sessionTimer != nil {
						m.sessionTimer.Stop()
						m.sessionTimer = nil
					}
					swap(m, old)
					g.scheduleSession(old)
				}
				return
			}
			r := g.joinResult(m, m.joinVersion, false)
			r.LeaderID = prevLeader
			g.answerJoin(m, r)
		})
	}
}

func sameProtocolNames(a, b []protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name {
			return false
		}
	}
	return true
}

// addMemberAndRebalance is Kafka's addMemberAndRebalance.
func (g *group) addMemberAndRebalance(m *member) {
	m.isNew = true
	if g.state == statePreparingRebalance && g.initialJoin {
		g.newMemberSeen = true
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	g.addMemberLocked(m)
	g.scheduleSession(m)
	g.maybePrepareRebalance()
}

// updateMemberAndRebalance is Kafka's updateMemberAndRebalance: the
// member's protocols are replaced and it waits for the rebalance.
func (g *group) updateMemberAndRebalance(cur, m *member) {
	cur.protocols = m.protocols
	cur.rebalanceTimeout = m.rebalanceTimeout
	cur.sessionTimeout = m.sessionTimeout
	cur.clientID, cur.host = m.clientID, m.host
	if cur.awaitingJoin() {
		// A retried JoinGroup replaces the parked one, which is answered
		// REBALANCE_IN_PROGRESS (every request is answered once).
		g.answerJoin(cur, g.joinError(cur.joinVersion, cur.id, kerr.RebalanceInProgress.Code))
	}
	cur.joinRespond, cur.joinVersion = m.joinRespond, m.joinVersion
	g.awaitingJoin++
	g.maybePrepareRebalance()
}

// joinKnown is Kafka's doJoinGroup: a member id was given.
func (g *group) joinKnown(m *member) {
	if _, ok := g.pending[m.id]; ok {
		g.pending[m.id].Stop()
		delete(g.pending, m.id)
		g.addMemberAndRebalance(m)
		return
	}
	respondErr := func(code int16) {
		respond, v, id := m.joinRespond, m.joinVersion, m.id
		g.defer_(func() { respond(joinErrorResponse(v, id, code)) })
	}
	if g.fenced(m.id, m.instanceID) {
		respondErr(kerr.FencedInstanceID.Code)
		return
	}
	cur := g.members[m.id]
	if cur == nil || m.instanceID != nil && g.static[*m.instanceID] == "" {
		respondErr(kerr.UnknownMemberID.Code)
		return
	}
	switch g.state {
	case statePreparingRebalance:
		g.updateMemberAndRebalance(cur, m)
	case stateCompletingRebalance:
		if cur.matches(m.protocols) {
			// The member lost the JoinGroup answer: send it again.
			r := g.joinResult(cur, m.joinVersion, cur.id == g.leader)
			respond := m.joinRespond
			g.defer_(func() { respond(r) })
			return
		}
		g.updateMemberAndRebalance(cur, m)
	case stateStable:
		if cur.id == g.leader || !cur.matches(m.protocols) {
			// The leader rejoining or changed metadata forces a rebalance.
			g.updateMemberAndRebalance(cur, m)
			return
		}
		r := g.joinResult(cur, m.joinVersion, false)
		respond := m.joinRespond
		g.defer_(func() { respond(r) })
	case stateEmpty:
		respondErr(kerr.UnknownMemberID.Code)
	}
}

// SyncGroup serves SyncGroup (key 14), v0-v5 as Kafka 2.8's
// handleSyncGroup.
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	fail := func(code int16) {
		r := kmsg.NewPtrSyncGroupResponse()
		r.Version = req.Version
		r.ErrorCode = code
		r.MemberAssignment = []byte{}
		respond(r)
	}
	if code := c.validate(req.Group, false); code != 0 {
		fail(code)
		return
	}
	_, g, code := c.lookup(req.Group, false)
	if code != 0 {
		fail(code)
		return
	}
	if g == nil {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	g.mu.Lock()
	defer g.unlock()
	errOut := func(code int16) { g.defer_(func() { fail(code) }) }
	m := g.members[req.MemberID]
	switch {
	case g.state == stateDead:
		errOut(kerr.CoordinatorNotAvailable.Code)
		return
	case g.fenced(req.MemberID, instanceID):
		errOut(kerr.FencedInstanceID.Code)
		return
	case m == nil:
		errOut(kerr.UnknownMemberID.Code)
		return
	case req.Generation != g.generation:
		errOut(kerr.IllegalGeneration.Code)
		return
	case req.Version >= 5 && (req.ProtocolType != nil && *req.ProtocolType != g.protocolType ||
		req.Protocol != nil && *req.Protocol != g.protocol):
		errOut(kerr.InconsistentGroupProtocol.Code)
		return
	}
	switch g.state {
	case stateEmpty:
		errOut(kerr.UnknownMemberID.Code)
	case statePreparingRebalance:
		errOut(kerr.RebalanceInProgress.Code)
	case stateStable:
		g.scheduleSession(m)
		m.syncRespond, m.syncVersion = respond, req.Version
		g.answerSync(m, 0)
	case stateCompletingRebalance:
		if m.awaitingSync() {
			// A retried SyncGroup replaces the parked one.
			g.answerSync(m, kerr.RebalanceInProgress.Code)
		}
		m.syncRespond, m.syncVersion = respond, req.Version
		g.scheduleSession(m)
		if m.id != g.leader {
			return
		}
		assignments := map[string][]byte{}
		for _, a := range req.GroupAssignment {
			if _, ok := g.members[a.MemberID]; ok {
				assignments[a.MemberID] = a.MemberAssignment
			}
		}
		for id := range g.members {
			if _, ok := assignments[id]; !ok {
				assignments[id] = []byte{}
			}
		}
		gen := g.generation
		g.storeGroup(assignments, func(code int16) {
			// Only if the group is still in the generation being completed.
			if g.state != stateCompletingRebalance || g.generation != gen {
				return
			}
			if code != 0 {
				for _, id := range g.order {
					o := g.members[id]
					o.assignment = nil
					g.answerSync(o, code)
				}
				g.prepareRebalance()
				return
			}
			for id, a := range maps.All(assignments) {
				if o := g.members[id]; o != nil {
					o.assignment = a
				}
			}
			for _, id := range g.order {
				g.answerSync(g.members[id], 0)
			}
			g.transition(stateStable)
		})
	}
}

// Heartbeat serves Heartbeat (key 12), v0-v4 as Kafka 2.8's
// handleHeartbeat.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	r := kmsg.NewPtrHeartbeatResponse()
	r.Version = req.Version
	r.ErrorCode = c.heartbeat(req)
	return r
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if code := c.validate(req.Group, false); code != 0 {
		return code
	}
	_, g, code := c.lookup(req.Group, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	g.mu.Lock()
	defer g.unlock()
	m := g.members[req.MemberID]
	switch {
	case g.state == stateDead:
		return kerr.CoordinatorNotAvailable.Code
	case g.fenced(req.MemberID, instanceID):
		return kerr.FencedInstanceID.Code
	case m == nil:
		return kerr.UnknownMemberID.Code
	case req.Generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	switch g.state {
	case stateEmpty:
		return kerr.UnknownMemberID.Code
	case statePreparingRebalance:
		g.scheduleSession(m)
		return kerr.RebalanceInProgress.Code
	default:
		g.scheduleSession(m)
		return 0
	}
}

// LeaveGroup serves LeaveGroup (key 13), v0-v4 as Kafka 2.8's
// handleLeaveGroup; from v3 a batch of members, each with its own error.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest, respond func(*kmsg.LeaveGroupResponse)) {
	idents := req.Members
	if req.Version < 3 {
		idents = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	r := kmsg.NewPtrLeaveGroupResponse()
	r.Version = req.Version
	finish := func(top int16, codes []int16) {
		r.ErrorCode = top
		if req.Version >= 3 {
			if top == 0 {
				for i, id := range idents {
					rm := kmsg.NewLeaveGroupResponseMember()
					rm.MemberID, rm.InstanceID, rm.ErrorCode = id.MemberID, id.InstanceID, codes[i]
					r.Members = append(r.Members, rm)
				}
			}
		} else if top == 0 && len(codes) > 0 {
			r.ErrorCode = codes[0]
		}
		respond(r)
	}
	if code := c.validate(req.Group, false); code != 0 {
		finish(code, nil)
		return
	}
	_, g, code := c.lookup(req.Group, false)
	if code != 0 {
		finish(code, nil)
		return
	}
	codes := make([]int16, len(idents))
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		finish(0, codes)
		return
	}
	g.mu.Lock()
	defer g.unlock()
	if g.state == stateDead {
		g.defer_(func() { finish(kerr.CoordinatorNotAvailable.Code, nil) })
		return
	}
	for i, id := range idents {
		codes[i] = g.leave(id)
	}
	g.defer_(func() { finish(0, codes) })
}

func (g *group) leave(id kmsg.LeaveGroupRequestMember) int16 {
	memberID := id.MemberID
	if id.InstanceID != nil {
		cur, ok := g.static[*id.InstanceID]
		if !ok {
			return kerr.UnknownMemberID.Code
		}
		if memberID != "" && memberID != cur {
			return kerr.FencedInstanceID.Code
		}
		memberID = cur
	} else if t, ok := g.pending[memberID]; ok {
		t.Stop()
		delete(g.pending, memberID)
		g.tryCompleteJoin()
		return 0
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	g.removeMemberLocked(m)
	g.afterMemberRemoved()
	return 0
}
