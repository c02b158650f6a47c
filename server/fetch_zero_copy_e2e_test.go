package server

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestConsumeZeroCopyAndCopying produces records of mixed sizes (many
// batches, some larger than a socket buffer) to a broker, then consumes
// them all with franz-go (Fetch v12, flexible) and with sarama (an older,
// non-flexible version), with gregor.fetch.zero.copy on and off. Both
// clients must get every record, in order, byte for byte; the broker's
// sendfile counter says which path served them.
func TestConsumeZeroCopyAndCopying(t *testing.T) {
	for _, zeroCopy := range []bool{true, false} {
		t.Run(fmt.Sprintf("zero_copy=%v", zeroCopy), func(t *testing.T) {
			cfg := testBrokerConfig(t, 1, zktest.Shared(t).Chroot(t))
			cfg.FetchZeroCopy = zeroCopy
			b := runBroker(t, cfg)
			seed := b.Addrs()[0].String()
			const topic, partitions, perPartition = "zc", 2, 300

			admin, err := kgo.NewClient(kgo.SeedBrokers(seed))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			createTopicAndWait(t, admin, topic, partitions)

			value := func(p int32, i int) []byte {
				size := 10 + (i*7919)%3000
				if i%50 == 0 {
					size = 300_000 // one batch larger than a socket buffer
				}
				return bytes.Repeat([]byte{byte('a' + (i+int(p))%26)}, size)
			}
			prod, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(1<<20),
				kgo.ProducerBatchCompression(kgo.NoCompression())) // so that the bytes sent can be counted
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var total int64
			var recs []*kgo.Record
			for p := int32(0); p < partitions; p++ {
				for i := range perPartition {
					v := value(p, i)
					total += int64(len(v))
					recs = append(recs, &kgo.Record{Partition: p, Value: v})
				}
			}
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}

			// franz-go.
			cl, err := kgo.NewClient(kgo.SeedBrokers(seed), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			next := map[int32]int{}
			for next[0]+next[1] < partitions*perPartition {
				fs := cl.PollFetches(ctx)
				if ctx.Err() != nil {
					t.Fatalf("franz-go consumed %v of %d per partition", next, perPartition)
				}
				fs.EachError(func(_ string, p int32, err error) { t.Fatalf("franz-go fetch partition %d: %v", p, err) })
				fs.EachRecord(func(r *kgo.Record) {
					i := next[r.Partition]
					if r.Offset != int64(i) || !bytes.Equal(r.Value, value(r.Partition, i)) {
						t.Fatalf("franz-go: partition %d offset %d: %d bytes, want offset %d", r.Partition, r.Offset, len(r.Value), i)
					}
					next[r.Partition]++
				})
			}

			// sarama.
			sc := sarama.NewConfig()
			sc.Version = sarama.V2_8_0_0
			sc.Consumer.Fetch.Default = 64 << 10
			consumer, err := sarama.NewConsumer([]string{seed}, sc)
			if err != nil {
				t.Fatal(err)
			}
			defer consumer.Close()
			for p := int32(0); p < partitions; p++ {
				pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
				if err != nil {
					t.Fatal(err)
				}
				for i := range perPartition {
					select {
					case m := <-pc.Messages():
						if m.Offset != int64(i) || !bytes.Equal(m.Value, value(p, i)) {
							t.Fatalf("sarama: partition %d offset %d: %d bytes, want offset %d", p, m.Offset, len(m.Value), i)
						}
					case err := <-pc.Errors():
						t.Fatalf("sarama partition %d: %v", p, err)
					case <-ctx.Done():
						t.Fatalf("sarama: partition %d: consumed %d of %d", p, i, perPartition)
					}
				}
				pc.Close()
			}

			// Responses with little data are copied even with zero-copy
			// on (smallFetchRecordBytes); the rest go with sendfile.
			sent, copied := b.handlers.sendfileBytes.Load(), b.handlers.smallFetchCopiedBytes.Load()
			switch {
			case zeroCopy && (sent+copied < 2*total || sent < total): // each client read every record once
				t.Fatalf("sendfile sent %d bytes and %d were copied, want at least %d in all, %d with sendfile", sent, copied, 2*total, total)
			case !zeroCopy && sent+copied != 0:
				t.Fatalf("zero copy off, yet sendfile sent %d bytes and %d counted as small", sent, copied)
			}
		})
	}
}
