package server

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func plaintextBroker(id int32, host string, port int32) CachedBroker {
	return CachedBroker{ID: id, Endpoints: []BrokerEndpoint{{ListenerName: "PLAINTEXT", Host: host, Port: port}}}
}

func partitionState(topic string, partition, leader int32, replicas ...int32) PartitionState {
	return PartitionState{Topic: topic, Partition: partition, Leader: leader, LeaderEpoch: 1, ISR: replicas, Replicas: replicas}
}

func TestMetadataCacheUpdate(t *testing.T) {
	orders := [16]byte{1}
	tests := []struct {
		name    string
		updates []MetadataUpdate
		// what the cache holds after the updates
		brokers     []int32
		controller  int32
		partitions  map[string][]int32 // topic -> partitions
		topicIDs    map[string][16]byte
		lastDeleted int // partitions the last update deleted
	}{
		{
			name:       "empty",
			controller: -1,
			partitions: map[string][]int32{},
		},
		{
			name: "brokers and partitions are added",
			updates: []MetadataUpdate{{
				ControllerID: 2,
				LiveBrokers:  []CachedBroker{plaintextBroker(2, "b", 2), plaintextBroker(1, "a", 1)},
				Partitions:   []PartitionState{partitionState("orders", 0, 1, 1, 2), partitionState("orders", 1, 2, 2, 1)},
				TopicIDs:     map[string][16]byte{"orders": orders},
			}},
			brokers:    []int32{1, 2},
			controller: 2,
			partitions: map[string][]int32{"orders": {0, 1}},
			topicIDs:   map[string][16]byte{"orders": orders},
		},
		{
			name: "live brokers are replaced, partitions are incremental",
			updates: []MetadataUpdate{
				{ControllerID: 1, LiveBrokers: []CachedBroker{plaintextBroker(1, "a", 1), plaintextBroker(2, "b", 2)},
					Partitions: []PartitionState{partitionState("orders", 0, 1, 1, 2)}},
				{ControllerID: 1, LiveBrokers: []CachedBroker{plaintextBroker(1, "a", 1)},
					Partitions: []PartitionState{partitionState("payments", 0, 1, 1)}},
				{ControllerID: -1, LiveBrokers: []CachedBroker{plaintextBroker(1, "a", 1)}},
			},
			brokers:    []int32{1},
			controller: -1,
			partitions: map[string][]int32{"orders": {0}, "payments": {0}},
		},
		{
			name: "leader -2 deletes the partition, and the last one the topic and its id",
			updates: []MetadataUpdate{
				{LiveBrokers: []CachedBroker{plaintextBroker(1, "a", 1)},
					Partitions: []PartitionState{partitionState("orders", 0, 1, 1), partitionState("orders", 1, 1, 1), partitionState("payments", 0, 1, 1)},
					TopicIDs:   map[string][16]byte{"orders": orders}},
				{LiveBrokers: []CachedBroker{plaintextBroker(1, "a", 1)},
					Partitions: []PartitionState{partitionState("orders", 0, -2, 1), partitionState("orders", 1, -2, 1), partitionState("payments", 7, -2, 1), partitionState("gone", 0, -2)}},
			},
			brokers:     []int32{1},
			controller:  0,
			partitions:  map[string][]int32{"payments": {0}},
			topicIDs:    map[string][16]byte{},
			lastDeleted: 2,
		},
		{
			name: "a zero topic id keeps the known one",
			updates: []MetadataUpdate{
				{Partitions: []PartitionState{partitionState("orders", 0, 1, 1)}, TopicIDs: map[string][16]byte{"orders": orders}},
				{Partitions: []PartitionState{partitionState("orders", 0, 1, 1)}, TopicIDs: map[string][16]byte{"orders": {}}},
			},
			controller: 0,
			partitions: map[string][]int32{"orders": {0}},
			topicIDs:   map[string][16]byte{"orders": orders},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewMetadataCache(1, discardLogger())
			var deleted []PartitionState
			for i := range tt.updates {
				deleted = c.update(&tt.updates[i])
			}
			var brokers []int32
			for _, b := range c.AliveBrokers() {
				brokers = append(brokers, b.ID)
			}
			if !slices.Equal(brokers, tt.brokers) {
				t.Errorf("brokers %v, want %v", brokers, tt.brokers)
			}
			if got := c.ControllerID(); got != tt.controller {
				t.Errorf("controller %d, want %d", got, tt.controller)
			}
			topics := c.AllTopics()
			if len(topics) != len(tt.partitions) {
				t.Errorf("topics %v, want those of %v", topics, tt.partitions)
			}
			for topic, partitions := range tt.partitions {
				if !c.Contains(topic) {
					t.Errorf("topic %s missing", topic)
				}
				for _, p := range partitions {
					if ps, ok := c.PartitionInfo(topic, p); !ok || ps.Topic != topic || ps.Partition != p {
						t.Errorf("partition %s-%d: %+v %v", topic, p, ps, ok)
					}
				}
				if md := c.TopicMetadata([]string{topic}, "PLAINTEXT", false, true); len(md) != 1 || len(md[0].Partitions) != len(partitions) {
					t.Errorf("topic %s metadata: %+v", topic, md)
				}
			}
			for topic, id := range tt.topicIDs {
				if got := c.TopicID(topic); got != id {
					t.Errorf("topic id of %s: %x, want %x", topic, got, id)
				}
			}
			if c.Contains("gone") || c.TopicID("orders") != tt.topicIDs["orders"] {
				t.Errorf("stale topic state: gone=%v orders id %x", c.Contains("gone"), c.TopicID("orders"))
			}
			if len(deleted) != tt.lastDeleted {
				t.Errorf("last update deleted %v, want %d partitions", deleted, tt.lastDeleted)
			}
		})
	}
}

// An update never changes a snapshot a reader already holds, nor the
// caller's slices.
func TestMetadataCacheSnapshotsAreImmutable(t *testing.T) {
	c := NewMetadataCache(1, discardLogger())
	isr := []int32{1, 2}
	c.update(&MetadataUpdate{Partitions: []PartitionState{{Topic: "t", Partition: 0, Leader: 1, ISR: isr, Replicas: isr}}})
	before := c.snapshot.Load()
	isr[0] = 9 // the caller reusing its request
	c.update(&MetadataUpdate{Partitions: []PartitionState{{Topic: "t", Partition: 0, Leader: 2, ISR: []int32{2}, Replicas: []int32{1, 2}}, {Topic: "t", Partition: 1, Leader: 2}}})
	old := before.partitionStates["t"]
	if len(old) != 1 || old[0].Leader != 1 || !slices.Equal(old[0].ISR, []int32{1, 2}) {
		t.Fatalf("old snapshot changed: %+v", old[0])
	}
	if ps, _ := c.PartitionInfo("t", 0); ps.Leader != 2 {
		t.Fatalf("new snapshot: %+v", ps)
	}
}

func TestMetadataCacheTopicMetadataErrors(t *testing.T) {
	c := NewMetadataCache(1, discardLogger())
	twoListeners := CachedBroker{ID: 1, Endpoints: []BrokerEndpoint{
		{ListenerName: "PLAINTEXT", Host: "a", Port: 9092},
		{ListenerName: "INTERNAL", Host: "a-internal", Port: 9093},
	}}
	internalOnly := CachedBroker{ID: 2, Endpoints: []BrokerEndpoint{{ListenerName: "INTERNAL", Host: "b", Port: 9093}}}
	c.update(&MetadataUpdate{
		LiveBrokers: []CachedBroker{twoListeners, internalOnly},
		Partitions: []PartitionState{
			partitionState("t", 0, 1, 1, 2),  // leader on both listeners, replica 2 only on INTERNAL
			partitionState("t", 1, 2, 2, 1),  // leader only on INTERNAL
			partitionState("t", 2, -1, 1, 2), // no leader
			partitionState("t", 3, 3, 3),     // leader not alive
			{Topic: "t", Partition: 4, Leader: 1, LeaderEpoch: 5, Replicas: []int32{1, 3}, ISR: []int32{1}, OfflineReplicas: []int32{3}},
		},
	})
	tests := []struct {
		name                      string
		listener                  string
		errorUnavailableEndpoints bool // Metadata v0
		errorUnavailableListeners bool // Metadata v6+
		want                      []*kerr.Error
		leaders                   []int32
		replicas                  [][]int32
	}{
		{"v0 on PLAINTEXT", "PLAINTEXT", true, false,
			[]*kerr.Error{kerr.ReplicaNotAvailable, kerr.LeaderNotAvailable, kerr.LeaderNotAvailable, kerr.LeaderNotAvailable, kerr.ReplicaNotAvailable},
			[]int32{1, -1, -1, -1, 1},
			[][]int32{{1}, {1}, {1}, {}, {1}}},
		{"v1-v5 on PLAINTEXT", "PLAINTEXT", false, false,
			[]*kerr.Error{nil, kerr.LeaderNotAvailable, kerr.LeaderNotAvailable, kerr.LeaderNotAvailable, nil},
			[]int32{1, -1, -1, -1, 1},
			[][]int32{{1, 2}, {2, 1}, {1, 2}, {3}, {1, 3}}},
		{"v6+ on PLAINTEXT", "PLAINTEXT", false, true,
			[]*kerr.Error{nil, kerr.ListenerNotFound, kerr.LeaderNotAvailable, kerr.LeaderNotAvailable, nil},
			[]int32{1, -1, -1, -1, 1},
			[][]int32{{1, 2}, {2, 1}, {1, 2}, {3}, {1, 3}}},
		{"v6+ on INTERNAL", "INTERNAL", false, true,
			[]*kerr.Error{nil, nil, kerr.LeaderNotAvailable, kerr.LeaderNotAvailable, nil},
			[]int32{1, 2, -1, -1, 1},
			[][]int32{{1, 2}, {2, 1}, {1, 2}, {3}, {1, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := c.TopicMetadata([]string{"unknown", "t"}, tt.listener, tt.errorUnavailableEndpoints, tt.errorUnavailableListeners)
			if len(md) != 1 || *md[0].Topic != "t" || len(md[0].Partitions) != 5 {
				t.Fatalf("got %+v", md)
			}
			for i, p := range md[0].Partitions {
				wantCode := int16(0)
				if tt.want[i] != nil {
					wantCode = tt.want[i].Code
				}
				if p.Partition != int32(i) || p.ErrorCode != wantCode || p.Leader != tt.leaders[i] || !slices.Equal(p.Replicas, tt.replicas[i]) {
					t.Errorf("partition %d: got partition %d error %d leader %d replicas %v; want error %d leader %d replicas %v",
						i, p.Partition, p.ErrorCode, p.Leader, p.Replicas, wantCode, tt.leaders[i], tt.replicas[i])
				}
			}
			if p := md[0].Partitions[4]; p.LeaderEpoch != 5 || !slices.Equal(p.OfflineReplicas, []int32{3}) {
				t.Errorf("partition 4: leader epoch %d offline %v", p.LeaderEpoch, p.OfflineReplicas)
			}
		})
	}
	if ep, ok := c.AliveEndpoint(1, "INTERNAL"); !ok || ep.Host != "a-internal" || ep.Port != 9093 {
		t.Errorf("AliveEndpoint(1, INTERNAL) = %+v, %v", ep, ok)
	}
	if _, ok := c.AliveEndpoint(2, "PLAINTEXT"); ok {
		t.Error("broker 2 has no PLAINTEXT endpoint")
	}
	if _, ok := c.AliveEndpoint(3, "PLAINTEXT"); ok || c.HasAliveBroker(3) {
		t.Error("broker 3 is not alive")
	}
}

// Readers run while a writer applies updates; -race checks that they share
// nothing mutable, and each reader checks that a snapshot is never seen
// half-applied: every update moves all partitions of the topic to the same
// leader epoch at once.
func TestMetadataCacheConcurrentReadsDuringUpdates(t *testing.T) {
	c := NewMetadataCache(1, discardLogger())
	const partitions, updates, readers = 8, 200, 4
	update := func(epoch int32) *MetadataUpdate {
		u := &MetadataUpdate{ControllerID: 1, LiveBrokers: []CachedBroker{plaintextBroker(1, "a", 1)}}
		for p := int32(0); p < partitions; p++ {
			ps := partitionState("t", p, 1, 1)
			ps.LeaderEpoch = epoch
			u.Partitions = append(u.Partitions, ps)
		}
		return u
	}
	c.update(update(0))
	var wg sync.WaitGroup
	errc := make(chan error, readers)
	stop := make(chan struct{})
	for r := 0; r < readers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				md := c.TopicMetadata(c.AllTopics(), "PLAINTEXT", false, true)
				if len(md) != 1 || len(md[0].Partitions) != partitions {
					errc <- fmt.Errorf("got %d topics", len(md))
					return
				}
				for _, p := range md[0].Partitions {
					if p.LeaderEpoch != md[0].Partitions[0].LeaderEpoch {
						errc <- fmt.Errorf("half-applied update: %+v", md[0].Partitions)
						return
					}
				}
				_ = c.AliveBrokers()
			}
		}()
	}
	for epoch := int32(1); epoch <= updates; epoch++ {
		c.update(update(epoch))
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if ps, _ := c.PartitionInfo("t", 0); ps.LeaderEpoch != updates {
		t.Fatalf("leader epoch %d after %d updates", ps.LeaderEpoch, updates)
	}
}

// snapshotBrokersForTest returns copies of the live brokers, for an update
// that keeps them.
func (c *MetadataCache) snapshotBrokersForTest() []CachedBroker {
	var out []CachedBroker
	for _, b := range c.AliveBrokers() {
		out = append(out, *b)
	}
	return out
}
