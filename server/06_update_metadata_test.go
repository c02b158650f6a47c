package server

import (
	"fmt"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// updateMetadataRequest builds an UpdateMetadata request at version v from
// the controller with the given epochs: broker 1 live on PLAINTEXT (and,
// from v3, on INTERNAL), and partition orders-0 led by broker 1.
func updateMetadataRequest(v int16, controllerEpoch int32, brokerEpoch int64, partitions ...kmsg.UpdateMetadataRequestTopicPartition) *kmsg.UpdateMetadataRequest {
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version = v
	req.ControllerID = 1
	req.ControllerEpoch = controllerEpoch
	req.BrokerEpoch = brokerEpoch
	b := kmsg.NewUpdateMetadataRequestLiveBroker()
	b.ID = 1
	b.Host, b.Port = "h1", 9092 // v0 only
	b.Rack = kmsg.StringPtr("rack-a")
	ep := kmsg.NewUpdateMetadataRequestLiveBrokerEndpoint()
	ep.Host, ep.Port, ep.SecurityProtocol, ep.ListenerName = "h1", 9092, 0, "PLAINTEXT"
	b.Endpoints = append(b.Endpoints, ep)
	if v >= 3 {
		ep.Host, ep.Port, ep.SecurityProtocol, ep.ListenerName = "h1-internal", 9093, 0, "INTERNAL"
		b.Endpoints = append(b.Endpoints, ep)
	}
	req.LiveBrokers = append(req.LiveBrokers, b)
	if len(partitions) == 0 {
		partitions = append(partitions, updateMetadataPartition("orders", 0, 1, 3))
	}
	if v < 5 {
		req.PartitionStates = partitions
		return req
	}
	byTopic := map[string]int{}
	for _, p := range partitions {
		i, ok := byTopic[p.Topic]
		if !ok {
			ts := kmsg.NewUpdateMetadataRequestTopicState()
			ts.Topic = p.Topic
			ts.TopicID = [16]byte{byte(len(p.Topic))}
			i = len(req.TopicStates)
			byTopic[p.Topic] = i
			req.TopicStates = append(req.TopicStates, ts)
		}
		req.TopicStates[i].PartitionStates = append(req.TopicStates[i].PartitionStates, p)
	}
	return req
}

func updateMetadataPartition(topic string, partition, leader, leaderEpoch int32) kmsg.UpdateMetadataRequestTopicPartition {
	p := kmsg.NewUpdateMetadataRequestTopicPartition()
	p.Topic, p.Partition, p.Leader, p.LeaderEpoch = topic, partition, leader, leaderEpoch
	p.ControllerEpoch, p.ZKVersion = 1, 4
	p.Replicas, p.ISR, p.OfflineReplicas = []int32{1, 2}, []int32{1}, []int32{2}
	return p
}

func TestUpdateMetadataEveryVersion(t *testing.T) {
	for v := int16(0); v <= 7; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			h := newHandlers(1, discardLogger())
			resp, err := call(t, h, updateMetadataRequest(v, 1, -1))
			if err != nil {
				t.Fatal(err)
			}
			if um := resp.(*kmsg.UpdateMetadataResponse); um.ErrorCode != 0 || um.GetVersion() != v {
				t.Fatalf("error %d version %d", um.ErrorCode, um.GetVersion())
			}
			brokers := h.metadata.AliveBrokers()
			if len(brokers) != 1 || brokers[0].ID != 1 {
				t.Fatalf("brokers %+v", brokers)
			}
			// v0 has one PLAINTEXT endpoint; v1-v2 name listeners after
			// their protocol; v3 names them.
			ep, ok := h.metadata.AliveEndpoint(1, "PLAINTEXT")
			if !ok || ep.Host != "h1" || ep.Port != 9092 {
				t.Fatalf("PLAINTEXT endpoint %+v %v", ep, ok)
			}
			if _, ok := h.metadata.AliveEndpoint(1, "INTERNAL"); ok != (v >= 3) {
				t.Fatalf("INTERNAL endpoint present %v", ok)
			}
			if rack := brokers[0].Rack; (rack != nil) != (v >= 2) {
				t.Fatalf("rack %v", rack)
			}
			ps, ok := h.metadata.PartitionInfo("orders", 0)
			if !ok || ps.Leader != 1 || ps.LeaderEpoch != 3 || ps.ZkVersion != 4 || ps.ControllerEpoch != 1 ||
				!slices.Equal(ps.Replicas, []int32{1, 2}) || !slices.Equal(ps.ISR, []int32{1}) {
				t.Fatalf("partition %+v %v", ps, ok)
			}
			if got := len(ps.OfflineReplicas) > 0; got != (v >= 4) {
				t.Fatalf("offline replicas %v", ps.OfflineReplicas)
			}
			if id := h.metadata.TopicID("orders"); (id != [16]byte{}) != (v >= 7) {
				t.Fatalf("topic id %x", id)
			}
			if h.metadata.ControllerID() != 1 || h.controllerEpoch.latest() != 1 {
				t.Fatalf("controller %d epoch %d", h.metadata.ControllerID(), h.controllerEpoch.latest())
			}
		})
	}
}

func TestUpdateMetadataFencing(t *testing.T) {
	tests := []struct {
		name            string
		version         int16
		ownBrokerEpoch  int64
		controllerEpoch int32 // the second request's; the first is at epoch 5
		brokerEpoch     int64
		want            *kerr.Error
	}{
		{"same controller epoch", 7, 100, 5, 100, nil},
		{"newer controller epoch", 7, 100, 6, 100, nil},
		{"older controller epoch", 7, 100, 4, 100, kerr.StaleControllerEpoch},
		{"older broker epoch", 7, 100, 5, 99, kerr.StaleBrokerEpoch},
		{"newer broker epoch", 7, 100, 5, 101, nil},
		{"unknown broker epoch", 7, 100, 5, -1, nil},
		{"no broker epoch before v5", 4, 100, 5, 99, nil},
		{"older controller epoch before v5", 4, 100, 4, -1, kerr.StaleControllerEpoch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHandlers(1, discardLogger())
			h.brokerEpoch.Store(tt.ownBrokerEpoch)
			if resp, err := call(t, h, updateMetadataRequest(tt.version, 5, tt.ownBrokerEpoch)); err != nil || resp.(*kmsg.UpdateMetadataResponse).ErrorCode != 0 {
				t.Fatalf("first request: %v %+v", err, resp)
			}
			second := updateMetadataRequest(tt.version, tt.controllerEpoch, tt.brokerEpoch,
				updateMetadataPartition("orders", 0, 1, 9), updateMetadataPartition("payments", 0, 1, 1))
			resp, err := call(t, h, second)
			if err != nil {
				t.Fatal(err)
			}
			wantCode := int16(0)
			if tt.want != nil {
				wantCode = tt.want.Code
			}
			if got := resp.(*kmsg.UpdateMetadataResponse).ErrorCode; got != wantCode {
				t.Fatalf("error %d, want %d", got, wantCode)
			}
			ps, _ := h.metadata.PartitionInfo("orders", 0)
			applied := ps.LeaderEpoch == 9 && h.metadata.Contains("payments")
			if applied != (tt.want == nil) {
				t.Fatalf("applied %v (leader epoch %d)", applied, ps.LeaderEpoch)
			}
			wantEpoch := int32(5)
			if tt.want == nil {
				wantEpoch = tt.controllerEpoch
			}
			if got := h.controllerEpoch.latest(); got != wantEpoch {
				t.Fatalf("latest controller epoch %d, want %d", got, wantEpoch)
			}
		})
	}
}

func TestUpdateMetadataDeletesPartitions(t *testing.T) {
	h := newHandlers(1, discardLogger())
	if _, err := call(t, h, updateMetadataRequest(7, 1, -1,
		updateMetadataPartition("orders", 0, 1, 1), updateMetadataPartition("orders", 1, 1, 1))); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, h, updateMetadataRequest(7, 1, -1,
		updateMetadataPartition("orders", 0, leaderDuringDelete, 1))); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.metadata.PartitionInfo("orders", 0); ok {
		t.Fatal("orders-0 still cached")
	}
	if _, ok := h.metadata.PartitionInfo("orders", 1); !ok {
		t.Fatal("orders-1 deleted with it")
	}
	if _, err := call(t, h, updateMetadataRequest(7, 1, -1,
		updateMetadataPartition("orders", 1, leaderDuringDelete, 1))); err != nil {
		t.Fatal(err)
	}
	if h.metadata.Contains("orders") || h.metadata.TopicID("orders") != ([16]byte{}) {
		t.Fatal("orders still cached")
	}
}
