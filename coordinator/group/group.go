package group

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a state of Kafka's group state machine
// (GroupMetadata.scala). What each request gets in each state:
//
//   - Empty: no members (a new group, or every member left or expired);
//     it may still hold offsets. JoinGroup adds a member and moves to
//     PreparingRebalance, after group.initial.rebalance.delay.ms (the
//     initial delayed join). SyncGroup and Heartbeat get UNKNOWN_MEMBER_ID.
//     OffsetCommit is allowed with generation -1 (standalone commits).
//     Offsets expiring while Empty can make it Dead.
//   - PreparingRebalance: waiting for every member to (re)join, at most
//     the largest rebalance timeout. Heartbeats get REBALANCE_IN_PROGRESS,
//     SyncGroup gets REBALANCE_IN_PROGRESS, commits of the current
//     generation are still accepted. When all have joined (or the timeout
//     passed, removing those that did not), the next generation starts:
//     CompletingRebalance, or Empty if nobody is left.
//   - CompletingRebalance: the JoinGroup answers went out; waiting for the
//     leader's SyncGroup with the assignment. Followers' SyncGroups park.
//     Commits get REBALANCE_IN_PROGRESS. The leader's assignment is
//     written to the log and then the group is Stable; a member leaving or
//     failing sends it back to PreparingRebalance.
//   - Stable: assignment distributed. Heartbeats keep members alive; a
//     JoinGroup of the leader or with changed metadata, a leave, or a
//     session expiry starts a rebalance.
//   - Dead: removed (deleted, expired, or its partition unloaded); requests
//     that still reach it get COORDINATOR_NOT_AVAILABLE (or
//     GROUP_ID_NOT_FOUND for offset delete and describe).
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s groupState) String() string { return stateNames[s] }

// validPrevious is Kafka's validPreviousStates: the states each state may
// be entered from.
var validPrevious = map[groupState][]groupState{
	stateDead:                {stateStable, statePreparingRebalance, stateCompletingRebalance, stateEmpty, stateDead},
	stateCompletingRebalance: {statePreparingRebalance},
	stateStable:              {stateCompletingRebalance},
	statePreparingRebalance:  {stateStable, stateCompletingRebalance, stateEmpty},
	stateEmpty:               {statePreparingRebalance},
}

// newMemberJoinTimeout is Kafka's NewMemberJoinTimeoutMs (KAFKA-9232): a
// new member waiting in its first JoinGroup is dropped after 5 minutes.
const newMemberJoinTimeout = 5 * time.Minute

type topicPartition struct {
	topic     string
	partition int32
}

type protocol struct {
	name     string
	metadata []byte
}

// member is one member of a group (Kafka's MemberMetadata); guarded by
// its group's mu.
type member struct {
	id               string
	instanceID       *string
	clientID         string
	host             string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocol // in the member's order of preference
	assignment       []byte

	isNew       bool
	joinVersion int16
	joinRespond func(*kmsg.JoinGroupResponse) // set while its JoinGroup is parked
	syncVersion int16
	syncRespond func(*kmsg.SyncGroupResponse) // set while its SyncGroup is parked

	sessionTimer Timer
}

func (m *member) awaitingJoin() bool { return m.joinRespond != nil }
func (m *member) awaitingSync() bool { return m.syncRespond != nil }

func (m *member) metadata(proto string) []byte {
	for _, p := range m.protocols {
		if p.name == proto {
			return p.metadata
		}
	}
	return nil
}

// matches reports whether protos are the member's protocols, in the same
// order with the same metadata.
func (m *member) matches(protos []protocol) bool {
	return slices.EqualFunc(m.protocols, protos, func(a, b protocol) bool {
		return a.name == b.name && bytes.Equal(a.metadata, b.metadata)
	})
}

// group is one consumer group (Kafka's GroupMetadata). Every field below
// mu is guarded by it; take it with mu.Lock and release it with unlock,
// which then runs the actions queued meanwhile (responses and log
// appends: nothing is answered or written under the lock).
type group struct {
	id   string
	c    *Coordinator
	part *partition

	mu    sync.Mutex
	after []func()

	state        groupState
	stateTime    time.Time // when the current state was entered
	hasStateTime bool
	protocolType string // "" until a member joined (a standalone group)
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	order        []string            // member ids, in joining order (leader choice)
	static       map[string]string   // group.instance.id -> member id
	pending      map[string]Timer    // KIP-394 member ids handed out, awaiting the rejoin
	subscribed   map[string]struct{} // topics of a consumer group; nil: unknown
	awaitingJoin int

	joinTimer     Timer
	joinSeq       uint64 // bumped whenever joinTimer is replaced or cancelled
	initialJoin   bool   // the join timer is the initial delayed join
	newMemberSeen bool   // a member joined during the initial delay
	joinRemaining time.Duration

	offsets map[topicPartition]offsetValue
}

func (c *Coordinator) newGroup(part *partition, id string) *group {
	return &group{
		id:        id,
		c:         c,
		part:      part,
		state:     stateEmpty,
		stateTime: c.clock.Now(),
		members:   map[string]*member{},
		static:    map[string]string{},
		pending:   map[string]Timer{},
		offsets:   map[topicPartition]offsetValue{},
	}
}

// unlock releases mu and runs the queued actions, in order.
func (g *group) unlock() {
	acts := g.after
	g.after = nil
	g.mu.Unlock()
	for _, f := range acts {
		f()
	}
}

func (g *group) defer_(f func()) { g.after = append(g.after, f) }

func (g *group) transition(to groupState) {
	if !slices.Contains(validPrevious[to], g.state) {
		g.c.lg.WithFields(map[string]any{"group": g.id, "from": g.state.String(), "to": to.String()}).Error("invalid group state transition")
	}
	g.state = to
	g.stateTime = g.c.clock.Now()
	g.hasStateTime = true
}

func (g *group) addMemberLocked(m *member) {
	if len(g.members) == 0 && g.protocolType == "" {
		g.protocolType = m.protocolType
	}
	if g.leader == "" {
		g.leader = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	if m.awaitingJoin() {
		g.awaitingJoin++
	}
}

// removeMemberLocked drops m: its timers stop and a parked request of it
// is answered UNKNOWN_MEMBER_ID. The leader passes to the next member.
func (g *group) removeMemberLocked(m *member) {
	if m.sessionTimer != nil {
		m.sessionTimer.Stop()
		m.sessionTimer = nil
	}
	if m.awaitingJoin() {
		g.answerJoin(m, g.joinError(m.joinVersion, m.id, kerr.UnknownMemberID.Code))
	}
	if m.awaitingSync() {
		g.answerSync(m, kerr.UnknownMemberID.Code)
	}
	delete(g.members, m.id)
	g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == m.id })
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if len(g.order) > 0 {
			g.leader = g.order[0]
		}
	}
}

// fenced is Kafka's isStaticMemberFenced: the instance id is known but
// mapped to another member id.
func (g *group) fenced(memberID string, instanceID *string) bool {
	if instanceID == nil {
		return false
	}
	cur, ok := g.static[*instanceID]
	return ok && cur != memberID
}

// supportsProtocols is Kafka's supportsProtocols: an Empty group takes any
// non-empty type and protocol list; otherwise the type must match and one
// protocol must be supported by every member.
func (g *group) supportsProtocols(ptype string, protos []protocol) bool {
	if len(g.members) == 0 {
		return ptype != "" && len(protos) > 0
	}
	if ptype != g.protocolType {
		return false
	}
	for _, p := range protos {
		if g.supportedByAll(p.name) {
			return true
		}
	}
	return false
}

func (g *group) supportedByAll(name string) bool {
	for _, m := range g.members {
		if !slices.ContainsFunc(m.protocols, func(p protocol) bool { return p.name == name }) {
			return false
		}
	}
	return true
}

// selectProtocol is Kafka's selectProtocol: among the protocols every
// member supports, each member votes for the first of its own list; the
// most votes win (ties go to the candidate listed first by the longest
// standing member).
func (g *group) selectProtocol() string {
	if len(g.order) == 0 {
		return ""
	}
	var candidates []string
	for _, p := range g.members[g.order[0]].protocols {
		if g.supportedByAll(p.name) {
			candidates = append(candidates, p.name)
		}
	}
	votes := map[string]int{}
	for _, id := range g.order {
		for _, p := range g.members[id].protocols {
			if slices.Contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, cand := range candidates {
		if best == "" || votes[cand] > votes[best] {
			best = cand
		}
	}
	return best
}

// computeSubscribed is the set of topics the members of a consumer group
// subscribe to, from their consumer protocol metadata; nil when unknown
// (not a consumer group, or metadata that does not parse).
func (g *group) computeSubscribed() map[string]struct{} {
	if g.protocolType != "consumer" || g.protocol == "" || len(g.members) == 0 {
		return nil
	}
	topics := map[string]struct{}{}
	for _, m := range g.members {
		var md kmsg.ConsumerMemberMetadata
		if err := md.ReadFrom(m.metadata(g.protocol)); err != nil {
			return nil
		}
		for _, t := range md.Topics {
			topics[t] = struct{}{}
		}
	}
	return topics
}

// isSubscribedTo is Kafka's isSubscribedToTopic: true when unknown.
func (g *group) isSubscribedTo(topic string) bool {
	if g.subscribed == nil {
		return true
	}
	_, ok := g.subscribed[topic]
	return ok
}

// shutdown makes g Dead because its partition was unloaded (or the
// coordinator closed): parked requests get code, timers stop.
func (g *group) shutdown(code int16) {
	if g.state == stateDead {
		return
	}
	g.transition(stateDead)
	g.cancelJoinTimer()
	for _, t := range g.pending {
		t.Stop()
	}
	g.pending = map[string]Timer{}
	for _, id := range g.order {
		m := g.members[id]
		if m.sessionTimer != nil {
			m.sessionTimer.Stop()
			m.sessionTimer = nil
		}
		if m.awaitingJoin() {
			g.answerJoin(m, g.joinError(m.joinVersion, m.id, code))
		}
		if m.awaitingSync() {
			g.answerSync(m, code)
		}
	}
}

// ---- responses ----

func (g *group) joinError(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.ErrorCode = code
	r.Generation = -1
	r.MemberID = memberID
	if version < 7 {
		r.Protocol = new(string)
	}
	return r
}

func joinErrorResponse(version int16, memberID string, code int16) *kmsg.JoinGroupResponse {
	return (*group)(nil).joinError(version, memberID, code)
}

// joinResult is the answer of a completed join for m.
func (g *group) joinResult(m *member, version int16, withMembers bool) *kmsg.JoinGroupResponse {
	r := kmsg.NewPtrJoinGroupResponse()
	r.Version = version
	r.Generation = g.generation
	r.MemberID = m.id
	r.LeaderID = g.leader
	proto := g.protocol
	r.Protocol = &proto
	if version >= 7 {
		pt := g.protocolType
		r.ProtocolType = &pt
	}
	if withMembers {
		for _, id := range g.order {
			o := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = o.id
			jm.InstanceID = o.instanceID
			jm.ProtocolMetadata = o.metadata(g.protocol)
			r.Members = append(r.Members, jm)
		}
	}
	return r
}

// answerJoin answers m's parked JoinGroup with r (after the lock is
// released). m must be in g.members (awaitingJoin counts it).
func (g *group) answerJoin(m *member, r *kmsg.JoinGroupResponse) {
	respond := m.joinRespond
	m.joinRespond = nil
	if respond == nil {
		return
	}
	g.awaitingJoin--
	g.defer_(func() { respond(r) })
}

func (g *group) answerSync(m *member, code int16) {
	respond := m.syncRespond
	m.syncRespond = nil
	if respond == nil {
		return
	}
	r := kmsg.NewPtrSyncGroupResponse()
	r.Version = m.syncVersion
	r.ErrorCode = code
	if code == 0 {
		r.MemberAssignment = m.assignment
		if r.Version >= 5 {
			pt, p := g.protocolType, g.protocol
			r.ProtocolType, r.Protocol = &pt, &p
		}
	}
	if r.MemberAssignment == nil {
		r.MemberAssignment = []byte{}
	}
	g.defer_(func() { respond(r) })
}

func asKerr(err error, target **kerr.Error) bool { return errors.As(err, target) }
