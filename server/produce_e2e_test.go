package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
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
	seeds, admin := startClusterWithAdmin(t, 3)
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

// TestProduceWithPooledFrames: produce request frames come from network's
// pool, and the produce handler hands its frame back after the appends
// (releaseProduceFrame), while other requests are read into the same
// buffers; race builds poison a released buffer. On three brokers with RF
// 3 (so acks=all produces wait in the purgatory and followers copy what
// was appended), four producers with linger 0 (many small frames, acks=1
// and acks=all) and one with a long linger and large records (frames of
// several MiB, read through growing buffers) write distinct records;
// then every record must be in the log, in each producer's order, byte
// for byte. A frame handed back too early would show as a corrupt batch,
// a wrong value, or a follower falling out of the ISR and acks=all
// timing out.
func TestProduceWithPooledFrames(t *testing.T) {
	seeds, admin := startClusterWithAdmin(t, 3)
	const topic, partitions = "pooled", 6
	createReplicatedTopic(t, admin, topic, partitions, 3)

	// Partitions 0-3 get small records from one producer each; 4 and 5
	// large ones from the bulk producer.
	counts := []int{800, 800, 800, 800, 500, 500}
	value := func(p, i int) []byte {
		n := 8 + (i*7919+p*131)%1500
		if p >= 4 {
			n = 3000 + (i*131)%2000
		}
		v := make([]byte, n)
		binary.BigEndian.PutUint32(v, uint32(p))
		binary.BigEndian.PutUint32(v[4:], uint32(i))
		for j := 8; j < len(v); j++ {
			v[j] = byte(p*31 + i + j)
		}
		return v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	newProducer := func(acks kgo.Acks, linger time.Duration) *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DisableIdempotentWrite(), kgo.RequiredAcks(acks),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(linger))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	var wg sync.WaitGroup
	produce := func(cl *kgo.Client, parts ...int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range counts[parts[0]] {
				for _, p := range parts {
					cl.Produce(ctx, &kgo.Record{Partition: int32(p), Value: value(p, i)}, func(_ *kgo.Record, err error) {
						if err != nil && ctx.Err() == nil {
							t.Errorf("partition %d record %d: %v", p, i, err)
						}
					})
				}
			}
			if err := cl.Flush(ctx); err != nil {
				t.Errorf("flush: %v", err)
			}
		}()
	}
	for p := range 4 {
		acks := kgo.LeaderAck()
		if p%2 == 1 {
			acks = kgo.AllISRAcks()
		}
		produce(newProducer(acks, 0), p)
	}
	produce(newProducer(kgo.AllISRAcks(), 200*time.Millisecond), 4, 5)
	wg.Wait()
	if t.Failed() {
		return
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	next := make([]int, partitions)
	total, want := 0, 0
	for _, c := range counts {
		want += c
	}
	for total < want {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records: %v (next per partition %v)", total, want, ctx.Err(), next)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch partition %d: %v", e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			p := int(r.Partition)
			if !bytes.Equal(r.Value, value(p, next[p])) {
				t.Fatalf("partition %d offset %d: %d bytes, not record %d", p, r.Offset, len(r.Value), next[p])
			}
			next[p]++
			total++
		})
	}
}
