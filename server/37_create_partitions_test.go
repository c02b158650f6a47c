package server

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func growTopic(name string, count int32, assignments ...[]int32) kmsg.CreatePartitionsRequestTopic {
	t := kmsg.NewCreatePartitionsRequestTopic()
	t.Topic, t.Count = name, count
	if assignments != nil {
		t.Assignment = []kmsg.CreatePartitionsRequestTopicAssignment{}
	}
	for _, r := range assignments {
		t.Assignment = append(t.Assignment, kmsg.CreatePartitionsRequestTopicAssignment{Replicas: r})
	}
	return t
}

// createPartitions sends CreatePartitions with a timeout of 30s, playing
// the controller if it waits.
func createPartitions(t *testing.T, h *handlers, v int16, validateOnly bool, topics ...kmsg.CreatePartitionsRequestTopic) *kmsg.CreatePartitionsResponse {
	t.Helper()
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version, req.TimeoutMillis, req.ValidateOnly, req.Topics = v, 30000, validateOnly, topics
	r, _ := callAdmin(t, h, req, playController(t, h, h.topics.(*zkutil.Client)))
	resp := r.(*kmsg.CreatePartitionsResponse)
	if len(resp.Topics) != len(topics) {
		t.Fatalf("%d topics answered, %d asked", len(resp.Topics), len(topics))
	}
	return resp
}

// partitionsTestHandlers are adminTestHandlers with topic "grow" in
// ZooKeeper and the cache: 2 partitions, {2,3} and {3,1}.
func partitionsTestHandlers(t *testing.T) (*handlers, *zkutil.Client) {
	t.Helper()
	h, zkc := adminTestHandlers(t)
	if err := zkc.CreateTopic(context.Background(), "grow", zkutil.TopicAssignment{TopicID: zkutil.NewUUID(),
		Partitions: map[int32][]int32{0: {2, 3}, 1: {3, 1}}}); err != nil {
		t.Fatal(err)
	}
	updateMetadata(t, h, partitionState("grow", 0, 2, 2, 3), partitionState("grow", 1, 3, 3, 1))
	return h, zkc
}

func assignmentOf(t *testing.T, zkc *zkutil.Client, topic string) zkutil.TopicAssignment {
	t.Helper()
	a, _, err := zkc.TopicAssignment(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCreatePartitionsErrors(t *testing.T) {
	h, zkc := partitionsTestHandlers(t)
	ctx := context.Background()
	if err := zkc.CreateTopic(ctx, "deleting", zkutil.TopicAssignment{Partitions: map[int32][]int32{0: {1}}}); err != nil {
		t.Fatal(err)
	}
	if err := zkc.RequestTopicDeletion(ctx, "deleting"); err != nil {
		t.Fatal(err)
	}
	if err := zkc.CreateTopic(ctx, "moving", zkutil.TopicAssignment{Partitions: map[int32][]int32{0: {1, 2}},
		AddingReplicas: map[int32][]int32{0: {2}}}); err != nil {
		t.Fatal(err)
	}
	before := assignmentOf(t, zkc, "grow")

	tests := []struct {
		name  string
		topic kmsg.CreatePartitionsRequestTopic
		code  *kerr.Error
		msg   string
	}{
		{"unknown", growTopic("nope", 3), kerr.UnknownTopicOrPartition, "The topic 'nope' does not exist."},
		{"illegal name", growTopic("a/b", 3), kerr.UnknownTopicOrPartition, "The topic 'a/b' does not exist."},
		{"queued for deletion", growTopic("deleting", 3), kerr.InvalidTopicException, "The topic is queued for deletion."},
		{"reassigning", growTopic("moving", 3), kerr.ReassignmentInProgress, "A partition reassignment is in progress for the topic 'moving'."},
		{"fewer", growTopic("grow", 1), kerr.InvalidPartitions, "Topic currently has 2 partitions, which is higher than the requested 1."},
		{"same", growTopic("grow", 2), kerr.InvalidPartitions, "Topic already has 2 partitions."},
		{"unknown brokers", growTopic("grow", 3, []int32{7, 1}, []int32{5, 7}), kerr.InvalidReplicaAssignment, "Unknown broker(s) in replica assignment: 5, 7."},
		{"too few assignments", growTopic("grow", 4, []int32{1, 2}), kerr.InvalidReplicaAssignment, "Increasing the number of partitions by 2 but 1 assignments provided."},
		{"empty assignment list", growTopic("grow", 3, [][]int32{}...), kerr.InvalidReplicaAssignment, "Increasing the number of partitions by 1 but 0 assignments provided."},
		{"no replicas", growTopic("grow", 3, []int32{}), kerr.InvalidReplicaAssignment, "Cannot have replication factor of 0 for partition id 2."},
		{"duplicate broker", growTopic("grow", 4, []int32{1, 2}, []int32{3, 3}), kerr.InvalidReplicaAssignment, "Duplicate brokers not allowed in replica assignment: 3, 3 for partition id 3."},
		{"replication factor", growTopic("grow", 5, []int32{1}, []int32{1, 2}, []int32{1, 2, 3}), kerr.InvalidReplicaAssignment,
			"Inconsistent replication factor between partitions, partition 0 has 2 while partitions [2, 4] have replication factors [1, 3], respectively."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, validateOnly := range []bool{false, true} {
				rt := createPartitions(t, h, 3, validateOnly, tt.topic).Topics[0]
				if rt.ErrorCode != tt.code.Code || strPtr(rt.ErrorMessage) != tt.msg {
					t.Fatalf("validate_only %v: error %d %q, want %s %q", validateOnly, rt.ErrorCode, strPtr(rt.ErrorMessage), tt.code.Message, tt.msg)
				}
			}
		})
	}
	if after := assignmentOf(t, zkc, "grow"); !maps.EqualFunc(after.Partitions, before.Partitions, slices.Equal[[]int32]) {
		t.Fatalf("a failed request changed the assignment: %v", after.Partitions)
	}

	// Replication factor 2 on one live broker.
	h.metadata.update(&MetadataUpdate{ControllerID: 1, LiveBrokers: []CachedBroker{plaintextBroker(1, "h1", 9092)}})
	if rt := createPartitions(t, h, 3, true, growTopic("grow", 3)).Topics[0]; rt.ErrorCode != kerr.InvalidReplicationFactor.Code ||
		strPtr(rt.ErrorMessage) != "Replication factor: 2 larger than available brokers: 1." {
		t.Fatalf("rf above live brokers: %d %q", rt.ErrorCode, strPtr(rt.ErrorMessage))
	}
}

func TestCreatePartitionsDuplicatesAndNotController(t *testing.T) {
	h, zkc := partitionsTestHandlers(t)
	resp := createPartitions(t, h, 0, false, growTopic("grow", 3), growTopic("nope", 3), growTopic("grow", 4))
	for i, want := range []*kerr.Error{kerr.InvalidRequest, kerr.UnknownTopicOrPartition, kerr.InvalidRequest} {
		if resp.Topics[i].ErrorCode != want.Code {
			t.Fatalf("topic %d: error %d, want %s", i, resp.Topics[i].ErrorCode, want.Message)
		}
	}
	if strPtr(resp.Topics[0].ErrorMessage) != "Duplicate topic in request." {
		t.Fatalf("message %q", strPtr(resp.Topics[0].ErrorMessage))
	}
	h.metadata.update(&MetadataUpdate{ControllerID: 2, LiveBrokers: h.metadata.snapshotBrokersForTest()})
	if rt := createPartitions(t, h, 3, false, growTopic("grow", 3)).Topics[0]; rt.ErrorCode != kerr.NotController.Code || rt.ErrorMessage != nil {
		t.Fatalf("not the controller: %d %q", rt.ErrorCode, strPtr(rt.ErrorMessage))
	}
	if n := len(assignmentOf(t, zkc, "grow").Partitions); n != 2 {
		t.Fatalf("%d partitions after failed requests", n)
	}
}

// The new partitions continue Kafka's layout from partition 0's first
// replica, keep the topic id, and the answer waits for their leaders.
func TestCreatePartitionsComputed(t *testing.T) {
	h, zkc := partitionsTestHandlers(t)
	id := assignmentOf(t, zkc, "grow").TopicID

	if rt := createPartitions(t, h, 1, true, growTopic("grow", 5)).Topics[0]; rt.ErrorCode != 0 {
		t.Fatalf("validate only: error %d %q", rt.ErrorCode, strPtr(rt.ErrorMessage))
	}
	if n := len(assignmentOf(t, zkc, "grow").Partitions); n != 2 {
		t.Fatalf("validate_only wrote %d partitions", n)
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version, req.TimeoutMillis = 3, 30000
	req.Topics = []kmsg.CreatePartitionsRequestTopic{growTopic("grow", 5)}
	r, parked := callAdmin(t, h, req, playController(t, h, zkc))
	if rt := r.(*kmsg.CreatePartitionsResponse).Topics[0]; rt.ErrorCode != 0 || rt.ErrorMessage != nil {
		t.Fatalf("grow: %d %q", rt.ErrorCode, strPtr(rt.ErrorMessage))
	}
	if !parked {
		t.Fatal("answered before the new partitions had leaders")
	}
	a := assignmentOf(t, zkc, "grow")
	// Brokers [1 2 3]; partition 0 starts at broker 2, index 1: start and
	// shift 1. Partition p's first replica is brokers[(p+1)%3], its
	// follower 1+shift%2 further, the shift growing to 2 at p=3.
	want := map[int32][]int32{0: {2, 3}, 1: {3, 1}, 2: {1, 3}, 3: {2, 3}, 4: {3, 1}}
	if !maps.EqualFunc(a.Partitions, want, slices.Equal[[]int32]) {
		t.Fatalf("assignment %v, want %v", a.Partitions, want)
	}
	if a.TopicID != id {
		t.Fatalf("topic id changed from %v to %v", id, a.TopicID)
	}
	for p := int32(0); p < 5; p++ {
		if ps, ok := h.metadata.PartitionInfo("grow", p); !ok || ps.Leader < 1 {
			t.Fatalf("partition %d not led after the answer", p)
		}
	}

	// A timeout of 0 writes but does not wait; a short one times out
	// when no controller acts.
	for _, tc := range []struct {
		timeout int32
		count   int32
	}{{0, 6}, {100, 7}} {
		req.TimeoutMillis, req.Topics = tc.timeout, []kmsg.CreatePartitionsRequestTopic{growTopic("grow", tc.count)}
		r, parked := callAdmin(t, h, req, nil)
		if rt := r.(*kmsg.CreatePartitionsResponse).Topics[0]; rt.ErrorCode != kerr.RequestTimedOut.Code {
			t.Fatalf("timeout %d: error %d", tc.timeout, rt.ErrorCode)
		}
		if parked != (tc.timeout > 0) {
			t.Fatalf("timeout %d: waited %v", tc.timeout, parked)
		}
		if n := len(assignmentOf(t, zkc, "grow").Partitions); n != int(tc.count) {
			t.Fatalf("timeout %d: %d partitions in ZooKeeper", tc.timeout, n)
		}
	}
}

func TestCreatePartitionsExplicit(t *testing.T) {
	h, zkc := partitionsTestHandlers(t)
	for v := int16(0); v <= 3; v++ {
		count := 3 + int32(v)
		rt := createPartitions(t, h, v, false, growTopic("grow", count, []int32{1, 2})).Topics[0]
		if rt.ErrorCode != 0 {
			t.Fatalf("v%d: error %d %q", v, rt.ErrorCode, strPtr(rt.ErrorMessage))
		}
		if got := assignmentOf(t, zkc, "grow").Partitions[count-1]; !slices.Equal(got, []int32{1, 2}) {
			t.Fatalf("v%d: partition %d on %v", v, count-1, got)
		}
	}
}

func brokersOf(ids ...int32) []controller.BrokerMetadata {
	out := make([]controller.BrokerMetadata, len(ids))
	for i, id := range ids {
		out[i] = controller.BrokerMetadata{ID: id}
	}
	return out
}

// continueAssignment matches Kafka's documented layout for 5 brokers
// (AdminUtils' scaladoc example, start index 0, shift 0, 10 partitions):
// adding the partitions 5-9 to a topic whose partitions 0-4 were laid out
// that way gives what laying out all ten at once gives.
func TestContinueAssignment(t *testing.T) {
	h := &handlers{log: discardLogger()}
	brokers := brokersOf(4, 2, 0, 3, 1)
	all, err := h.continueAssignment(brokers, []int32{0, 1, 2}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32][]int32{
		0: {0, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 4}, 3: {3, 4, 0}, 4: {4, 0, 1},
		5: {0, 2, 3}, 6: {1, 3, 4}, 7: {2, 4, 0}, 8: {3, 0, 1}, 9: {4, 1, 2},
	}
	if !maps.EqualFunc(all, want, slices.Equal[[]int32]) {
		t.Fatalf("layout %v, want %v", all, want)
	}
	added, err := h.continueAssignment(brokers, want[0], 5, 5)
	if err != nil {
		t.Fatal(err)
	}
	for p, r := range added {
		if !slices.Equal(r, want[p]) {
			t.Fatalf("added partition %d on %v, want %v", p, r, want[p])
		}
	}
	if len(added) != 5 {
		t.Fatalf("%d partitions added", len(added))
	}
	// Partition 0 led by a broker no longer live: the first with a
	// higher id.
	if got, _ := h.continueAssignment(brokersOf(1, 3), []int32{2}, 1, 1); !slices.Equal(got[1], []int32{1}) {
		t.Fatalf("after a gone broker: %v", got)
	}
	if _, err := h.continueAssignment(brokersOf(1, 3), []int32{1, 2, 3}, 1, 1); errorCode(h.log, err) != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("rf 3 on 2 brokers: %v", err)
	}
}

// With racks on every broker the new partitions are laid out rack-aware
// (each on as many racks as its replicas allow); with racks on some
// brokers only, Kafka's AdminOperationException: UNKNOWN_SERVER_ERROR.
func TestContinueAssignmentRacks(t *testing.T) {
	h := &handlers{log: discardLogger()}
	a, b := "a", "b"
	racked := []controller.BrokerMetadata{{ID: 1, Rack: &a}, {ID: 2, Rack: &a}, {ID: 3, Rack: &b}, {ID: 4, Rack: &b}}
	rackOf := map[int32]string{1: a, 2: a, 3: b, 4: b}
	added, err := h.continueAssignment(racked, []int32{1, 3}, 1, 8)
	if err != nil {
		t.Fatal(err)
	}
	for p, r := range added {
		if len(r) != 2 || rackOf[r[0]] == rackOf[r[1]] {
			t.Fatalf("partition %d on %v: not on both racks", p, r)
		}
	}
	mixed := []controller.BrokerMetadata{{ID: 1, Rack: &a}, {ID: 2}}
	_, err = h.continueAssignment(mixed, []int32{1}, 1, 1)
	var ae *adminError
	if errorCode(h.log, err) != kerr.UnknownServerError.Code || errors.As(err, &ae) {
		t.Fatalf("mixed racks: %v, want UNKNOWN_SERVER_ERROR without a message", err)
	}
}

// racingStore changes the topic's znode between the handler's read and
// its write, once, as a concurrent admin would.
type racingStore struct {
	*zkutil.Client
	raced bool
}

func (s *racingStore) SetTopicAssignment(ctx context.Context, f zkutil.Fence, topic string, a zkutil.TopicAssignment, expected int32) (zkutil.Stat, error) {
	if !s.raced {
		s.raced = true
		cur, st, err := s.TopicAssignment(ctx, topic)
		if err != nil {
			return zkutil.Stat{}, err
		}
		cur.Partitions[int32(len(cur.Partitions))] = []int32{1, 2}
		if _, err := s.Client.SetTopicAssignment(ctx, zkutil.NoFence, topic, cur, st.Version); err != nil {
			return zkutil.Stat{}, err
		}
	}
	return s.Client.SetTopicAssignment(ctx, f, topic, a, expected)
}

func TestCreatePartitionsConcurrentChange(t *testing.T) {
	h, zkc := partitionsTestHandlers(t)
	h.topics = &racingStore{Client: zkc}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.Version, req.TimeoutMillis = 3, 0
	req.Topics = []kmsg.CreatePartitionsRequestTopic{growTopic("grow", 3)}
	r, _ := callAdmin(t, h, req, nil)
	// Someone else grew it to 3 first; read again, 3 is no increase.
	rt := r.(*kmsg.CreatePartitionsResponse).Topics[0]
	if rt.ErrorCode != kerr.InvalidPartitions.Code || !strings.Contains(strPtr(rt.ErrorMessage), "already has 3") {
		t.Fatalf("after a concurrent change: %d %q", rt.ErrorCode, strPtr(rt.ErrorMessage))
	}
	if a := assignmentOf(t, zkc, "grow"); len(a.Partitions) != 3 || !slices.Equal(a.Partitions[2], []int32{1, 2}) {
		t.Fatalf("the concurrent change was overwritten: %v", a.Partitions)
	}
}
