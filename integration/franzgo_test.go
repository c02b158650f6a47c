package integration

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFranzGoProduceConsume produces 100,000 keyed records with franz-go's
// defaults (idempotent, acks=all) to 12 partitions over three brokers, once
// per compression codec, and consumes them back: each record exactly once,
// in produce order within its partition. TestSaramaScale does the same
// with sarama.
func TestFranzGoProduceConsume(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	codecs := []struct {
		name    string
		codec   kgo.CompressionCodec
		attr    uint8 // the codec's id in a batch's attributes
		records int
	}{
		{"none", kgo.NoCompression(), 0, 100000},
		{"gzip", kgo.GzipCompression(), 1, 100000},
		{"snappy", kgo.SnappyCompression(), 2, 100000},
		{"lz4", kgo.Lz4Compression(), 3, 100000},
		{"zstd", kgo.ZstdCompression(), 4, 100000},
	}
	for _, tt := range codecs {
		t.Run(tt.name, func(t *testing.T) {
			c := c.For(t)
			const partitions = 12
			topic := "franz-" + tt.name
			c.CreateTopic(topic, partitions)
			cl := c.Client(
				kgo.DefaultProduceTopic(topic),
				kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.ProducerBatchCompression(tt.codec),
			)
			recs := keyed(tt.records, 101, tt.name)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			for _, r := range recs {
				if r.ProducerID < 0 {
					t.Fatalf("record produced without a producer id: %+v", r)
				}
			}
			want, counts := byPartition(recs)
			if len(counts) != partitions {
				t.Fatalf("records went to %d partitions, want %d", len(counts), partitions)
			}
			got := c.ConsumeAll(topic, counts, 60*time.Second)
			c.checkSameRecords(want, got)
			// The topic's compression.type is producer (Kafka's
			// default): batches are stored as the producer sent them.
			for p, rs := range got {
				if ct := rs[0].Attrs.CompressionType(); ct != tt.attr {
					t.Fatalf("partition %d: batch compression %d, want %d (%s)", p, ct, tt.attr, tt.name)
				}
			}
		})
	}
}
