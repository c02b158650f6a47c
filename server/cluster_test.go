package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterMetadataWithFranzGo runs three brokers against one ZooKeeper:
// one becomes controller and tells every broker of the others, so that a
// real client (franz-go) bootstrapping from any broker sees all three and
// the same controller.
func TestClusterMetadataWithFranzGo(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	var brokers []*Broker
	for id := int32(1); id <= 3; id++ {
		brokers = append(brokers, runBroker(t, testBrokerConfig(t, id, zkConnect)))
	}
	for _, b := range brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			cancel()
			var ids []int32
			if err == nil {
				for _, br := range resp.Brokers {
					ids = append(ids, br.NodeID)
				}
				slices.Sort(ids)
			}
			if err == nil && slices.Equal(ids, []int32{1, 2, 3}) && resp.ControllerID >= 1 && resp.ControllerID <= 3 &&
				resp.ClusterID != nil && *resp.ClusterID == b.ClusterID() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %s: metadata never listed all brokers and a controller: %+v %v", b.Addrs()[0], resp, err)
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
		cl.Close()
	}
}

// TestCreateTopicBringsPartitionsOnline creates a topic with a real client
// and checks the whole path: CreateTopics on the controller writes
// ZooKeeper, the controller elects leaders and sends LeaderAndIsr and
// UpdateMetadata, each leader creates its partition's log, and Metadata
// from any broker shows every partition with a leader.
func TestCreateTopicBringsPartitionsOnline(t *testing.T) {
	brokers, seeds := startCluster(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	createTopicAndWait(t, cl, "orders", 6)

	for _, b := range brokers {
		bcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			req := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			topic := "orders"
			rt.Topic = &topic
			req.Topics = append(req.Topics, rt)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := req.RequestWith(ctx, bcl)
			cancel()
			online := 0
			if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
				for _, p := range resp.Topics[0].Partitions {
					if p.ErrorCode == 0 && p.Leader >= 1 && p.Leader <= 3 {
						online++
					}
				}
			}
			if online == 6 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %s: %d of 6 partitions online: %+v %v", b.Addrs()[0], online, resp, err)
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
		bcl.Close()
	}
	// Each leader created its partitions' logs.
	logs := 0
	for _, b := range brokers {
		for p := int32(0); p < 6; p++ {
			if _, ok := b.logs.GetLog(logstore.TopicPartition{Topic: "orders", Partition: p}); ok {
				logs++
			}
		}
	}
	if logs != 6 {
		t.Fatalf("%d partition logs across the brokers, want 6", logs)
	}
}
