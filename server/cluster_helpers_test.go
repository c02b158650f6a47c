package server

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startCluster runs n brokers (ids 1..n) on one ZooKeeper chroot and returns
// them with their bootstrap addresses.
func startCluster(t *testing.T, n int32) ([]*Broker, []string) {
	t.Helper()
	zkConnect := zktest.Shared(t).Chroot(t)
	var brokers []*Broker
	var seeds []string
	for id := int32(1); id <= n; id++ {
		b := runBroker(t, testBrokerConfig(t, id, zkConnect))
		brokers = append(brokers, b)
		seeds = append(seeds, b.Addrs()[0].String())
	}
	return brokers, seeds
}

// startClusterWithAdmin starts n brokers and returns their addresses and
// a franz-go client that has seen all of them, closed when the test ends.
func startClusterWithAdmin(t *testing.T, n int32) ([]string, *kgo.Client) {
	t.Helper()
	_, seeds := startCluster(t, n)
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	waitForBrokers(t, admin, int(n))
	return seeds, admin
}

// waitForBrokers waits until Metadata lists n live brokers, so that a topic
// created next is assigned over all of them.
func waitForBrokers(t *testing.T, cl *kgo.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		cancel()
		if err == nil && len(resp.Brokers) == n && resp.ControllerID >= 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metadata never listed %d brokers: %+v %v", n, resp, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// createTopicAndWait creates topic with RF 1 through the controller and
// waits until Metadata shows a leader for every partition. It returns the
// set of leaders.
func createTopicAndWait(t *testing.T, cl *kgo.Client, topic string, partitions int32) map[int32]bool {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 10000
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err == nil && (resp.Topics[0].ErrorCode == 0 || resp.Topics[0].ErrorCode == kerr.TopicAlreadyExists.Code) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create topic: %+v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		online := int32(0)
		leaders := map[int32]bool{}
		if err == nil && len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode == 0 && p.Leader >= 1 {
					online++
					leaders[p.Leader] = true
				}
			}
		}
		if online == partitions {
			return leaders
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d partitions online: %+v %v", online, partitions, resp, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// waitFor polls cond every 20ms until it holds, failing the test after 30s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}
