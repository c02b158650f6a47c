package controller

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopicWithConfig creates topic with assignment a and a config znode,
// as the CreateTopics handler does, and waits for every partition's state.
func createTopicWithConfig(t *testing.T, zc *zkutil.Client, topic string, a map[int32][]int32) {
	t.Helper()
	ctx := context.Background()
	if err := zc.SetEntityConfig(ctx, zkutil.ConfigTopics, topic, map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatal(err)
	}
	if err := zc.CreateTopic(ctx, topic, zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: a}); err != nil {
		t.Fatal(err)
	}
	for p := range a {
		stateIs(t, zc, zkutil.TopicPartition{Topic: topic, Partition: p}, "partition state", func(zkutil.PartitionState) bool { return true })
	}
}

// topicGone reports whether the topic's znode, config and deletion request
// are all gone.
func topicGone(t *testing.T, zc *zkutil.Client, topic string) bool {
	t.Helper()
	ctx := context.Background()
	exists, err := zc.TopicExists(ctx, topic)
	if err != nil || exists {
		return false
	}
	configs, err := zc.ConfigEntities(ctx, zkutil.ConfigTopics)
	if err != nil || slices.Contains(configs, topic) {
		return false
	}
	pending, err := zc.TopicDeletions(ctx)
	return err == nil && !slices.Contains(pending, topic)
}

// topicPending checks that the topic's znodes and its deletion request are
// all still there.
func topicPending(t *testing.T, zc *zkutil.Client, topic string) {
	t.Helper()
	ctx := context.Background()
	exists, err := zc.TopicExists(ctx, topic)
	if err != nil || !exists {
		t.Fatalf("topic %s deleted too early (%v)", topic, err)
	}
	pending, err := zc.TopicDeletions(ctx)
	if err != nil || !slices.Contains(pending, topic) {
		t.Fatalf("deletion request of %s removed too early: %v %v", topic, pending, err)
	}
}

// syncController makes sure the controller's loop has handled what was
// queued before: it creates a probe topic and waits until broker target is
// told of it.
func syncController(t *testing.T, zc *zkutil.Client, sender *recordingSender, probe string, target int32) {
	t.Helper()
	if err := zc.CreateTopic(context.Background(), probe, zkutil.TopicAssignment{Partitions: map[int32][]int32{0: {target}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "probe topic announced", func() bool {
		_, ok := sender.metadataOf(target, zkutil.TopicPartition{Topic: probe})
		return ok
	})
}

func TestTopicDeletionStopsEveryReplicaThenRemovesZnodes(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	controllerOf(t, m1)
	startMember(t, connect, 2, sender)
	startMember(t, connect, 3, sender)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(1); return len(ids) == 3 })

	createTopicWithConfig(t, m1.zk, "doomed", map[int32][]int32{0: {1, 2}, 1: {2, 3}})
	tps := []zkutil.TopicPartition{{Topic: "doomed", Partition: 0}, {Topic: "doomed", Partition: 1}}
	eventually(t, "partitions in metadata", func() bool {
		_, ok := sender.metadataOf(3, tps[1])
		return ok
	})
	if err := m1.zk.RequestTopicDeletion(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "topic, config and request gone", func() bool { return topicGone(t, m1.zk, "doomed") })

	replicas := map[zkutil.TopicPartition][]int32{tps[0]: {1, 2}, tps[1]: {2, 3}}
	for tp, rs := range replicas {
		for _, b := range rs {
			if !sender.stopped(b, tp) {
				t.Errorf("broker %d was not sent StopReplica deleting %s", b, tp)
			}
		}
	}
	for _, b := range []int32{1, 2, 3} {
		for _, r := range sender.stopRequests(b) {
			if r.Version != 3 || r.ControllerID != 1 {
				t.Errorf("StopReplica to %d: version %d controller %d, want v3 from 1", b, r.Version, r.ControllerID)
			}
			for _, rt := range r.Topics {
				for _, ps := range rt.PartitionStates {
					if ps.LeaderEpoch != epochDuringDelete || !ps.Delete {
						t.Errorf("StopReplica to %d for %s-%d: leader epoch %d delete %v, want -2 and true", b, rt.Topic, ps.Partition, ps.LeaderEpoch, ps.Delete)
					}
				}
			}
		}
		for _, tp := range tps {
			if _, ok := sender.metadataOf(b, tp); ok {
				t.Errorf("broker %d still has %s in its metadata", b, tp)
			}
		}
	}

	// The name can be used again, and the new topic is a new topic.
	createTopicWithConfig(t, m1.zk, "doomed", map[int32][]int32{0: {3}})
	eventually(t, "re-created topic announced", func() bool {
		lai, ok := sender.leaderAndISROf(3, tps[0])
		return ok && lai.IsNew && slices.Equal(lai.Replicas, []int32{3})
	})
}

func TestTopicDeletionWaitsForReplicaOnDeadBroker(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	controllerOf(t, m1)
	startMember(t, connect, 2, sender)
	m3 := startMember(t, connect, 3, sender)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(1); return len(ids) == 3 })
	createTopicWithConfig(t, m1.zk, "doomed", map[int32][]int32{0: {1, 3}})
	tp := zkutil.TopicPartition{Topic: "doomed", Partition: 0}

	m3.stop()
	stateIs(t, m1.zk, tp, "3 leaves the ISR", func(s zkutil.PartitionState) bool { return slices.Equal(s.ISR, []int32{1}) })
	if err := m1.zk.RequestTopicDeletion(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "live replica stopped, brokers told", func() bool {
		_, known := sender.metadataOf(2, tp)
		return sender.stopped(1, tp) && !known
	})
	syncController(t, m1.zk, sender, "probe", 2)
	topicPending(t, m1.zk, "doomed")

	startMember(t, connect, 3, sender)
	eventually(t, "deletion completes once 3 is back", func() bool { return topicGone(t, m1.zk, "doomed") })
	if !sender.stopped(3, tp) {
		t.Fatal("broker 3 was not sent StopReplica")
	}
	// Broker 3 got LeaderAndIsr at epoch 0 when the topic was created;
	// anything after its return would carry the shrunk ISR's epoch 1.
	if lai, ok := sender.leaderAndISROf(3, tp); ok && lai.LeaderEpoch != 0 {
		t.Fatalf("broker 3 was sent LeaderAndIsr for a topic being deleted: %+v", lai)
	}
}

func TestTopicDeletionRetriedWhenBrokerRefusedIt(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	var refuse atomic.Bool
	refuse.Store(true)
	sender.refuseStop = func(target int32, _ *kmsg.StopReplicaRequest) int16 {
		if target == 2 && refuse.Load() {
			return kerr.KafkaStorageError.Code
		}
		return 0
	}
	m1 := startMember(t, connect, 1, sender)
	controllerOf(t, m1)
	m2 := startMember(t, connect, 2, sender)
	eventually(t, "both known", func() bool { ids, _ := sender.lastSeen(1); return len(ids) == 2 })
	createTopicWithConfig(t, m1.zk, "doomed", map[int32][]int32{0: {2, 1}})
	tp := zkutil.TopicPartition{Topic: "doomed", Partition: 0}
	if err := m1.zk.RequestTopicDeletion(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both replicas sent StopReplica", func() bool { return sender.stopped(1, tp) && sender.stopped(2, tp) })
	syncController(t, m1.zk, sender, "probe", 1)
	topicPending(t, m1.zk, "doomed")

	// Broker 2 restarts with a working disk: the replica is retried.
	refuse.Store(false)
	m2.stop()
	startMember(t, connect, 2, sender)
	eventually(t, "deletion completes after 2 re-registers", func() bool { return topicGone(t, m1.zk, "doomed") })
}

func TestTopicDeletionResumedByNewController(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	// Broker 2 refuses controller 1's StopReplica: the deletion is still
	// pending when controller 1 goes, and only a new controller resuming
	// it at the start of its term can complete it.
	sender.refuseStop = func(_ int32, req *kmsg.StopReplicaRequest) int16 {
		if req.ControllerID == 1 {
			return kerr.KafkaStorageError.Code
		}
		return 0
	}
	m1 := startMember(t, connect, 1, sender)
	controllerOf(t, m1)
	m2 := startMember(t, connect, 2, sender)
	eventually(t, "both known", func() bool { ids, _ := sender.lastSeen(1); return len(ids) == 2 })
	createTopicWithConfig(t, m1.zk, "doomed", map[int32][]int32{0: {2}})
	tp := zkutil.TopicPartition{Topic: "doomed", Partition: 0}
	if err := m1.zk.RequestTopicDeletion(context.Background(), "doomed"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "2 sent StopReplica by 1", func() bool { return sender.stopped(2, tp) })
	syncController(t, m1.zk, sender, "probe", 2)
	topicPending(t, m2.zk, "doomed")

	m1.stop()
	eventually(t, "2 takes over", func() bool { ok, _ := m2.ctrl.IsController(); return ok })
	eventually(t, "deletion completed by the new controller", func() bool { return topicGone(t, m2.zk, "doomed") })
	if _, ok := sender.metadataOf(2, tp); ok {
		t.Fatal("the new controller announced a topic being deleted")
	}
}

func TestTopicDeletionRequestForUnknownTopicIsRemoved(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	controllerOf(t, m1)
	if err := m1.zk.RequestTopicDeletion(context.Background(), "ghost"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "request removed", func() bool { return topicGone(t, m1.zk, "ghost") })
	if got := sender.stopRequests(1); len(got) != 0 {
		t.Fatalf("StopReplica sent for an unknown topic: %+v", got)
	}
}

func TestTopicDeletionDisabled(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMemberWith(t, connect, 1, sender, func(c *Config) { c.DeleteTopicEnable = false })
	controllerOf(t, m1)
	createTopicWithConfig(t, m1.zk, "kept", map[int32][]int32{0: {1}})
	if err := m1.zk.RequestTopicDeletion(context.Background(), "kept"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "request removed", func() bool {
		pending, err := m1.zk.TopicDeletions(context.Background())
		return err == nil && len(pending) == 0
	})
	syncController(t, m1.zk, sender, "probe", 1)
	if exists, err := m1.zk.TopicExists(context.Background(), "kept"); err != nil || !exists {
		t.Fatalf("topic deleted with delete.topic.enable=false (%v)", err)
	}
	if _, ok := sender.metadataOf(1, zkutil.TopicPartition{Topic: "kept"}); !ok {
		t.Fatal("topic dropped from metadata with delete.topic.enable=false")
	}
	if got := sender.stopRequests(1); len(got) != 0 {
		t.Fatalf("StopReplica sent with delete.topic.enable=false: %+v", got)
	}
}

func TestPartitionsAddedToATopic(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	controllerOf(t, m1)
	startMember(t, connect, 2, sender)
	eventually(t, "both known", func() bool { ids, _ := sender.lastSeen(1); return len(ids) == 2 })
	ctx := context.Background()
	createTopicWithConfig(t, m1.zk, "grows", map[int32][]int32{0: {1, 2}})
	a, _, err := m1.zk.TopicAssignment(ctx, "grows")
	if err != nil {
		t.Fatal(err)
	}
	id := a.TopicID

	set := func(parts map[int32][]int32) {
		t.Helper()
		if _, err := m1.zk.SetTopicAssignment(ctx, zkutil.NoFence, "grows", zkutil.TopicAssignment{TopicID: id, Partitions: parts}, zkutil.MatchAnyVersion); err != nil {
			t.Fatal(err)
		}
	}
	set(map[int32][]int32{0: {1, 2}, 1: {2, 1}, 2: {1, 2}})
	newParts := []zkutil.TopicPartition{{Topic: "grows", Partition: 1}, {Topic: "grows", Partition: 2}}
	for _, tp := range newParts {
		stateIs(t, m1.zk, tp, "new partition's state", func(zkutil.PartitionState) bool { return true })
	}
	eventually(t, "new partitions sent to replicas (isNew) and every broker", func() bool {
		for _, b := range []int32{1, 2} {
			for _, tp := range newParts {
				lai, ok := sender.leaderAndISROf(b, tp)
				if !ok || !lai.IsNew || lai.Leader < 1 {
					return false
				}
				if um, ok := sender.metadataOf(b, tp); !ok || um.Leader != lai.Leader {
					return false
				}
			}
		}
		return true
	})

	// Fewer partitions: ignored, and the watch stays armed.
	set(map[int32][]int32{0: {1, 2}})
	syncController(t, m1.zk, sender, "probe", 1)
	for _, tp := range newParts {
		if _, ok := sender.metadataOf(2, tp); !ok {
			t.Fatalf("%s dropped after a shrinking assignment", tp)
		}
		if _, _, err := m1.zk.PartitionState(ctx, tp); err != nil {
			t.Fatalf("state of %s after a shrinking assignment: %v", tp, err)
		}
	}
	set(map[int32][]int32{0: {1, 2}, 1: {2, 1}, 2: {1, 2}, 3: {2, 1}})
	p3 := zkutil.TopicPartition{Topic: "grows", Partition: 3}
	s := stateIs(t, m1.zk, p3, "partition 3's state", func(zkutil.PartitionState) bool { return true })
	if s.Leader != 2 {
		t.Fatalf("partition 3 state %+v, want leader 2", s)
	}
	eventually(t, "partition 3 announced", func() bool { _, ok := sender.metadataOf(1, p3); return ok })
}

// blockingSender holds every Send until release is closed, and records
// what it delivered, in order.
type blockingSender struct {
	release chan struct{}
	got     chan kmsg.Request
}

func (s *blockingSender) Send(ctx context.Context, _ zkutil.BrokerRegistration, req kmsg.Request) (kmsg.Response, error) {
	select {
	case <-s.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.got <- req
	return req.ResponseKind(), nil
}

func TestSenderQueueNeverDropsAndMergesUpdateMetadata(t *testing.T) {
	bs := &blockingSender{release: make(chan struct{}), got: make(chan kmsg.Request, 1000)}
	c, err := New(Config{BrokerID: 1, ZK: &zkutil.Client{}, Sender: bs})
	if err != nil {
		t.Fatal(err)
	}
	s := newBrokerSender(c, zkutil.BrokerRegistration{Info: zkutil.BrokerInfo{ID: 2}, Epoch: 7})
	defer s.stop()

	um := func(topic string, partition, leader int32) *kmsg.UpdateMetadataRequest {
		req := kmsg.NewPtrUpdateMetadataRequest()
		ts := kmsg.NewUpdateMetadataRequestTopicState()
		ts.Topic = topic
		ps := kmsg.NewUpdateMetadataRequestTopicPartition()
		ps.Partition, ps.Leader = partition, leader
		ts.PartitionStates = append(ts.PartitionStates, ps)
		req.TopicStates = append(req.TopicStates, ts)
		return req
	}
	const n = 300 // far more than any fixed queue would hold
	for i := 0; i < n; i++ {
		lai := kmsg.NewPtrLeaderAndISRRequest()
		lai.ControllerEpoch = int32(i)
		s.enqueue(lai)
		// Three UpdateMetadata in a row: folded into one.
		s.enqueue(um("a", 0, 1))
		s.enqueue(um("a", 0, 2))
		s.enqueue(um("b", int32(i), 3))
	}
	if w := s.waiting(); w > 2*n {
		t.Fatalf("%d requests waiting, want at most %d: consecutive UpdateMetadata not merged", w, 2*n)
	}
	close(bs.release)
	for i := 0; i < n; i++ {
		req := <-bs.got
		lai, ok := req.(*kmsg.LeaderAndISRRequest)
		if !ok || lai.ControllerEpoch != int32(i) {
			t.Fatalf("request %d: %T %+v, want LeaderAndIsr %d", 2*i, req, req, i)
		}
		req = <-bs.got
		m, ok := req.(*kmsg.UpdateMetadataRequest)
		if !ok {
			t.Fatalf("request %d: %T, want the merged UpdateMetadata", 2*i+1, req)
		}
		var got []int32
		for _, ts := range m.TopicStates {
			for _, ps := range ts.PartitionStates {
				got = append(got, ps.Leader)
				if ts.Topic == "b" && ps.Partition != int32(i) {
					t.Fatalf("merged UpdateMetadata %d has b-%d", i, ps.Partition)
				}
			}
		}
		if !slices.Equal(got, []int32{2, 3}) {
			t.Fatalf("merged UpdateMetadata %d leaders %v, want [2 3] (a-0's later state wins)", i, got)
		}
	}
	select {
	case extra := <-bs.got:
		t.Fatalf("unexpected extra request %T", extra)
	default:
	}
}
