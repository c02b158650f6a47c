package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestSarama creates a topic with sarama's ClusterAdmin on three brokers,
// produces keyed records with a SyncProducer (acks=all) and reads them back
// with a Consumer from the oldest offset: every record exactly once, in
// produce order within its partition.
func TestSarama(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	cfg := saramaConfig()

	const topic, partitions = "sarama", 6
	admin, err := sarama.NewClusterAdmin(c.Seeds(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	c.WaitOnline(topic, partitions)

	prod, err := sarama.NewSyncProducer(c.Seeds(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	want := map[int32][]sent{}
	const n = 600
	for i := range n {
		m := &sarama.ProducerMessage{
			Topic: topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("key-%d", i%31)),
			Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i)),
		}
		p, off, err := prod.SendMessage(m)
		if err != nil {
			t.Fatalf("SendMessage %d: %v", i, err)
		}
		if off != int64(len(want[p])) {
			t.Fatalf("record %d went to partition %d at offset %d, want %d", i, p, off, len(want[p]))
		}
		want[p] = append(want[p], sent{string(m.Key.(sarama.StringEncoder)), string(m.Value.(sarama.StringEncoder))})
	}
	if len(want) != partitions {
		t.Fatalf("records went to %d partitions, want %d", len(want), partitions)
	}

	cons, err := sarama.NewConsumer(c.Seeds(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	deadline := time.After(60 * time.Second)
	for p, ws := range want {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %d: %v", p, err)
		}
		for i, w := range ws {
			select {
			case m := <-pc.Messages():
				if m.Offset != int64(i) || string(m.Key) != w.key || string(m.Value) != w.value {
					t.Fatalf("partition %d, record %d: consumed offset %d %s=%s, produced %s=%s", p, i, m.Offset, m.Key, m.Value, w.key, w.value)
				}
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, err)
			case <-deadline:
				t.Fatalf("partition %d: %d of %d records consumed in 60s", p, i, len(ws))
			}
		}
		if hwm := pc.HighWaterMarkOffset(); hwm != int64(len(ws)) {
			t.Fatalf("partition %d: high watermark %d, want %d", p, hwm, len(ws))
		}
		if err := pc.Close(); err != nil {
			t.Fatalf("partition %d: close: %v", p, err)
		}
	}
}
