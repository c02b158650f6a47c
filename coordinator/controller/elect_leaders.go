package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Leader elections asked for outside the partition state machine's own
// events: by the ElectLeaders API (this file), by the
// /admin/preferred_replica_election znode (preferred.go) and by the
// periodic leader rebalance (rebalance.go). All three run in the term's
// loop, one at a time, as Kafka's ReplicaLeaderElection and
// AutoPreferredReplicaLeaderElection events do: each hands the loop a
// function through the channel startElections returns.

// ElectionType is ElectLeaders' election_type (KIP-460).
type ElectionType int8

const (
	// ElectPreferred moves leadership to the first assigned replica when
	// it is alive and in the ISR.
	ElectPreferred ElectionType = 0
	// ElectUnclean elects a leader for a partition without a live one,
	// from outside the ISR if no ISR member is alive.
	ElectUnclean ElectionType = 1
)

// String is the name Kafka's tools print (ElectionType.toString).
func (e ElectionType) String() string {
	switch e {
	case ElectPreferred:
		return "PREFERRED"
	case ElectUnclean:
		return "UNCLEAN"
	}
	return "ElectionType(" + strconv.Itoa(int(e)) + ")"
}

// ElectionResult is the outcome of an election for one partition: the
// leader elected, or a Kafka error (a *kerr.Error) and its message.
type ElectionResult struct {
	Leader  int32
	Err     error
	Message string
}

// electionHub connects ElectLeaders callers with the current term's loop.
type electionHub struct {
	mu  sync.Mutex
	cur *elections // the latest term's, nil before the first
}

// elections is one term's channel of election work: lead runs each
// function it receives, in its loop, and resigns when one returns an error
// matching zkutil.ErrEpochFenced.
type elections struct {
	t      *term
	events chan func(context.Context) error
}

// ErrNotController is returned by ElectLeaders on a broker that is not the
// controller: it is kerr.NotController.
var ErrNotController = kerr.NotController

// ElectLeaders runs an election for tps (Kafka's KafkaController.electLeaders
// and processReplicaLeaderElection) in the controller's loop and returns
// each partition's outcome, once the new states are written to ZooKeeper
// and LeaderAndIsr and UpdateMetadata are queued to the brokers. all asks
// for every partition of the cluster (ElectLeaders with null topics); tps
// is then ignored. It returns ErrNotController when this broker does not
// lead, and ctx's error when ctx ends before the loop took the request.
//
// Per partition, as Kafka 2.8: UNKNOWN_TOPIC_OR_PARTITION for a partition
// the controller does not know, INVALID_TOPIC_EXCEPTION for a topic being
// deleted, ELECTION_NOT_NEEDED when the preferred replica already leads
// (preferred) or a live leader exists (unclean), PREFERRED_LEADER_NOT_AVAILABLE
// when the preferred replica is not alive or not in the ISR,
// ELIGIBLE_LEADERS_NOT_AVAILABLE when no assigned replica is alive
// (unclean). A partition asked twice is answered once. Unclean elections
// asked this way are allowed whatever unclean.leader.election.enable says,
// as in Kafka.
func (c *Controller) ElectLeaders(ctx context.Context, typ ElectionType, tps []zkutil.TopicPartition, all bool) (map[zkutil.TopicPartition]ElectionResult, error) {
	if ok, _ := c.IsController(); !ok {
		return nil, ErrNotController
	}
	c.elections.mu.Lock()
	cur := c.elections.cur
	c.elections.mu.Unlock()
	if cur == nil {
		return nil, ErrNotController
	}
	var out map[zkutil.TopicPartition]ElectionResult
	reply := make(chan struct{})
	run := func(ctx context.Context) error {
		defer close(reply)
		var err error
		out, err = cur.t.electForAdmin(ctx, typ, tps, all)
		return err
	}
	select {
	case cur.events <- run:
	case <-cur.t.ctx.Done():
		return nil, ErrNotController
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	<-reply // the loop runs it to the end once it took it
	if out == nil {
		return nil, ErrNotController // the term was fenced while electing
	}
	return out, nil
}

// startElections begins the term's elections outside the state machine
// and returns the channel lead takes their work from. It reads the
// preferred replica election znode first (a request left by the previous
// controller resumes, as in Kafka's onControllerFailover) and arms the
// rebalance timer when auto.leader.rebalance.enable is set.
func (t *term) startElections() <-chan func(context.Context) error {
	e := &elections{t: t, events: make(chan func(context.Context) error)}
	t.c.elections.mu.Lock()
	t.c.elections.cur = e
	t.c.elections.mu.Unlock()
	e.after(0, e.onPreferredReplicaElection)
	e.scheduleRebalance(true)
	return e.events
}

// after hands f to the loop after d (at once for 0), from a goroutine
// that ends with the term.
func (e *elections) after(d time.Duration, f func(context.Context) error) {
	t := e.t
	t.forwarders.Add(1)
	go func() {
		defer t.forwarders.Done()
		if d > 0 {
			timer := time.NewTimer(d)
			defer timer.Stop()
			select {
			case <-t.ctx.Done():
				return
			case <-timer.C:
			}
		}
		select {
		case e.events <- f:
		case <-t.ctx.Done():
		}
	}()
}

// electForAdmin is ElectLeaders' work in the loop.
func (t *term) electForAdmin(ctx context.Context, typ ElectionType, asked []zkutil.TopicPartition, all bool) (map[zkutil.TopicPartition]ElectionResult, error) {
	if all {
		asked = t.sortedPartitions()
	}
	out := make(map[zkutil.TopicPartition]ElectionResult, len(asked))
	var electable []zkutil.TopicPartition
	for _, tp := range asked {
		if _, seen := out[tp]; seen || slices.Contains(electable, tp) {
			continue
		}
		p := t.partition(tp)
		switch {
		case p == nil:
			out[tp] = ElectionResult{Err: kerr.UnknownTopicOrPartition, Message: "The partition does not exist."}
		case t.topics[tp.Topic].deletion != nil:
			out[tp] = ElectionResult{Err: kerr.InvalidTopicException, Message: "The topic is being deleted"}
		case t.electionNotNeeded(typ, p):
			out[tp] = ElectionResult{Err: kerr.ElectionNotNeeded}
		default:
			electable = append(electable, tp)
		}
	}
	decide := t.preferredDecision
	if typ == ElectUnclean {
		decide = t.uncleanDecision
	}
	results, err := t.electPartitions(ctx, electable, decide)
	maps.Copy(out, results)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// electionNotNeeded is Kafka's test for a partition that already has a
// valid leader: the preferred replica leads (preferred), or a live broker
// does (unclean).
func (t *term) electionNotNeeded(typ ElectionType, p *partition) bool {
	if !p.hasState || len(p.replicas) == 0 {
		return false
	}
	if typ == ElectUnclean {
		return p.state.Leader != NoLeader && t.alive(p.state.Leader)
	}
	return p.state.Leader == p.replicas[0]
}

// decision is the state a partition moves to in an election, or the error
// that it cannot.
type decision func(tp zkutil.TopicPartition, p *partition) (zkutil.PartitionState, ElectionResult)

// preferredDecision is Kafka's PreferredReplicaPartitionLeaderElectionStrategy:
// the preferred replica leads if it is alive and in the ISR; the ISR stays.
func (t *term) preferredDecision(tp zkutil.TopicPartition, p *partition) (zkutil.PartitionState, ElectionResult) {
	if p.hasState && len(p.replicas) > 0 && p.state.Leader == p.replicas[0] {
		return zkutil.PartitionState{}, ElectionResult{Err: kerr.ElectionNotNeeded}
	}
	leader, ok := NoLeader, false
	if p.hasState {
		leader, ok = ElectPreferredLeader(p.replicas, p.state.ISR, t.alive)
	}
	if !ok {
		return zkutil.PartitionState{}, ElectionResult{Err: kerr.PreferredLeaderNotAvailable,
			Message: fmt.Sprintf("Failed to elect leader for partition %s under strategy PreferredReplicaPartitionLeaderElectionStrategy", tp)}
	}
	next := p.state
	next.Leader = leader
	next.ISR = slices.Clone(p.state.ISR)
	next.LeaderEpoch++
	next.ControllerEpoch = t.epoch
	return next, ElectionResult{Leader: leader}
}

// uncleanDecision is Kafka's OfflinePartitionLeaderElectionStrategy with
// unclean election allowed: the first live ISR member in assignment order,
// else the first live replica, whose ISR is then just itself.
func (t *term) uncleanDecision(tp zkutil.TopicPartition, p *partition) (zkutil.PartitionState, ElectionResult) {
	if p.hasState && p.state.Leader != NoLeader && t.alive(p.state.Leader) {
		return zkutil.PartitionState{}, ElectionResult{Err: kerr.ElectionNotNeeded}
	}
	leader := NoLeader
	var isr []int32
	if p.hasState {
		leader, isr, _ = ElectLeader(p.replicas, p.state.ISR, t.alive, true)
	}
	if leader == NoLeader {
		return zkutil.PartitionState{}, ElectionResult{Err: kerr.EligibleLeadersNotAvailable,
			Message: fmt.Sprintf("Failed to elect leader for partition %s under strategy OfflinePartitionLeaderElectionStrategy(true)", tp)}
	}
	next := p.state
	next.Leader, next.ISR = leader, isr
	next.LeaderEpoch++
	next.ControllerEpoch = t.epoch
	return next, ElectionResult{Leader: leader}
}

// electPartitions moves each of tps to the state decide gives it: it
// writes the states behind the term's fence (re-reading and deciding again
// after a version conflict, at most maxWriteAttempts times), then queues
// LeaderAndIsr to the live replicas of the partitions that changed and
// UpdateMetadata to every broker. A returned error matches
// zkutil.ErrEpochFenced: another controller took over.
func (t *term) electPartitions(ctx context.Context, tps []zkutil.TopicPartition, decide decision) (map[zkutil.TopicPartition]ElectionResult, error) {
	out := make(map[zkutil.TopicPartition]ElectionResult, len(tps))
	changed := tpSet{}
	defer func() {
		if len(changed) > 0 {
			t.sendLeaderAndISR(changed, nil, nil)
			t.sendUpdateMetadata(changed, nil, nil)
		}
	}()
	pending := tps
	for attempt := 0; attempt < maxWriteAttempts && len(pending) > 0; attempt++ {
		var writes []zkutil.PartitionStateWrite
		decided := map[zkutil.TopicPartition]ElectionResult{}
		for _, tp := range pending {
			p := t.partition(tp)
			if p == nil {
				out[tp] = ElectionResult{Err: kerr.UnknownTopicOrPartition, Message: "The partition does not exist."}
				continue
			}
			s, r := decide(tp, p)
			if r.Err != nil {
				out[tp] = r
				continue
			}
			decided[tp] = r
			writes = append(writes, zkutil.PartitionStateWrite{TopicPartition: tp, State: s, ZkVersion: p.zkVersion})
		}
		pending = nil
		if len(writes) == 0 {
			break
		}
		for _, r := range t.c.cfg.ZK.SetPartitionStates(ctx, t.fence, writes) {
			tp := r.TopicPartition
			p := t.partition(tp)
			switch {
			case r.Err == nil:
				p.hasState, p.state, p.zkVersion = true, r.State, r.ZkVersion
				changed[tp] = true
				out[tp] = decided[tp]
				t.log.WithField("partition", tp.String()).WithField("leader", r.State.Leader).
					WithField("leader_epoch", r.State.LeaderEpoch).Info("leader elected")
			case errors.Is(r.Err, zkutil.ErrEpochFenced):
				return out, r.Err
			case errors.Is(r.Err, zkutil.ErrVersionConflict):
				pending = append(pending, tp)
			default:
				out[tp] = ElectionResult{Err: kerr.UnknownServerError, Message: r.Err.Error()}
				t.log.WithError(r.Err).WithField("partition", tp.String()).Warn("writing partition state failed")
			}
		}
		if len(pending) > 0 {
			if err := t.readStates(ctx, pending); err != nil {
				for _, tp := range pending {
					out[tp] = ElectionResult{Err: kerr.UnknownServerError, Message: err.Error()}
				}
				return out, nil
			}
			for _, tp := range pending {
				changed[tp] = true // brokers may not know what was re-read
			}
		}
	}
	for _, tp := range pending {
		out[tp] = ElectionResult{Err: kerr.UnknownServerError, Message: "the partition state kept changing under the controller"}
	}
	return out, nil
}

// uncleanLeaderElectionKey is the topic (and broker) config key.
const uncleanLeaderElectionKey = "unclean.leader.election.enable"

// uncleanAllowed tells whether partition p of topic may elect a leader
// from outside its ISR: the topic's unclean.leader.election.enable
// override under /config/topics, else the broker's setting, as Kafka 2.8's
// OfflinePartitionLeaderElectionStrategy reads the topic's LogConfig.
//
// The override is read from ZooKeeper on demand, and only when it can
// matter: when p has no live leader and no live ISR member. That is rare
// (a partition going offline), so the term keeps no copy of topic configs
// and needs no /config/changes listener; a read that fails logs and falls
// back to the broker's setting, the safe choice when that is false.
func (t *term) uncleanAllowed(ctx context.Context, topic string, p *partition) bool {
	return t.uncleanAllowedMemo(ctx, topic, p, nil)
}

// uncleanAllowedMemo is uncleanAllowed remembering in memo, when not nil,
// what it decided for each topic whose override it read: an event that
// finds thousands of a topic's partitions offline (RF 1 on a dead broker)
// reads the topic's config once, not once per partition, one after the
// other.
func (t *term) uncleanAllowedMemo(ctx context.Context, topic string, p *partition, memo map[string]bool) bool {
	dflt := t.c.cfg.UncleanLeaderElection
	if p == nil || !p.hasState {
		return dflt
	}
	if p.state.Leader != NoLeader && t.alive(p.state.Leader) {
		return dflt
	}
	if slices.ContainsFunc(p.state.ISR, t.alive) {
		return dflt
	}
	if v, ok := memo[topic]; ok {
		return v
	}
	v := t.readUncleanOverride(ctx, topic, dflt)
	if memo != nil {
		memo[topic] = v
	}
	return v
}

// readUncleanOverride reads the topic's unclean.leader.election.enable
// override; dflt when it has none, or it cannot be read or parsed.
func (t *term) readUncleanOverride(ctx context.Context, topic string, dflt bool) bool {
	cfg, err := t.c.cfg.ZK.EntityConfig(ctx, zkutil.ConfigTopics, topic)
	if err != nil {
		t.log.WithError(err).WithField("topic", topic).Warn("reading the topic's config failed; using the broker's unclean.leader.election.enable")
		return dflt
	}
	v, ok := cfg[uncleanLeaderElectionKey]
	if !ok {
		return dflt
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true
	case "false":
		return false
	}
	t.log.WithField("topic", topic).WithField("value", v).Warn("ignoring an invalid unclean.leader.election.enable override")
	return dflt
}

// electionStore is what the elections need of ZooKeeper beyond zkStore's
// other methods; *zkutil.Client satisfies it.
type electionStore interface {
	WatchPreferredReplicaElection(ctx context.Context) ([]zkutil.TopicPartition, bool, <-chan zkutil.WatchEvent, error)
	DeletePreferredReplicaElection(ctx context.Context, f zkutil.Fence) error
	EntityConfig(ctx context.Context, typ zkutil.ConfigEntityType, name string) (map[string]string, error)
}
