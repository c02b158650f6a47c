package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProduceWithFranzGo produces with a real client to a topic whose three
// partitions are led by different brokers of a three-broker cluster, and
// checks the offsets each produce got back: the client finds the leaders in
// Metadata and each leader appends.
func TestProduceWithFranzGo(t *testing.T) {
	_, seeds := startCluster(t, 3)
	const topic, partitions = "events", 3
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	waitForBrokers(t, admin, 3)
	leaders := createTopicAndWait(t, admin, topic, partitions)
	if len(leaders) != 3 {
		t.Fatalf("partition leaders %v: want the partitions spread over the three brokers", leaders)
	}

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		// Idempotence needs InitProducerId, which Gregor does not serve yet.
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic(topic),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for round := int64(0); round < 3; round++ {
		for p := int32(0); p < partitions; p++ {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			rec := &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("r%d-p%d", round, p))}
			res := cl.ProduceSync(ctx, rec)
			cancel()
			if err := res.FirstErr(); err != nil {
				t.Fatalf("produce to partition %d, round %d: %v", p, round, err)
			}
			if rec.Offset != round {
				t.Fatalf("partition %d, round %d: offset %d", p, round, rec.Offset)
			}
		}
	}
	// A batch of several records gets consecutive offsets.
	var recs []*kgo.Record
	for i := 0; i < 5; i++ {
		recs = append(recs, &kgo.Record{Partition: 1, Value: []byte("batch")})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Offset != 3+int64(i) {
			t.Fatalf("record %d of the batch: offset %d", i, r.Offset)
		}
	}
}

// TestIdempotentProduceWithFranzGo produces with franz-go's defaults:
// idempotent (InitProducerId, then sequence numbers per partition) and
// acks=all, 1,000 keyed records over 3 partitions on 3 brokers, and checks
// that every record got an offset and the offsets of each partition run
// 0..n-1 without gaps or repeats.
func TestIdempotentProduceWithFranzGo(t *testing.T) {
	_, seeds := startCluster(t, 3)
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	waitForBrokers(t, admin, 3)
	const topic = "idempotent"
	createTopicAndWait(t, admin, topic, 3)

	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, 1000)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("key-%d", i%37)), Value: []byte(fmt.Sprintf("value-%d", i))}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("idempotent produce: %v", err)
	}
	offsets := map[int32][]int64{}
	for _, r := range recs {
		if r.ProducerID < 0 {
			t.Fatalf("record produced without a producer id: %+v", r)
		}
		offsets[r.Partition] = append(offsets[r.Partition], r.Offset)
	}
	total := 0
	for p, offs := range offsets {
		slices.Sort(offs)
		for i, o := range offs {
			if o != int64(i) {
				t.Fatalf("partition %d: offsets %v have a gap or repeat at %d", p, offs, i)
			}
		}
		total += len(offs)
	}
	if total != len(recs) {
		t.Fatalf("%d records acknowledged, want %d", total, len(recs))
	}

	// Consume everything back: each record exactly once, in order within
	// its partition, with its key.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := map[string]*kgo.Record{}
	next := map[int32]int64{}
	for len(got) < len(recs) {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), len(recs), err)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Fatalf("partition %d: got offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
			}
			next[r.Partition]++
			if _, dup := got[string(r.Value)]; dup {
				t.Fatalf("record %s consumed twice", r.Value)
			}
			got[string(r.Value)] = r
		})
	}
	for _, r := range recs {
		c, ok := got[string(r.Value)]
		if !ok || string(c.Key) != string(r.Key) || c.Partition != r.Partition || c.Offset != r.Offset {
			t.Fatalf("record %s: produced at %d/%d, consumed %+v", r.Value, r.Partition, r.Offset, c)
		}
	}
}
