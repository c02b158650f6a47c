package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompactedTopic runs log compaction under a real client: franz-go
// writes three rounds of values for 50 keys to a topic with
// cleanup.policy=compact and small segments, and a record without a key,
// which the broker refuses with INVALID_RECORD. Once the cleaner has run,
// a consumer reading from the start sees each key's rounds in order, ending
// with the third, fewer records than were written (older values are gone),
// and offsets that only increase, with gaps where records were removed.
func TestCompactedTopic(t *testing.T) {
	c := StartCluster(t, 1, "log.cleaner.backoff.ms=100")
	const topic, keys, rounds = "compacted", 50, 3
	cl := c.Client(kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))

	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	for k, v := range map[string]string{
		"cleanup.policy":            "compact",
		"segment.bytes":             "2048",
		"min.cleanable.dirty.ratio": "0.01",
	} {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, cfg)
	}
	c.createTopic(rt, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.WaitOnline(topic, 1)

	written := 0
	for r := 1; r <= rounds; r++ {
		for k := range keys {
			rec := &kgo.Record{Key: fmt.Appendf(nil, "k%02d", k), Value: fmt.Appendf(nil, "round-%d", r)}
			if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", rec.Key, err)
			}
			written++
		}
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("a record without a key: %v, want INVALID_RECORD", err)
	}

	var last string
	c.waitFor(60*time.Second, "the cleaner to compact "+topic, func() bool {
		recs := c.readToEnd(topic, int64(written))
		last = fmt.Sprintf("%d records of %d written", len(recs), written)
		if len(recs) >= written {
			return false
		}
		round := map[string]int{}
		prev := int64(-1)
		for _, r := range recs {
			if r.Offset <= prev {
				t.Fatalf("offset %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			var n int
			if _, err := fmt.Sscanf(string(r.Value), "round-%d", &n); err != nil || n <= round[string(r.Key)] {
				t.Fatalf("key %s: %q at offset %d after round %d", r.Key, r.Value, r.Offset, round[string(r.Key)])
			}
			round[string(r.Key)] = n
		}
		for k := range keys {
			if key := fmt.Sprintf("k%02d", k); round[key] != rounds {
				t.Fatalf("key %s ends with round %d, want %d (%s)", key, round[key], rounds, strings.TrimSpace(last))
			}
		}
		return true
	}, &last)
	t.Log(last)
}

// readToEnd reads partition 0 of topic from its start up to offset end-1,
// which must be the last record's offset (compaction never removes the
// records of the active segment).
func (c *Cluster) readToEnd(topic string, end int64) []*kgo.Record {
	c.t.Helper()
	cl := c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) == 0 || recs[len(recs)-1].Offset < end-1 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			c.t.Fatalf("reading %s to offset %d: %d records read: %v", topic, end, len(recs), err)
		}
		fs.EachError(func(_ string, _ int32, err error) { c.t.Fatalf("reading %s: %v", topic, err) })
		recs = append(recs, fs.Records()...)
	}
	return recs
}
