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
