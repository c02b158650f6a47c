package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// failoverTimeout bounds a change that waits for ZooKeeper to expire a dead
// broker's session (zookeeper.session.timeout.ms=6000 in StartCluster) and
// for the controller to act on it.
const failoverTimeout = 30 * time.Second

// TestControllerFailover kills the controller of three brokers with
// SIGKILL. Once ZooKeeper expires its session, another broker wins the
// /controller election, as in Kafka 2.8, and takes over: a topic created
// now is placed on the survivors only and serves produce and fetch; the
// dead broker's partitions (replication factor 1) have leader -1. When the
// killed broker starts again its partitions come back online with the
// data acknowledged before the kill.
func TestControllerFailover(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	const before, partitions = "failover-before", 6
	want, counts := produceBeforeBounce(t, c, before, partitions)
	leaders := c.WaitOnline(before, partitions)

	old := c.Controller()
	killed := c.Broker(old)
	var killedLeads []int32
	for p, l := range leaders {
		if l == old {
			killedLeads = append(killedLeads, p)
		}
	}
	if len(killedLeads) == 0 || len(killedLeads) == partitions {
		t.Fatalf("controller %d leads %v of %s's partitions (%v); the test needs it to lead some but not all", old, killedLeads, before, leaders)
	}
	killed.Kill()
	killedAt := time.Now()

	s := c.Without(old)
	var last string
	var ctrl int32 = -1
	s.waitFor(failoverTimeout, "new controller", func() bool {
		resp, err := s.Metadata()
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("controller %d, %d brokers", resp.ControllerID, len(resp.Brokers))
		ctrl = resp.ControllerID
		return ctrl >= 0 && ctrl != old && len(resp.Brokers) == 2
	}, &last)
	t.Logf("broker %d took over as controller %v after the kill of %d", ctrl, time.Since(killedAt).Round(time.Millisecond), old)

	// The dead broker's partitions are offline: leader -1, as Kafka's
	// controller leaves a partition whose only replica is gone
	// (OfflinePartition). The others keep their leader.
	s.waitFor(failoverTimeout, "the killed broker's partitions offline", func() bool {
		got, err := s.Leaders(before)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("leaders %v", got)
		for p, l := range leaders {
			if l == old && got[p] != -1 || l != old && got[p] != l {
				return false
			}
		}
		return true
	}, &last)

	// A topic created under the new controller lives on the survivors.
	const after = "failover-after"
	s.CreateTopic(after, partitions)
	for p, l := range s.WaitOnline(after, partitions) {
		if l == old {
			t.Fatalf("partition %d of %s, created after broker %d died, is led by it", p, after, old)
		}
	}
	cl := s.Client(s.produceOpts(after)...)
	recs := keyed(3000, 97, "after")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", after, err)
	}
	wantAfter, countsAfter := byPartition(recs)
	if len(countsAfter) != partitions {
		t.Fatalf("records went to %d partitions of %s, want %d", len(countsAfter), after, partitions)
	}
	s.checkSameRecords(wantAfter, s.ConsumeAll(after, countsAfter, 60*time.Second))

	// The survivors' partitions of the first topic still serve.
	survived := map[int32]int{}
	for p, n := range counts {
		if leaders[p] != old {
			survived[p] = n
		}
	}
	got := s.ConsumeAll(before, survived, 60*time.Second)
	for p := range survived {
		s.checkSameRecords(map[int32][]*kgo.Record{p: want[p]}, got)
	}

	// Its old session is gone (the controller changed), so the killed
	// broker may register again at once.
	killed.Restart()
	c.WaitBrokers(3)
	c.WaitOnline(before, partitions)
	c.checkSameRecords(want, c.ConsumeAll(before, counts, 60*time.Second))
	if id := c.Controller(); id != ctrl {
		t.Fatalf("controller is %d after broker %d rejoined, want %d still", id, old, ctrl)
	}
}

// Without returns a view of c without broker id: its clients are seeded
// with the other brokers only, and its waits do not check broker id.
func (c *Cluster) Without(id int32) *Cluster {
	c2 := *c
	c2.Brokers = nil
	for _, b := range c.Brokers {
		if b.ID != id {
			c2.Brokers = append(c2.Brokers, b)
		}
	}
	return &c2
}

// Leaders maps each partition of topic to its leader (-1 when offline), as
// Metadata reports it.
func (c *Cluster) Leaders(topic string) (map[int32]int32, error) {
	c.t.Helper()
	resp, err := c.Metadata(topic)
	if err != nil {
		return nil, err
	}
	leaders := map[int32]int32{}
	for _, p := range resp.Topics[0].Partitions {
		leaders[p.Partition] = p.Leader
	}
	return leaders, nil
}

// Metadata asks the cluster for the metadata of topics, or of every topic
// when none is named.
func (c *Cluster) Metadata(topics ...string) (*kmsg.MetadataResponse, error) {
	c.t.Helper()
	cl := c.Client()
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(topics) > 0 && len(resp.Topics) != len(topics) {
		return nil, fmt.Errorf("metadata for %v has %d topics", topics, len(resp.Topics))
	}
	return resp, nil
}

// Controller returns the controller's id, waiting until Metadata names one.
func (c *Cluster) Controller() int32 {
	c.t.Helper()
	var last string
	var id int32 = -1
	c.waitFor(startTimeout, "controller", func() bool {
		resp, err := c.Metadata()
		if err != nil {
			last = err.Error()
			return false
		}
		id = resp.ControllerID
		last = fmt.Sprintf("controller %d", id)
		return id >= 0
	}, &last)
	return id
}
