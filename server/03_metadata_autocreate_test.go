package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestMetadataAutoCreatesTopics asks Metadata for missing topics on the
// adminTestHandlers broker (3 live brokers, num.partitions=3,
// default.replication.factor=2) and checks the answer and what was written
// to ZooKeeper.
func TestMetadataAutoCreatesTopics(t *testing.T) {
	tests := []struct {
		name         string
		topic        string
		version      int16
		allow        bool
		disabled     bool  // auto.create.topics.enable=false
		rf           int32 // default.replication.factor, when not 0
		notControl   bool  // the broker is not the controller
		code         *kerr.Error
		wantInZK     bool
		preexistInZK bool
	}{
		{name: "created v11", topic: "auto11", version: 11, allow: true, code: kerr.LeaderNotAvailable, wantInZK: true},
		{name: "created before v4, allow implied", topic: "auto3", version: 3, code: kerr.LeaderNotAvailable, wantInZK: true},
		{name: "created v0", topic: "auto0", version: 0, code: kerr.LeaderNotAvailable, wantInZK: true},
		{name: "created by a broker that is not the controller", topic: "autonc", version: 9, allow: true, notControl: true, code: kerr.LeaderNotAvailable, wantInZK: true},
		{name: "already in zookeeper", topic: "raced", version: 11, allow: true, preexistInZK: true, code: kerr.LeaderNotAvailable, wantInZK: true},
		{name: "client disallows", topic: "noallow", version: 4, allow: false, code: kerr.UnknownTopicOrPartition},
		{name: "broker disabled", topic: "nobroker", version: 11, allow: true, disabled: true, code: kerr.UnknownTopicOrPartition},
		{name: "broker disabled before v4", topic: "nobroker3", version: 3, disabled: true, code: kerr.UnknownTopicOrPartition},
		{name: "invalid name", topic: "a/b", version: 11, allow: true, code: kerr.InvalidTopicException},
		{name: "transaction state topic is not created", topic: "__transaction_state", version: 11, allow: true, code: kerr.UnknownTopicOrPartition},
		{name: "offsets topic when the client disallows", topic: "__consumer_offsets", version: 4, allow: false, code: kerr.UnknownTopicOrPartition},
		{name: "offsets topic when the broker disables", topic: "__consumer_offsets", version: 11, allow: true, disabled: true, code: kerr.UnknownTopicOrPartition},
		{name: "replication factor above live brokers", topic: "rf4", version: 11, allow: true, rf: 4, code: kerr.InvalidReplicationFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, zkc := adminTestHandlers(t)
			ctx := context.Background()
			h.cfg.AutoCreateTopicsEnable = !tt.disabled
			if tt.rf != 0 {
				h.cfg.DefaultReplicationFactor = tt.rf
			}
			if tt.notControl {
				h.metadata.update(&MetadataUpdate{ControllerID: 2, LiveBrokers: h.metadata.snapshotBrokersForTest()})
			}
			var preexisting zkutil.TopicAssignment
			if tt.preexistInZK {
				preexisting = zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {1}}}
				if err := zkc.CreateTopic(ctx, tt.topic, preexisting); err != nil {
					t.Fatal(err)
				}
			}
			req := kmsg.NewPtrMetadataRequest()
			req.Version, req.AllowAutoTopicCreation = tt.version, tt.allow
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(tt.topic)
			req.Topics = append(req.Topics, rt)
			resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.MetadataResponse)
			if len(resp.Topics) != 1 {
				t.Fatalf("%d topics answered", len(resp.Topics))
			}
			got := resp.Topics[0]
			if got.ErrorCode != tt.code.Code || *got.Topic != tt.topic || len(got.Partitions) != 0 {
				t.Fatalf("topic %s: error %d, %d partitions; want %s", *got.Topic, got.ErrorCode, len(got.Partitions), tt.code.Message)
			}

			inZK, err := zkc.Topics(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if exists := slices.Contains(inZK, tt.topic); exists != tt.wantInZK {
				t.Fatalf("topic in ZooKeeper: %v, want %v", exists, tt.wantInZK)
			}
			if !tt.wantInZK {
				return
			}
			a, _, err := zkc.TopicAssignment(ctx, tt.topic)
			if err != nil {
				t.Fatal(err)
			}
			if tt.preexistInZK {
				if a.TopicID != preexisting.TopicID || len(a.Partitions) != 1 {
					t.Fatalf("an existing topic was overwritten: %+v", a)
				}
				return
			}
			if a.TopicID.IsZero() || len(a.Partitions) != 3 {
				t.Fatalf("assignment written %+v, want 3 partitions and a topic id", a)
			}
			for p, replicas := range a.Partitions {
				if len(replicas) != 2 {
					t.Fatalf("partition %d has replicas %v, want 2", p, replicas)
				}
			}
		})
	}
}

// TestProduceAutoCreatesTopic produces with franz-go to a topic that does
// not exist on a three-broker cluster: its Metadata request creates the
// topic, it retries on LEADER_NOT_AVAILABLE until the controller has
// brought the topic online, and the produce succeeds.
func TestProduceAutoCreatesTopic(t *testing.T) {
	seeds, _ := startClusterWithAdmin(t, 3) // all three brokers seen: the topic spreads over them

	const topic = "born-on-produce"
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		rec := &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatalf("produce %d to a topic auto-created: %v", i, err)
		}
		if rec.Partition != 0 || rec.Offset != int64(i) {
			t.Fatalf("record %d at %d/%d, want 0/%d", i, rec.Partition, rec.Offset, i)
		}
	}
}
