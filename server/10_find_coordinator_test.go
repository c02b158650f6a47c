package server

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func findCoordinatorRequest(v int16, keyType int8, key string) *kmsg.FindCoordinatorRequest {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version, req.CoordinatorType, req.CoordinatorKey = v, keyType, key
	return req
}

// TestFindCoordinatorAnswersTheLeader caches __consumer_offsets with its
// partition 2 led by broker 3 and checks every version's answer.
func TestFindCoordinatorAnswersTheLeader(t *testing.T) {
	h, _ := adminTestHandlers(t)
	f := &fakeGroups{partition: 2}
	h.groups = f
	h.metadata.update(&MetadataUpdate{
		ControllerID: 1,
		LiveBrokers:  h.metadata.snapshotBrokersForTest(),
		Partitions: []PartitionState{
			partitionState(groupMetadataTopic, 0, 1, 1), partitionState(groupMetadataTopic, 1, 2, 2),
			partitionState(groupMetadataTopic, 2, 3, 3), partitionState(groupMetadataTopic, 3, -1, 1),
		},
	})
	tests := []struct {
		name      string
		keyType   int8
		partition int32
		code      *kerr.Error
		node      int32
		host      string
	}{
		{name: "group", partition: 2, node: 3, host: "h3"},
		{name: "other partition", partition: 0, node: 1, host: "h1"},
		{name: "no leader", partition: 3, code: kerr.CoordinatorNotAvailable, node: -1},
		{name: "partition not cached", partition: 9, code: kerr.CoordinatorNotAvailable, node: -1},
		{name: "transaction", keyType: 1, partition: 2, code: kerr.CoordinatorNotAvailable, node: -1},
		{name: "unknown key type", keyType: 5, partition: 2, code: kerr.InvalidRequest, node: -1},
	}
	for _, tt := range tests {
		for v := int16(0); v <= 3; v++ {
			if v == 0 && tt.keyType != 0 {
				continue // v0 has no key type
			}
			t.Run(fmt.Sprintf("%s v%d", tt.name, v), func(t *testing.T) {
				f.partition = tt.partition
				resp := callOnListener(t, h, "PLAINTEXT", findCoordinatorRequest(v, tt.keyType, "g")).(*kmsg.FindCoordinatorResponse)
				code := int16(0)
				if tt.code != nil {
					code = tt.code.Code
				}
				if resp.ErrorCode != code || resp.NodeID != tt.node || resp.Host != tt.host {
					t.Fatalf("error %d node %d host %q; want %d %d %q", resp.ErrorCode, resp.NodeID, resp.Host, code, tt.node, tt.host)
				}
				if tt.code == nil && resp.Port != 9092 || tt.code != nil && resp.Port != -1 {
					t.Fatalf("port %d", resp.Port)
				}
				if v >= 1 && (resp.ErrorMessage == nil || tt.code != nil && *resp.ErrorMessage != tt.code.Description) {
					t.Fatalf("error message %v", resp.ErrorMessage)
				}
			})
		}
	}
}

// TestOffsetsTopicCreation checks that FindCoordinator creates
// __consumer_offsets with the offsets.topic.* settings, and Metadata too
// when auto-creation is allowed, but neither while fewer brokers than
// offsets.topic.replication.factor are alive.
func TestOffsetsTopicCreation(t *testing.T) {
	tests := []struct {
		name     string
		metadata bool // ask Metadata instead of FindCoordinator
		live     int  // live brokers (of 1-3)
		rf       int16
		code     *kerr.Error
		created  bool
	}{
		{name: "find coordinator creates", live: 3, rf: 3, code: kerr.CoordinatorNotAvailable, created: true},
		{name: "find coordinator, too few brokers", live: 1, rf: 3, code: kerr.CoordinatorNotAvailable},
		{name: "find coordinator, replication factor 1", live: 1, rf: 1, code: kerr.CoordinatorNotAvailable, created: true},
		{name: "metadata creates", metadata: true, live: 3, rf: 3, code: kerr.LeaderNotAvailable, created: true},
		{name: "metadata, too few brokers", metadata: true, live: 2, rf: 3, code: kerr.InvalidReplicationFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, zkc := adminTestHandlers(t)
			ctx := context.Background()
			h.groups = &fakeGroups{partition: 4}
			h.cfg.OffsetsTopicNumPartitions, h.cfg.OffsetsTopicReplicationFactor = 7, tt.rf
			h.cfg.OffsetsTopicSegmentBytes = 1 << 20
			brokers := h.metadata.snapshotBrokersForTest()[:tt.live]
			h.metadata.update(&MetadataUpdate{ControllerID: 1, LiveBrokers: brokers})
			if tt.metadata {
				req := kmsg.NewPtrMetadataRequest()
				req.Version, req.AllowAutoTopicCreation = 11, true
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(groupMetadataTopic)
				req.Topics = append(req.Topics, rt)
				resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.MetadataResponse)
				if got := resp.Topics[0]; got.ErrorCode != tt.code.Code || !got.IsInternal {
					t.Fatalf("metadata error %d internal %v, want %d", got.ErrorCode, got.IsInternal, tt.code.Code)
				}
			} else {
				resp := callOnListener(t, h, "PLAINTEXT", findCoordinatorRequest(3, 0, "g")).(*kmsg.FindCoordinatorResponse)
				if resp.ErrorCode != tt.code.Code {
					t.Fatalf("error %d, want %d", resp.ErrorCode, tt.code.Code)
				}
			}
			topics, err := zkc.Topics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(topics, groupMetadataTopic) != tt.created {
				t.Fatalf("created: %v, want %v", !tt.created, tt.created)
			}
			if !tt.created {
				return
			}
			a, _, err := zkc.TopicAssignment(ctx, groupMetadataTopic)
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Partitions) != 7 {
				t.Fatalf("%d partitions", len(a.Partitions))
			}
			for p, r := range a.Partitions {
				if len(r) != int(tt.rf) {
					t.Fatalf("partition %d replicas %v, want %d", p, r, tt.rf)
				}
			}
			cfg, err := zkc.EntityConfig(ctx, zkutil.ConfigTopics, groupMetadataTopic)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": "1048576"}
			if fmt.Sprint(cfg) != fmt.Sprint(want) {
				t.Fatalf("config %v, want %v", cfg, want)
			}
		})
	}
}
