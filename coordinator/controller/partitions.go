package controller

import (
	"slices"

	"github.com/gregor-broker/gregor/zkutil"
)

// partition is the controller's view of one partition: its assignment and,
// once it has a state znode, the leader and ISR last read or written there.
type partition struct {
	replicas  []int32 // assignment, preferred leader first
	hasState  bool    // false: the partition has no state znode yet (NewPartition)
	state     zkutil.PartitionState
	zkVersion int32 // version of the state znode, for conditional writes
}

// topic is the controller's view of one topic.
type topic struct {
	id         zkutil.UUID
	partitions map[int32]*partition
	// watchGen numbers the watch armed on the topic's znode: an event of
	// an older watch (one the term replaced) is ignored.
	watchGen uint64
	// deletion is set while the topic is being deleted (Kafka's
	// topicsToBeDeleted): it gets no leader election, no LeaderAndIsr,
	// and brokers are told its partitions are gone.
	deletion *deletion
}

// newPartitionState is the state of a partition leaving NewPartition for
// OnlinePartition, as Kafka's PartitionStateMachine.initializeLeaderAndIsr
// decides it: the leader is the first live replica in assignment order, the
// ISR the live replicas. ok is false when no replica is alive: the
// partition then stays without state until one is.
func newPartitionState(replicas []int32, alive func(int32) bool, controllerEpoch int32) (s zkutil.PartitionState, ok bool) {
	isr := liveISR(replicas, alive)
	if len(isr) == 0 {
		return zkutil.PartitionState{}, false
	}
	return zkutil.PartitionState{Leader: isr[0], LeaderEpoch: 0, ISR: isr, ControllerEpoch: controllerEpoch}, true
}

// reconcilePartition is the state a partition with a state znode should
// move to given the live brokers, and whether it differs (a write is due):
//
//   - a leader that is dead, or no leader, is replaced by ElectLeader over
//     the ISR members canLead allows (Kafka's
//     OfflinePartitionLeaderElectionStrategy, which passes over brokers in a
//     controlled shutdown; nil: any live broker); when nobody
//     can lead, the leader becomes NoLeader and the ISR stays as it was, so
//     that the partition comes back clean when an ISR member returns;
//   - with a live leader, dead replicas leave the ISR (Kafka's
//     OfflineReplica transition, removeReplicasFromIsr);
//   - every change bumps the leader epoch, as Kafka's
//     LeaderAndIsr.newLeaderAndIsr does, and carries this controller's
//     epoch.
//
// A partition with NoLeader and no ISR member alive does not change.
func reconcilePartition(replicas []int32, cur zkutil.PartitionState, alive, canLead func(int32) bool, unclean bool, controllerEpoch int32) (zkutil.PartitionState, bool) {
	next := cur
	if canLead == nil {
		canLead = alive
	}
	if cur.Leader == NoLeader || !alive(cur.Leader) {
		leader, isr, _ := ElectLeader(replicas, cur.ISR, canLead, unclean)
		if leader == NoLeader && cur.Leader == NoLeader {
			return cur, false
		}
		next.Leader, next.ISR = leader, isr
		if leader == NoLeader {
			next.ISR = slices.Clone(cur.ISR)
		}
	} else {
		isr := liveISR(cur.ISR, alive)
		if len(isr) == len(cur.ISR) {
			return cur, false
		}
		next.ISR = isr
	}
	next.LeaderEpoch = cur.LeaderEpoch + 1
	next.ControllerEpoch = controllerEpoch
	return next, true
}

// offlineReplicas lists the replicas on brokers that are not alive.
func offlineReplicas(replicas []int32, alive func(int32) bool) []int32 {
	out := []int32{}
	for _, r := range replicas {
		if !alive(r) {
			out = append(out, r)
		}
	}
	return out
}
