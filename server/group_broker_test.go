package server

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/coordinator/group"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startGroupBroker runs broker 1 with a fake group coordinator, and a
// franz-go client of it.
func startGroupBroker(t *testing.T, set func(*conf.Config)) (*Broker, *fakeGroups, *kgo.Client, func()) {
	t.Helper()
	zkConnect := zktest.Shared(t).Chroot(t)
	cfg := testBrokerConfig(t, 1, zkConnect)
	if set != nil {
		set(cfg)
	}
	f := &fakeGroups{}
	b, stop := startStoppableWith(t, cfg, func(b *Broker) {
		b.handlers.groups = f
		b.handlers.replicas.offsetsLeadership = f
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	waitForBrokers(t, cl, 1)
	return b, f, cl, stop
}

func findCoordinator(t *testing.T, cl *kgo.Client, key string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := findCoordinatorRequest(3, 0, key)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestFindCoordinatorTooFewBrokers: one broker, and the default
// offsets.topic.replication.factor of 3: no offsets topic, no coordinator.
func TestFindCoordinatorTooFewBrokers(t *testing.T) {
	b, _, cl, _ := startGroupBroker(t, nil)
	if resp := findCoordinator(t, cl, "g"); resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("error %d", resp.ErrorCode)
	}
	exists, err := b.handlers.topics.TopicExists(context.Background(), groupMetadataTopic)
	if err != nil || exists {
		t.Fatalf("offsets topic created with too few brokers: %v %v", exists, err)
	}
}

// TestGroupCoordinatorOnABroker runs the whole path on a real broker:
// FindCoordinator creates __consumer_offsets, the controller brings it
// online, the coordinator is told it leads every partition, FindCoordinator
// then names this broker, the coordinator's log round-trips with acks=all,
// and shutdown closes the coordinator.
func TestGroupCoordinatorOnABroker(t *testing.T) {
	b, f, cl, stop := startGroupBroker(t, func(cfg *conf.Config) {
		cfg.OffsetsTopicReplicationFactor, cfg.OffsetsTopicNumPartitions = 1, 3
	})
	f.partition = 2
	var resp *kmsg.FindCoordinatorResponse
	waitFor(t, "a coordinator", func() bool {
		resp = findCoordinator(t, cl, "g")
		return resp.ErrorCode == 0
	})
	_, port, _ := net.SplitHostPort(b.Addrs()[0].String())
	if resp.NodeID != 1 || resp.Host != "127.0.0.1" || strconv.Itoa(int(resp.Port)) != port {
		t.Fatalf("coordinator %d at %s:%d, want 1 at %s", resp.NodeID, resp.Host, resp.Port, b.Addrs()[0])
	}
	waitFor(t, "elections", func() bool {
		ev := f.leadership()
		return slices.Contains(ev, "elect 0@0") && slices.Contains(ev, "elect 1@0") && slices.Contains(ev, "elect 2@0")
	})

	md := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(groupMetadataTopic)
	md.Topics = append(md.Topics, rt)
	mresp, err := md.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if tm := mresp.Topics[0]; tm.ErrorCode != 0 || !tm.IsInternal || len(tm.Partitions) != 3 {
		t.Fatalf("metadata: error %d internal %v partitions %d", tm.ErrorCode, tm.IsInternal, len(tm.Partitions))
	}

	g := &groupLog{h: b.handlers, acks: -1, timeout: 10 * time.Second, readBytes: 1 << 20}
	done := make(chan error, 1)
	g.Append(2, []group.Record{{Timestamp: 5, Key: []byte("k"), Value: []byte("v")}}, func(err error) { done <- err })
	if err := waitDone(t, done); err != nil {
		t.Fatal(err)
	}
	if recs := readAll(t, g, 2); len(recs) != 1 || string(recs[0].Key) != "k" {
		t.Fatalf("read %+v", recs)
	}
	// The compacted topic refuses records without a key.
	g.Append(2, []group.Record{{Value: []byte("v")}}, func(err error) { done <- err })
	if err := waitDone(t, done); err == nil {
		t.Fatal("a keyless record was appended to the compacted offsets topic")
	}

	stop()
	if !slices.Contains(f.called(), "Close") {
		t.Fatal("shutdown did not close the coordinator")
	}
}
