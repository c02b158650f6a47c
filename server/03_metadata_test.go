package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// callOnListener is call for a request that came in on a listener. The
// response is encoded and decoded again at the request's version, so that
// the checks see what a client would: fields a version lacks are gone.
func callOnListener(t *testing.T, h *handlers, listener string, req kmsg.Request) kmsg.Response {
	t.Helper()
	nr := &network.Request{
		Header: network.RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: 7},
		Body:   req.AppendTo(nil),
		Conn:   network.ConnInfo{ListenerName: listener},
	}
	var got kmsg.Response
	responded := 0
	if err := h.Handle(context.Background(), nr, func(r kmsg.Response) { got = r; responded++ }); err != nil {
		t.Fatal(err)
	}
	if responded != 1 {
		t.Fatalf("respond called %d times", responded)
	}
	if got.GetVersion() != req.GetVersion() {
		t.Fatalf("response version %d, request %d", got.GetVersion(), req.GetVersion())
	}
	decoded := req.ResponseKind()
	decoded.SetVersion(req.GetVersion())
	if err := decoded.ReadFrom(got.AppendTo(nil)); err != nil {
		t.Fatalf("response does not decode at v%d: %v", req.GetVersion(), err)
	}
	return decoded
}

var ordersTopicID = [16]byte{0xab, 1, 2, 3}

// metadataTestHandlers has three live brokers: 1 and 2 on PLAINTEXT and
// INTERNAL, 3 on INTERNAL only; broker 2 is the controller. Topic orders
// has two partitions, __consumer_offsets one.
func metadataTestHandlers(t *testing.T) *handlers {
	t.Helper()
	h := newHandlers(1, discardLogger())
	h.metadata.setClusterID("cluster-x")
	both := func(id int32, host string, rack *string) CachedBroker {
		return CachedBroker{ID: id, Rack: rack, Endpoints: []BrokerEndpoint{
			{ListenerName: "PLAINTEXT", Host: host, Port: 9092},
			{ListenerName: "INTERNAL", Host: host + "-internal", Port: 9093},
		}}
	}
	h.metadata.update(&MetadataUpdate{
		ControllerID: 2,
		LiveBrokers: []CachedBroker{
			both(2, "b", nil),
			both(1, "a", kmsg.StringPtr("rack-1")),
			{ID: 3, Endpoints: []BrokerEndpoint{{ListenerName: "INTERNAL", Host: "c-internal", Port: 9093}}},
		},
		Partitions: []PartitionState{
			{Topic: "orders", Partition: 1, Leader: 2, LeaderEpoch: 7, Replicas: []int32{2, 1}, ISR: []int32{2, 1}},
			{Topic: "orders", Partition: 0, Leader: 1, LeaderEpoch: 4, Replicas: []int32{1, 2, 4}, ISR: []int32{1, 2}, OfflineReplicas: []int32{4}},
			{Topic: groupMetadataTopic, Partition: 0, Leader: 1, LeaderEpoch: 1, Replicas: []int32{1}, ISR: []int32{1}},
		},
		TopicIDs: map[string][16]byte{"orders": ordersTopicID},
	})
	return h
}

func metadataRequest(v int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = v
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	if v >= 1 && topics == nil {
		req.Topics = nil // all topics
	}
	return req
}

func TestMetadataVersions(t *testing.T) {
	h := metadataTestHandlers(t)
	for _, v := range []int16{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			req := metadataRequest(v, "orders", groupMetadataTopic)
			req.IncludeTopicAuthorizedOperations = true
			req.IncludeClusterAuthorizedOperations = true
			resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.MetadataResponse)

			// Brokers on the request's listener, by id.
			if len(resp.Brokers) != 2 {
				t.Fatalf("brokers %+v", resp.Brokers)
			}
			b1, b2 := resp.Brokers[0], resp.Brokers[1]
			if b1.NodeID != 1 || b1.Host != "a" || b1.Port != 9092 || b2.NodeID != 2 || b2.Host != "b" || b2.Rack != nil {
				t.Errorf("brokers %+v", resp.Brokers)
			}
			if hasRack := b1.Rack != nil && *b1.Rack == "rack-1"; hasRack != (v >= 1) {
				t.Errorf("rack %v", b1.Rack)
			}
			wantController := int32(-1)
			if v >= 1 {
				wantController = 2
			}
			if resp.ControllerID != wantController {
				t.Errorf("controller id %d, want %d", resp.ControllerID, wantController)
			}
			if hasID := resp.ClusterID != nil && *resp.ClusterID == "cluster-x"; hasID != (v >= 2) {
				t.Errorf("cluster id %v", resp.ClusterID)
			}
			wantClusterOps := notRequestedAuthorizedOperations
			if v >= 8 && v <= 10 {
				wantClusterOps = clusterAuthorizedOperations
			}
			if resp.AuthorizedOperations != wantClusterOps {
				t.Errorf("cluster authorized operations %d, want %d", resp.AuthorizedOperations, wantClusterOps)
			}

			if len(resp.Topics) != 2 || *resp.Topics[0].Topic != "orders" || *resp.Topics[1].Topic != groupMetadataTopic {
				t.Fatalf("topics %+v", resp.Topics)
			}
			orders, offsets := resp.Topics[0], resp.Topics[1]
			if orders.ErrorCode != 0 || orders.IsInternal || offsets.IsInternal != (v >= 1) {
				t.Errorf("orders error %d internal %v, offsets internal %v", orders.ErrorCode, orders.IsInternal, offsets.IsInternal)
			}
			if hasID := orders.TopicID == ordersTopicID; hasID != (v >= 10) {
				t.Errorf("topic id %x", orders.TopicID)
			}
			wantTopicOps := notRequestedAuthorizedOperations
			if v >= 8 {
				wantTopicOps = topicAuthorizedOperations
			}
			if orders.AuthorizedOperations != wantTopicOps {
				t.Errorf("topic authorized operations %d, want %d", orders.AuthorizedOperations, wantTopicOps)
			}

			if len(orders.Partitions) != 2 {
				t.Fatalf("partitions %+v", orders.Partitions)
			}
			p0, p1 := orders.Partitions[0], orders.Partitions[1]
			wantP0Replicas, wantP0Error := []int32{1, 2, 4}, int16(0)
			if v == 0 { // only v0 leaves out replicas without a live endpoint
				wantP0Replicas, wantP0Error = []int32{1, 2}, kerr.ReplicaNotAvailable.Code
			}
			if p0.Partition != 0 || p0.Leader != 1 || p0.ErrorCode != wantP0Error || !slices.Equal(p0.Replicas, wantP0Replicas) || !slices.Equal(p0.ISR, []int32{1, 2}) {
				t.Errorf("partition 0: %+v", p0)
			}
			if p1.Partition != 1 || p1.Leader != 2 || p1.ErrorCode != 0 || !slices.Equal(p1.Replicas, []int32{2, 1}) {
				t.Errorf("partition 1: %+v", p1)
			}
			wantEpoch := int32(-1)
			if v >= 7 {
				wantEpoch = 4
			}
			if p0.LeaderEpoch != wantEpoch {
				t.Errorf("leader epoch %d, want %d", p0.LeaderEpoch, wantEpoch)
			}
			if hasOffline := slices.Equal(p0.OfflineReplicas, []int32{4}); hasOffline != (v >= 5) {
				t.Errorf("offline replicas %v", p0.OfflineReplicas)
			}
		})
	}
}

func TestMetadataAuthorizedOperationsOnlyWhenAsked(t *testing.T) {
	h := metadataTestHandlers(t)
	for _, v := range []int16{8, 10, 11} {
		resp := callOnListener(t, h, "PLAINTEXT", metadataRequest(v, "orders")).(*kmsg.MetadataResponse)
		if resp.AuthorizedOperations != notRequestedAuthorizedOperations || resp.Topics[0].AuthorizedOperations != notRequestedAuthorizedOperations {
			t.Errorf("v%d: cluster %d topic %d", v, resp.AuthorizedOperations, resp.Topics[0].AuthorizedOperations)
		}
	}
}

func TestMetadataWhichTopics(t *testing.T) {
	h := metadataTestHandlers(t)
	all := []string{groupMetadataTopic, "orders"}
	empty := func(v int16) *kmsg.MetadataRequest {
		req := metadataRequest(v)
		req.Topics = []kmsg.MetadataRequestTopic{}
		return req
	}
	tests := []struct {
		name string
		req  *kmsg.MetadataRequest
		want []string
	}{
		{"v0 empty list: all topics", empty(0), all},
		{"v1 null: all topics", metadataRequest(1), all},
		{"v1 empty list: none", empty(1), nil},
		{"v9 null: all topics", metadataRequest(9), all},
		{"v9 empty list: none", empty(9), nil},
		{"v11 null: all topics", metadataRequest(11), all},
		{"v4 listed, duplicates once, in order", metadataRequest(4, "orders", "missing", "orders"), []string{"orders", "missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := callOnListener(t, h, "PLAINTEXT", tt.req).(*kmsg.MetadataResponse)
			var got []string
			for _, topic := range resp.Topics {
				got = append(got, *topic.Topic)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("topics %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMetadataUnknownAndInvalidTopics(t *testing.T) {
	h := metadataTestHandlers(t)
	tests := []struct {
		topic string
		want  *kerr.Error
	}{
		{"missing", kerr.UnknownTopicOrPartition},
		{"a.b-c_D9", kerr.UnknownTopicOrPartition},
		{"has space", kerr.InvalidTopicException},
		{"", kerr.InvalidTopicException},
		{".", kerr.InvalidTopicException},
		{"..", kerr.InvalidTopicException},
		{"ünïcode", kerr.InvalidTopicException},
		{strings.Repeat("x", 249), kerr.UnknownTopicOrPartition},
		{strings.Repeat("x", 250), kerr.InvalidTopicException},
	}
	for _, v := range []int16{0, 1, 9, 11} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("v%d %.20q", v, tt.topic), func(t *testing.T) {
				resp := callOnListener(t, h, "PLAINTEXT", metadataRequest(v, tt.topic, "orders")).(*kmsg.MetadataResponse)
				if len(resp.Topics) != 2 || *resp.Topics[0].Topic != tt.topic || *resp.Topics[1].Topic != "orders" {
					t.Fatalf("topics %+v", resp.Topics)
				}
				got := resp.Topics[0]
				if got.ErrorCode != tt.want.Code || len(got.Partitions) != 0 || got.TopicID != ([16]byte{}) {
					t.Fatalf("error %d, want %s; %+v", got.ErrorCode, tt.want.Message, got)
				}
				if resp.Topics[1].ErrorCode != 0 {
					t.Fatalf("orders error %d", resp.Topics[1].ErrorCode)
				}
			})
		}
	}
}

// A broker with two listeners answers with the endpoints of the listener
// the request came in on; brokers without it are left out, and a leader
// without it is reported as missing (LISTENER_NOT_FOUND from v6).
func TestMetadataListenerSelection(t *testing.T) {
	h := metadataTestHandlers(t)
	h.metadata.update(&MetadataUpdate{
		ControllerID: 2,
		LiveBrokers:  h.metadata.snapshotBrokersForTest(),
		Partitions:   []PartitionState{{Topic: "internal-led", Partition: 0, Leader: 3, Replicas: []int32{3}, ISR: []int32{3}}},
	})
	tests := []struct {
		listener    string
		version     int16
		brokers     []string
		leaderError *kerr.Error
		leader      int32
	}{
		{"PLAINTEXT", 11, []string{"1 a:9092", "2 b:9092"}, kerr.ListenerNotFound, -1},
		{"PLAINTEXT", 6, []string{"1 a:9092", "2 b:9092"}, kerr.ListenerNotFound, -1},
		{"PLAINTEXT", 5, []string{"1 a:9092", "2 b:9092"}, kerr.LeaderNotAvailable, -1},
		{"INTERNAL", 11, []string{"1 a-internal:9093", "2 b-internal:9093", "3 c-internal:9093"}, nil, 3},
		{"UNKNOWN", 11, nil, kerr.ListenerNotFound, -1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s v%d", tt.listener, tt.version), func(t *testing.T) {
			resp := callOnListener(t, h, tt.listener, metadataRequest(tt.version, "internal-led")).(*kmsg.MetadataResponse)
			var brokers []string
			for _, b := range resp.Brokers {
				brokers = append(brokers, fmt.Sprintf("%d %s:%d", b.NodeID, b.Host, b.Port))
			}
			if !slices.Equal(brokers, tt.brokers) {
				t.Errorf("brokers %v, want %v", brokers, tt.brokers)
			}
			p := resp.Topics[0].Partitions[0]
			wantCode := int16(0)
			if tt.leaderError != nil {
				wantCode = tt.leaderError.Code
			}
			if p.ErrorCode != wantCode || p.Leader != tt.leader {
				t.Errorf("partition error %d leader %d, want %d %d", p.ErrorCode, p.Leader, wantCode, tt.leader)
			}
		})
	}
}

// v10 and v11 name topics only; Kafka 2.8 answers a topic id or a null name
// with INVALID_REQUEST on every topic asked.
func TestMetadataTopicIDsInRequestAreRefused(t *testing.T) {
	h := metadataTestHandlers(t)
	for _, v := range []int16{10, 11} {
		req := metadataRequest(v, "orders")
		byID := kmsg.NewMetadataRequestTopic()
		byID.TopicID = ordersTopicID
		req.Topics = append(req.Topics, byID)
		resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 2 {
			t.Fatalf("v%d: topics %+v", v, resp.Topics)
		}
		for i, want := range []string{"orders", ""} {
			got := resp.Topics[i]
			if got.ErrorCode != kerr.InvalidRequest.Code || *got.Topic != want || len(got.Partitions) != 0 {
				t.Errorf("v%d topic %d: %+v", v, i, got)
			}
		}
		if resp.Topics[1].TopicID != ordersTopicID {
			t.Errorf("v%d: topic id not echoed: %x", v, resp.Topics[1].TopicID)
		}
	}
}

func TestMetadataBeforeAnyUpdateMetadata(t *testing.T) {
	h := newHandlers(1, discardLogger())
	resp := callOnListener(t, h, "PLAINTEXT", metadataRequest(11)).(*kmsg.MetadataResponse)
	if len(resp.Brokers) != 0 || resp.ControllerID != -1 || len(resp.Topics) != 0 || resp.ClusterID != nil {
		t.Fatalf("%+v", resp)
	}
}
