package server

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replicationClock is a hand-moved clock for the lag rules.
type replicationClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *replicationClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *replicationClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// proposals records the ISR changes a leader proposes.
type proposals struct {
	mu   sync.Mutex
	isrs [][]int32
}

func (p *proposals) propose(_ *Partition, _ int32, isr []int32, _ int32) {
	p.mu.Lock()
	p.isrs = append(p.isrs, isr)
	p.mu.Unlock()
}

func (p *proposals) last() []int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.isrs) == 0 {
		return nil
	}
	return p.isrs[len(p.isrs)-1]
}

// replicationHandlers returns the handlers of broker 1 leading orders-0 at
// leader epoch 5, replicas [1, 2], with the given ISR and
// min.insync.replicas, a hand-moved clock and recorded ISR proposals.
func replicationHandlers(t *testing.T, minISR int, isr ...int32) (*handlers, *Partition, *replicationClock, *proposals) {
	t.Helper()
	h, m := newTestReplicaHandlers(t)
	t.Cleanup(h.fetches.close)
	t.Cleanup(h.produces.close)
	clock := &replicationClock{now: time.UnixMilli(1_700_000_000_000)}
	props := &proposals{}
	cfg := logstore.DefaultLogConfig()
	cfg.MinInSyncReplicas = minISR
	h.replicas = newReplicaManager(1, m, func(string) logstore.LogConfig { return cfg }, discardLogger())
	h.replicas.repl = replicationConfig{lagTimeMax: 10 * time.Second, now: clock.Now, proposeISR: props.propose}
	h.replicas.onHighWatermark = h.onHighWatermark
	codes := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState("orders", 0, 1, 5, isr...),
	}, nil)
	if codes[orders0] != 0 {
		t.Fatalf("become leader: code %d", codes[orders0])
	}
	p, err := h.replicas.leaderPartition(orders0)
	if err != nil {
		t.Fatal(err)
	}
	return h, p, clock, props
}

// followerFetch fetches orders-0 at offset as broker 2 and returns the
// partition's answer.
func followerFetch(t *testing.T, h *handlers, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := fetchReq(11, at(orders0, offset))
	req.ReplicaID = 2
	ps := fetchPartitions(callOnListener(t, h, "PLAINTEXT", req))
	if len(ps) != 1 {
		t.Fatalf("%d partitions answered", len(ps))
	}
	return ps[0]
}

func produceReq(acks int16, timeout time.Duration, n int) *kmsg.ProduceRequest {
	recs := make([]logstore.Record, n)
	for i := range recs {
		recs[i].Value = []byte(fmt.Sprintf("v%d", i))
	}
	batch, _ := logstore.BuildBatch(logstore.NewBuildOptions(), recs)
	req := kmsg.NewPtrProduceRequest()
	req.Version = 8
	req.Acks = acks
	req.TimeoutMillis = int32(timeout.Milliseconds())
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "orders"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func producePartition(resp kmsg.Response) kmsg.ProduceResponseTopicPartition {
	return resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

// The high watermark waits for every ISR member: consumers see nothing a
// follower has not fetched, and a follower's fetch moves it.
func TestHighWatermarkFollowsTheISR(t *testing.T) {
	h, p, _, _ := replicationHandlers(t, 1, 1, 2)
	appendBatchTo(t, h, orders0, 3)
	if p.HighWatermark() != 0 {
		t.Fatalf("high watermark %d before the follower fetched", p.HighWatermark())
	}
	if ps := fetchPartitions(callOnListener(t, h, "PLAINTEXT", fetchReq(11, at(orders0, 0)))); len(ps[0].RecordBatches) != 0 || ps[0].HighWatermark != 0 {
		t.Fatalf("a consumer read %d bytes above the high watermark %d", len(ps[0].RecordBatches), ps[0].HighWatermark)
	}
	got := followerFetch(t, h, 0)
	if got.ErrorCode != 0 || len(got.RecordBatches) == 0 {
		t.Fatalf("follower fetch: code %d, %d bytes", got.ErrorCode, len(got.RecordBatches))
	}
	if p.HighWatermark() != 0 {
		t.Fatalf("high watermark %d while the follower is at 0", p.HighWatermark())
	}
	if got := followerFetch(t, h, 3); got.HighWatermark != 3 {
		t.Fatalf("follower fetch at the end answered high watermark %d", got.HighWatermark)
	}
	if ps := fetchPartitions(callOnListener(t, h, "PLAINTEXT", fetchReq(11, at(orders0, 0)))); len(ps[0].RecordBatches) == 0 || ps[0].HighWatermark != 3 {
		t.Fatalf("consumer after replication: %d bytes, high watermark %d", len(ps[0].RecordBatches), ps[0].HighWatermark)
	}
	// A fetch from a follower with a fenced epoch is refused.
	req := fetchReq(11, at(orders0, 3))
	req.ReplicaID = 2
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = 4
	if ps := fetchPartitions(callOnListener(t, h, "PLAINTEXT", req)); ps[0].ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("fenced follower fetch: code %d", ps[0].ErrorCode)
	}
}

func TestAcksAllWaitsForTheISR(t *testing.T) {
	t.Run("completed by the follower's fetch", func(t *testing.T) {
		h, _, _, _ := replicationHandlers(t, 2, 1, 2)
		ch := callAsync(t, h, produceReq(-1, 10*time.Second, 4))
		select {
		case r := <-ch:
			t.Fatalf("acks=all answered before replication: %+v", r)
		default:
		}
		followerFetch(t, h, 0)
		select {
		case r := <-ch:
			t.Fatalf("acks=all answered with the follower at 0: %+v", r)
		default:
		}
		followerFetch(t, h, 4)
		if got := producePartition(awaitResponse(t, ch)); got.ErrorCode != 0 || got.BaseOffset != 0 {
			t.Fatalf("acks=all: code %d base %d", got.ErrorCode, got.BaseOffset)
		}
	})
	t.Run("times out", func(t *testing.T) {
		h, _, _, _ := replicationHandlers(t, 1, 1, 2)
		got := producePartition(awaitResponse(t, callAsync(t, h, produceReq(-1, 50*time.Millisecond, 1))))
		if got.ErrorCode != kerr.RequestTimedOut.Code {
			t.Fatalf("code %d, want REQUEST_TIMED_OUT", got.ErrorCode)
		}
	})
	t.Run("answered when leadership moves", func(t *testing.T) {
		h, _, _, _ := replicationHandlers(t, 1, 1, 2)
		ch := callAsync(t, h, produceReq(-1, 10*time.Second, 1))
		h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 2, 6, 2)}, nil)
		if got := producePartition(awaitResponse(t, ch)); got.ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Fatalf("code %d, want NOT_LEADER_OR_FOLLOWER", got.ErrorCode)
		}
	})
	t.Run("the ISR shrank below the minimum meanwhile", func(t *testing.T) {
		h, _, _, _ := replicationHandlers(t, 2, 1, 2)
		ch := callAsync(t, h, produceReq(-1, 10*time.Second, 1))
		h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 1, 6, 1)}, nil)
		if got := producePartition(awaitResponse(t, ch)); got.ErrorCode != kerr.NotEnoughReplicasAfterAppend.Code {
			t.Fatalf("code %d, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", got.ErrorCode)
		}
	})
}

func TestNotEnoughReplicas(t *testing.T) {
	h, p, _, _ := replicationHandlers(t, 2, 1)
	got := producePartition(callOnListener(t, h, "PLAINTEXT", produceReq(-1, time.Second, 1)))
	if got.ErrorCode != kerr.NotEnoughReplicas.Code || p.Log().LogEndOffset() != 0 {
		t.Fatalf("acks=all with a short ISR: code %d, log end %d", got.ErrorCode, p.Log().LogEndOffset())
	}
	if got := producePartition(callOnListener(t, h, "PLAINTEXT", produceReq(1, time.Second, 1))); got.ErrorCode != 0 {
		t.Fatalf("acks=1 with a short ISR: code %d", got.ErrorCode)
	}
}

// The leader proposes a follower for the ISR once it reaches the high
// watermark, proposes removing it once it lags for replica.lag.time.max.ms,
// and keeps counting it for the high watermark until the controller agrees.
func TestISRChangeProposals(t *testing.T) {
	h, p, clock, props := replicationHandlers(t, 1, 1)
	appendBatchTo(t, h, orders0, 2)
	if p.HighWatermark() != 2 {
		t.Fatalf("high watermark %d with the leader alone in the ISR", p.HighWatermark())
	}
	followerFetch(t, h, 1)
	if props.last() != nil {
		t.Fatalf("proposed %v for a follower below the high watermark", props.last())
	}
	followerFetch(t, h, 2)
	if want := []int32{1, 2}; !slices.Equal(props.last(), want) {
		t.Fatalf("proposed %v, want %v", props.last(), want)
	}
	// While the expansion is in flight, the follower holds the high
	// watermark back.
	appendBatchTo(t, h, orders0, 1)
	if p.HighWatermark() != 2 {
		t.Fatalf("high watermark %d passed the pending ISR member", p.HighWatermark())
	}
	p.onISRChangeAnswered(5, []int32{1, 2}, 4, nil)
	if !slices.Equal(p.ISR(), []int32{1, 2}) || p.ZkVersion() != 4 {
		t.Fatalf("ISR %v version %d after the controller agreed", p.ISR(), p.ZkVersion())
	}

	// The follower stops fetching: after the lag time it is proposed out.
	clock.Advance(5 * time.Second)
	if p.maybeShrinkISR() || props.last() == nil || len(props.isrs) != 1 {
		t.Fatalf("shrank before the lag time: %v", props.isrs)
	}
	clock.Advance(6 * time.Second)
	p.maybeShrinkISR()
	if want := []int32{1}; !slices.Equal(props.last(), want) {
		t.Fatalf("proposed %v, want %v", props.last(), want)
	}
	if p.HighWatermark() != 2 {
		t.Fatalf("high watermark %d moved before the controller agreed to the shrink", p.HighWatermark())
	}
	if !p.onISRChangeAnswered(5, []int32{1}, 5, nil) || p.HighWatermark() != 3 {
		t.Fatalf("high watermark %d after the shrink", p.HighWatermark())
	}

	// A stale answer (another leader epoch) changes nothing; a refusal
	// clears the proposal so that the next fetch proposes again.
	followerFetch(t, h, 3)
	if !slices.Equal(props.last(), []int32{1, 2}) {
		t.Fatalf("rejoin proposed %v", props.last())
	}
	p.onISRChangeAnswered(4, []int32{1, 2}, 9, nil)
	if !slices.Equal(p.ISR(), []int32{1}) {
		t.Fatalf("an answer for another epoch changed the ISR to %v", p.ISR())
	}
	p.onISRChangeAnswered(5, nil, 0, kerr.InvalidUpdateVersion)
	n := len(props.isrs)
	followerFetch(t, h, 3)
	if len(props.isrs) != n+1 {
		t.Fatal("no new proposal after a refused one")
	}
}

func TestOffsetForLeaderEpochHandler(t *testing.T) {
	h, p, _, _ := replicationHandlers(t, 1, 1)
	appendBatchTo(t, h, orders0, 2) // epoch 5 from offset 0
	// A later leadership at epoch 7 starts at 2.
	h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 1, 7, 1)}, nil)
	appendBatchTo(t, h, orders0, 3)
	ask := func(version int16, current, epoch int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = version
		req.ReplicaID = 2
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "orders"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return callOnListener(t, h, "PLAINTEXT", req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]
	}
	tests := []struct {
		name           string
		version        int16
		current, epoch int32
		code           int16
		wantEpoch      int32
		wantEnd        int64
	}{
		{"latest epoch ends at the log end", 3, 7, 7, 0, 7, 5},
		{"older epoch ends where the next starts", 3, 7, 5, 0, 5, 2},
		{"unknown epoch in between", 3, 7, 6, 0, 5, 2},
		{"newer than any", 3, 7, 8, 0, -1, -1},
		{"fenced current epoch", 3, 6, 5, kerr.FencedLeaderEpoch.Code, -1, -1},
		{"unknown current epoch", 3, 8, 5, kerr.UnknownLeaderEpoch.Code, -1, -1},
		{"v1 has no current epoch", 1, 0, 5, 0, 5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ask(tt.version, tt.current, tt.epoch)
			if got.ErrorCode != tt.code || (tt.code == 0 && (got.LeaderEpoch != tt.wantEpoch || got.EndOffset != tt.wantEnd)) {
				t.Fatalf("got code %d epoch %d end %d; want code %d epoch %d end %d",
					got.ErrorCode, got.LeaderEpoch, got.EndOffset, tt.code, tt.wantEpoch, tt.wantEnd)
			}
		})
	}
	_ = p
}

// A follower truncates to where its log agrees with the leader's (KIP-101,
// KIP-279), never blindly to its high watermark.
func TestFollowerTruncation(t *testing.T) {
	// The follower's log holds epochs 1 (from 0), 3 (from 5) and 4 (from
	// 12), up to offset 15; its high watermark is 4.
	newFollower := func(t *testing.T) (*replicaFetcher, *fetchState) {
		t.Helper()
		h, m := newTestReplicaHandlers(t)
		l, err := m.GetOrCreateLog(orders0, logstore.DefaultLogConfig())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range []struct {
			epoch int32
			n     int
		}{{1, 5}, {3, 7}, {4, 3}} {
			for range b.n { // one record per batch: truncation cuts whole batches
				batch, _ := logstore.BuildBatch(logstore.NewBuildOptions(), []logstore.Record{{Value: []byte("v")}})
				if _, err := l.Append(batch, logstore.AppendOptions{Origin: logstore.AppendOriginClient, LeaderEpoch: b.epoch}); err != nil {
					t.Fatal(err)
				}
			}
		}
		l.SetHighWatermark(4)
		h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 2, 5, 2)}, nil)
		p, err := h.replicas.getPartition(orders0)
		if err != nil {
			t.Fatal(err)
		}
		f := &replicaFetcher{cfg: fetcherConfig{log: discardLogger()}, log: discardLogger(), partitions: map[logstore.TopicPartition]*fetchState{}}
		st := &fetchState{target: fetchTarget{leader: 2, leaderEpoch: 5, partition: p}, truncating: true}
		f.partitions[orders0] = st
		return f, st
	}
	tests := []struct {
		name           string
		leaderEpoch    int32
		leaderEnd      int64
		wantLEO        int64
		wantTruncating bool
	}{
		{"same epoch, leader ends earlier", 3, 10, 10, false},
		{"same epoch, leader ends later", 3, 14, 12, false},
		{"leader's epoch unknown here: cut to our floor epoch's end, ask again", 2, 8, 5, true},
		{"leader knows nothing: high watermark", logstore.UndefinedEpoch, logstore.UndefinedEpochOffset, 4, false},
		{"latest epoch agrees", 4, 15, 15, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, st := newFollower(t)
			f.applyEpochEndOffset(orders0, st, tt.leaderEpoch, tt.leaderEnd)
			if leo := st.target.partition.Log().LogEndOffset(); leo != tt.wantLEO || st.truncating != tt.wantTruncating {
				t.Fatalf("log end %d truncating %v; want %d %v", leo, st.truncating, tt.wantLEO, tt.wantTruncating)
			}
		})
	}
}

// replicatedTopic creates topic with the replication factor and configs
// through the controller and waits until every partition has a leader and
// its full ISR.
func replicatedTopic(t *testing.T, cl *kgo.Client, topic string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %+v %v", topic, resp, err)
	}
}

// partitionStates reads the leader and ISR of every partition of topic from
// Metadata.
func partitionStates(t *testing.T, cl *kgo.Client, topic string) map[int32]kmsg.MetadataResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	out := map[int32]kmsg.MetadataResponseTopicPartition{}
	if err != nil || len(resp.Topics) != 1 {
		return out
	}
	for _, p := range resp.Topics[0].Partitions {
		out[p.Partition] = p
	}
	return out
}

// logBytes reads a replica's whole log below offset end.
func logBytes(t *testing.T, l *logstore.Log, end int64) []byte {
	t.Helper()
	var out []byte
	for off := l.LogStartOffset(); off < end; {
		r, err := l.Read(off, 1<<20, end, true)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.ReadAll()
		if err != nil || len(b) == 0 {
			t.Fatalf("read at %d: %d bytes, %v", off, len(b), err)
		}
		out = append(out, b...)
		for len(b) > 0 {
			h, err := logstore.CheckBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out
}

// Three brokers, replication factor 3: acks=all records reach every
// replica byte for byte, and survive the loss of their leader.
func TestReplicationAcrossBrokers(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	var brokers []*Broker
	var seeds []string
	stops := map[int32]func(){}
	for id := int32(1); id <= 3; id++ {
		b, stop := startStoppable(t, testBrokerConfig(t, id, zkConnect))
		brokers, seeds, stops[id] = append(brokers, b), append(seeds, b.Addrs()[0].String()), stop
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 3)
	replicatedTopic(t, cl, "replicated", 3, 3, map[string]string{"min.insync.replicas": "2"})

	const perPartition = 300
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var acked sync.Map
	for i := 0; i < perPartition; i++ {
		for p := int32(0); p < 3; p++ {
			r := &kgo.Record{Topic: "replicated", Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))}
			res := cl.ProduceSync(ctx, r)
			if err := res.FirstErr(); err != nil {
				t.Fatalf("produce %d to %d: %v", i, p, err)
			}
			acked.Store(string(r.Value), r.Offset)
		}
	}

	// Every replica holds the same bytes as its leader, up to the leader's
	// high watermark.
	deadline := time.Now().Add(30 * time.Second)
	for p := int32(0); p < 3; p++ {
		tp := logstore.TopicPartition{Topic: "replicated", Partition: p}
		for {
			var logs []*logstore.Log
			for _, b := range brokers {
				if part, err := b.handlers.replicas.getPartition(tp); err == nil {
					logs = append(logs, part.Log())
				}
			}
			same := len(logs) == 3
			for _, l := range logs {
				same = same && l.LogEndOffset() == perPartition && l.HighWatermark() == perPartition
			}
			if same {
				want := logBytes(t, logs[0], perPartition)
				for _, l := range logs[1:] {
					if !bytes.Equal(logBytes(t, l, perPartition), want) {
						t.Fatalf("partition %d: replicas differ", p)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				for _, l := range logs {
					t.Logf("replica: log end %d high watermark %d", l.LogEndOffset(), l.HighWatermark())
				}
				t.Fatalf("partition %d never fully replicated", p)
			}
			time.Sleep(20 * time.Millisecond) // polling with a deadline
		}
	}

	// The leader of partition 0 stops; another ISR member takes over and
	// every acknowledged record is still there.
	leader := partitionStates(t, cl, "replicated")[0].Leader
	stops[leader]()
	for {
		st := partitionStates(t, cl, "replicated")[0]
		if st.Leader >= 0 && st.Leader != leader {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("no new leader for partition 0: %+v", st)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "replicated", Partition: 0, Value: []byte("after")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce after failover: %v", err)
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("replicated"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]bool{}
	for len(seen) < 3*perPartition+1 {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(seen), 3*perPartition+1)
		}
		fs.EachRecord(func(r *kgo.Record) {
			v := string(r.Value)
			if seen[v] {
				t.Errorf("record %s consumed twice", v)
			}
			seen[v] = true
			if off, ok := acked.Load(v); ok && off.(int64) != r.Offset {
				t.Errorf("record %s acknowledged at %d, consumed at %d", v, off, r.Offset)
			}
		})
	}
}

// A follower outside the ISR never holds the high watermark back, however
// recently it caught up: after a controlled shutdown the old leader follows
// the new one until it stops, and must not stall acks=all once it is gone.
func TestFollowerOutsideTheISRDoesNotHoldTheHighWatermark(t *testing.T) {
	h, p, _, _ := replicationHandlers(t, 1, 1)
	appendBatchTo(t, h, orders0, 2)
	followerFetch(t, h, 2) // caught up: proposed for the ISR
	p.onISRChangeAnswered(5, nil, 0, kerr.InvalidUpdateVersion)
	appendBatchTo(t, h, orders0, 3)
	if p.HighWatermark() != 5 {
		t.Fatalf("high watermark %d, want the log end 5: a follower outside the ISR held it", p.HighWatermark())
	}
}

// TestFetchMaxWait: a follower's fetch waits at most
// replica.fetch.wait.max.ms at the leader, and no longer than until the
// first partition left out for its backoff is due again, so that the
// partition does not sit out the others' long poll.
func TestFetchMaxWait(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name string
		next time.Time
		want time.Duration
	}{
		{"no partition backing off", time.Time{}, 500 * time.Millisecond},
		{"backoff ends in 100 ms", now.Add(100 * time.Millisecond), 100 * time.Millisecond},
		{"backoff ends in 99.2 ms: rounded up", now.Add(99200 * time.Microsecond), 100 * time.Millisecond},
		{"backoff ends after the wait", now.Add(2 * time.Second), 500 * time.Millisecond},
		{"backoff already over", now.Add(-time.Millisecond), 0},
	} {
		if got := fetchMaxWait(500*time.Millisecond, now, tc.next); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A produce to several partitions wakes a follower's fetch parked on them
// only once every partition is appended (Kafka's action queue), so the
// follower gets all of the request's records in one response. Woken by the
// first append, the fetch answered with that partition alone and the
// follower needed another round trip, and the acks=all produce with it.
func TestFollowerFetchWokenAfterEveryAppendOfAProduce(t *testing.T) {
	h, _, _, _ := replicationHandlers(t, 1, 1, 2)
	if codes := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState("orders", 1, 1, 5, 1, 2),
	}, nil); codes[orders1] != 0 {
		t.Fatalf("become leader of %s: code %d", orders1, codes[orders1])
	}
	fetch := fetchReq(11, at(orders0, 0), at(orders1, 0))
	fetch.ReplicaID = 2
	fetch.MaxWaitMillis = 10_000
	parked := callAsync(t, h, fetch)
	select {
	case r := <-parked:
		t.Fatalf("the follower's fetch answered before any append: %+v", r)
	default:
	}

	req := produceReq(1, 10*time.Second, 3)
	rp := req.Topics[0].Partitions[0]
	rp.Partition = 1
	req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	for _, p := range awaitResponse(t, callAsync(t, h, req)).(*kmsg.ProduceResponse).Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("produce to partition %d: code %d", p.Partition, p.ErrorCode)
		}
	}
	got := fetchPartitions(awaitResponse(t, parked))
	if len(got) != 2 {
		t.Fatalf("%d partitions answered, want 2", len(got))
	}
	for _, p := range got {
		if p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
			t.Errorf("partition %d: code %d, %d record bytes; want the produced batch", p.Partition, p.ErrorCode, len(p.RecordBatches))
		}
	}
}
