package server

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// adminTestHandlers are the handlers of broker 1, the controller, with
// brokers 1-3 live and topic "existing" cached, writing to a fresh
// ZooKeeper chroot: num.partitions=3, default.replication.factor=2.
func adminTestHandlers(t *testing.T) (*handlers, *zkutil.Client) {
	t.Helper()
	zkConnect := zktest.Shared(t).Chroot(t)
	zkc := connectZK(t, zkConnect)
	if err := zkc.CreateTopLevelPaths(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := newHandlers(1, discardLogger())
	h.cfg = testBrokerConfig(t, 1, zkConnect)
	h.cfg.NumPartitions, h.cfg.DefaultReplicationFactor = 3, 2
	h.topics = zkc
	h.metadata.update(&MetadataUpdate{
		ControllerID: 1,
		LiveBrokers:  []CachedBroker{plaintextBroker(1, "h1", 9092), plaintextBroker(2, "h2", 9092), plaintextBroker(3, "h3", 9092)},
		Partitions:   []PartitionState{partitionState("existing", 0, 1, 1, 2)},
	})
	return h, zkc
}

func createTopic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		t.Configs = append(t.Configs, c)
	}
	return t
}

func withAssignment(t kmsg.CreateTopicsRequestTopic, replicas ...[]int32) kmsg.CreateTopicsRequestTopic {
	t.NumPartitions, t.ReplicationFactor = -1, -1
	for p, r := range replicas {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = int32(p), r
		t.ReplicaAssignment = append(t.ReplicaAssignment, a)
	}
	return t
}

func createTopics(t *testing.T, h *handlers, v int16, validateOnly bool, topics ...kmsg.CreateTopicsRequestTopic) *kmsg.CreateTopicsResponse {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis, req.ValidateOnly, req.Topics = v, 30000, validateOnly, topics
	r, _ := callAdmin(t, h, req, playController(t, h, h.topics.(*zkutil.Client)))
	resp := r.(*kmsg.CreateTopicsResponse)
	if len(resp.Topics) != len(topics) {
		t.Fatalf("%d topics answered, %d asked", len(resp.Topics), len(topics))
	}
	return resp
}

func TestCreateTopicsErrors(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	ctx := context.Background()
	if err := zkc.CreateTopic(ctx, "in_zk", zkutil.TopicAssignment{Partitions: map[int32][]int32{0: {1}}}); err != nil {
		t.Fatal(err)
	}
	if err := zkc.CreateTopic(ctx, "deleting", zkutil.TopicAssignment{Partitions: map[int32][]int32{0: {1}}}); err != nil {
		t.Fatal(err)
	}
	if err := zkc.RequestTopicDeletion(ctx, "deleting"); err != nil {
		t.Fatal(err)
	}
	nullConfig := createTopic("nullconfig", 1, 1)
	nullConfig.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms"}}
	both := withAssignment(createTopic("both", 0, 0), []int32{1})
	both.NumPartitions = 2

	tests := []struct {
		name  string
		topic kmsg.CreateTopicsRequestTopic
		code  *kerr.Error
		msg   string
	}{
		{"cached", createTopic("existing", 1, 1), kerr.TopicAlreadyExists, "Topic 'existing' already exists."},
		{"in zookeeper", createTopic("in_zk", 1, 1), kerr.TopicAlreadyExists, "Topic 'in_zk' already exists."},
		{"marked for deletion", createTopic("deleting", 1, 1), kerr.TopicAlreadyExists, "Topic 'deleting' is marked for deletion."},
		{"collision", createTopic("in.zk", 1, 1), kerr.InvalidTopicException, "Topic 'in.zk' collides with existing topics: in_zk"},
		{"illegal name", createTopic("a/b", 1, 1), kerr.InvalidTopicException, "contains a character other than"},
		{"dot", createTopic("..", 1, 1), kerr.InvalidTopicException, `Topic name cannot be "." or ".."`},
		{"too long", createTopic(strings.Repeat("x", 250), 1, 1), kerr.InvalidTopicException, "longer than 249"},
		{"zero partitions", createTopic("p0", 0, 1), kerr.InvalidPartitions, "Number of partitions must be larger than 0."},
		{"negative partitions", createTopic("pneg", -2, 1), kerr.InvalidPartitions, ""},
		{"zero replication", createTopic("rf0", 1, 0), kerr.InvalidReplicationFactor, "Replication factor must be larger than 0."},
		{"too many replicas", createTopic("rf4", 1, 4), kerr.InvalidReplicationFactor, "Replication factor: 4 larger than available brokers: 3."},
		{"uneven assignment", withAssignment(createTopic("uneven", 0, 0), []int32{1, 2}, []int32{1}), kerr.InvalidReplicaAssignment, "same number of replicas"},
		{"duplicate replica", withAssignment(createTopic("dup", 0, 0), []int32{1, 1}), kerr.InvalidReplicaAssignment, "Duplicate replica assignment"},
		{"gap in partitions", func() kmsg.CreateTopicsRequestTopic {
			tt := withAssignment(createTopic("gap", 0, 0), []int32{1}, []int32{2})
			tt.ReplicaAssignment[1].Partition = 2
			return tt
		}(), kerr.InvalidReplicaAssignment, "consecutive 0-based"},
		{"both assignment and counts", both, kerr.InvalidRequest, "Both numPartitions"},
		{"null config", nullConfig, kerr.InvalidRequest, "Null value not supported for topic configs : retention.ms"},
		{"unknown config", createTopic("unk", 1, 1, "no.such.config", "1"), kerr.InvalidConfig, "no.such.config"},
		{"bad config value", createTopic("bad", 1, 1, "retention.ms", "soon"), kerr.InvalidConfig, "retention.ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := createTopics(t, h, 7, false, tt.topic).Topics[0]
			if rt.ErrorCode != tt.code.Code || rt.ErrorMessage == nil || !strings.Contains(*rt.ErrorMessage, tt.msg) {
				t.Fatalf("error %d %v, want %s with %q", rt.ErrorCode, strPtr(rt.ErrorMessage), tt.code.Message, tt.msg)
			}
			if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 || rt.Configs != nil || rt.TopicID != [16]byte{} {
				t.Fatalf("failed topic reports %d partitions, rf %d, %d configs, id %x", rt.NumPartitions, rt.ReplicationFactor, len(rt.Configs), rt.TopicID)
			}
		})
	}
	// Nothing but the setup's topics was written.
	if topics, err := zkc.Topics(ctx); err != nil || !slices.Equal(topics, []string{"deleting", "in_zk"}) {
		t.Fatalf("topics in ZooKeeper: %v %v", topics, err)
	}
}

func strPtr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestCreateTopicsDuplicateNamesAndNotController(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	resp := createTopics(t, h, 4, false, createTopic("twice", 1, 1), createTopic("once", 1, 1), createTopic("twice", 1, 1))
	for i, want := range []*kerr.Error{kerr.InvalidRequest, nil, kerr.InvalidRequest} {
		if code := resp.Topics[i].ErrorCode; (want == nil && code != 0) || (want != nil && code != want.Code) {
			t.Fatalf("topic %d (%s): error %d, want %v", i, resp.Topics[i].Topic, code, want)
		}
	}
	if ok, _ := zkc.TopicExists(context.Background(), "twice"); ok {
		t.Fatal("a topic named twice was created")
	}

	h.metadata.update(&MetadataUpdate{ControllerID: 2, LiveBrokers: h.metadata.snapshotBrokersForTest()})
	if rt := createTopics(t, h, 7, false, createTopic("elsewhere", 1, 1)).Topics[0]; rt.ErrorCode != kerr.NotController.Code {
		t.Fatalf("CreateTopics on a broker that is not the controller: error %d", rt.ErrorCode)
	}
}

func TestCreateTopicsValidateOnlyWritesNothing(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	ctx := context.Background()
	rt := createTopics(t, h, 7, true, createTopic("dry", 4, 3, "retention.ms", "1000")).Topics[0]
	if rt.ErrorCode != 0 || rt.NumPartitions != 4 || rt.ReplicationFactor != 3 || len(rt.Configs) == 0 || rt.TopicID != [16]byte{} {
		t.Fatalf("validate only: %+v", rt)
	}
	if ok, err := zkc.TopicExists(ctx, "dry"); ok || err != nil {
		t.Fatalf("validate_only created the topic (%v)", err)
	}
	if cfg, err := zkc.EntityConfig(ctx, zkutil.ConfigTopics, "dry"); err != nil || len(cfg) != 0 {
		t.Fatalf("validate_only wrote a config: %v %v", cfg, err)
	}
	if rt := createTopics(t, h, 7, true, createTopic("dry", 4, 4)).Topics[0]; rt.ErrorCode != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("validate only with rf 4 of 3 brokers: error %d", rt.ErrorCode)
	}
}

func TestCreateTopicsExplicitAssignmentWrittenExactly(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	want := map[int32][]int32{0: {3, 1}, 1: {1, 2}, 2: {2, 3}}
	rt := createTopics(t, h, 7, false, withAssignment(createTopic("explicit", 0, 0, "cleanup.policy", "compact"), want[0], want[1], want[2])).Topics[0]
	if rt.ErrorCode != 0 || rt.NumPartitions != 3 || rt.ReplicationFactor != 2 {
		t.Fatalf("explicit assignment: %+v", rt)
	}
	a, _, err := zkc.TopicAssignment(context.Background(), "explicit")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(a.Partitions, want, slices.Equal[[]int32]) {
		t.Fatalf("assignment written %v, want %v", a.Partitions, want)
	}
	if a.TopicID.IsZero() || [16]byte(a.TopicID) != rt.TopicID {
		t.Fatalf("topic id in ZooKeeper %v, in the response %x", a.TopicID, rt.TopicID)
	}
	cfg, err := zkc.EntityConfig(context.Background(), zkutil.ConfigTopics, "explicit")
	if err != nil || !maps.Equal(cfg, map[string]string{"cleanup.policy": "compact"}) {
		t.Fatalf("config in ZooKeeper: %v %v", cfg, err)
	}
	if rt := createTopics(t, h, 7, false, createTopic("explicit", 1, 1)).Topics[0]; rt.ErrorCode != kerr.TopicAlreadyExists.Code {
		t.Fatalf("creating it again: error %d", rt.ErrorCode)
	}
}

func TestCreateTopicsDefaults(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	rt := createTopics(t, h, 4, false, createTopic("defaults", -1, -1)).Topics[0]
	if rt.ErrorCode != 0 {
		t.Fatalf("defaults: error %d", rt.ErrorCode)
	}
	a, _, err := zkc.TopicAssignment(context.Background(), "defaults")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Partitions) != 3 {
		t.Fatalf("%d partitions, num.partitions is 3", len(a.Partitions))
	}
	for p, r := range a.Partitions {
		if len(r) != 2 || r[0] == r[1] || r[0] < 1 || r[0] > 3 || r[1] < 1 || r[1] > 3 {
			t.Fatalf("partition %d on %v: want 2 distinct live brokers", p, r)
		}
	}
	if cfg, err := zkc.EntityConfig(context.Background(), zkutil.ConfigTopics, "defaults"); err != nil || len(cfg) != 0 {
		t.Fatalf("config of a topic without overrides: %v %v", cfg, err)
	}
}

// Every version answers in its own shape: messages from v1, partitions,
// replication factor and configs from v5, the topic id from v7; a timeout
// of 0 gets REQUEST_TIMED_OUT for a topic created.
func TestCreateTopicsVersions(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	for v := int16(0); v <= 7; v++ {
		name := "v" + string(rune('0'+v))
		resp := createTopics(t, h, v, false, createTopic(name, 2, 1, "retention.ms", "1000"), createTopic("existing", 1, 1))
		ok, bad := resp.Topics[0], resp.Topics[1]
		if ok.Topic != name || ok.ErrorCode != 0 || bad.ErrorCode != kerr.TopicAlreadyExists.Code {
			t.Fatalf("v%d: %+v / %+v", v, ok, bad)
		}
		if (bad.ErrorMessage != nil) != (v >= 1) {
			t.Fatalf("v%d: message %v", v, bad.ErrorMessage)
		}
		if v >= 5 {
			if ok.NumPartitions != 2 || ok.ReplicationFactor != 1 {
				t.Fatalf("v%d: %d partitions rf %d", v, ok.NumPartitions, ok.ReplicationFactor)
			}
			var retention *kmsg.CreateTopicsResponseTopicConfig
			for i := range ok.Configs {
				if ok.Configs[i].Name == "retention.ms" {
					retention = &ok.Configs[i]
				}
			}
			if retention == nil || strPtr(retention.Value) != "1000" || retention.Source != 1 {
				t.Fatalf("v%d: retention.ms reported as %+v", v, retention)
			}
		} else if ok.NumPartitions != -1 || ok.Configs != nil {
			t.Fatalf("v%d: v5 fields decoded: %+v", v, ok)
		}
		if (ok.TopicID != [16]byte{}) != (v >= 7) {
			t.Fatalf("v%d: topic id %x", v, ok.TopicID)
		}
		if exists, err := zkc.TopicExists(context.Background(), name); !exists || err != nil {
			t.Fatalf("v%d: topic not in ZooKeeper (%v)", v, err)
		}
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis, req.Topics = 7, 0, []kmsg.CreateTopicsRequestTopic{createTopic("notimeout", 1, 1)}
	resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.CreateTopicsResponse)
	if resp.Topics[0].ErrorCode != kerr.RequestTimedOut.Code {
		t.Fatalf("timeout 0: error %d", resp.Topics[0].ErrorCode)
	}
	if exists, _ := zkc.TopicExists(context.Background(), "notimeout"); !exists {
		t.Fatal("timeout 0: topic not created")
	}
}

// A topic created answers only once the cache shows its leaders; a topic
// still leaderless at the timeout gets REQUEST_TIMED_OUT without its v5
// details but with its id, and the others are answered as they are.
func TestCreateTopicsWaitsForLeaders(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Version, req.TimeoutMillis = 7, 300
	req.Topics = []kmsg.CreateTopicsRequestTopic{createTopic("led", 2, 1), createTopic("leaderless", 1, 1), createTopic("existing", 1, 1)}
	r, parked := callAdmin(t, h, req, func() {
		a, _, err := zkc.TopicAssignment(context.Background(), "led")
		if err != nil {
			t.Fatal(err)
		}
		updateMetadata(t, h, partitionState("led", 0, a.Partitions[0][0], a.Partitions[0]...),
			partitionState("led", 1, a.Partitions[1][0], a.Partitions[1]...))
	})
	if !parked {
		t.Fatal("CreateTopics answered before any leader was known")
	}
	resp := r.(*kmsg.CreateTopicsResponse)
	led, leaderless, existing := resp.Topics[0], resp.Topics[1], resp.Topics[2]
	if led.ErrorCode != 0 || led.NumPartitions != 2 || len(led.Configs) == 0 || led.TopicID == [16]byte{} {
		t.Fatalf("led: %+v", led)
	}
	if leaderless.ErrorCode != kerr.RequestTimedOut.Code || leaderless.ErrorMessage != nil ||
		leaderless.NumPartitions != -1 || leaderless.ReplicationFactor != -1 || leaderless.Configs != nil || leaderless.TopicID == [16]byte{} {
		t.Fatalf("leaderless: %+v", leaderless)
	}
	if existing.ErrorCode != kerr.TopicAlreadyExists.Code {
		t.Fatalf("existing: error %d", existing.ErrorCode)
	}
	if exists, _ := zkc.TopicExists(context.Background(), "leaderless"); !exists {
		t.Fatal("a topic that timed out waiting was not created")
	}

	// Nothing created, or validate_only: nothing to wait for.
	for _, validateOnly := range []bool{false, true} {
		req.ValidateOnly, req.TimeoutMillis = validateOnly, 30000
		req.Topics = []kmsg.CreateTopicsRequestTopic{createTopic("existing", 1, 1)}
		if validateOnly {
			req.Topics = []kmsg.CreateTopicsRequestTopic{createTopic("dry", 1, 1)}
		}
		if _, parked := callAdmin(t, h, req, nil); parked {
			t.Fatalf("validate_only %v: waited", validateOnly)
		}
	}
}

// End to end: once CreateTopics has answered, the controller's metadata
// shows a leader for every partition and the leader takes a produce at
// the first try, without the client polling metadata. One broker, so that
// the leader is the controller and has applied LeaderAndIsr before the
// UpdateMetadata that completes the request.
func TestCreateTopicsThenProduceAtOnce(t *testing.T) {
	brokers, seeds := startCluster(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 1)
	const topic, partitions = "at-once", 3
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 15000
	rt := createTopic(topic, partitions, 1)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create: %+v %v", resp, err)
	}
	broker := cl.Broker(int(brokers[0].handlers.brokerID))
	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	mreq.Topics = append(mreq.Topics, mt)
	mr, err := broker.Request(ctx, mreq)
	if err != nil {
		t.Fatal(err)
	}
	meta := mr.(*kmsg.MetadataResponse)
	if len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != partitions {
		t.Fatalf("metadata right after CreateTopics: %+v", meta.Topics)
	}
	for _, p := range meta.Topics[0].Partitions {
		if p.ErrorCode != 0 || p.Leader != 1 {
			t.Fatalf("partition %d right after CreateTopics: leader %d, error %d", p.Partition, p.Leader, p.ErrorCode)
		}
		pr, err := broker.Request(ctx, produceRequest(8, 1, producePart{topic, p.Partition, testBatch(t, 2, -1, 0)}))
		if err != nil {
			t.Fatal(err)
		}
		got := pr.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if got.ErrorCode != 0 || got.BaseOffset != 0 {
			t.Fatalf("produce to partition %d: error %d, base offset %d", p.Partition, got.ErrorCode, got.BaseOffset)
		}
	}
}

// withRacks replaces the live brokers of h's metadata cache with brokers
// 1..len(racks), broker i+1 on racks[i] ("" for no rack).
func withRacks(h *handlers, racks ...string) {
	var live []CachedBroker
	for i, r := range racks {
		b := plaintextBroker(int32(i+1), fmt.Sprintf("h%d", i+1), 9092)
		if r != "" {
			b.Rack = &r
		}
		live = append(live, b)
	}
	h.metadata.update(&MetadataUpdate{ControllerID: 1, LiveBrokers: live})
}

// With a rack on every live broker, CreateTopics and Metadata auto-create
// lay replicas out rack-aware (Kafka's AdminUtils): each partition on both
// racks, leaders spread evenly. With racks on some brokers only, Kafka's
// AdminOperationException: UNKNOWN_SERVER_ERROR, no message, nothing
// written.
func TestCreateTopicsRackAware(t *testing.T) {
	ctx := context.Background()
	racks := []string{"a", "a", "a", "b", "b", "b"}
	h, zkc := adminTestHandlers(t)
	withRacks(h, racks...)
	resp := createTopics(t, h, 5, false, createTopic("racked", 12, 2))
	if rt := resp.Topics[0]; rt.ErrorCode != 0 {
		t.Fatalf("create: %d %q", rt.ErrorCode, strPtr(rt.ErrorMessage))
	}
	withRacks(h, racks...) // the controller played by createTopics sent brokers without racks
	if code := h.autoCreateTopic(ctx, "auto-racked"); code != kerr.LeaderNotAvailable.Code {
		t.Fatalf("auto-create: code %d", code)
	}
	for _, topic := range []struct {
		name       string
		partitions int
	}{{"racked", 12}, {"auto-racked", 3}} {
		a := assignmentOf(t, zkc, topic.name)
		leaders := map[int32]int{}
		for p, replicas := range a.Partitions {
			if len(replicas) != 2 || racks[replicas[0]-1] == racks[replicas[1]-1] {
				t.Errorf("%s partition %d on %v: not on both racks", topic.name, p, replicas)
			}
			leaders[replicas[0]]++
		}
		if len(a.Partitions) != topic.partitions {
			t.Errorf("%s: %d partitions", topic.name, len(a.Partitions))
		}
		if topic.partitions == len(racks)*2 {
			for b, n := range leaders {
				if n != 2 {
					t.Errorf("%s: broker %d leads %d partitions: %v", topic.name, b, n, leaders)
				}
			}
		}
	}

	withRacks(h, "a", "", "b")
	resp = createTopics(t, h, 5, false, createTopic("mixed", 3, 2))
	if rt := resp.Topics[0]; rt.ErrorCode != kerr.UnknownServerError.Code || rt.ErrorMessage != nil {
		t.Fatalf("mixed racks: %d %q, want UNKNOWN_SERVER_ERROR without a message", rt.ErrorCode, strPtr(rt.ErrorMessage))
	}
	withRacks(h, "a", "", "b")
	if code := h.autoCreateTopic(ctx, "auto-mixed"); code != kerr.UnknownServerError.Code {
		t.Fatalf("auto-create with mixed racks: code %d", code)
	}
	for _, name := range []string{"mixed", "auto-mixed"} {
		if exists, err := zkc.TopicExists(ctx, name); err != nil || exists {
			t.Fatalf("%s written to ZooKeeper: %v %v", name, exists, err)
		}
	}
}
