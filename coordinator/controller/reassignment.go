package controller

// Partition reassignment (KIP-455), as Kafka 2.8's
// KafkaController.onPartitionReassignment does it, simplified.
//
// Reassigning partition P from its original replicas OR to the target
// replicas TR goes in two steps:
//
//  1. Start: the topic znode gets replicas TR ++ (OR - TR), with
//     adding_replicas TR - OR and removing_replicas OR - TR; the state
//     znode gets a bumped leader epoch (and an ISR trimmed to the new
//     replica set); every live replica of TR and OR gets LeaderAndIsr, so
//     that the new replicas start following. Replicas a previous
//     reassignment of P was adding and that the new one drops get
//     StopReplica with delete.
//  2. Finish, once every replica of TR is in the ISR: the leader moves to
//     a live ISR member of TR when it is not in TR itself; the state znode
//     gets ISR ∩ TR and a new leader epoch; TR gets LeaderAndIsr, OR - TR
//     StopReplica with delete; the topic znode gets replicas TR without
//     adding or removing replicas; every broker gets UpdateMetadata.
//
// Departure from Kafka: Kafka re-checks a reassignment when an ISR change
// of the partition reaches the controller. Here the term looks at the
// partitions being reassigned every reassignCheckInterval, in its loop and
// from its memory (AlterIsr keeps that up to date), while any is in
// progress. Kafka also first takes removed replicas offline (StopReplica
// without delete, ISR shrink) before deleting them; here they leave the
// ISR in the finishing write and get one StopReplica with delete.
//
// Requests come from AlterPartitionReassignments (AlterReassignments) and
// from the legacy /admin/reassign_partitions znode, which is deleted once
// every partition it listed is done (or could not start). Reassignments in
// progress when a controller fails over are resumed from the topic znodes'
// adding and removing replicas, and the znode is read again.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// reassignCheckInterval is how often the term looks whether reassignments
// in progress can finish.
const reassignCheckInterval = 200 * time.Millisecond

// reassignStore is what reassignments need of ZooKeeper beyond zkStore's
// other methods; *zkutil.Client satisfies it.
type reassignStore interface {
	SetTopicAssignment(ctx context.Context, f zkutil.Fence, topic string, a zkutil.TopicAssignment, expected int32) (zkutil.Stat, error)
	WatchPartitionReassignment(ctx context.Context) (map[zkutil.TopicPartition][]int32, bool, <-chan zkutil.WatchEvent, error)
	DeletePartitionReassignment(ctx context.Context, f zkutil.Fence) error
}

// reassignment is one partition's reassignment in progress.
type reassignment struct {
	target   []int32 // TR
	adding   []int32 // TR - OR
	removing []int32 // OR - TR
}

// origin is the replicas the partition had before the reassignment.
func (r *reassignment) origin(replicas []int32) []int32 {
	out := []int32{}
	for _, id := range replicas {
		if !slices.Contains(r.adding, id) {
			out = append(out, id)
		}
	}
	return out
}

// reassignments is a term's reassignment state, owned by its loop.
type reassignments struct {
	inProgress map[zkutil.TopicPartition]*reassignment
	// fromZnode lists the partitions of /admin/reassign_partitions not
	// finished yet; znodeSeen tells whether the znode exists.
	fromZnode map[zkutil.TopicPartition]bool
	znodeSeen bool
	checking  bool // a check is scheduled
	// work hands the znode's events and the checks to the term's loop
	// (the elections' channel, elect_leaders.go).
	work *elections
}

// Reassignment describes a reassignment in progress: the partition's full
// replica set and the replicas being added and removed.
type Reassignment struct {
	Replicas, Adding, Removing []int32
}

// ReassignmentRequest asks to reassign a partition to Replicas, or, when
// Replicas is nil, to cancel its reassignment.
type ReassignmentRequest struct {
	zkutil.TopicPartition
	Replicas []int32
}

// AlterReassignments starts or cancels the reassignments asked (Kafka's
// KafkaController.alterPartitionReassignments), in the controller's loop,
// and returns each partition's outcome once the reassignment has started
// (not finished), as Kafka answers. Per partition: UNKNOWN_TOPIC_OR_PARTITION
// for a partition the controller does not know or whose topic is being
// deleted; INVALID_REPLICA_ASSIGNMENT for an empty replica list, one with
// duplicates or one naming a broker that is not alive;
// NO_REASSIGNMENT_IN_PROGRESS when cancelling a partition not being
// reassigned. It fails with kerr.NotController when this broker does not
// lead, kerr.RequestTimedOut when ctx ends first.
func (c *Controller) AlterReassignments(ctx context.Context, reqs []ReassignmentRequest) (map[zkutil.TopicPartition]error, error) {
	var out map[zkutil.TopicPartition]error
	err := c.onLoop(ctx, func(ctx context.Context, t *term) error {
		var err error
		out, err = t.alterReassignments(ctx, reqs, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, kerr.NotController
	}
	return out, nil
}

// ListReassignments lists the reassignments in progress among tps, or all
// of them when all is set (Kafka's listPartitionReassignments).
func (c *Controller) ListReassignments(ctx context.Context, tps []zkutil.TopicPartition, all bool) (map[zkutil.TopicPartition]Reassignment, error) {
	out := map[zkutil.TopicPartition]Reassignment{}
	err := c.onLoop(ctx, func(_ context.Context, t *term) error {
		rs := t.reassign()
		if all {
			tps = slices.Collect(maps.Keys(rs.inProgress))
		}
		for _, tp := range tps {
			r, ok := rs.inProgress[tp]
			p := t.partition(tp)
			if !ok || p == nil {
				continue
			}
			out[tp] = Reassignment{Replicas: slices.Clone(p.replicas), Adding: slices.Clone(r.adding), Removing: slices.Clone(r.removing)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (t *term) reassign() *reassignments {
	if t.reassigning == nil {
		t.reassigning = &reassignments{inProgress: map[zkutil.TopicPartition]*reassignment{}, fromZnode: map[zkutil.TopicPartition]bool{}}
	}
	return t.reassigning
}

// startReassignments begins the term's reassignment work (Kafka's
// initializePartitionReassignments): reassignments the topic znodes show
// in progress resume, then /admin/reassign_partitions is read and watched.
func (t *term) startReassignments() {
	e := t.c.elections.cur // set by startElections, on this goroutine
	t.reassign().work = e
	e.after(0, func(ctx context.Context) error {
		rs := t.reassign()
		names := slices.Sorted(maps.Keys(t.topics))
		if len(names) > 0 {
			as, err := t.c.cfg.ZK.TopicAssignments(ctx, names)
			if err != nil {
				return fmt.Errorf("reading topic assignments for reassignments: %w", err)
			}
			for name, a := range as {
				for p, adding := range a.AddingReplicas {
					tp := zkutil.TopicPartition{Topic: name, Partition: p}
					if t.partition(tp) == nil {
						continue
					}
					removing := a.RemovingReplicas[p]
					r := &reassignment{adding: slices.Clone(adding), removing: slices.Clone(removing)}
					for _, id := range a.Partitions[p] {
						if !slices.Contains(removing, id) {
							r.target = append(r.target, id)
						}
					}
					rs.inProgress[tp] = r
					t.log.WithField("partition", tp.String()).WithField("target", r.target).Info("resuming partition reassignment")
				}
			}
			for name, a := range as {
				for p, removing := range a.RemovingReplicas {
					tp := zkutil.TopicPartition{Topic: name, Partition: p}
					if _, ok := rs.inProgress[tp]; ok || t.partition(tp) == nil {
						continue
					}
					// Only removing: the target is already there.
					r := &reassignment{removing: slices.Clone(removing)}
					for _, id := range a.Partitions[p] {
						if !slices.Contains(removing, id) {
							r.target = append(r.target, id)
						}
					}
					rs.inProgress[tp] = r
				}
			}
		}
		t.scheduleReassignCheck()
		return t.onReassignZnode(ctx)
	})
}

// onReassignZnode handles /admin/reassign_partitions (Kafka's
// PartitionReassignmentHandler and processZkPartitionReassignment): it
// re-reads the znode, re-arming the watch, and starts the partitions it
// lists that it has not started yet. Partitions that cannot start are
// logged and count as done; when none is left the znode is deleted.
func (t *term) onReassignZnode(ctx context.Context) error {
	rs := t.reassign()
	e := rs.work
	m, ok, watch, err := t.c.cfg.ZK.WatchPartitionReassignment(ctx)
	if watch != nil {
		e.forward(watch, t.onReassignZnode)
	}
	switch {
	case errors.Is(err, zkutil.ErrMalformed):
		t.log.WithError(err).Warn("deleting a partition reassignment request that cannot be read")
		rs.znodeSeen = true
		clear(rs.fromZnode)
		return t.maybeDeleteReassignZnode(ctx)
	case err != nil:
		if watch == nil {
			e.after(t.c.cfg.RetryBackoff, t.onReassignZnode)
		}
		return fmt.Errorf("reading the partition reassignment request: %w", err)
	case !ok:
		rs.znodeSeen = false
		clear(rs.fromZnode)
		return nil
	}
	if rs.znodeSeen {
		return nil // already being carried out; a later change is ignored until it is deleted
	}
	rs.znodeSeen = true
	var reqs []ReassignmentRequest
	for _, tp := range slices.SortedFunc(maps.Keys(m), compareTPs) {
		reqs = append(reqs, ReassignmentRequest{TopicPartition: tp, Replicas: m[tp]})
	}
	results, err := t.alterReassignments(ctx, reqs, true)
	if err != nil {
		return err
	}
	for _, tp := range slices.SortedFunc(maps.Keys(results), compareTPs) {
		if results[tp] != nil {
			t.log.WithError(results[tp]).WithField("partition", tp.String()).Warn("skipping a partition of /admin/reassign_partitions")
			continue
		}
		if _, ok := rs.inProgress[tp]; ok {
			rs.fromZnode[tp] = true
		}
	}
	return t.maybeDeleteReassignZnode(ctx)
}

// maybeDeleteReassignZnode deletes /admin/reassign_partitions once every
// partition it listed is done.
func (t *term) maybeDeleteReassignZnode(ctx context.Context) error {
	rs := t.reassign()
	if !rs.znodeSeen || len(rs.fromZnode) > 0 {
		return nil
	}
	if err := t.c.cfg.ZK.DeletePartitionReassignment(ctx, t.fence); err != nil {
		if errors.Is(err, zkutil.ErrEpochFenced) {
			return err
		}
		return fmt.Errorf("deleting the partition reassignment request: %w", err)
	}
	t.log.Info("partition reassignment request done and deleted")
	rs.znodeSeen = false
	return nil
}

func compareTPs(a, b zkutil.TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

// alterReassignments is AlterReassignments in the loop. A nil map with an
// error means the term was fenced. fromZnode: the request is the znode's
// (a request from the API takes its partitions out of the znode's).
func (t *term) alterReassignments(ctx context.Context, reqs []ReassignmentRequest, fromZnode bool) (map[zkutil.TopicPartition]error, error) {
	rs := t.reassign()
	out := make(map[zkutil.TopicPartition]error, len(reqs))
	for _, req := range reqs {
		tp := req.TopicPartition
		p := t.partition(tp)
		if p == nil || !p.hasState || t.topics[tp.Topic].deletion != nil {
			out[tp] = kerr.UnknownTopicOrPartition
			continue
		}
		cur := rs.inProgress[tp]
		target := req.Replicas
		if target == nil { // cancel: back to the original replicas
			if cur == nil {
				out[tp] = kerr.NoReassignmentInProgress
				continue
			}
			target = cur.origin(p.replicas)
		} else if err := t.checkTarget(target); err != nil {
			out[tp] = err
			continue
		}
		if !fromZnode && rs.fromZnode[tp] {
			delete(rs.fromZnode, tp)
		}
		if err := t.startReassignment(ctx, tp, p, cur, target); err != nil {
			if errors.Is(err, zkutil.ErrEpochFenced) {
				return nil, err
			}
			t.log.WithError(err).WithField("partition", tp.String()).Warn("starting a partition reassignment failed")
			out[tp] = kerr.UnknownServerError
			continue
		}
		out[tp] = nil
	}
	if !fromZnode {
		if err := t.maybeDeleteReassignZnode(ctx); err != nil && errors.Is(err, zkutil.ErrEpochFenced) {
			return nil, err
		}
	}
	t.scheduleReassignCheck()
	return out, nil
}

// checkTarget validates target replicas as Kafka's
// validateReplicas does.
func (t *term) checkTarget(target []int32) error {
	if len(target) == 0 {
		return kerr.InvalidReplicaAssignment
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) || !t.alive(id) {
			return kerr.InvalidReplicaAssignment
		}
	}
	return nil
}

// startReassignment is step 1 for one partition; cur is its reassignment
// in progress, if any.
func (t *term) startReassignment(ctx context.Context, tp zkutil.TopicPartition, p *partition, cur *reassignment, target []int32) error {
	rs := t.reassign()
	origin := slices.Clone(p.replicas)
	if cur != nil {
		origin = cur.origin(p.replicas)
	}
	r := &reassignment{target: slices.Clone(target)}
	replicas := slices.Clone(target)
	for _, id := range origin {
		if !slices.Contains(target, id) {
			replicas = append(replicas, id)
			r.removing = append(r.removing, id)
		}
	}
	for _, id := range target {
		if !slices.Contains(origin, id) {
			r.adding = append(r.adding, id)
		}
	}
	var unneeded []int32
	for _, id := range p.replicas {
		if !slices.Contains(replicas, id) {
			unneeded = append(unneeded, id)
		}
	}
	if len(r.adding) == 0 && len(r.removing) == 0 {
		r = nil // nothing to move: the znode loses its adding and removing replicas
	}
	if err := t.writeTopicReplicas(ctx, tp, replicas, r); err != nil {
		return err
	}
	p.replicas = replicas
	if r == nil {
		delete(rs.inProgress, tp)
	} else {
		rs.inProgress[tp] = r
	}
	t.stateLog(tp).WithFields(logrus.Fields{"replicas": replicas, "adding": r.addingOrNil(), "removing": r.removingOrNil()}).
		Info("partition reassignment started")
	next := p.state
	next.ISR = keep(p.state.ISR, replicas)
	if !slices.Contains(next.ISR, next.Leader) || !t.alive(next.Leader) {
		next.Leader, _, _ = ElectLeader(replicas, next.ISR, t.alive, false)
	}
	if err := t.writeReassignState(ctx, tp, p, next); err != nil {
		return err
	}
	t.sendLeaderAndISR(tpSet{tp: true}, nil, nil)
	t.sendUpdateMetadata(tpSet{tp: true}, nil, nil)
	t.stopReassignedReplicas(tp, unneeded, p.state.LeaderEpoch)
	return nil
}

func (r *reassignment) addingOrNil() []int32 {
	if r == nil {
		return nil
	}
	return r.adding
}

func (r *reassignment) removingOrNil() []int32 {
	if r == nil {
		return nil
	}
	return r.removing
}

// keep lists the members of ids that are in set, in ids' order.
func keep(ids, set []int32) []int32 {
	out := []int32{}
	for _, id := range ids {
		if slices.Contains(set, id) {
			out = append(out, id)
		}
	}
	return out
}

// writeReassignState writes next, with a bumped leader epoch, as p's state,
// re-reading and retrying on a version conflict.
func (t *term) writeReassignState(ctx context.Context, tp zkutil.TopicPartition, p *partition, next zkutil.PartitionState) error {
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		next.LeaderEpoch = p.state.LeaderEpoch + 1
		next.ControllerEpoch = t.epoch
		r := t.c.cfg.ZK.SetPartitionStates(ctx, t.fence, []zkutil.PartitionStateWrite{{TopicPartition: tp, State: next, ZkVersion: p.zkVersion}})[0]
		switch {
		case r.Err == nil:
			p.state, p.zkVersion = r.State, r.ZkVersion
			t.stateLog(tp).WithFields(logrus.Fields{"leader": r.State.Leader, "leader_epoch": r.State.LeaderEpoch, "isr": r.State.ISR}).
				Info("partition state written for reassignment")
			return nil
		case errors.Is(r.Err, zkutil.ErrVersionConflict):
			if err := t.readStates(ctx, []zkutil.TopicPartition{tp}); err != nil {
				return err
			}
			isr := keep(p.state.ISR, p.replicas)
			next.ISR = isr
			if next.Leader != p.state.Leader && !slices.Contains(isr, next.Leader) {
				next.Leader = p.state.Leader
			}
		default:
			return r.Err
		}
	}
	return errors.New("the partition state kept changing under the controller")
}

// writeTopicReplicas writes the topic's znode with tp's replicas and the
// term's reassignments of the topic, r for tp (nil: none).
func (t *term) writeTopicReplicas(ctx context.Context, tp zkutil.TopicPartition, replicas []int32, r *reassignment) error {
	top := t.topics[tp.Topic]
	rs := t.reassign()
	a := zkutil.TopicAssignment{TopicID: top.id, Partitions: map[int32][]int32{},
		AddingReplicas: map[int32][]int32{}, RemovingReplicas: map[int32][]int32{}}
	for n, p := range top.partitions {
		a.Partitions[n] = slices.Clone(p.replicas)
		other := rs.inProgress[zkutil.TopicPartition{Topic: tp.Topic, Partition: n}]
		if n == tp.Partition {
			a.Partitions[n] = slices.Clone(replicas)
			other = r
		}
		if other != nil {
			a.AddingReplicas[n] = slices.Clone(other.adding)
			a.RemovingReplicas[n] = slices.Clone(other.removing)
		}
	}
	_, err := t.c.cfg.ZK.SetTopicAssignment(ctx, t.fence, tp.Topic, a, zkutil.MatchAnyVersion)
	if err != nil {
		return fmt.Errorf("writing the assignment of %s: %w", tp.Topic, err)
	}
	return nil
}

// stopReassignedReplicas sends the live brokers of ids StopReplica with
// delete for tp, with leader epoch epoch (newer than what they hold).
func (t *term) stopReassignedReplicas(tp zkutil.TopicPartition, ids []int32, epoch int32) {
	for _, id := range ids {
		s, ok := t.senders[id]
		if !ok {
			continue
		}
		req := t.stopReplicaDelete(s.broker, []zkutil.TopicPartition{tp})
		req.Topics[0].PartitionStates[0].LeaderEpoch = epoch
		t.stateLog(tp).WithField("target_broker_id", id).Info("sending StopReplica for a reassigned replica")
		s.enqueue(req)
	}
}

// addingRemoving gives the adding and removing replicas LeaderAndIsr
// carries for tp (empty when not being reassigned).
func (t *term) addingRemoving(tp zkutil.TopicPartition) (adding, removing []int32) {
	if t.reassigning != nil {
		if r := t.reassigning.inProgress[tp]; r != nil {
			return slices.Clone(r.adding), slices.Clone(r.removing)
		}
	}
	return []int32{}, []int32{}
}

// scheduleReassignCheck arms the next check while reassignments are in
// progress.
func (t *term) scheduleReassignCheck() {
	rs := t.reassign()
	if rs.checking || len(rs.inProgress) == 0 {
		return
	}
	rs.checking = true
	rs.work.after(reassignCheckInterval, func(ctx context.Context) error {
		rs.checking = false
		err := t.checkReassignments(ctx)
		t.scheduleReassignCheck()
		return err
	})
}

// checkReassignments finishes the reassignments whose target replicas are
// all in the ISR (Kafka's isReassignmentComplete).
func (t *term) checkReassignments(ctx context.Context) error {
	rs := t.reassign()
	for _, tp := range slices.SortedFunc(maps.Keys(rs.inProgress), compareTPs) {
		r := rs.inProgress[tp]
		p := t.partition(tp)
		if p == nil || t.topics[tp.Topic].deletion != nil {
			delete(rs.inProgress, tp)
			delete(rs.fromZnode, tp)
			continue
		}
		if !p.hasState || !containsAll(p.state.ISR, r.target) {
			continue
		}
		if err := t.finishReassignment(ctx, tp, p, r); err != nil {
			if errors.Is(err, zkutil.ErrEpochFenced) {
				return err
			}
			t.log.WithError(err).WithField("partition", tp.String()).Warn("finishing a partition reassignment failed; retrying")
		}
	}
	return t.maybeDeleteReassignZnode(ctx)
}

func containsAll(set, ids []int32) bool {
	for _, id := range ids {
		if !slices.Contains(set, id) {
			return false
		}
	}
	return true
}

// finishReassignment is step 2 for one partition.
func (t *term) finishReassignment(ctx context.Context, tp zkutil.TopicPartition, p *partition, r *reassignment) error {
	next := p.state
	next.ISR = keep(p.state.ISR, r.target)
	if !slices.Contains(r.target, next.Leader) || !t.alive(next.Leader) {
		leader, _, _ := ElectLeader(r.target, next.ISR, t.canLead(t.alive), false)
		if leader == NoLeader {
			return errors.New("no replica of the target can lead yet")
		}
		next.Leader = leader
	}
	removed := slices.Clone(r.removing)
	if err := t.writeReassignState(ctx, tp, p, next); err != nil {
		return err
	}
	rs := t.reassign()
	p.replicas = slices.Clone(r.target)
	delete(rs.inProgress, tp)
	if err := t.writeTopicReplicas(ctx, tp, r.target, nil); err != nil {
		// The state is written: leave the partition done in memory; the
		// topic znode keeps the old set until a later write.
		t.log.WithError(err).WithField("partition", tp.String()).Warn("writing the reassigned assignment failed")
		if errors.Is(err, zkutil.ErrEpochFenced) {
			return err
		}
	}
	delete(rs.fromZnode, tp)
	t.sendLeaderAndISR(tpSet{tp: true}, nil, nil)
	t.stopReassignedReplicas(tp, removed, p.state.LeaderEpoch)
	t.sendUpdateMetadata(tpSet{tp: true}, nil, nil)
	t.stateLog(tp).WithFields(logrus.Fields{"replicas": p.replicas, "leader": p.state.Leader}).Info("partition reassignment completed")
	return nil
}
