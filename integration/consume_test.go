package integration

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ConsumeAll reads topic's partitions from the start with franz-go until
// each partition p has given want[p] records, and fails the test after
// timeout. It also fails when a partition's log holds more than want[p]
// records (its high watermark), so a record written twice is caught.
func (c *Cluster) ConsumeAll(topic string, want map[int32]int, timeout time.Duration, opts ...kgo.Opt) map[int32][]*kgo.Record {
	c.t.Helper()
	parts := map[int32]kgo.Offset{}
	for p := range want {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl := c.Client(append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := map[int32][]*kgo.Record{}
	hwm := map[int32]int64{}
	done := func() bool {
		for p, n := range want {
			if len(got[p]) < n || hwm[p] < int64(n) {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			counts := map[int32]int{}
			for p, rs := range got {
				counts[p] = len(rs)
			}
			c.t.Fatalf("consuming %s: after %v got %v records per partition, want %v (high watermarks %v)", topic, timeout, counts, want, hwm)
		}
		for _, b := range c.Brokers {
			if err := b.exited(); err != nil {
				c.t.Fatalf("consuming %s: broker %d exited: %v", topic, b.ID, err)
			}
		}
		for _, e := range fs.Errors() {
			c.t.Logf("consuming %s: partition %d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			hwm[p.Partition] = max(hwm[p.Partition], p.HighWatermark)
			got[p.Partition] = append(got[p.Partition], p.Records...)
		})
	}
	for p, n := range want {
		if len(got[p]) != n || hwm[p] != int64(n) {
			c.t.Fatalf("partition %d of %s: %d records consumed, high watermark %d, want %d", p, topic, len(got[p]), hwm[p], n)
		}
	}
	return got
}

// checkSameRecords fails unless got holds exactly the records of want, per
// partition, in the same order (keys and values), with offsets 0..n-1.
func (c *Cluster) checkSameRecords(want, got map[int32][]*kgo.Record) {
	c.t.Helper()
	for p, ws := range want {
		gs := got[p]
		if len(gs) != len(ws) {
			c.t.Fatalf("partition %d: %d records consumed, %d produced", p, len(gs), len(ws))
		}
		for i := range ws {
			if gs[i].Offset != int64(i) || !bytes.Equal(gs[i].Key, ws[i].Key) || !bytes.Equal(gs[i].Value, ws[i].Value) {
				c.t.Fatalf("partition %d, record %d: consumed offset %d %s=%s, produced %s=%s", p, i,
					gs[i].Offset, gs[i].Key, gs[i].Value, ws[i].Key, ws[i].Value)
			}
		}
	}
}

// byPartition groups produced records by partition, ordered by offset, and
// counts them.
func byPartition(recs []*kgo.Record) (map[int32][]*kgo.Record, map[int32]int) {
	m := map[int32][]*kgo.Record{}
	n := map[int32]int{}
	for _, r := range recs {
		m[r.Partition] = append(m[r.Partition], r)
	}
	for p, rs := range m {
		slices.SortFunc(rs, func(a, b *kgo.Record) int { return cmp.Compare(a.Offset, b.Offset) })
		n[p] = len(rs)
	}
	return m, n
}

func keyed(n, keys int, prefix string) []*kgo.Record {
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("key-%d", i%keys)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}
	}
	return recs
}
