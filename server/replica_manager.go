package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Leader epochs with a meaning in StopReplica v3 (Kafka's LeaderAndIsr).
const (
	// stopReplicaNoEpoch is the epoch of StopReplica v0-v2, which carry
	// none: the epoch check is skipped.
	stopReplicaNoEpoch int32 = -1
	// epochDuringDelete is sent when the topic is being deleted, whose
	// leader epoch is not bumped: the replica stops regardless.
	epochDuringDelete int32 = -2
)

// replicaManager holds the partitions this broker hosts a replica of, and
// applies the controller's LeaderAndIsr and StopReplica to them (Kafka 2.8's
// ReplicaManager, without its produce and fetch paths, which live in the
// API files and the partitions).
//
// Safe for concurrent use. State changes (becomeLeaderOrFollower,
// stopReplicas) run one at a time under stateChangeMu (Kafka's
// replicaStateChangeLock); lookups on the produce and fetch path only take
// mu for reading. Lock order: controllerEpochFence.mu ->
// replicaManager.stateChangeMu -> replicaManager.mu -> Partition.mu ->
// logstore's locks. mu is never held while a log is created or deleted.
type replicaManager struct {
	brokerID  int32             // immutable
	logs      *logstore.Manager // immutable
	logConfig func(topic string) logstore.LogConfig
	log       *logrus.Entry // component=replica_manager
	stateLog  *logrus.Entry // component=state_change

	// repl is given to every Partition; fetchers run the follower side.
	repl     replicationConfig
	fetchers *replicaFetcherManager
	// onHighWatermark wakes what waits on a partition (handlers'); called
	// with no partition lock held. Nil in tests that need no wake-ups.
	onHighWatermark func(logstore.TopicPartition)
	// offsetsLeadership is told when this broker starts or stops leading a
	// partition of __consumer_offsets: the group coordinator. Nil in tests
	// that need none.
	offsetsLeadership offsetsLeadershipListener

	stateChangeMu sync.Mutex // serialises becomeLeaderOrFollower and stopReplicas

	mu         sync.RWMutex // guards the field below
	partitions map[logstore.TopicPartition]*Partition
}

// offsetsLeadershipListener is the group coordinator's side of the
// leadership changes of __consumer_offsets (Kafka's onLeadershipChange
// callback and handleStopReplicaRequest).
type offsetsLeadershipListener interface {
	OnElection(p int32, leaderEpoch int32)
	OnResignation(p int32, leaderEpoch int32)
}

// offsetsLeadershipChange is one call owed to offsetsLeadership.
type offsetsLeadershipChange struct {
	partition   int32
	leader      bool
	leaderEpoch int32
}

// tellOffsetsLeadership makes the calls owed to offsetsLeadership, in order.
// The replica manager calls it under stateChangeMu, so that the coordinator
// sees the changes in the order they were applied.
func (rm *replicaManager) tellOffsetsLeadership(changes []offsetsLeadershipChange) {
	if rm.offsetsLeadership == nil {
		return
	}
	for _, c := range changes {
		if c.leader {
			rm.offsetsLeadership.OnElection(c.partition, c.leaderEpoch)
		} else {
			rm.offsetsLeadership.OnResignation(c.partition, c.leaderEpoch)
		}
	}
}

// newReplicaManager returns a replica manager hosting nothing yet. logConfig
// gives the config a topic's new logs are created with.
func newReplicaManager(brokerID int32, logs *logstore.Manager, logConfig func(topic string) logstore.LogConfig, log *logrus.Entry) *replicaManager {
	return &replicaManager{
		brokerID:   brokerID,
		logs:       logs,
		logConfig:  logConfig,
		log:        log.WithField("component", "replica_manager"),
		stateLog:   log.WithField("component", "state_change"),
		partitions: map[logstore.TopicPartition]*Partition{},
	}
}

// getPartition returns the hosted partition, or UNKNOWN_TOPIC_OR_PARTITION.
func (rm *replicaManager) getPartition(tp logstore.TopicPartition) (*Partition, error) {
	rm.mu.RLock()
	p, ok := rm.partitions[tp]
	rm.mu.RUnlock()
	if !ok {
		return nil, kerr.UnknownTopicOrPartition
	}
	return p, nil
}

// leaderPartition returns the hosted partition if this broker leads it:
// UNKNOWN_TOPIC_OR_PARTITION when it is not hosted, NOT_LEADER_OR_FOLLOWER
// when another broker leads it. The answer can be stale by the time the
// caller acts on it; Partition.AppendRecordsToLeader checks again under
// the partition's lock.
func (rm *replicaManager) leaderPartition(tp logstore.TopicPartition) (*Partition, error) {
	p, err := rm.getPartition(tp)
	if err != nil {
		return nil, err
	}
	if !p.IsLeader() {
		return nil, kerr.NotLeaderForPartition
	}
	return p, nil
}

// partitionCount is the number of hosted partitions.
func (rm *replicaManager) partitionCount() int {
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	return len(rm.partitions)
}

// becomeLeaderOrFollower applies the partition states of one LeaderAndIsr
// request, whose controller and broker epochs the caller has checked, and
// returns an error code per partition (Kafka 2.8's
// ReplicaManager.becomeLeaderOrFollower):
//
//   - a newer leader epoch than the hosted one is applied: the log is
//     created if needed, then the partition becomes leader or follower;
//     UNKNOWN_TOPIC_OR_PARTITION if this broker is not in the assignment;
//   - an older or equal leader epoch is ignored with STALE_CONTROLLER_EPOCH,
//     as Kafka 2.8 answers (FENCED_LEADER_EPOCH is StopReplica's answer);
//   - a log that cannot be created is KAFKA_STORAGE_ERROR.
//
// For every partition of __consumer_offsets applied, the group coordinator
// (offsetsLeadership) is told: OnElection when this broker leads it,
// OnResignation when it follows (Kafka's onLeadershipChange callback).
//
// states must carry their topic (as v0-v1 requests do, and
// leaderAndISRPartitionStates arranges for later versions).
func (rm *replicaManager) becomeLeaderOrFollower(controllerID int32, states []kmsg.LeaderAndISRRequestTopicPartition, leaderAddrs map[int32]string) map[logstore.TopicPartition]int16 {
	rm.stateChangeMu.Lock()
	defer rm.stateChangeMu.Unlock()
	// A topic's config is looked up once per request, not once per new
	// partition: for a topic the metadata cache does not know yet, the
	// lookup reads /config/topics/<topic> from ZooKeeper, and a request
	// creating thousands of partitions spent a third of its time there.
	configs := map[string]logstore.LogConfig{}
	for i := range states {
		tp := logstore.TopicPartition{Topic: states[i].Topic, Partition: states[i].Partition}
		if _, seen := configs[tp.Topic]; seen {
			continue
		}
		if _, err := rm.getPartition(tp); err != nil {
			configs[tp.Topic] = rm.logConfig(tp.Topic)
		}
	}
	// Partitions this broker is to lead stop following first, all at once
	// (Kafka's makeLeaders): a fetcher still appending the old leader's
	// batches after the new epoch started would mix the two into the log.
	if rm.fetchers != nil {
		var toLead []logstore.TopicPartition
		for i := range states {
			st := &states[i]
			tp := logstore.TopicPartition{Topic: st.Topic, Partition: st.Partition}
			if p, err := rm.getPartition(tp); err == nil && st.Leader == rm.brokerID && rm.stateRejection(st, p) == 0 {
				toLead = append(toLead, tp)
			}
		}
		rm.fetchers.removePartitions(toLead)
	}

	applied := make([]appliedState, len(states))
	forEachPartitionGroup(states, leaderAndISRParallelism, func(i int) {
		applied[i] = rm.applyPartitionState(controllerID, &states[i], leaderAddrs, configs)
	})

	codes := make(map[logstore.TopicPartition]int16, len(states))
	var leading, stopped []logstore.TopicPartition
	follow := map[logstore.TopicPartition]fetchTarget{}
	var offsets []offsetsLeadershipChange
	for i, a := range applied {
		tp := logstore.TopicPartition{Topic: states[i].Topic, Partition: states[i].Partition}
		codes[tp] = a.code
		switch a.role {
		case roleLeader:
			leading = append(leading, tp)
		case roleStopped:
			stopped = append(stopped, tp)
		case roleFollower:
			follow[tp] = a.target
		}
		if a.offsets != nil {
			offsets = append(offsets, *a.offsets)
		}
	}
	rm.tellOffsetsLeadership(offsets)
	// Leaders stopped fetching first (above), then followers (re)start
	// (Kafka's makeLeaders before makeFollowers); then whatever waits on
	// the partitions learns of the change.
	if rm.fetchers != nil {
		rm.fetchers.removePartitions(stopped)
		rm.fetchers.addPartitions(follow)
	}
	rm.wake(leading...)
	rm.wake(stopped...)
	rm.wake(slices.Collect(maps.Keys(follow))...)
	return codes
}

// leaderAndISRParallelism bounds how many partitions of one LeaderAndIsr
// request are applied at once. Becoming leader writes and fsyncs the
// partition's leader-epoch checkpoint, and a new replica creates its log's
// files: done one partition at a time, a controlled shutdown or a
// controller failover moving thousands of leaderships waited on thousands
// of fsyncs in a row. Concurrent fsyncs on one file system share journal
// commits, so a few dozen in flight cost little more than one. Kafka 2.8
// applies them one at a time; the outcome per partition is the same.
const leaderAndISRParallelism = 32

// partitionRole is what applying a partition state made of the replica.
type partitionRole uint8

const (
	roleNone     partitionRole = iota // refused, or a follower whose leader did not change
	roleLeader                        // this broker leads it
	roleStopped                       // follower with no live leader to fetch from
	roleFollower                      // follower that (re)starts fetching from target
)

// appliedState is the outcome of one partition state of a LeaderAndIsr
// request (applyPartitionState).
type appliedState struct {
	code    int16
	role    partitionRole
	target  fetchTarget              // roleFollower's leader
	offsets *offsetsLeadershipChange // set for __consumer_offsets partitions applied
}

// stateRejection is the code a partition state is refused with, 0 when it
// applies: an older or equal leader epoch than the hosted one p (nil when
// not hosted) is STALE_CONTROLLER_EPOCH, a partition not assigned to this
// broker UNKNOWN_TOPIC_OR_PARTITION.
func (rm *replicaManager) stateRejection(st *kmsg.LeaderAndISRRequestTopicPartition, p *Partition) int16 {
	current := noLeaderEpoch
	if p != nil {
		current = p.LeaderEpoch()
	}
	switch {
	case st.LeaderEpoch <= current:
		return kerr.StaleControllerEpoch.Code
	case !slices.Contains(st.Replicas, rm.brokerID):
		return kerr.UnknownTopicOrPartition.Code
	}
	return 0
}

// applyPartitionState applies one partition state of a LeaderAndIsr
// request. It runs concurrently with the request's other partitions (never
// with another state of the same partition: forEachPartitionGroup), under
// stateChangeMu. configs holds the log config of every topic with a
// partition not hosted when the request arrived.
func (rm *replicaManager) applyPartitionState(controllerID int32, st *kmsg.LeaderAndISRRequestTopicPartition, leaderAddrs map[int32]string, configs map[string]logstore.LogConfig) appliedState {
	tp := logstore.TopicPartition{Topic: st.Topic, Partition: st.Partition}
	fields := logrus.Fields{
		"topic":                tp.Topic,
		"partition":            tp.Partition,
		"controller_id":        controllerID,
		"controller_epoch":     st.ControllerEpoch,
		"leader_epoch":         st.LeaderEpoch,
		"current_leader_epoch": noLeaderEpoch,
	}
	p, _ := rm.getPartition(tp)
	if p != nil {
		fields["current_leader_epoch"] = p.LeaderEpoch()
	}
	if code := rm.stateRejection(st, p); code != 0 {
		switch {
		case code == kerr.UnknownTopicOrPartition.Code:
			fields["replicas"] = st.Replicas
			rm.stateLog.WithFields(fields).Warn("ignoring LeaderAndIsr for a partition not assigned to this broker")
		case p != nil && st.LeaderEpoch == p.LeaderEpoch():
			rm.stateLog.WithFields(fields).Info("ignoring LeaderAndIsr with the current leader epoch")
		default:
			rm.stateLog.WithFields(fields).Warn("ignoring LeaderAndIsr with an older leader epoch")
		}
		return appliedState{code: code}
	}
	newlyHosted := p == nil
	if newlyHosted {
		cfg, ok := configs[tp.Topic]
		if !ok { // hosted when the request arrived, deleted since: cannot happen under stateChangeMu
			cfg = rm.logConfig(tp.Topic)
		}
		l, err := rm.logs.GetOrCreateLog(tp, cfg)
		if err != nil {
			rm.stateLog.WithFields(fields).WithError(err).Error("cannot create the log of a new replica")
			return appliedState{code: errorCode(rm.log, fmt.Errorf("server: create log of %s: %w", tp, err))}
		}
		p = newPartition(tp, rm.brokerID, l, rm.stateLog, rm.repl)
	}
	var out appliedState
	if st.Leader == rm.brokerID {
		if _, _, err := p.makeLeader(st); err != nil {
			rm.stateLog.WithFields(fields).WithError(err).Error("cannot record the new leader epoch")
			return appliedState{code: errorCode(rm.log, fmt.Errorf("server: become leader of %s: %w", tp, err))}
		}
		out.role = roleLeader
	} else {
		changed := p.makeFollower(st)
		addr, known := leaderAddrs[st.Leader]
		switch {
		case st.Leader < 0 || !known:
			// No live leader to fetch from: wait for the next
			// LeaderAndIsr (Kafka keeps the replica, unfetched).
			out.role = roleStopped
		case changed || newlyHosted:
			out.role = roleFollower
			out.target = fetchTarget{leader: st.Leader, addr: addr, leaderEpoch: st.LeaderEpoch, partition: p}
		}
	}
	if tp.Topic == groupMetadataTopic {
		out.offsets = &offsetsLeadershipChange{partition: tp.Partition, leader: st.Leader == rm.brokerID, leaderEpoch: st.LeaderEpoch}
	}
	if newlyHosted {
		// Published only once its state is set, so that no reader
		// sees a partition without a leader epoch.
		rm.mu.Lock()
		rm.partitions[tp] = p
		rm.mu.Unlock()
	}
	return out
}

// forEachPartitionGroup calls apply(i) for every index of states, on up to
// parallelism goroutines, and returns when all calls have returned. States
// of the same partition (a request should not repeat one, but nothing
// stops a controller from doing so) are applied by one goroutine in
// request order, so the last one wins as it would one at a time.
func forEachPartitionGroup(states []kmsg.LeaderAndISRRequestTopicPartition, parallelism int, apply func(i int)) {
	groupOf := make(map[logstore.TopicPartition]int, len(states))
	var groups [][]int
	for i := range states {
		tp := logstore.TopicPartition{Topic: states[i].Topic, Partition: states[i].Partition}
		g, ok := groupOf[tp]
		if !ok {
			g = len(groups)
			groupOf[tp] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(parallelism, len(groups)) {
		wg.Go(func() {
			for {
				g := int(next.Add(1)) - 1
				if g >= len(groups) {
					return
				}
				for _, i := range groups[g] {
					apply(i)
				}
			}
		})
	}
	wg.Wait()
}

// stopReplicaPartition is one partition of a StopReplica request.
type stopReplicaPartition struct {
	tp logstore.TopicPartition
	// leaderEpoch is stopReplicaNoEpoch before v3, epochDuringDelete when
	// the topic is being deleted.
	leaderEpoch int32
	delete      bool
}

// stopReplicas applies one StopReplica request, whose controller and broker
// epochs the caller has checked, and returns an error code per partition
// (Kafka 2.8's ReplicaManager.stopReplicas and stopPartitions):
//
//   - a hosted partition stops when the request's leader epoch is newer,
//     -1 (v0-v2, no epoch) or -2 (topic deletion); an older or equal epoch
//     is FENCED_LEADER_EPOCH and nothing happens;
//   - with delete, the partition is no longer hosted and its log is
//     deleted; without, it stays hosted with its state (and so keeps
//     fencing older epochs), as in Kafka, and only stops replicating;
//   - a partition not hosted stops trivially, and with delete its log is
//     deleted if one was loaded (a topic deleted while the broker was
//     down).
//
// A partition of __consumer_offsets that stops is resigned from the group
// coordinator (OnResignation, with the request's leader epoch or -1).
// Kafka 2.8 resigns only when the replica is deleted; Gregor also when it
// merely stops, since a stopped replica serves nothing.
func (rm *replicaManager) stopReplicas(partitions []stopReplicaPartition) map[logstore.TopicPartition]int16 {
	rm.stateChangeMu.Lock()
	defer rm.stateChangeMu.Unlock()
	codes := make(map[logstore.TopicPartition]int16, len(partitions))
	var offsets []offsetsLeadershipChange
	defer func() {
		rm.tellOffsetsLeadership(offsets)
		// Delayed produces and fetches on a stopped partition answer now.
		for tp := range codes {
			rm.wake(tp)
		}
	}()
	for _, sp := range partitions {
		fields := logrus.Fields{
			"topic":        sp.tp.Topic,
			"partition":    sp.tp.Partition,
			"leader_epoch": sp.leaderEpoch,
			"delete":       sp.delete,
		}
		if p, err := rm.getPartition(sp.tp); err == nil {
			current := p.LeaderEpoch()
			if sp.leaderEpoch != stopReplicaNoEpoch && sp.leaderEpoch != epochDuringDelete && sp.leaderEpoch <= current {
				fields["current_leader_epoch"] = current
				rm.stateLog.WithFields(fields).Warn("ignoring StopReplica with an older or current leader epoch")
				codes[sp.tp] = kerr.FencedLeaderEpoch.Code
				continue
			}
		}
		if rm.fetchers != nil {
			rm.fetchers.removePartitions([]logstore.TopicPartition{sp.tp})
		}
		codes[sp.tp] = 0
		if sp.tp.Topic == groupMetadataTopic {
			offsets = append(offsets, offsetsLeadershipChange{partition: sp.tp.Partition, leaderEpoch: max(sp.leaderEpoch, -1)})
		}
		if !sp.delete {
			rm.stateLog.WithFields(fields).Info("stopped replica")
			continue
		}
		rm.mu.Lock()
		delete(rm.partitions, sp.tp)
		rm.mu.Unlock()
		if err := rm.logs.DeleteLog(sp.tp); err != nil {
			rm.stateLog.WithFields(fields).WithError(err).Error("cannot delete the log of a stopped replica")
			codes[sp.tp] = errorCode(rm.log, fmt.Errorf("server: delete log of %s: %w", sp.tp, err))
			continue
		}
		rm.stateLog.WithFields(fields).Info("stopped and deleted replica")
	}
	return codes
}

// wake tells what waits on tps that their state changed.
func (rm *replicaManager) wake(tps ...logstore.TopicPartition) {
	if rm.onHighWatermark == nil {
		return
	}
	for _, tp := range tps {
		rm.onHighWatermark(tp)
	}
}

// leaderPartitions lists the hosted partitions this broker leads.
func (rm *replicaManager) leaderPartitions() []*Partition {
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	var out []*Partition
	for _, p := range rm.partitions {
		if p.IsLeader() {
			out = append(out, p)
		}
	}
	return out
}

// runISRExpiration checks every led partition's ISR for followers that fell
// behind, every half replica.lag.time.max.ms until ctx ends (Kafka's
// isr-expiration task).
func (rm *replicaManager) runISRExpiration(ctx context.Context) {
	t := time.NewTicker(max(rm.repl.lagTimeMax/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range rm.leaderPartitions() {
			if p.maybeShrinkISR() {
				rm.wake(p.TopicPartition())
			}
		}
	}
}
