package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSaramaScale produces keyed records with sarama's idempotent
// AsyncProducer (acks=all, one request in flight per broker, as sarama
// requires for idempotence) to 12 partitions over three brokers, once per
// compression codec, and consumes them back with sarama's Consumer: every
// acknowledged offset holds the record acknowledged for it, each record
// exactly once, in send order within its partition.
func TestSaramaScale(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3)
	codecs := []struct {
		name    string
		codec   sarama.CompressionCodec // its value is its id in a batch's attributes
		records int
	}{
		{"none", sarama.CompressionNone, 100000},
		{"gzip", sarama.CompressionGZIP, 100000},
		{"snappy", sarama.CompressionSnappy, 100000},
		{"lz4", sarama.CompressionLZ4, 100000},
		{"zstd", sarama.CompressionZSTD, 100000},
	}
	for _, tt := range codecs {
		t.Run(tt.name, func(t *testing.T) {
			c := c.For(t)
			const partitions = 12
			topic := "sarama-" + tt.name
			c.CreateTopic(topic, partitions)
			cfg := saramaConfig()
			cfg.Producer.Idempotent = true
			cfg.Net.MaxOpenRequests = 1
			cfg.Producer.Compression = tt.codec
			cfg.Producer.Return.Errors = true
			start := time.Now()
			want := saramaProduce(t, c, cfg, topic, tt.records)
			produced := time.Since(start)
			if len(want) != partitions {
				t.Fatalf("records went to %d partitions, want %d", len(want), partitions)
			}
			saramaConsume(t, c, cfg, topic, want)
			t.Logf("%d records: produced in %v, consumed in %v", tt.records, produced.Round(time.Millisecond), (time.Since(start) - produced).Round(time.Millisecond))
			c.checkBatches(topic, partitions, uint8(tt.codec))
		})
	}
}

// saramaConfig is the sarama configuration the tests share: Kafka 2.8's
// protocol, acks=all, and short backoffs and timeouts.
func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.ClientID = "gregor-integration"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Retry.Backoff = 100 * time.Millisecond
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Return.Errors = true
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	return cfg
}

// sent is a record as produced: its key and value.
type sent struct{ key, value string }

// saramaProduce sends n keyed records through an AsyncProducer and returns
// them by partition, indexed by the offset acknowledged for each. It fails
// unless the acknowledged offsets of each partition are 0..len-1, each
// once, and follow the send order.
func saramaProduce(t *testing.T, c *Cluster, cfg *sarama.Config, topic string, n int) map[int32][]sent {
	t.Helper()
	prod, err := sarama.NewAsyncProducer(c.Seeds(), cfg)
	if err != nil {
		t.Fatalf("NewAsyncProducer: %v", err)
	}
	defer prod.AsyncClose()
	type ack struct {
		offset int64
		seq    int
	}
	acks := map[int32][]ack{}
	go func() {
		for i := range n {
			prod.Input() <- &sarama.ProducerMessage{
				Topic:    topic,
				Key:      sarama.StringEncoder(fmt.Sprintf("key-%d", i%101)),
				Value:    sarama.StringEncoder(fmt.Sprintf("%s-%d", topic, i)),
				Metadata: i,
			}
		}
	}()
	timeout := time.After(120 * time.Second)
	for got := 0; got < n; got++ {
		select {
		case m := <-prod.Successes():
			acks[m.Partition] = append(acks[m.Partition], ack{m.Offset, m.Metadata.(int)})
		case err := <-prod.Errors():
			t.Fatalf("produce: %v", err)
		case <-timeout:
			t.Fatalf("%d of %d records acknowledged in 120s", got, n)
		}
	}
	want := map[int32][]sent{}
	for p, as := range acks {
		slices.SortFunc(as, func(a, b ack) int { return int(a.offset - b.offset) })
		for i, a := range as {
			if a.offset != int64(i) {
				t.Fatalf("partition %d: acknowledged offsets %d, ... are not 0..%d each once", p, a.offset, len(as)-1)
			}
			if i > 0 && a.seq < as[i-1].seq {
				t.Fatalf("partition %d: record %d got offset %d, after record %d sent later", p, as[i-1].seq, a.offset, a.seq)
			}
			want[p] = append(want[p], sent{fmt.Sprintf("key-%d", a.seq%101), fmt.Sprintf("%s-%d", topic, a.seq)})
		}
	}
	return want
}

// saramaConsume reads each partition of topic from the oldest offset with
// sarama's Consumer and fails unless it holds exactly want[p], in order,
// and its high watermark is len(want[p]).
func saramaConsume(t *testing.T, c *Cluster, cfg *sarama.Config, topic string, want map[int32][]sent) {
	t.Helper()
	cons, err := sarama.NewConsumer(c.Seeds(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	// Open every partition first, so that the fetches cover them all.
	pcs := map[int32]sarama.PartitionConsumer{}
	for p := range want {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition %d: %v", p, err)
		}
		defer pc.AsyncClose()
		pcs[p] = pc
	}
	deadline := time.After(120 * time.Second)
	for p, ws := range want {
		pc := pcs[p]
		for i, w := range ws {
			select {
			case m := <-pc.Messages():
				if m.Offset != int64(i) || string(m.Key) != w.key || string(m.Value) != w.value {
					t.Fatalf("partition %d, record %d: consumed offset %d %s=%s, produced %s=%s", p, i, m.Offset, m.Key, m.Value, w.key, w.value)
				}
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, err)
			case <-deadline:
				t.Fatalf("partition %d: %d of %d records consumed in 120s", p, i, len(ws))
			}
		}
		if hwm := pc.HighWaterMarkOffset(); hwm != int64(len(ws)) {
			t.Fatalf("partition %d: high watermark %d, want %d", p, hwm, len(ws))
		}
	}
}

// checkBatches fetches the first records of each of topic's partitions
// with franz-go and fails unless their batches carry a producer id and
// epoch, that is, were written by an idempotent producer, and are stored
// with the compression codec the producer used (the topic's
// compression.type is producer, Kafka's default).
func (c *Cluster) checkBatches(topic string, partitions int32, compression uint8) {
	c.t.Helper()
	parts := map[int32]kgo.Offset{}
	for p := range partitions {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}), kgo.FetchMaxWait(500*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seen := map[int32]bool{}
	for int32(len(seen)) < partitions {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("fetching the first records of %s: saw partitions %v after 30s", topic, seen)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.ProducerID < 0 || r.ProducerEpoch < 0 {
				c.t.Fatalf("partition %d, offset %d: producer id %d, epoch %d; want an idempotent producer's", r.Partition, r.Offset, r.ProducerID, r.ProducerEpoch)
			}
			if ct := r.Attrs.CompressionType(); ct != compression {
				c.t.Fatalf("partition %d, offset %d: batch compression %d, want %d", r.Partition, r.Offset, ct, compression)
			}
			seen[r.Partition] = true
		})
	}
}
