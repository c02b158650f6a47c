package controller

import "slices"

// NoLeader is the leader of a partition with no live replica to lead it.
const NoLeader int32 = -1

// ElectLeader chooses a partition leader after its leader failed (Kafka's
// OfflinePartitionLeaderElectionStrategy): the first replica, in assignment
// order, that is alive and in the ISR. When none is and unclean leader
// election is enabled for the topic, the first live replica, in or out of the
// ISR, which may lose acknowledged records; the ISR then becomes just that
// replica. unclean reports that the choice came from outside the ISR.
// NoLeader means the partition stays offline until an ISR member returns.
func ElectLeader(assignment, isr []int32, alive func(int32) bool, uncleanEnabled bool) (leader int32, newISR []int32, unclean bool) {
	for _, r := range assignment {
		if alive(r) && slices.Contains(isr, r) {
			return r, liveISR(isr, alive), false
		}
	}
	if uncleanEnabled {
		for _, r := range assignment {
			if alive(r) {
				return r, []int32{r}, true
			}
		}
	}
	return NoLeader, isr, false
}

// ElectPreferredLeader moves leadership to the first replica of the
// assignment (the preferred replica) when it is alive and in the ISR
// (Kafka's PreferredReplicaPartitionLeaderElectionStrategy). ok is false when
// it cannot lead now.
func ElectPreferredLeader(assignment, isr []int32, alive func(int32) bool) (leader int32, ok bool) {
	if len(assignment) == 0 {
		return NoLeader, false
	}
	preferred := assignment[0]
	if alive(preferred) && slices.Contains(isr, preferred) {
		return preferred, true
	}
	return NoLeader, false
}

// ElectControlledShutdownLeader moves leadership away from brokers shutting
// down (Kafka's ControlledShutdownPartitionLeaderElectionStrategy): the first
// replica in assignment order that is alive, in the ISR and not shutting
// down. The brokers shutting down also leave the ISR.
func ElectControlledShutdownLeader(assignment, isr []int32, alive func(int32) bool, shuttingDown func(int32) bool) (leader int32, newISR []int32) {
	newISR = make([]int32, 0, len(isr))
	for _, r := range isr {
		if !shuttingDown(r) {
			newISR = append(newISR, r)
		}
	}
	for _, r := range assignment {
		if alive(r) && !shuttingDown(r) && slices.Contains(newISR, r) {
			return r, newISR
		}
	}
	return NoLeader, newISR
}

// liveISR drops dead brokers from an ISR, keeping the order.
func liveISR(isr []int32, alive func(int32) bool) []int32 {
	out := make([]int32, 0, len(isr))
	for _, r := range isr {
		if alive(r) {
			out = append(out, r)
		}
	}
	return out
}
