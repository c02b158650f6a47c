package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/network"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// callAdmin sends an admin request (CreateTopics, CreatePartitions,
// DeleteTopics) to h and returns the answer, decoded at the request's
// version. A request still unanswered when Handle returns is parked in the
// admin purgatory (awaitTopics has returned, so it is watched): then
// playController, if not nil, plays the controller's part once, and the
// answer is awaited. parked reports whether it waited.
func callAdmin(t *testing.T, h *handlers, req kmsg.Request, playController func()) (resp kmsg.Response, parked bool) {
	t.Helper()
	nr := &network.Request{
		Header: network.RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: 7},
		Body:   req.AppendTo(nil),
		Conn:   network.ConnInfo{ListenerName: "PLAINTEXT"},
	}
	answers := make(chan kmsg.Response, 2)
	if err := h.Handle(context.Background(), nr, func(r kmsg.Response) { answers <- r }); err != nil {
		t.Fatal(err)
	}
	var got kmsg.Response
	select {
	case got = <-answers:
	default:
		parked = true
		if h.admin.delayed() == 0 {
			t.Fatal("no answer, and nothing waits in the admin purgatory")
		}
		if playController != nil {
			playController()
		}
		select {
		case got = <-answers:
		case <-time.After(30 * time.Second):
			t.Fatal("no answer within 30s")
		}
	}
	select {
	case <-answers:
		t.Fatal("answered twice")
	default:
	}
	decoded := req.ResponseKind()
	decoded.SetVersion(req.GetVersion())
	if err := decoded.ReadFrom(got.AppendTo(nil)); err != nil {
		t.Fatalf("response does not decode at v%d: %v", req.GetVersion(), err)
	}
	return decoded, parked
}

// updateMetadata sends h an UpdateMetadata v7 from controller 1 with the
// live brokers h already knows and the partitions given, through the real
// handler, so that its wake-up hook runs.
func updateMetadata(t *testing.T, h *handlers, partitions ...PartitionState) {
	t.Helper()
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version, req.ControllerID, req.ControllerEpoch, req.BrokerEpoch = 7, 1, 1, -1
	for _, b := range h.metadata.AliveBrokers() {
		lb := kmsg.NewUpdateMetadataRequestLiveBroker()
		lb.ID = b.ID
		for _, ep := range b.Endpoints {
			e := kmsg.NewUpdateMetadataRequestLiveBrokerEndpoint()
			e.Host, e.Port, e.ListenerName, e.SecurityProtocol = ep.Host, ep.Port, ep.ListenerName, ep.SecurityProtocol
			lb.Endpoints = append(lb.Endpoints, e)
		}
		req.LiveBrokers = append(req.LiveBrokers, lb)
	}
	for _, ps := range partitions {
		if len(req.TopicStates) == 0 || req.TopicStates[len(req.TopicStates)-1].Topic != ps.Topic {
			ts := kmsg.NewUpdateMetadataRequestTopicState()
			ts.Topic = ps.Topic
			req.TopicStates = append(req.TopicStates, ts)
		}
		p := kmsg.NewUpdateMetadataRequestTopicPartition()
		p.Topic, p.Partition, p.ControllerEpoch, p.Leader, p.LeaderEpoch = ps.Topic, ps.Partition, 1, ps.Leader, ps.LeaderEpoch
		p.ISR, p.Replicas = ps.ISR, ps.Replicas
		ts := &req.TopicStates[len(req.TopicStates)-1]
		ts.PartitionStates = append(ts.PartitionStates, p)
	}
	if resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.UpdateMetadataResponse); resp.ErrorCode != 0 {
		t.Fatalf("UpdateMetadata: error %d", resp.ErrorCode)
	}
}

// playController does what the controller would for the topics in
// ZooKeeper, in one UpdateMetadata: every partition of the assignment
// that is not cached gets its first replica as leader, and every cached
// topic pending deletion is removed.
func playController(t *testing.T, h *handlers, zkc *zkutil.Client) func() {
	return func() {
		t.Helper()
		ctx := context.Background()
		topics, err := zkc.Topics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		deleting, err := zkc.TopicDeletions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var states []PartitionState
		for _, topic := range topics {
			a, _, err := zkc.TopicAssignment(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < int32(len(a.Partitions)); p++ {
				replicas := a.Partitions[p]
				if slices.Contains(deleting, topic) {
					if _, ok := h.metadata.PartitionInfo(topic, p); ok {
						states = append(states, PartitionState{Topic: topic, Partition: p, Leader: leaderDuringDelete, Replicas: replicas})
					}
					continue
				}
				if _, ok := h.metadata.PartitionInfo(topic, p); !ok {
					states = append(states, partitionState(topic, p, replicas[0], replicas...))
				}
			}
		}
		updateMetadata(t, h, states...)
	}
}

// awaitResult runs awaitTopics and returns a channel that receives its
// answer.
func awaitResult(h *handlers, timeout time.Duration, waits ...topicWait) <-chan []bool {
	out := make(chan []bool, 2)
	h.awaitTopics(waits, timeout, func(done []bool) { out <- done })
	return out
}

func receive(t *testing.T, ch <-chan []bool) []bool {
	t.Helper()
	select {
	case done := <-ch:
		return done
	case <-time.After(30 * time.Second):
		t.Fatal("no answer within 30s")
		return nil
	}
}

func pending(t *testing.T, ch <-chan []bool) {
	t.Helper()
	select {
	case done := <-ch:
		t.Fatalf("answered %v, want still waiting", done)
	default:
	}
}

// The waiters are woken by UpdateMetadata, and only when the cache shows
// all they wait for.
func TestAdminPurgatoryWakeUps(t *testing.T) {
	newH := func() *handlers {
		h := newHandlers(1, discardLogger())
		h.metadata.update(&MetadataUpdate{
			ControllerID: 1,
			LiveBrokers:  []CachedBroker{plaintextBroker(1, "h1", 9092), plaintextBroker(2, "h2", 9092)},
			Partitions:   []PartitionState{partitionState("old", 0, 1, 1, 2), partitionState("old", 1, 2, 2, 1)},
		})
		return h
	}
	hour := time.Hour

	t.Run("created", func(t *testing.T) {
		h := newH()
		ch := awaitResult(h, hour, topicWait{topic: "new", partitions: 2})
		pending(t, ch)
		updateMetadata(t, h, partitionState("other", 0, 1, 1))
		pending(t, ch)
		updateMetadata(t, h, partitionState("new", 0, 1, 1), partitionState("new", 1, noLeader, 2))
		pending(t, ch) // partition 1 has no leader yet
		updateMetadata(t, h, partitionState("new", 1, 2, 2))
		if done := receive(t, ch); !slices.Equal(done, []bool{true}) {
			t.Fatalf("done %v", done)
		}
		if n := h.admin.delayed(); n != 0 {
			t.Fatalf("%d still delayed", n)
		}
	})
	t.Run("grown", func(t *testing.T) {
		h := newH()
		ch := awaitResult(h, hour, topicWait{topic: "old", partitions: 3})
		pending(t, ch)
		updateMetadata(t, h, partitionState("old", 2, 1, 1))
		if done := receive(t, ch); !slices.Equal(done, []bool{true}) {
			t.Fatalf("done %v", done)
		}
	})
	t.Run("deleted", func(t *testing.T) {
		h := newH()
		ch := awaitResult(h, hour, topicWait{topic: "old", deletion: true})
		pending(t, ch)
		updateMetadata(t, h, PartitionState{Topic: "old", Partition: 0, Leader: leaderDuringDelete})
		pending(t, ch) // partition 1 is still cached
		updateMetadata(t, h, PartitionState{Topic: "old", Partition: 1, Leader: leaderDuringDelete})
		if done := receive(t, ch); !slices.Equal(done, []bool{true}) {
			t.Fatalf("done %v", done)
		}
	})
	t.Run("already done", func(t *testing.T) {
		h := newH()
		if done := receive(t, awaitResult(h, hour, topicWait{topic: "old", partitions: 2}, topicWait{topic: "gone", deletion: true})); !slices.Equal(done, []bool{true, true}) {
			t.Fatalf("done %v", done)
		}
	})
	t.Run("timeout answers the rest", func(t *testing.T) {
		h := newH()
		ch := awaitResult(h, 50*time.Millisecond, topicWait{topic: "new", partitions: 1}, topicWait{topic: "other", partitions: 1})
		updateMetadata(t, h, partitionState("new", 0, 1, 1))
		if done := receive(t, ch); !slices.Equal(done, []bool{true, false}) {
			t.Fatalf("done %v", done)
		}
	})
	t.Run("no timeout answers at once", func(t *testing.T) {
		h := newH()
		if done := receive(t, awaitResult(h, 0, topicWait{topic: "old", partitions: 2})); !slices.Equal(done, []bool{false}) {
			t.Fatalf("done %v: a timeout of 0 is REQUEST_TIMED_OUT even when done", done)
		}
	})
	t.Run("stale controller wakes nothing", func(t *testing.T) {
		h := newH()
		if err := h.controllerEpoch.apply(5, func() {}); err != nil {
			t.Fatal(err)
		}
		ch := awaitResult(h, hour, topicWait{topic: "new", partitions: 1})
		req := kmsg.NewPtrUpdateMetadataRequest()
		req.Version, req.ControllerID, req.ControllerEpoch, req.BrokerEpoch = 7, 1, 4, -1
		ts := kmsg.NewUpdateMetadataRequestTopicState()
		ts.Topic = "new"
		p := kmsg.NewUpdateMetadataRequestTopicPartition()
		p.Partition, p.Leader, p.Replicas, p.ISR = 0, 1, []int32{1}, []int32{1}
		ts.PartitionStates = append(ts.PartitionStates, p)
		req.TopicStates = append(req.TopicStates, ts)
		if resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.UpdateMetadataResponse); resp.ErrorCode != kerr.StaleControllerEpoch.Code {
			t.Fatalf("stale UpdateMetadata: error %d", resp.ErrorCode)
		}
		pending(t, ch)
	})
	t.Run("shutdown answers at once", func(t *testing.T) {
		h := newH()
		ch := awaitResult(h, hour, topicWait{topic: "new", partitions: 1}, topicWait{topic: "old", partitions: 2})
		pending(t, ch)
		h.admin.close()
		if done := receive(t, ch); !slices.Equal(done, []bool{false, true}) {
			t.Fatalf("done %v", done)
		}
		// After close nothing waits.
		if done := receive(t, awaitResult(h, hour, topicWait{topic: "new", partitions: 1})); !slices.Equal(done, []bool{false}) {
			t.Fatalf("after close: done %v", done)
		}
		if n := h.admin.delayed(); n != 0 {
			t.Fatalf("%d delayed after close", n)
		}
	})
}
