package server

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataLeader is e-<p>'s leader in broker's Metadata answer (-2 when
// the partition is missing).
func metadataLeader(t *testing.T, cl *kgo.Client, broker int32, topic string, p int32) int32 {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(broker)).Request(ctx, req)
	if err != nil {
		return -2
	}
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		for _, ps := range t.Partitions {
			if ps.Partition == p {
				return ps.Leader
			}
		}
	}
	return -2
}

// A partition whose leader moved away from its preferred replica (its
// state rewritten in ZooKeeper, then read by a new controller term) moves
// back with ElectLeaders, answered once the controller broker's metadata
// shows the new leader; a broker that is not the controller answers
// NOT_CONTROLLER.
func TestElectLeadersMovesLeaderBack(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	var seeds []string
	for id := int32(1); id <= 3; id++ {
		b := runBroker(t, testBrokerConfig(t, id, zkConnect))
		seeds = append(seeds, b.Addrs()[0].String())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 3)
	ctx := context.Background()
	createTopicAndWait(t, cl, "e", 1) // a second topic, for null topics below
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "e2", -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2, 3}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create e2: %+v %v", resp, err)
	}
	waitFor(t, "e2-0 led by 1", func() bool { return metadataLeader(t, cl, 2, "e2", 0) == 1 })

	zc, _ := conf.ParseZooKeeperConnect(zkConnect)
	zk, err := zkutil.Connect(ctx, zkutil.Config{ZooKeeper: zc, SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer zk.Close()
	tp := zkutil.TopicPartition{Topic: "e2", Partition: 0}
	s, v, err := zk.PartitionState(ctx, tp)
	if err != nil {
		t.Fatal(err)
	}
	s.Leader, s.LeaderEpoch = 2, s.LeaderEpoch+1
	if r := zk.SetPartitionStates(ctx, zkutil.NoFence, []zkutil.PartitionStateWrite{{TopicPartition: tp, State: s, ZkVersion: v}}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}
	if err := zk.DeleteController(ctx, zkutil.NoFence); err != nil { // a new term reads the state
		t.Fatal(err)
	}
	waitFor(t, "e2-0 led by 2 after the new term", func() bool { return metadataLeader(t, cl, 3, "e2", 0) == 2 })

	var controllerID int32 = -1
	waitFor(t, "a controller", func() bool {
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err == nil {
			controllerID = resp.ControllerID
		}
		return err == nil && resp.ControllerID > 0
	})
	other := controllerID%3 + 1
	elect := func(broker int32, typ int8, topics []kmsg.ElectLeadersRequestTopic) *kmsg.ElectLeadersResponse {
		t.Helper()
		req := kmsg.NewPtrElectLeadersRequest()
		req.ElectionType, req.Topics, req.TimeoutMillis = typ, topics, 10000
		resp, err := cl.Broker(int(broker)).Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.ElectLeadersResponse)
	}
	topic := func(name string, ps ...int32) []kmsg.ElectLeadersRequestTopic {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic, rt.Partitions = name, ps
		return []kmsg.ElectLeadersRequestTopic{rt}
	}
	if r := elect(other, 0, topic("e2", 0)); r.ErrorCode != kerr.NotController.Code || r.Topics[0].Partitions[0].ErrorCode != kerr.NotController.Code {
		t.Errorf("on a non-controller: %+v", r)
	}
	if r := elect(controllerID, 5, topic("e2", 0)); r.Topics[0].Partitions[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("election type 5: %+v", r)
	}

	// Through kgo's routing, which sends ElectLeaders to the controller.
	ereq := kmsg.NewPtrElectLeadersRequest()
	ereq.Topics, ereq.TimeoutMillis = topic("e2", 0), 10000
	eresp, err := ereq.RequestWith(ctx, cl)
	if err != nil || eresp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ElectLeaders: %+v %v", eresp, err)
	}
	if l := metadataLeader(t, cl, controllerID, "e2", 0); l != 1 {
		t.Errorf("the controller broker's metadata gives leader %d right after the answer, want 1", l)
	}
	for _, tc := range []struct {
		name   string
		typ    int8
		topics []kmsg.ElectLeadersRequestTopic
		want   int16
	}{
		{"preferred leads already", 0, topic("e2", 0), kerr.ElectionNotNeeded.Code},
		{"unclean with a live leader", 1, topic("e2", 0), kerr.ElectionNotNeeded.Code},
		{"unknown partition", 0, topic("e2", 4), kerr.UnknownTopicOrPartition.Code},
		{"unknown topic", 0, topic("nope", 0), kerr.UnknownTopicOrPartition.Code},
	} {
		r := elect(controllerID, tc.typ, tc.topics)
		if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 || r.Topics[0].Partitions[0].ErrorCode != tc.want {
			t.Errorf("%s: %+v, want code %d", tc.name, r, tc.want)
		}
	}
	// Null topics: every partition (e-0 and e2-0), each answered once.
	if r := elect(controllerID, 0, nil); len(r.Topics) != 2 || r.Topics[1].Topic != "e2" || r.Topics[1].Partitions[0].ErrorCode != kerr.ElectionNotNeeded.Code {
		t.Errorf("all partitions: %+v", r)
	}
}
