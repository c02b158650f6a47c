package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newTestReplicaHandlers returns the handlers of broker 1 with a replica
// manager over real logs in a temporary directory.
func newTestReplicaHandlers(t *testing.T) (*handlers, *logstore.Manager) {
	t.Helper()
	m, err := logstore.NewManager(logstore.ManagerConfig{
		Dirs:             []string{t.TempDir()},
		DefaultLogConfig: logstore.DefaultLogConfig(),
		Logger:           discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	h := newHandlers(1, discardLogger())
	h.replicas = newReplicaManager(1, m, func(string) logstore.LogConfig { return logstore.DefaultLogConfig() }, discardLogger())
	return h, m
}

// leaderAndISRState is a LeaderAndIsr partition state for topic-partition,
// assigned to brokers 1 and 2.
func leaderAndISRState(topic string, partition, leader, leaderEpoch int32, isr ...int32) kmsg.LeaderAndISRRequestTopicPartition {
	st := kmsg.NewLeaderAndISRRequestTopicPartition()
	st.Topic, st.Partition, st.Leader, st.LeaderEpoch = topic, partition, leader, leaderEpoch
	st.ControllerEpoch, st.ZKVersion = 1, 3
	st.Replicas, st.ISR = []int32{1, 2}, isr
	return st
}

// appendRecords appends n records to l as a leader would.
func appendRecords(t *testing.T, l *logstore.Log, n int) {
	t.Helper()
	recs := make([]logstore.Record, n)
	for i := range recs {
		recs[i].Value = []byte("v")
	}
	batch, err := logstore.BuildBatch(logstore.NewBuildOptions(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(batch, logstore.AppendOptions{Origin: logstore.AppendOriginClient}); err != nil {
		t.Fatal(err)
	}
}

func TestBecomeLeaderSetsHighWatermarkToLogEndOffset(t *testing.T) {
	h, m := newTestReplicaHandlers(t)
	tp := logstore.TopicPartition{Topic: "orders", Partition: 0}
	// A log loaded at start-up whose high watermark checkpoint lags.
	l, err := m.GetOrCreateLog(tp, logstore.DefaultLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendRecords(t, l, 3)
	codes := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 1, 0, 1)}, nil)
	if codes[tp] != 0 {
		t.Fatalf("code %d", codes[tp])
	}
	p, err := h.replicas.leaderPartition(tp)
	if err != nil {
		t.Fatal(err)
	}
	if p.Log() != l || p.HighWatermark() != 3 || l.LogEndOffset() != 3 {
		t.Fatalf("hw %d leo %d same log %v", p.HighWatermark(), l.LogEndOffset(), p.Log() == l)
	}
	// Appends as the only ISR member move the high watermark along.
	batch, _ := logstore.BuildBatch(logstore.NewBuildOptions(), []logstore.Record{{Value: []byte("x")}})
	if _, _, err := p.AppendRecordsToLeader(batch, logstore.AppendOriginClient, 1); err != nil {
		t.Fatal(err)
	}
	if p.HighWatermark() != 4 {
		t.Fatalf("hw %d after append", p.HighWatermark())
	}
}

func TestBecomeLeaderOrFollowerEpochs(t *testing.T) {
	tp := logstore.TopicPartition{Topic: "orders", Partition: 0}
	tests := []struct {
		name       string
		second     kmsg.LeaderAndISRRequestTopicPartition
		wantCode   int16
		wantLeader int32
		wantEpoch  int32
	}{
		{"newer epoch, follower", leaderAndISRState("orders", 0, 2, 6), 0, 2, 6},
		{"newer epoch, leader again", leaderAndISRState("orders", 0, 1, 6, 1, 2), 0, 1, 6},
		{"same epoch ignored", leaderAndISRState("orders", 0, 2, 5), kerr.StaleControllerEpoch.Code, 1, 5},
		{"older epoch ignored", leaderAndISRState("orders", 0, 2, 4), kerr.StaleControllerEpoch.Code, 1, 5},
		{"not in the assignment", func() kmsg.LeaderAndISRRequestTopicPartition {
			st := leaderAndISRState("orders", 0, 2, 6)
			st.Replicas = []int32{2, 3}
			return st
		}(), kerr.UnknownTopicOrPartition.Code, 1, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newTestReplicaHandlers(t)
			if c := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 1, 5, 1)}, nil); c[tp] != 0 {
				t.Fatalf("first: code %d", c[tp])
			}
			codes := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{tt.second}, nil)
			if codes[tp] != tt.wantCode {
				t.Fatalf("code %d, want %d", codes[tp], tt.wantCode)
			}
			p, err := h.replicas.getPartition(tp)
			if err != nil {
				t.Fatal(err)
			}
			if p.Leader() != tt.wantLeader || p.LeaderEpoch() != tt.wantEpoch {
				t.Fatalf("leader %d epoch %d", p.Leader(), p.LeaderEpoch())
			}
			_, err = h.replicas.leaderPartition(tp)
			if wantLeader := tt.wantLeader == 1; (err == nil) != wantLeader {
				t.Fatalf("leaderPartition: %v", err)
			}
			if tt.wantLeader != 1 && err != kerr.NotLeaderForPartition {
				t.Fatalf("leaderPartition of a follower: %v", err)
			}
		})
	}
}

func TestGetPartitionUnknown(t *testing.T) {
	h, _ := newTestReplicaHandlers(t)
	tp := logstore.TopicPartition{Topic: "nope", Partition: 0}
	if _, err := h.replicas.getPartition(tp); err != kerr.UnknownTopicOrPartition {
		t.Fatalf("getPartition: %v", err)
	}
	if _, err := h.replicas.leaderPartition(tp); err != kerr.UnknownTopicOrPartition {
		t.Fatalf("leaderPartition: %v", err)
	}
}

func TestCheckLeaderEpoch(t *testing.T) {
	h, _ := newTestReplicaHandlers(t)
	h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 1, 5, 1)}, nil)
	p, _ := h.replicas.getPartition(logstore.TopicPartition{Topic: "orders"})
	for _, tt := range []struct {
		epoch int32
		want  error
	}{{-1, nil}, {5, nil}, {4, kerr.FencedLeaderEpoch}, {6, kerr.UnknownLeaderEpoch}} {
		if err := p.CheckLeader(tt.epoch); err != tt.want {
			t.Errorf("epoch %d: %v, want %v", tt.epoch, err, tt.want)
		}
	}
}

// TestGetPartitionDuringBecomeLeader runs lookups while partitions become
// leaders; run with -race.
func TestGetPartitionDuringBecomeLeader(t *testing.T) {
	h, _ := newTestReplicaHandlers(t)
	const n = 50
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := int32(0); i < n; i++ {
					p, err := h.replicas.getPartition(logstore.TopicPartition{Topic: "t", Partition: i})
					if err == nil && p.LeaderEpoch() < 0 {
						t.Errorf("partition %d published before its state", i)
					}
					if p, err := h.replicas.leaderPartition(logstore.TopicPartition{Topic: "t", Partition: i}); err == nil {
						_ = p.HighWatermark()
						_ = p.ISR()
					}
				}
			}
		}()
	}
	for epoch := int32(0); epoch < 3; epoch++ {
		var states []kmsg.LeaderAndISRRequestTopicPartition
		for i := int32(0); i < n; i++ {
			states = append(states, leaderAndISRState("t", i, 1+epoch%2, epoch, 1))
		}
		for tp, c := range h.replicas.becomeLeaderOrFollower(0, states, nil) {
			if c != 0 {
				t.Errorf("%s: code %d", tp, c)
			}
		}
	}
	close(stop)
	wg.Wait()
	if got := h.replicas.partitionCount(); got != n {
		t.Fatalf("%d partitions", got)
	}
}

// TestBecomeLeaderOrFollowerReadsEachTopicConfigOnce checks that one
// LeaderAndIsr request creating many partitions looks each topic's config
// up once: the lookup may read ZooKeeper.
func TestBecomeLeaderOrFollowerReadsEachTopicConfigOnce(t *testing.T) {
	h, _ := newTestReplicaHandlers(t)
	lookups := map[string]int{}
	h.replicas.logConfig = func(topic string) logstore.LogConfig {
		lookups[topic]++
		return logstore.DefaultLogConfig()
	}
	var states []kmsg.LeaderAndISRRequestTopicPartition
	for _, topic := range []string{"orders", "payments"} {
		for p := range int32(20) {
			states = append(states, leaderAndISRState(topic, p, 1, 0, 1))
		}
	}
	codes := h.replicas.becomeLeaderOrFollower(0, states, nil)
	for tp, code := range codes {
		if code != 0 {
			t.Fatalf("%s: code %d", tp, code)
		}
	}
	if len(codes) != 40 || lookups["orders"] != 1 || lookups["payments"] != 1 {
		t.Fatalf("%d partitions applied, config lookups %v; want 40 and one per topic", len(codes), lookups)
	}
}

// TestBecomeLeaderOrFollowerManyPartitions: a request with many partitions,
// applied concurrently, answers and applies each one as one at a time
// would, and tells the group coordinator of __consumer_offsets changes in
// request order.
func TestBecomeLeaderOrFollowerManyPartitions(t *testing.T) {
	h, _ := newTestReplicaHandlers(t)
	groups := &fakeGroups{}
	h.replicas.offsetsLeadership = groups
	// Hosted before the request: orders-0 at epoch 5, which the request
	// repeats (stale).
	if c := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{leaderAndISRState("orders", 0, 1, 5, 1)}, nil); c[logstore.TopicPartition{Topic: "orders"}] != 0 {
		t.Fatalf("first request: %v", c)
	}
	var states []kmsg.LeaderAndISRRequestTopicPartition
	var wantEvents []string
	for p := range int32(3 * leaderAndISRParallelism) {
		leader := int32(1 + p%2) // even partitions led here, odd by broker 2
		states = append(states, leaderAndISRState("orders", p, leader, 5, 1, 2))
		states = append(states, leaderAndISRState(groupMetadataTopic, p, leader, 7, 1, 2))
		if leader == 1 {
			wantEvents = append(wantEvents, fmt.Sprintf("elect %d@7", p))
		} else {
			wantEvents = append(wantEvents, fmt.Sprintf("resign %d@7", p))
		}
	}
	foreign := leaderAndISRState("other", 0, 2, 1)
	foreign.Replicas = []int32{2, 3}
	states = append(states, foreign)

	codes := h.replicas.becomeLeaderOrFollower(0, states, map[int32]string{2: "127.0.0.1:1"})
	if len(codes) != len(states) {
		t.Fatalf("%d codes for %d states", len(codes), len(states))
	}
	for _, st := range states {
		tp := logstore.TopicPartition{Topic: st.Topic, Partition: st.Partition}
		want := int16(0)
		switch {
		case tp.Topic == "orders" && tp.Partition == 0:
			want = kerr.StaleControllerEpoch.Code
		case tp.Topic == "other":
			want = kerr.UnknownTopicOrPartition.Code
		}
		if codes[tp] != want {
			t.Errorf("%s: code %d, want %d", tp, codes[tp], want)
		}
		if want != 0 {
			continue
		}
		p, err := h.replicas.getPartition(tp)
		if err != nil {
			t.Fatalf("%s not hosted: %v", tp, err)
		}
		if p.Leader() != st.Leader || p.LeaderEpoch() != st.LeaderEpoch {
			t.Errorf("%s: leader %d epoch %d, want %d and %d", tp, p.Leader(), p.LeaderEpoch(), st.Leader, st.LeaderEpoch)
		}
	}
	if got := groups.leadership(); !slices.Equal(got, wantEvents) {
		t.Fatalf("coordinator told %v\nwant %v", got, wantEvents)
	}
}

// TestForEachPartitionGroup: different partitions are applied at the same
// time, up to the bound, and states of one partition one after the other
// in request order.
func TestForEachPartitionGroup(t *testing.T) {
	const parallelism = 4
	var states []kmsg.LeaderAndISRRequestTopicPartition
	for p := range int32(parallelism) {
		states = append(states, leaderAndISRState("t", p, 1, 1))
	}
	// Partition 0 again, twice: after the first one, in order.
	states = append(states, leaderAndISRState("t", 0, 1, 2), leaderAndISRState("t", 0, 1, 3))

	var mu sync.Mutex
	var running, most int
	all := make(chan struct{})
	var epochsOf0 []int32
	forEachPartitionGroup(states, parallelism, func(i int) {
		mu.Lock()
		running++
		most = max(most, running)
		if running == parallelism {
			close(all)
		}
		if states[i].Partition == 0 {
			epochsOf0 = append(epochsOf0, states[i].LeaderEpoch)
		}
		mu.Unlock()
		if states[i].LeaderEpoch == 1 {
			// Each first state waits until every partition is being
			// applied: this returns only if they run concurrently.
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				t.Errorf("state %d: the other partitions were not applied concurrently", i)
			}
		}
		mu.Lock()
		running--
		mu.Unlock()
	})
	if most != parallelism {
		t.Fatalf("at most %d applied at once, want %d", most, parallelism)
	}
	if !slices.Equal(epochsOf0, []int32{1, 2, 3}) {
		t.Fatalf("partition 0's states applied as epochs %v, want 1, 2, 3 in order", epochsOf0)
	}
}
