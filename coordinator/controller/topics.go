package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// tpSet is a set of partitions.
type tpSet map[zkutil.TopicPartition]bool

// maxWriteAttempts bounds how often one event re-reads and rewrites a
// partition state that another writer changed under it.
const maxWriteAttempts = 5

// loadTopics re-reads /brokers/topics and re-arms its watch. Topics not
// known to the term are read (assignment and partition states) into it;
// topics gone from ZooKeeper are dropped and returned, so that brokers can
// forget their partitions.
func (t *term) loadTopics(ctx context.Context) (<-chan zkutil.WatchEvent, tpSet, error) {
	names, watch, err := t.c.cfg.ZK.WatchTopics(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("watching topics: %w", err)
	}
	gone := tpSet{}
	current := map[string]bool{}
	for _, n := range names {
		current[n] = true
	}
	for name, tp := range t.topics {
		if !current[name] {
			for p := range tp.partitions {
				gone[zkutil.TopicPartition{Topic: name, Partition: p}] = true
			}
			delete(t.topics, name)
			t.log.WithField("topic", name).Info("topic gone")
		}
	}
	var added []string
	for _, n := range names {
		if _, ok := t.topics[n]; !ok {
			added = append(added, n)
		}
	}
	if len(added) == 0 {
		return watch, gone, nil
	}
	assignments, watches, err := t.c.cfg.ZK.WatchTopicAssignments(ctx, added)
	if err != nil {
		return nil, nil, fmt.Errorf("reading topic assignments: %w", err)
	}
	var tps []zkutil.TopicPartition
	for name, a := range assignments {
		tp := &topic{id: a.TopicID, partitions: make(map[int32]*partition, len(a.Partitions))}
		for p, replicas := range a.Partitions {
			tp.partitions[p] = &partition{replicas: slices.Clone(replicas)}
			tps = append(tps, zkutil.TopicPartition{Topic: name, Partition: p})
		}
		t.topics[name] = tp
		t.armAssignmentWatch(name, tp, watches[name])
		t.log.WithField("topic", name).WithField("partitions", len(a.Partitions)).Info("topic loaded")
	}
	if err := t.readStates(ctx, tps); err != nil {
		return nil, nil, err
	}
	return watch, gone, nil
}

// readStates reads the state znodes of tps into the term's view.
func (t *term) readStates(ctx context.Context, tps []zkutil.TopicPartition) error {
	for _, r := range t.c.cfg.ZK.PartitionStates(ctx, tps) {
		p := t.partition(r.TopicPartition)
		if p == nil {
			continue
		}
		switch {
		case r.Err == nil:
			p.hasState, p.state, p.zkVersion = true, r.State, r.ZkVersion
		case errors.Is(r.Err, zkutil.ErrNoNode):
			p.hasState = false
		default:
			return fmt.Errorf("reading partition state of %s: %w", r.TopicPartition, r.Err)
		}
	}
	return nil
}

func (t *term) partition(tp zkutil.TopicPartition) *partition {
	if top, ok := t.topics[tp.Topic]; ok {
		return top.partitions[tp.Partition]
	}
	return nil
}

// sortedPartitions lists the term's partitions in topic, partition order.
func (t *term) sortedPartitions() []zkutil.TopicPartition {
	var out []zkutil.TopicPartition
	for _, name := range slices.Sorted(maps.Keys(t.topics)) {
		for _, p := range slices.Sorted(maps.Keys(t.topics[name].partitions)) {
			out = append(out, zkutil.TopicPartition{Topic: name, Partition: p})
		}
	}
	return out
}

// reconcile brings every partition's state in line with the live brokers:
// partitions without state get one (newPartitionState), the others a new
// leader or a smaller ISR where brokers died (reconcilePartition). bounced
// brokers restarted since the last look: as Kafka's onBrokerChange does,
// they are first treated as dead (they lost their leadership and their
// place in the ISR), then as alive. The writes go to ZooKeeper behind the
// term's fence; a version conflict re-reads the partition and decides
// again. It returns the partitions whose state changed and, among them,
// those just created. An error matching zkutil.ErrEpochFenced means
// another controller took over.
func (t *term) reconcile(ctx context.Context, bounced []int32) (changed, created tpSet, err error) {
	changed, created = tpSet{}, tpSet{}
	aliveNow := t.alive
	aliveFirst := func(id int32) bool { return t.alive(id) && !slices.Contains(bounced, id) }
	uncleanMemo := map[string]bool{}
	for attempt := 0; attempt < maxWriteAttempts; attempt++ {
		var creates, sets []zkutil.PartitionStateWrite
		for _, tp := range t.sortedPartitions() {
			p := t.partition(tp)
			if t.topics[tp.Topic].deletion != nil {
				continue // no elections for a topic being deleted
			}
			if !p.hasState {
				if s, ok := newPartitionState(p.replicas, aliveNow, t.epoch); ok {
					creates = append(creates, zkutil.PartitionStateWrite{TopicPartition: tp, State: s})
				}
				continue
			}
			unclean := t.uncleanAllowedMemo(ctx, tp.Topic, p, uncleanMemo) // the topic's override, read only when needed
			s1, ch1 := reconcilePartition(p.replicas, p.state, aliveFirst, t.canLead(aliveFirst), unclean, t.epoch)
			s2, ch2 := reconcilePartition(p.replicas, s1, aliveNow, t.canLead(aliveNow), unclean, t.epoch)
			if ch1 || ch2 {
				sets = append(sets, zkutil.PartitionStateWrite{TopicPartition: tp, State: s2, ZkVersion: p.zkVersion})
			}
		}
		if len(creates) == 0 && len(sets) == 0 {
			return changed, created, nil
		}
		var reread []zkutil.TopicPartition
		apply := func(results []zkutil.PartitionStateResult, isCreate bool) error {
			for _, r := range results {
				p := t.partition(r.TopicPartition)
				log := t.log.WithField("partition", r.TopicPartition.String())
				switch {
				case r.Err == nil:
					p.hasState, p.state, p.zkVersion = true, r.State, r.ZkVersion
					changed[r.TopicPartition] = true
					if isCreate {
						created[r.TopicPartition] = true
					}
					log.WithField("leader", r.State.Leader).WithField("leader_epoch", r.State.LeaderEpoch).
						WithField("isr", r.State.ISR).Info("partition state written")
				case errors.Is(r.Err, zkutil.ErrEpochFenced):
					return r.Err
				case errors.Is(r.Err, zkutil.ErrVersionConflict), errors.Is(r.Err, zkutil.ErrNodeExists):
					reread = append(reread, r.TopicPartition)
				default:
					// Left as it was; the next event tries again.
					log.WithError(r.Err).Warn("writing partition state failed")
				}
			}
			return nil
		}
		if len(creates) > 0 {
			if err := apply(t.c.cfg.ZK.CreatePartitionStates(ctx, t.fence, creates), true); err != nil {
				return changed, created, err
			}
		}
		if len(sets) > 0 {
			if err := apply(t.c.cfg.ZK.SetPartitionStates(ctx, t.fence, sets), false); err != nil {
				return changed, created, err
			}
		}
		if len(reread) == 0 {
			return changed, created, nil
		}
		if err := t.readStates(ctx, reread); err != nil {
			return changed, created, err
		}
		// What was re-read may have changed under brokers' feet: tell them.
		for _, tp := range reread {
			changed[tp] = true
		}
	}
	t.log.Warn("partition states kept changing under the controller; giving up until the next event")
	return changed, created, nil
}

// replicasOn lists the partitions with a state that have a replica on
// broker id, except those of topics being deleted.
func (t *term) replicasOn(id int32) []zkutil.TopicPartition {
	var out []zkutil.TopicPartition
	for _, tp := range t.sortedPartitions() {
		if t.topics[tp.Topic].deletion != nil {
			continue
		}
		if p := t.partition(tp); p.hasState && slices.Contains(p.replicas, id) {
			out = append(out, tp)
		}
	}
	return out
}

// touching lists the partitions with a replica on one of ids (their
// offline replicas change when those brokers come or go).
func (t *term) touching(ids []int32) tpSet {
	out := tpSet{}
	for _, id := range ids {
		for _, tp := range t.replicasOn(id) {
			out[tp] = true
		}
	}
	return out
}

// sendLeaderAndISR sends each live replica of parts a LeaderAndIsr for the
// partitions of parts it replicates; full lists brokers that get every
// partition they replicate instead.
func (t *term) sendLeaderAndISR(parts, isNew tpSet, full []int32) {
	t.sendLeaderAndISRExcept(parts, isNew, full, nil)
}

// sendLeaderAndISRExcept is sendLeaderAndISR leaving out the partitions of
// except (sent already in the same event).
func (t *term) sendLeaderAndISRExcept(parts, isNew tpSet, full []int32, except tpSet) {
	perBroker := map[int32][]zkutil.TopicPartition{}
	for _, tp := range t.sortedPartitions() {
		p := t.partition(tp)
		if !parts[tp] || except[tp] || !p.hasState || t.topics[tp.Topic].deletion != nil {
			continue
		}
		for _, r := range p.replicas {
			if t.alive(r) && !slices.Contains(full, r) {
				perBroker[r] = append(perBroker[r], tp)
			}
		}
	}
	for _, id := range full {
		if t.alive(id) {
			perBroker[id] = slices.DeleteFunc(t.replicasOn(id), func(tp zkutil.TopicPartition) bool { return except[tp] })
		}
	}
	for id, tps := range perBroker {
		s, ok := t.senders[id]
		if !ok || len(tps) == 0 {
			continue
		}
		s.enqueue(t.leaderAndISR(s.broker, tps, isNew))
	}
}

// leaders gives the leader of every partition with a state.
func (t *term) leaders() map[zkutil.TopicPartition]int32 {
	out := map[zkutil.TopicPartition]int32{}
	for name, top := range t.topics {
		for p, part := range top.partitions {
			if part.hasState {
				out[zkutil.TopicPartition{Topic: name, Partition: p}] = part.state.Leader
			}
		}
	}
	return out
}

// sendLeaderMovesFirst sends, ahead of the rest of an event's requests, a
// LeaderAndIsr to the live replicas and an UpdateMetadata to every broker
// for just the partitions of changed whose leader is not the one of
// before (partitions created in the event excepted), when the rest of the
// event carries more than those: more changed partitions, or the whole
// set of some brokers (full). It returns the partitions so sent, which the
// event's LeaderAndIsr then leaves out.
//
// Kafka's onBrokerFailure does the same: it elects leaders for the
// partitions that lost theirs and sends those requests before it takes
// the dead replicas out of the other partitions' ISRs and sends again.
// With thousands of partitions, brokers apply a LeaderAndIsr in time
// proportional to its size, and the UpdateMetadata behind it waits: the
// smaller first pair lets the new leaders lead, and clients find them,
// a multiple sooner.
func (t *term) sendLeaderMovesFirst(before map[zkutil.TopicPartition]int32, changed, created tpSet, full bool) tpSet {
	moved := tpSet{}
	for tp := range changed {
		if old, ok := before[tp]; ok && !created[tp] && t.partition(tp).state.Leader != old {
			moved[tp] = true
		}
	}
	if len(moved) == 0 || (!full && len(moved) == len(changed)) {
		return nil
	}
	t.sendLeaderAndISR(moved, nil, nil)
	t.sendUpdateMetadata(moved, nil, nil)
	return moved
}

// leaderAndISRVersion is the LeaderAndIsr version the controller sends:
// v5, which Kafka 2.8 sends at inter.broker.protocol.version 2.8, because
// it carries the topic ids the topic znodes hold (KIP-516). Type is 0
// (incremental), as Kafka 2.8 always sends.
const leaderAndISRVersion = 5

// leaderAndISR builds the LeaderAndIsr request telling broker the state of
// tps, with the live leaders among them.
func (t *term) leaderAndISR(broker zkutil.BrokerRegistration, tps []zkutil.TopicPartition, isNew tpSet) *kmsg.LeaderAndISRRequest {
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version = leaderAndISRVersion
	req.ControllerID = t.c.cfg.BrokerID
	req.ControllerEpoch = t.epoch
	req.BrokerEpoch = broker.Epoch
	leaders := map[int32]bool{}
	for _, tp := range tps {
		p := t.partition(tp)
		if n := len(req.TopicStates); n == 0 || req.TopicStates[n-1].Topic != tp.Topic {
			ts := kmsg.NewLeaderAndISRRequestTopicState()
			ts.Topic = tp.Topic
			ts.TopicID = t.topics[tp.Topic].id
			req.TopicStates = append(req.TopicStates, ts)
		}
		ps := kmsg.NewLeaderAndISRRequestTopicPartition()
		ps.Topic = tp.Topic
		ps.Partition = tp.Partition
		ps.ControllerEpoch = p.state.ControllerEpoch
		ps.Leader = p.state.Leader
		ps.LeaderEpoch = p.state.LeaderEpoch
		ps.ISR = slices.Clone(p.state.ISR)
		ps.ZKVersion = p.zkVersion
		ps.Replicas = slices.Clone(p.replicas)
		ps.AddingReplicas, ps.RemovingReplicas = t.addingRemoving(tp) // reassignment.go
		ps.IsNew = isNew[tp]
		ts := &req.TopicStates[len(req.TopicStates)-1]
		ts.PartitionStates = append(ts.PartitionStates, ps)
		if p.state.Leader != NoLeader {
			leaders[p.state.Leader] = true
		}
	}
	for _, id := range slices.Sorted(maps.Keys(leaders)) {
		reg, ok := t.brokers[id]
		if !ok {
			continue
		}
		ep, ok := t.c.interBrokerEndpoint(reg)
		if !ok {
			continue
		}
		ll := kmsg.NewLeaderAndISRRequestLiveLeader()
		ll.BrokerID, ll.Host, ll.Port = id, ep.Host, int32(ep.Port)
		req.LiveLeaders = append(req.LiveLeaders, ll)
	}
	return req
}

// sendUpdateMetadata sends every live broker the live brokers and the
// states of parts (deleted: partitions to forget, leader -2); full lists
// brokers that get every partition instead.
func (t *term) sendUpdateMetadata(parts, deleted tpSet, full []int32) {
	for id, s := range t.senders {
		if slices.Contains(full, id) {
			s.enqueue(t.updateMetadata(s.broker, t.allPartitions(), deleted))
		} else {
			s.enqueue(t.updateMetadata(s.broker, parts, deleted))
		}
	}
}

func (t *term) allPartitions() tpSet {
	out := tpSet{}
	for _, tp := range t.sortedPartitions() {
		out[tp] = true
	}
	return out
}

// armAssignmentWatch forwards the next event of watch, the watch on the
// topic's znode, into the inbox, tagged with a new generation of the
// topic's watch. One goroutine per armed watch, so at most one per topic:
// it ends when the watch fires or the term ends.
func (t *term) armAssignmentWatch(name string, tp *topic, watch <-chan zkutil.WatchEvent) {
	if watch == nil {
		return
	}
	t.watchGen++ // term-wide, so that a re-created topic's numbers differ
	tp.watchGen = t.watchGen
	gen := tp.watchGen
	t.forwarders.Add(1)
	go func() {
		defer t.forwarders.Done()
		select {
		case <-t.ctx.Done():
		case <-watch:
			t.post(termEvent{topic: name, gen: gen})
		}
	}()
}

// onAssignmentChange handles a change of a topic's znode (Kafka's
// PartitionModifications event and onNewPartitionCreation): it re-reads the
// assignment, re-arming the watch, and partitions that are new get a state
// (NewPartition to OnlinePartition), their replicas LeaderAndIsr with
// isNew, every broker UpdateMetadata.
//
// Partition counts only grow. An assignment that lost partitions is logged
// and ignored (Kafka 2.8 does the same: removing partitions is not
// supported). Changed replicas of existing partitions are a reassignment,
// which this handler leaves alone. A topic being deleted is ignored, as
// Kafka ignores partition modifications of a topic queued for deletion.
func (t *term) onAssignmentChange(ctx context.Context, name string, gen uint64) error {
	top := t.topics[name]
	if top == nil || top.watchGen != gen || top.deletion != nil {
		return nil
	}
	a, _, watch, err := t.c.cfg.ZK.WatchTopicAssignment(ctx, name)
	t.armAssignmentWatch(name, top, watch)
	switch {
	case errors.Is(err, zkutil.ErrNoNode):
		return nil // gone: the topics watch handles it
	case err != nil && watch == nil:
		// Not re-armed: look again after a pause.
		again := termEvent{topic: name, gen: top.watchGen}
		time.AfterFunc(t.c.cfg.RetryBackoff, func() { t.post(again) })
		return fmt.Errorf("reading the assignment of %s: %w", name, err)
	case err != nil:
		return fmt.Errorf("reading the assignment of %s: %w", name, err)
	}
	log := t.log.WithField("topic", name)
	var removed []int32
	for p := range top.partitions {
		if _, ok := a.Partitions[p]; !ok {
			removed = append(removed, p)
		}
	}
	if len(removed) > 0 {
		slices.Sort(removed)
		log.WithField("removed_partitions", removed).Warn("ignoring an assignment that removes partitions; partitions can only be added")
	}
	var added []zkutil.TopicPartition
	for _, p := range slices.Sorted(maps.Keys(a.Partitions)) {
		if _, ok := top.partitions[p]; ok {
			continue
		}
		top.partitions[p] = &partition{replicas: slices.Clone(a.Partitions[p])}
		added = append(added, zkutil.TopicPartition{Topic: name, Partition: p})
	}
	if len(added) == 0 {
		return nil
	}
	log.WithField("added_partitions", len(added)).Info("partitions added")
	if err := t.readStates(ctx, added); err != nil {
		return err
	}
	changed, created, err := t.reconcile(ctx, nil)
	if err != nil {
		return err
	}
	t.sendLeaderAndISR(changed, created, nil)
	if len(changed) > 0 {
		t.sendUpdateMetadata(changed, nil, nil)
	}
	return nil
}
