package controller

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestAssignFromMatchesKafkasLayout(t *testing.T) {
	// Kafka's AdminUtilsTest.testReplicaAssignment: 5 brokers, 10 partitions,
	// replication factor 3, start index 0 and shift 0.
	want := map[int32][]int32{
		0: {0, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 4}, 3: {3, 4, 0}, 4: {4, 0, 1},
		5: {0, 2, 3}, 6: {1, 3, 4}, 7: {2, 4, 0}, 8: {3, 0, 1}, 9: {4, 1, 2},
	}
	got := assignFrom([]int32{0, 1, 2, 3, 4}, 10, 3, 0, 0, 0)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("assignment\n got %v\nwant %v", got, want)
	}
}

func TestAssignReplicas(t *testing.T) {
	tests := []struct {
		name     string
		brokers  []int32
		parts    int
		rf       int
		startAt  int
		wantErr  error
		wantKeys []int32
	}{
		{name: "one broker", brokers: []int32{7}, parts: 3, rf: 1, wantKeys: []int32{0, 1, 2}},
		{name: "spread", brokers: []int32{3, 1, 2}, parts: 12, rf: 3},
		{name: "added partitions continue", brokers: []int32{1, 2, 3}, parts: 2, rf: 2, startAt: 4, wantKeys: []int32{4, 5}},
		{name: "rf above brokers", brokers: []int32{1, 2}, parts: 1, rf: 3, wantErr: ErrInvalidReplicationFactor},
		{name: "rf zero", brokers: []int32{1, 2}, parts: 1, rf: 0, wantErr: ErrInvalidReplicationFactor},
		{name: "no partitions", brokers: []int32{1}, parts: 0, rf: 1, wantErr: ErrInvalidPartitions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AssignReplicas(tt.brokers, tt.parts, tt.rf, tt.startAt, rand.New(rand.NewPCG(1, 2)))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(got) != tt.parts {
				t.Fatalf("%d partitions assigned, want %d", len(got), tt.parts)
			}
			leaders := map[int32]int{}
			for p, replicas := range got {
				if len(replicas) != tt.rf {
					t.Fatalf("partition %d has %d replicas", p, len(replicas))
				}
				seen := map[int32]bool{}
				for _, r := range replicas {
					if seen[r] || !slices.Contains(tt.brokers, r) {
						t.Fatalf("partition %d: replicas %v repeat or leave the brokers", p, replicas)
					}
					seen[r] = true
				}
				leaders[replicas[0]]++
			}
			if tt.parts%len(tt.brokers) == 0 {
				for b, n := range leaders {
					if n != tt.parts/len(tt.brokers) {
						t.Fatalf("broker %d leads %d partitions, want an even spread: %v", b, n, leaders)
					}
				}
			}
			for _, k := range tt.wantKeys {
				if _, ok := got[k]; !ok {
					t.Fatalf("partition %d missing from %v", k, got)
				}
			}
		})
	}
}

func rackedBrokers(racks map[int32]string) []BrokerMetadata {
	var out []BrokerMetadata
	for id, r := range racks {
		out = append(out, BrokerMetadata{ID: id, Rack: &r})
	}
	return out
}

func TestRackAlternatedBrokers(t *testing.T) {
	tests := []struct {
		name  string
		racks map[int32]string
		want  []int32
	}{
		// AdminUtils' doc comment on assignReplicasToBrokers.
		{"doc example", map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}, []int32{0, 3, 1, 5, 4, 2}},
		// AdminUtils' doc comment on getRackAlternatedBrokerList.
		{"three full racks", map[int32]string{0: "rack1", 1: "rack1", 2: "rack1", 3: "rack2", 4: "rack2", 5: "rack2", 6: "rack3", 7: "rack3", 8: "rack3"}, []int32{0, 3, 6, 1, 4, 7, 2, 5, 8}},
		{"uneven racks", map[int32]string{0: "a", 1: "a", 2: "a", 3: "b"}, []int32{0, 3, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rackAlternatedBrokers(tt.racks); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAssignRackAwareMatchesKafkasDocExample(t *testing.T) {
	// AdminUtils' doc comment: 6 brokers on 3 racks, 7 partitions of 3
	// replicas, start index 0 and shift 0; partition 6 shifts its followers.
	racks := map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
	want := map[int32][]int32{
		0: {0, 3, 1}, 1: {3, 1, 5}, 2: {1, 5, 4}, 3: {5, 4, 2}, 4: {4, 2, 0}, 5: {2, 0, 3},
		6: {0, 4, 2},
	}
	got, err := AssignReplicasToBrokers(rackedBrokers(racks), 7, 3, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("assignment\n got %v\nwant %v", got, want)
	}
}

// Adding partitions with a fixed start continues the leaders of the first
// partitions: the same leaders as creating them all at once. (The follower
// shift is not carried over: Kafka only bumps it at each multiple of the
// broker count met while numbering the new partitions.)
func TestAssignFixedStartContinuesLayout(t *testing.T) {
	racks := map[int32]string{1: "x", 2: "y", 3: "z", 4: "x", 5: "y", 6: "z"}
	unracked := []BrokerMetadata{{ID: 5}, {ID: 1}, {ID: 3}, {ID: 2}, {ID: 4}}
	for _, tc := range []struct {
		name    string
		brokers []BrokerMetadata
	}{{"no racks", unracked}, {"racks", rackedBrokers(racks)}} {
		t.Run(tc.name, func(t *testing.T) {
			all, err := AssignReplicasToBrokers(tc.brokers, 14, 3, 2, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			added, err := AssignReplicasToBrokers(tc.brokers, 5, 3, 2, 9, nil)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(9); p < 14; p++ {
				if added[p][0] != all[p][0] {
					t.Fatalf("partition %d: added %v, created at once %v: leaders differ", p, added[p], all[p])
				}
			}
			if len(added) != 5 {
				t.Fatalf("added %v, want 5 partitions from 9", added)
			}
		})
	}
}

// Properties of the rack-aware layout, for every start and shift: replicas
// distinct, each partition on min(rf, racks) racks, leaders spread evenly.
func TestAssignRackAwareProperties(t *testing.T) {
	tests := []struct {
		name  string
		racks map[int32]string
		parts int
		rf    int
	}{
		{"3 racks rf 3", map[int32]string{0: "a", 1: "a", 2: "b", 3: "b", 4: "c", 5: "c"}, 12, 3},
		{"3 racks rf 2", map[int32]string{0: "a", 1: "a", 2: "b", 3: "b", 4: "c", 5: "c"}, 18, 2},
		{"2 racks rf 3", map[int32]string{0: "a", 1: "a", 2: "b", 3: "b"}, 8, 3},
		{"uneven racks rf 3", map[int32]string{0: "a", 1: "a", 2: "a", 3: "b", 4: "c"}, 10, 3},
		{"one rack", map[int32]string{0: "a", 1: "a", 2: "a"}, 6, 2},
		{"rf all brokers", map[int32]string{0: "a", 1: "b", 2: "a", 3: "b"}, 8, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			numRacks := len(slices.Compact(slices.Sorted(func(yield func(string) bool) {
				for _, r := range tt.racks {
					if !yield(r) {
						return
					}
				}
			})))
			n := len(tt.racks)
			for start := 0; start < n; start++ {
				got, err := AssignReplicasToBrokers(rackedBrokers(tt.racks), tt.parts, tt.rf, start, 0, nil)
				if err != nil {
					t.Fatal(err)
				}
				leaders := map[int32]int{}
				for p, replicas := range got {
					if len(replicas) != tt.rf {
						t.Fatalf("start %d partition %d: replicas %v", start, p, replicas)
					}
					seenBroker, seenRack := map[int32]bool{}, map[string]bool{}
					for _, r := range replicas {
						if seenBroker[r] {
							t.Fatalf("start %d partition %d: replicas %v repeat a broker", start, p, replicas)
						}
						seenBroker[r] = true
						seenRack[tt.racks[r]] = true
					}
					if len(seenRack) != min(tt.rf, numRacks) {
						t.Fatalf("start %d partition %d: replicas %v span %d racks, want %d", start, p, replicas, len(seenRack), min(tt.rf, numRacks))
					}
					leaders[replicas[0]]++
				}
				for b, c := range leaders {
					if c != tt.parts/n {
						t.Fatalf("start %d: broker %d leads %d partitions, want %d: %v", start, b, c, tt.parts/n, leaders)
					}
				}
			}
		})
	}
}

func TestAssignReplicasToBrokersErrors(t *testing.T) {
	rack := "r"
	tests := []struct {
		name    string
		brokers []BrokerMetadata
		parts   int
		rf      int
		wantErr error
	}{
		{"some brokers without rack", []BrokerMetadata{{ID: 1, Rack: &rack}, {ID: 2}}, 1, 1, ErrIncompleteRackInfo},
		{"rf above brokers before rack check", []BrokerMetadata{{ID: 1, Rack: &rack}, {ID: 2}}, 1, 3, ErrInvalidReplicationFactor},
		{"no partitions", []BrokerMetadata{{ID: 1, Rack: &rack}}, 0, 1, ErrInvalidPartitions},
		{"all racked", []BrokerMetadata{{ID: 1, Rack: &rack}, {ID: 2, Rack: &rack}}, 2, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := AssignReplicasToBrokers(tt.brokers, tt.parts, tt.rf, -1, 0, rand.New(rand.NewPCG(3, 4)))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
		})
	}
}
