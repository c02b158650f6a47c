package controller

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// ErrInvalidReplicationFactor is a replication factor below one or above the
// number of live brokers (INVALID_REPLICATION_FACTOR).
var ErrInvalidReplicationFactor = errors.New("controller: invalid replication factor")

// ErrInvalidPartitions is a partition count below one (INVALID_PARTITIONS).
var ErrInvalidPartitions = errors.New("controller: invalid number of partitions")

// AssignReplicas spreads nPartitions partitions of rf replicas over brokers
// the way Kafka's AdminUtils does without racks: partition p's first replica
// is broker (start+p) mod n, so leaders are spread evenly, and the followers
// follow it at a shift that grows every n partitions, so that the replicas of
// one broker's leaders are not all on the same other broker. start and shift
// are chosen at random (rnd) as in Kafka; startPartition lets partitions added
// later continue the pattern (CreatePartitions).
//
// brokers need not be sorted; the result only depends on their sorted order.
func AssignReplicas(brokers []int32, nPartitions, rf int, startPartition int, rnd *rand.Rand) (map[int32][]int32, error) {
	if nPartitions <= 0 {
		return nil, fmt.Errorf("%w: %d partitions", ErrInvalidPartitions, nPartitions)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0", ErrInvalidReplicationFactor)
	}
	if rf > len(brokers) {
		return nil, fmt.Errorf("%w: replication factor: %d larger than available brokers: %d", ErrInvalidReplicationFactor, rf, len(brokers))
	}
	sorted := slices.Clone(brokers)
	slices.Sort(sorted)
	n := len(sorted)
	start := rnd.IntN(n)
	shift := rnd.IntN(n)
	return assignFrom(sorted, nPartitions, rf, startPartition, start, shift), nil
}

// assignFrom is AssignReplicas with the random choices given: table tests
// check it against Kafka's documented examples.
func assignFrom(brokers []int32, nPartitions, rf, startPartition, startIndex, nextReplicaShift int) map[int32][]int32 {
	n := len(brokers)
	out := make(map[int32][]int32, nPartitions)
	currentPartition := startPartition
	for i := 0; i < nPartitions; i++ {
		if currentPartition > 0 && currentPartition%n == 0 {
			nextReplicaShift++
		}
		first := (currentPartition + startIndex) % n
		replicas := make([]int32, 0, rf)
		replicas = append(replicas, brokers[first])
		for j := 0; j < rf-1; j++ {
			replicas = append(replicas, brokers[followerIndex(first, nextReplicaShift, j, n)])
		}
		out[int32(currentPartition)] = replicas
		currentPartition++
	}
	return out
}

// followerIndex places the j-th follower of a partition whose first replica is
// at index first: never on the first replica's broker, shifted by shift.
func followerIndex(first, shift, j, n int) int {
	s := 1 + (shift+j)%(n-1)
	return (first + s) % n
}
