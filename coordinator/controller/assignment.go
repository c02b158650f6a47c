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

// ErrIncompleteRackInfo is a broker set where some brokers have a rack and
// others do not. Kafka's AdminUtils throws AdminOperationException ("Not
// all brokers have rack information for replica rack aware assignment"),
// which its request handlers answer UNKNOWN_SERVER_ERROR.
var ErrIncompleteRackInfo = errors.New("controller: not all brokers have rack information for replica rack aware assignment")

// BrokerMetadata is what replica assignment knows of a broker: its id and
// its broker.rack (nil when it has none), Kafka's admin.BrokerMetadata.
type BrokerMetadata struct {
	ID   int32
	Rack *string
}

// AssignReplicas spreads nPartitions partitions of rf replicas over brokers
// (ids, no racks) the way Kafka's AdminUtils does without racks, numbering
// them from startPartition, with the start index and follower shift chosen
// at random (rnd). See AssignReplicasToBrokers.
func AssignReplicas(brokers []int32, nPartitions, rf int, startPartition int, rnd *rand.Rand) (map[int32][]int32, error) {
	md := make([]BrokerMetadata, len(brokers))
	for i, id := range brokers {
		md[i] = BrokerMetadata{ID: id}
	}
	return AssignReplicasToBrokers(md, nPartitions, rf, -1, startPartition, rnd)
}

// AssignReplicasToBrokers is Kafka 2.8's AdminUtils.assignReplicasToBrokers.
// Its goals: spread replicas evenly over the brokers; spread the followers
// of one broker's leaders over the other brokers; and, when every broker
// has a rack, put each partition's replicas on as many racks as possible.
//
// Without racks, partition p's first replica is broker (start+p) mod n of
// the brokers sorted by id, so leaders are spread evenly, and the j-th
// follower sits at 1+(shift+j) mod (n-1) after it, the shift growing by one
// every n partitions, so that one broker's leaders do not all have their
// followers on the same other broker.
//
// With racks on every broker, the brokers are first arranged alternating
// racks (racks sorted by name, each rack's brokers by id: rack a {0,1},
// rack b {2} gives 0, 2, 1), the leader is picked round-robin on that list
// as above, and each follower walks the list from the rack-scaled shift,
// skipping a broker whose rack already holds a replica while some rack
// holds none, and a broker already holding one while some broker holds
// none. So a partition spans min(rf, racks) racks. Brokers with and
// without racks mixed: ErrIncompleteRackInfo (Kafka's AdminOperationException).
//
// fixedStartIndex >= 0 fixes both the start index and the initial shift,
// as Kafka does when adding partitions (AdminZkClient
// .createNewPartitionsAssignment); -1 draws both from rnd. Partitions are
// numbered from max(0, startPartition), so the leaders of partitions added
// later continue the round-robin; as in Kafka, the shift then only grows at
// the multiples of the broker count met from startPartition on.
//
// brokers need not be sorted; the result depends only on their ids and racks.
func AssignReplicasToBrokers(brokers []BrokerMetadata, nPartitions, rf, fixedStartIndex, startPartition int, rnd *rand.Rand) (map[int32][]int32, error) {
	if nPartitions <= 0 {
		return nil, fmt.Errorf("%w: %d partitions", ErrInvalidPartitions, nPartitions)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0", ErrInvalidReplicationFactor)
	}
	if rf > len(brokers) {
		return nil, fmt.Errorf("%w: replication factor: %d larger than available brokers: %d", ErrInvalidReplicationFactor, rf, len(brokers))
	}
	withRack := 0
	for _, b := range brokers {
		if b.Rack != nil {
			withRack++
		}
	}
	if withRack > 0 && withRack < len(brokers) {
		return nil, ErrIncompleteRackInfo
	}
	startPartition = max(0, startPartition)
	pick := func() int {
		if fixedStartIndex >= 0 {
			return fixedStartIndex
		}
		return rnd.IntN(len(brokers))
	}
	if withRack == 0 {
		ids := make([]int32, len(brokers))
		for i, b := range brokers {
			ids[i] = b.ID
		}
		slices.Sort(ids)
		start := pick()
		shift := pick()
		return assignFrom(ids, nPartitions, rf, startPartition, start, shift), nil
	}
	racks := make(map[int32]string, len(brokers))
	for _, b := range brokers {
		racks[b.ID] = *b.Rack
	}
	start := pick()
	shift := pick()
	return assignRackAwareFrom(racks, nPartitions, rf, startPartition, start, shift), nil
}

// assignFrom is the rack-unaware layout with the start index and shift
// given, over brokers sorted by id.
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

// assignRackAwareFrom is the rack-aware layout with the start index and
// shift given; racks maps every broker to its rack.
func assignRackAwareFrom(racks map[int32]string, nPartitions, rf, startPartition, startIndex, nextReplicaShift int) map[int32][]int32 {
	arranged := rackAlternatedBrokers(racks)
	n := len(arranged)
	numRacks := 0
	{
		seen := map[string]bool{}
		for _, r := range racks {
			if !seen[r] {
				seen[r] = true
				numRacks++
			}
		}
	}
	out := make(map[int32][]int32, nPartitions)
	currentPartition := startPartition
	for i := 0; i < nPartitions; i++ {
		if currentPartition > 0 && currentPartition%n == 0 {
			nextReplicaShift++
		}
		first := (currentPartition + startIndex) % n
		leader := arranged[first]
		replicas := make([]int32, 0, rf)
		replicas = append(replicas, leader)
		racksUsed := map[string]bool{racks[leader]: true}
		brokersUsed := map[int32]bool{leader: true}
		k := 0
		for j := 0; j < rf-1; j++ {
			for {
				b := arranged[followerIndex(first, nextReplicaShift*numRacks, k, n)]
				k++
				rack := racks[b]
				if (!racksUsed[rack] || len(racksUsed) == numRacks) && (!brokersUsed[b] || len(brokersUsed) == n) {
					replicas = append(replicas, b)
					racksUsed[rack] = true
					brokersUsed[b] = true
					break
				}
			}
		}
		out[int32(currentPartition)] = replicas
		currentPartition++
	}
	return out
}

// rackAlternatedBrokers lists the brokers taking one from each rack in
// turn, racks in name order and each rack's brokers in id order (Kafka's
// AdminUtils.getRackAlternatedBrokerList): rack1 {0,1,2}, rack2 {3,4,5}
// gives 0, 3, 1, 4, 2, 5.
func rackAlternatedBrokers(racks map[int32]string) []int32 {
	byRack := map[string][]int32{}
	for id, r := range racks {
		byRack[r] = append(byRack[r], id)
	}
	names := make([]string, 0, len(byRack))
	for r, ids := range byRack {
		slices.Sort(ids)
		names = append(names, r)
	}
	slices.Sort(names)
	out := make([]int32, 0, len(racks))
	for round := 0; len(out) < len(racks); round++ {
		for _, r := range names {
			if round < len(byRack[r]) {
				out = append(out, byRack[r][round])
			}
		}
	}
	return out
}

// followerIndex places the j-th follower of a partition whose first replica is
// at index first: never on the first replica's broker, shifted by shift.
func followerIndex(first, shift, j, n int) int {
	s := 1 + (shift+j)%(n-1)
	return (first + s) % n
}
