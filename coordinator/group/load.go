package group

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partition is one offsets partition this broker leads.
type partition struct {
	id     int32
	epoch  int32
	cancel context.CancelFunc // cancels the load

	mu     sync.Mutex // guards the fields below
	loaded bool       // the load finished: requests are served
	gone   bool       // resigned (or the coordinator closed): requests get NOT_COORDINATOR
	groups map[string]*group
}

// OnElection is called when this broker becomes leader of offsets
// partition p at leaderEpoch: the coordinator loads it in the background.
// An election for a partition already owned (a new leader epoch of the
// same leader) keeps what is loaded, as Kafka skips a partition already
// loading or loaded.
func (c *Coordinator) OnElection(p int32, leaderEpoch int32) {
	if c.closed.Load() {
		return
	}
	c.partsMu.Lock()
	cur := *c.parts.Load()
	if old, ok := cur[p]; ok {
		old.mu.Lock()
		if leaderEpoch > old.epoch {
			old.epoch = leaderEpoch
		}
		old.mu.Unlock()
		c.partsMu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	part := &partition{id: p, epoch: leaderEpoch, cancel: cancel, groups: map[string]*group{}}
	next := maps.Clone(cur)
	next[p] = part
	c.parts.Store(&next)
	c.partsMu.Unlock()

	c.lg.WithFields(logrus.Fields{"partition": p, "leader_epoch": leaderEpoch}).Info("loading offsets partition")
	go c.load(ctx, part)
}

// OnResignation is called when this broker stops leading offsets partition
// p (leaderEpoch -1 when the partition is deleted): its groups are
// unloaded and parked requests for them answered NOT_COORDINATOR. A load
// still running is cancelled.
func (c *Coordinator) OnResignation(p int32, leaderEpoch int32) {
	c.partsMu.Lock()
	cur := *c.parts.Load()
	part, ok := cur[p]
	if !ok {
		c.partsMu.Unlock()
		return
	}
	next := maps.Clone(cur)
	delete(next, p)
	c.parts.Store(&next)
	c.partsMu.Unlock()
	c.lg.WithFields(logrus.Fields{"partition": p, "leader_epoch": leaderEpoch}).Info("unloading offsets partition")
	c.unload(part, kerr.NotCoordinator.Code)
}

// unload forgets part's groups: each becomes Dead, and its parked
// JoinGroup and SyncGroup requests get code (Kafka's onGroupUnloaded).
func (c *Coordinator) unload(part *partition, code int16) {
	part.cancel()
	part.mu.Lock()
	part.gone = true
	groups := part.groups
	part.groups = map[string]*group{}
	part.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.shutdown(code)
		g.unlock()
	}
}

// lookup finds the partition of groupID and checks that it is served:
// NOT_COORDINATOR when not owned, COORDINATOR_LOAD_IN_PROGRESS while
// loading, COORDINATOR_NOT_AVAILABLE once closed. With create, a missing
// group is added, Empty. g is nil when it does not exist (and !create).
func (c *Coordinator) lookup(groupID string, create bool) (*partition, *group, int16) {
	if c.closed.Load() {
		return nil, nil, kerr.CoordinatorNotAvailable.Code
	}
	p := c.PartitionFor(groupID)
	part := (*c.parts.Load())[p]
	if part == nil {
		return nil, nil, kerr.NotCoordinator.Code
	}
	part.mu.Lock()
	defer part.mu.Unlock()
	switch {
	case part.gone:
		return nil, nil, kerr.NotCoordinator.Code
	case !part.loaded:
		return nil, nil, kerr.CoordinatorLoadInProgress.Code
	}
	g := part.groups[groupID]
	if g == nil && create {
		g = c.newGroup(part, groupID)
		part.groups[groupID] = g
	}
	return part, g, 0
}

// validate is Kafka's validateGroupStatus: the group id check (empty ids
// are refused except by the offset and describe/delete APIs, which only
// need it non-null) and then the ownership check.
func (c *Coordinator) validate(groupID string, allowEmpty bool) int16 {
	if groupID == "" && !allowEmpty {
		return kerr.InvalidGroupID.Code
	}
	return 0
}

// removeGroup drops g from its partition's map; the caller holds g.mu and
// has made g Dead.
func (g *group) removeFromPartition() {
	g.part.mu.Lock()
	if g.part.groups[g.id] == g {
		delete(g.part.groups, g.id)
	}
	g.part.mu.Unlock()
}

type loadedGroup struct {
	meta    *kmsg.GroupMetadataValue // nil: offsets only (or removed)
	offsets map[topicPartition]offsetValue
}

// load reads part to its end and installs the groups found: for each
// group the latest metadata value (a tombstone removes it) and for each
// of its partitions the latest offset (a tombstone removes it), as
// Kafka's GroupMetadataManager.doLoadGroupsAndOffsets.
func (c *Coordinator) load(ctx context.Context, part *partition) {
	lg := c.lg.WithField("partition", part.id)
	start := c.clock.Now()
	found := map[string]*loadedGroup{}
	get := func(id string) *loadedGroup {
		lgp := found[id]
		if lgp == nil {
			lgp = &loadedGroup{offsets: map[topicPartition]offsetValue{}}
			found[id] = lgp
		}
		return lgp
	}
	skipped := 0
	err := c.log.Read(ctx, part.id, func(r Record) error {
		k, err := decodeKey(r.Key)
		if err != nil {
			skipped++
			return nil
		}
		if k.isGroup {
			if r.Value == nil {
				get(k.group).meta = nil
				return nil
			}
			v, err := decodeGroupValue(r.Value)
			if err != nil {
				skipped++
				return nil
			}
			get(k.group).meta = v
			return nil
		}
		tp := topicPartition{k.topic, k.partition}
		if r.Value == nil {
			if lgp := found[k.group]; lgp != nil {
				delete(lgp.offsets, tp)
			}
			return nil
		}
		v, err := decodeOffsetValue(r.Value)
		if err != nil {
			skipped++
			return nil
		}
		get(k.group).offsets[tp] = v
		return nil
	})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			lg.WithError(err).Warn("loading offsets partition failed")
		}
		return
	}
	if skipped > 0 {
		lg.WithField("records", skipped).Warn("skipped undecodable records while loading")
	}

	groups := map[string]*group{}
	for id, lgp := range found {
		if lgp.meta == nil && len(lgp.offsets) == 0 {
			continue
		}
		g := c.newGroup(part, id)
		g.offsets = lgp.offsets
		if lgp.meta != nil {
			g.loadMetadata(lgp.meta)
		}
		groups[id] = g
	}

	part.mu.Lock()
	if part.gone {
		part.mu.Unlock()
		return
	}
	part.groups = groups
	part.loaded = true
	part.mu.Unlock()

	// Members of a loaded group must heartbeat again within their session
	// timeout (Kafka's onGroupLoaded).
	for _, g := range groups {
		g.mu.Lock()
		if g.state != stateDead {
			for _, m := range g.members {
				g.scheduleSession(m)
			}
		}
		g.unlock()
	}
	lg.WithFields(logrus.Fields{"groups": len(groups), "took_ms": c.clock.Now().Sub(start).Milliseconds()}).Info("loaded offsets partition")
}

// loadMetadata sets g from a stored metadata value (Kafka's
// GroupMetadata.loadGroup): Empty without members, Stable with.
func (g *group) loadMetadata(v *kmsg.GroupMetadataValue) {
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
		g.hasStateTime = true
	}
	g.state = stateEmpty
	if len(v.Members) > 0 {
		g.state = stateStable
	}
	for _, vm := range v.Members {
		m := &member{
			id:               vm.MemberID,
			clientID:         vm.ClientID,
			host:             vm.ClientHost,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []protocol{{name: g.protocol, metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if vm.InstanceID != nil {
			id := *vm.InstanceID
			m.instanceID = &id
			g.static[id] = m.id
		}
		g.addMemberLocked(m)
	}
	g.subscribed = g.computeSubscribed()
}
