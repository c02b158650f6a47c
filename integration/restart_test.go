package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestartBroker stops one broker of three with SIGTERM and starts it
// again with the same configuration: its partitions come back online with
// their data, read from the start.
func TestRestartBroker(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	const topic, partitions = "restart", 6
	want, counts := produceBeforeBounce(t, c, topic, partitions)

	leaders := c.WaitOnline(topic, partitions)
	b := c.Broker(2)
	led := 0
	for _, l := range leaders {
		if l == b.ID {
			led++
		}
	}
	if led == 0 {
		t.Fatalf("broker 2 leads none of %s's partitions: %v", topic, leaders)
	}
	b.Stop()
	b.Restart()
	c.WaitBrokers(3)
	c.WaitOnline(topic, partitions)
	got := c.ConsumeAll(topic, counts, 60*time.Second)
	c.checkSameRecords(want, got)
}

// TestKillBroker kills one broker of three with SIGKILL (kill -9) and
// starts it again once ZooKeeper has expired its old session: its partitions come back online with the acknowledged data.
func TestKillBroker(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	const topic, partitions = "kill", 6
	want, counts := produceBeforeBounce(t, c, topic, partitions)

	b := c.Broker(2)
	b.Kill()
	// As with Kafka 2.8, a broker cannot register while the znode of its
	// killed self remains: wait until ZooKeeper expires that session.
	c.WaitBrokers(2)
	b.Restart()
	c.WaitBrokers(3)
	c.WaitOnline(topic, partitions)
	got := c.ConsumeAll(topic, counts, 60*time.Second)
	c.checkSameRecords(want, got)
}

// produceBeforeBounce creates topic and produces 600 keyed records to it
// with acks=all, returning them by partition for checkSameRecords.
func produceBeforeBounce(t *testing.T, c *Cluster, topic string, partitions int32) (map[int32][]*kgo.Record, map[int32]int) {
	t.Helper()
	c.CreateTopic(topic, partitions)
	cl := c.Client(c.produceOpts(topic)...)
	recs := keyed(600, 50, "before")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	return byPartition(recs)
}
