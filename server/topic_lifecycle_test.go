package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// zkClientOf is the broker's ZooKeeper client, once it has connected.
func zkClientOf(t *testing.T, b *Broker) *zkutil.Client {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.zk == nil {
		t.Fatal("broker has no ZooKeeper client")
	}
	return b.zk
}

// allMetadata asks for every topic, which creates none.
func allMetadata(cl *kgo.Client) (*kmsg.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
}

// topicPartitionLeaders is the leader of each partition of topic in an
// every-topic Metadata answer; ok is false when the topic is not listed.
func topicPartitionLeaders(cl *kgo.Client, topic string) (leaders map[int32]int32, ok bool) {
	resp, err := allMetadata(cl)
	if err != nil {
		return nil, false
	}
	return leadersIn(resp, topic)
}

// leadersIn is the leader of each partition of topic in resp; ok is false
// when the topic is not listed.
func leadersIn(resp *kmsg.MetadataResponse, topic string) (leaders map[int32]int32, ok bool) {
	for _, rt := range resp.Topics {
		if rt.Topic == nil || *rt.Topic != topic {
			continue
		}
		leaders = map[int32]int32{}
		for _, p := range rt.Partitions {
			if p.ErrorCode == 0 {
				leaders[p.Partition] = p.Leader
			}
		}
		return leaders, true
	}
	return nil, false
}

// createReplicatedTopic creates topic with rf replicas per partition and
// waits until Metadata shows a leader for each.
func createReplicatedTopic(t *testing.T, cl *kgo.Client, topic string, partitions int32, rf int16) {
	t.Helper()
	waitFor(t, "topic "+topic+" created", func() bool {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 10000
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		return err == nil && (resp.Topics[0].ErrorCode == 0 || resp.Topics[0].ErrorCode == kerr.TopicAlreadyExists.Code)
	})
	waitFor(t, "topic "+topic+" online", func() bool {
		leaders, ok := topicPartitionLeaders(cl, topic)
		if !ok || len(leaders) != int(partitions) {
			return false
		}
		for _, l := range leaders {
			if l < 1 {
				return false
			}
		}
		return true
	})
}

// produceOne produces one record to partition p of topic with a new client
// (so that it learns the topic afresh) and returns its offset.
func produceOne(t *testing.T, seeds []string, topic string, p int32) int64 {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := &kgo.Record{Partition: p, Value: []byte("v")}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatalf("produce to %s-%d: %v", topic, p, err)
	}
	return rec.Offset
}

// logDirsOf lists the directories of topic's partition logs on every
// broker.
func logDirsOf(t *testing.T, brokers []*Broker, topic string) []string {
	t.Helper()
	var out []string
	for _, b := range brokers {
		for _, dir := range b.cfg.LogDirs {
			matches, err := filepath.Glob(filepath.Join(dir, topic+"-*"))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, matches...)
		}
	}
	slices.Sort(out)
	return out
}

func TestTopicDeletedAndRecreatedAcrossCluster(t *testing.T) {
	brokers, seeds := startCluster(t, 3)
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	waitForBrokers(t, admin, 3)
	const topic = "lifecycle"
	createReplicatedTopic(t, admin, topic, 2, 3)
	for round := int64(0); round < 3; round++ {
		if off := produceOne(t, seeds, topic, 0); off != round {
			t.Fatalf("produce %d: offset %d", round, off)
		}
	}
	waitFor(t, "every replica's log created", func() bool { return len(logDirsOf(t, brokers, topic)) == 6 })

	// DeleteTopics, which kgo sends to the controller, writes the request.
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TopicNames = []string{topic}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, dt)
	req.TimeoutMillis = 10000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	resp, err := req.RequestWith(ctx, admin)
	cancel()
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("DeleteTopics: %+v %v", resp, err)
	}

	zc := zkClientOf(t, brokers[0])
	waitFor(t, "topic gone from metadata", func() bool { _, ok := topicPartitionLeaders(admin, topic); return !ok })
	waitFor(t, "znodes removed", func() bool {
		bg := context.Background()
		exists, err := zc.TopicExists(bg, topic)
		if err != nil || exists {
			return false
		}
		pending, err := zc.TopicDeletions(bg)
		if err != nil || len(pending) != 0 {
			return false
		}
		configs, err := zc.ConfigEntities(bg, zkutil.ConfigTopics)
		return err == nil && !slices.Contains(configs, topic)
	})
	waitFor(t, "log directories removed on every broker", func() bool { return len(logDirsOf(t, brokers, topic)) == 0 })
	for _, b := range brokers {
		if n := b.handlers.replicas.partitionCount(); n != 0 {
			t.Fatalf("broker %d still hosts %d partitions", b.cfg.BrokerID, n)
		}
	}

	// The same name again: a new, empty topic.
	createReplicatedTopic(t, admin, topic, 2, 3)
	if off := produceOne(t, seeds, topic, 0); off != 0 {
		t.Fatalf("first produce to the re-created topic: offset %d, want 0", off)
	}
	for _, dir := range logDirsOf(t, brokers, topic) {
		if _, err := os.Stat(dir); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPartitionsAddedThroughZooKeeperServeProduce(t *testing.T) {
	brokers, seeds := startCluster(t, 3)
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	waitForBrokers(t, admin, 3)
	const topic = "grows"
	createTopicAndWait(t, admin, topic, 2)

	zc := zkClientOf(t, brokers[0])
	ctx := context.Background()
	a, st, err := zc.TopicAssignment(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	a.Partitions[2] = []int32{2, 3}
	a.Partitions[3] = []int32{3, 1}
	if _, err := zc.SetTopicAssignment(ctx, zkutil.NoFence, topic, a, st.Version); err != nil {
		t.Fatal(err)
	}
	// Every broker, not just the one admin asks: the producer below may
	// take its metadata from any of them, and franz-go refuses a partition
	// its metadata does not have yet.
	for _, b := range brokers {
		id := b.BrokerID()
		waitFor(t, fmt.Sprintf("broker %d to show four partitions with leaders", id), func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := admin.Broker(int(id)).Request(ctx, kmsg.NewPtrMetadataRequest())
			if err != nil {
				return false
			}
			leaders, ok := leadersIn(resp.(*kmsg.MetadataResponse), topic)
			return ok && len(leaders) == 4 && leaders[2] == 2 && leaders[3] == 3
		})
	}
	for _, p := range []int32{2, 3} {
		if off := produceOne(t, seeds, topic, p); off != 0 {
			t.Fatalf("produce to new partition %d: offset %d", p, off)
		}
	}

	// Fewer partitions are ignored: all four stay.
	a.Partitions = map[int32][]int32{0: a.Partitions[0]}
	if _, err := zc.SetTopicAssignment(ctx, zkutil.NoFence, topic, a, zkutil.MatchAnyVersion); err != nil {
		t.Fatal(err)
	}
	createTopicAndWait(t, admin, "probe", 1) // the controller has moved on
	leaders, ok := topicPartitionLeaders(admin, topic)
	if !ok || len(leaders) != 4 {
		t.Fatalf("after a shrinking assignment: leaders %v", leaders)
	}
}
