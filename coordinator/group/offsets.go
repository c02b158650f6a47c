package group

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit serves OffsetCommit (key 8) v1 and later; v0 commits go to
// ZooKeeper and are the server's. The server has already answered
// partitions of unknown topics; req holds only the others. The commit is
// one batch, answered once it is committed (Kafka's handleCommitOffsets
// and storeOffsets).
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	codes := map[topicPartition]int16{}
	finish := func(all int16) {
		r := kmsg.NewPtrOffsetCommitResponse()
		r.Version = req.Version
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = all
				if code, ok := codes[topicPartition{t.Topic, p.Partition}]; ok && all == 0 {
					rp.ErrorCode = code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			r.Topics = append(r.Topics, rt)
		}
		respond(r)
	}
	if code := c.validate(req.Group, true); code != 0 {
		finish(code)
		return
	}
	_, g, code := c.lookup(req.Group, req.Generation < 0)
	if code != 0 {
		finish(code)
		return
	}
	if g == nil {
		// A generation for a group that does not exist: a stale member.
		finish(kerr.IllegalGeneration.Code)
		return
	}
	var instanceID *string
	if req.Version >= 7 {
		instanceID = req.InstanceID
	}
	g.mu.Lock()
	defer g.unlock()
	fail := func(code int16) { g.defer_(func() { finish(code) }) }
	switch {
	case g.state == stateDead:
		fail(kerr.CoordinatorNotAvailable.Code)
		return
	case g.fenced(req.MemberID, instanceID):
		fail(kerr.FencedInstanceID.Code)
		return
	case req.Generation < 0 && g.state == stateEmpty:
		// Standalone commit: the group only stores offsets.
	case g.members[req.MemberID] == nil:
		fail(kerr.UnknownMemberID.Code)
		return
	case req.Generation != g.generation:
		fail(kerr.IllegalGeneration.Code)
		return
	case g.state == stateCompletingRebalance:
		fail(kerr.RebalanceInProgress.Code)
		return
	default:
		// Stable or PreparingRebalance: commits count as heartbeats.
		g.scheduleSession(g.members[req.MemberID])
	}

	now := c.clock.Now().UnixMilli()
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		expire = now + req.RetentionTimeMillis
	}
	var recs []Record
	stored := map[topicPartition]offsetValue{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := topicPartition{t.Topic, p.Partition}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if len(md) > c.cfg.OffsetMetadataMaxBytes {
				codes[tp] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			ov := offsetValue{offset: p.Offset, leaderEpoch: -1, metadata: md, commitTimestamp: now, expireTimestamp: expire}
			if req.Version >= 6 {
				ov.leaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp != -1 {
				ov.commitTimestamp = p.Timestamp
			}
			stored[tp] = ov
			recs = append(recs, Record{Timestamp: now, Key: encodeOffsetKey(g.id, t.Topic, p.Partition), Value: encodeOffsetValue(ov)})
		}
	}
	if len(recs) == 0 {
		g.defer_(func() { finish(0) })
		return
	}
	g.appendRecords(recs, func(err error) {
		code := mapStoreOffsetsError(err)
		for tp, ov := range stored {
			codes[tp] = code
			if code == 0 && g.state != stateDead {
				g.offsets[tp] = ov
			}
		}
		g.defer_(func() { finish(0) })
	})
}

// OffsetFetch serves OffsetFetch (key 9) v1 and later: the committed
// offsets of the partitions asked (or of all, when topics is null); a
// partition without one gets offset -1, empty metadata and no error.
// require_stable (v7) is accepted; without transactions no offset is ever
// pending.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	r := kmsg.NewPtrOffsetFetchResponse()
	r.Version = req.Version
	partResp := func(p int32, ov *offsetValue, code int16) kmsg.OffsetFetchResponseTopicPartition {
		rp := kmsg.NewOffsetFetchResponseTopicPartition()
		rp.Partition = p
		rp.Offset = -1
		rp.LeaderEpoch = -1
		md := ""
		if ov != nil {
			rp.Offset = ov.offset
			rp.LeaderEpoch = ov.leaderEpoch
			md = ov.metadata
		}
		rp.Metadata = &md
		rp.ErrorCode = code
		return rp
	}
	answerAll := func(code int16) *kmsg.OffsetFetchResponse {
		if req.Version >= 2 {
			r.ErrorCode = code
		}
		for _, t := range req.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				pc := code
				if req.Version >= 2 {
					pc = 0
				}
				rt.Partitions = append(rt.Partitions, partResp(p, nil, pc))
			}
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	if code := c.validate(req.Group, true); code != 0 {
		return answerAll(code)
	}
	_, g, code := c.lookup(req.Group, false)
	if code != 0 {
		return answerAll(code)
	}
	if g == nil {
		return answerAll(0)
	}
	g.mu.Lock()
	defer g.unlock()
	if g.state == stateDead {
		return answerAll(0)
	}
	if req.Topics == nil {
		byTopic := map[string][]topicPartition{}
		for tp := range g.offsets {
			byTopic[tp.topic] = append(byTopic[tp.topic], tp)
		}
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		for _, t := range topics {
			tps := byTopic[t]
			slices.SortFunc(tps, func(a, b topicPartition) int { return int(a.partition) - int(b.partition) })
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t
			for _, tp := range tps {
				ov := g.offsets[tp]
				rt.Partitions = append(rt.Partitions, partResp(tp.partition, &ov, 0))
			}
			r.Topics = append(r.Topics, rt)
		}
		return r
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			var ovp *offsetValue
			if ov, ok := g.offsets[topicPartition{t.Topic, p}]; ok {
				ovp = &ov
			}
			rt.Partitions = append(rt.Partitions, partResp(p, ovp, 0))
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// OffsetDelete serves OffsetDelete (key 47), as Kafka 2.8's
// handleDeleteOffsets: an Empty group loses the offsets asked; a consumer
// group with members keeps those of topics it subscribes to
// (GROUP_SUBSCRIBED_TO_TOPIC); any other group with members answers
// NON_EMPTY_GROUP. Tombstones are written; as in Kafka the answer does not
// wait for them.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	r := kmsg.NewPtrOffsetDeleteResponse()
	r.Version = req.Version
	codes := map[topicPartition]int16{}
	finish := func(top int16) {
		r.ErrorCode = top
		if top == 0 {
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetDeleteResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetDeleteResponseTopicPartition()
					rp.Partition = p.Partition
					rp.ErrorCode = codes[topicPartition{t.Topic, p.Partition}]
					rt.Partitions = append(rt.Partitions, rp)
				}
				r.Topics = append(r.Topics, rt)
			}
		}
		respond(r)
	}
	if code := c.validate(req.Group, false); code != 0 {
		finish(code)
		return
	}
	_, g, code := c.lookup(req.Group, false)
	if code != 0 {
		finish(code)
		return
	}
	if g == nil {
		finish(kerr.GroupIDNotFound.Code)
		return
	}
	g.mu.Lock()
	defer g.unlock()
	var eligible []topicPartition
	switch {
	case g.state == stateDead:
		g.defer_(func() { finish(kerr.GroupIDNotFound.Code) })
		return
	case g.state == stateEmpty:
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				eligible = append(eligible, topicPartition{t.Topic, p.Partition})
			}
		}
	case g.protocolType == "consumer":
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tp := topicPartition{t.Topic, p.Partition}
				if g.isSubscribedTo(t.Topic) {
					codes[tp] = kerr.GroupSubscribedToTopic.Code
				} else {
					eligible = append(eligible, tp)
				}
			}
		}
	default:
		g.defer_(func() { finish(kerr.NonEmptyGroup.Code) })
		return
	}
	g.removeOffsets(eligible, false)
	g.defer_(func() { finish(0) })
}

// removeOffsets drops tps from g and writes their tombstones (and the
// group's, when withGroup), without waiting: Kafka's cleanupGroupMetadata.
func (g *group) removeOffsets(tps []topicPartition, withGroup bool) int {
	now := g.c.clock.Now().UnixMilli()
	var recs []Record
	for _, tp := range tps {
		if _, ok := g.offsets[tp]; !ok {
			continue
		}
		delete(g.offsets, tp)
		recs = append(recs, Record{Timestamp: now, Key: encodeOffsetKey(g.id, tp.topic, tp.partition)})
	}
	n := len(recs)
	if withGroup {
		recs = append(recs, Record{Timestamp: now, Key: encodeGroupKey(g.id)})
	}
	if len(recs) > 0 {
		g.appendRecords(recs, func(err error) {
			if err != nil {
				g.c.lg.WithField("group", g.id).WithError(err).Warn("writing tombstones failed")
			}
		})
	}
	return n
}

// DescribeGroups serves DescribeGroups (key 15), v0-v5. A group not
// known is described as Dead with no error, as Kafka does.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	r := kmsg.NewPtrDescribeGroupsResponse()
	r.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.State = stateDead.String()
		dg.AuthorizedOperations = -2147483648
		if req.Version >= 3 && req.IncludeAuthorizedOperations {
			// No authorizer: every group operation (READ, DELETE, DESCRIBE).
			dg.AuthorizedOperations = 1<<3 | 1<<6 | 1<<8
		}
		if code := c.validate(id, true); code != 0 {
			dg.ErrorCode = code
			r.Groups = append(r.Groups, dg)
			continue
		}
		_, g, code := c.lookup(id, false)
		if code != 0 || g == nil {
			dg.ErrorCode = code
			r.Groups = append(r.Groups, dg)
			continue
		}
		g.mu.Lock()
		dg.State = g.state.String()
		dg.ProtocolType = g.protocolType
		if g.state == stateStable {
			dg.Protocol = g.protocol
		}
		if g.state != stateDead {
			for _, mid := range g.order {
				m := g.members[mid]
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID = m.id
				dm.InstanceID = m.instanceID
				dm.ClientID = m.clientID
				dm.ClientHost = m.host
				dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
				if g.state == stateStable {
					if md := m.metadata(g.protocol); md != nil {
						dm.ProtocolMetadata = md
					}
					if m.assignment != nil {
						dm.MemberAssignment = m.assignment
					}
				}
				dg.Members = append(dg.Members, dm)
			}
		}
		g.unlock()
		r.Groups = append(r.Groups, dg)
	}
	return r
}

// ListGroups serves ListGroups (key 16), v0-v4: the groups of the
// partitions this broker coordinates; COORDINATOR_LOAD_IN_PROGRESS (and no
// groups) while any of them is loading, as Kafka. v4 filters by state
// (case-insensitive).
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	r := kmsg.NewPtrListGroupsResponse()
	r.Version = req.Version
	if c.closed.Load() {
		r.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return r
	}
	var groups []*group
	for _, part := range *c.parts.Load() {
		part.mu.Lock()
		if !part.loaded && !part.gone {
			part.mu.Unlock()
			r.ErrorCode = kerr.CoordinatorLoadInProgress.Code
			return r
		}
		for _, g := range part.groups {
			groups = append(groups, g)
		}
		part.mu.Unlock()
	}
	for _, g := range groups {
		g.mu.Lock()
		state, ptype := g.state, g.protocolType
		g.unlock()
		if state == stateDead {
			continue
		}
		if req.Version >= 4 && len(req.StatesFilter) > 0 &&
			!slices.ContainsFunc(req.StatesFilter, func(s string) bool { return strings.EqualFold(s, state.String()) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g.id
		lg.ProtocolType = ptype
		lg.GroupState = state.String()
		r.Groups = append(r.Groups, lg)
	}
	slices.SortFunc(r.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return r
}

// DeleteGroups serves DeleteGroups (key 42), v0-v2: an Empty group
// becomes Dead and tombstones are written for it and all its offsets
// (not waited for, as in Kafka); a group with members answers
// NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest, respond func(*kmsg.DeleteGroupsResponse)) {
	r := kmsg.NewPtrDeleteGroupsResponse()
	r.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = c.deleteGroup(id)
		r.Groups = append(r.Groups, dg)
	}
	respond(r)
}

func (c *Coordinator) deleteGroup(id string) int16 {
	if code := c.validate(id, true); code != 0 {
		return code
	}
	_, g, code := c.lookup(id, false)
	if code != 0 {
		return code
	}
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.mu.Lock()
	defer g.unlock()
	switch g.state {
	case stateDead:
		return kerr.GroupIDNotFound.Code
	case stateEmpty:
		g.killLocked()
		return 0
	default:
		return kerr.NonEmptyGroup.Code
	}
}

// killLocked makes the Empty group g Dead: its offsets and its metadata
// get tombstones and it leaves the partition's map.
func (g *group) killLocked() {
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	g.transition(stateDead)
	g.cancelJoinTimer()
	g.removeOffsets(tps, true)
	g.removeFromPartition()
}

// ---- retention (Kafka's cleanupGroupMetadata, KIP-211) ----

func (c *Coordinator) retentionTick() {
	if c.closed.Load() {
		return
	}
	c.expireOffsets()
	c.partsMu.Lock()
	if !c.closed.Load() {
		c.retentionTimer = c.clock.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, c.retentionTick)
	}
	c.partsMu.Unlock()
}

// expireOffsets removes expired offsets from every loaded group:
//   - an Empty group's offsets expire offsets.retention.minutes after it
//     became Empty (its state timestamp; the commit time when unknown);
//   - a Stable consumer group's offsets of topics it does not subscribe
//     to expire that long after their commit;
//   - a group that never had members (standalone commits) expires by
//     commit time;
//   - an explicit expire timestamp (OffsetCommit v2-v4 retention time)
//     wins over all of these.
//
// An Empty group left without offsets becomes Dead, and its metadata gets
// a tombstone.
func (c *Coordinator) expireOffsets() {
	now := c.clock.Now()
	var groups []*group
	for _, part := range *c.parts.Load() {
		part.mu.Lock()
		for _, g := range part.groups {
			groups = append(groups, g)
		}
		part.mu.Unlock()
	}
	for _, g := range groups {
		g.mu.Lock()
		if g.state != stateDead {
			g.expireLocked(now)
		}
		g.unlock()
	}
}

func (g *group) expireLocked(now time.Time) {
	retention := g.c.cfg.OffsetsRetention.Milliseconds()
	nowMs := now.UnixMilli()
	var base func(ov offsetValue) int64
	var keep map[string]struct{}
	switch {
	case g.protocolType != "" && g.state == stateEmpty:
		base = func(ov offsetValue) int64 {
			if g.hasStateTime {
				return g.stateTime.UnixMilli()
			}
			return ov.commitTimestamp
		}
	case g.protocolType == "consumer" && g.subscribed != nil && g.state == stateStable:
		base = func(ov offsetValue) int64 { return ov.commitTimestamp }
		keep = g.subscribed
	case g.protocolType == "":
		base = func(ov offsetValue) int64 { return ov.commitTimestamp }
	default:
		return
	}
	var expired []topicPartition
	for tp, ov := range g.offsets {
		if _, ok := keep[tp.topic]; ok {
			continue
		}
		if ov.expireTimestamp != -1 {
			if nowMs >= ov.expireTimestamp {
				expired = append(expired, tp)
			}
		} else if nowMs-base(ov) >= retention {
			expired = append(expired, tp)
		}
	}
	if len(expired) > 0 {
		g.c.lg.WithFields(map[string]any{"group": g.id, "offsets": len(expired)}).Info("expired offsets")
	}
	if g.state == stateEmpty && len(g.offsets) == len(expired) {
		g.transition(stateDead)
		g.cancelJoinTimer()
		g.removeOffsets(expired, true)
		g.removeFromPartition()
		return
	}
	g.removeOffsets(expired, false)
}
