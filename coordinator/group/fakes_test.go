package group

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock is a Clock advanced by hand; due callbacks run on the
// advancing goroutine, in deadline order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	at   time.Time
	seq  int
	f    func()
	done bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_600_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.done {
		return false
	}
	t.done = true
	t.c.timers = slices.DeleteFunc(t.c.timers, func(o *fakeTimer) bool { return o == t })
	return true
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		c.now = next.at
		next.done = true
		c.timers = slices.DeleteFunc(c.timers, func(o *fakeTimer) bool { return o == next })
		c.mu.Unlock()
		next.f()
	}
}

// fakeLog is an in-memory Log. appendErr, when set, decides each append's
// error (nothing is written on error); hold parks appends until release.
type fakeLog struct {
	mu        sync.Mutex
	recs      map[int32][]Record
	appendErr func(p int32, recs []Record) error
	hold      bool
	held      []func()
	readGate  chan struct{} // Read waits on it when set
}

func newFakeLog() *fakeLog { return &fakeLog{recs: map[int32][]Record{}} }

func (l *fakeLog) Append(p int32, recs []Record, done func(error)) {
	l.mu.Lock()
	fn := func() {
		l.mu.Lock()
		var err error
		if l.appendErr != nil {
			err = l.appendErr(p, recs)
		}
		if err == nil {
			for _, r := range recs {
				r.Offset = int64(len(l.recs[p]))
				l.recs[p] = append(l.recs[p], r)
			}
		}
		l.mu.Unlock()
		done(err)
	}
	if l.hold {
		l.held = append(l.held, fn)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	fn()
}

func (l *fakeLog) release() {
	l.mu.Lock()
	held := l.held
	l.held = nil
	l.hold = false
	l.mu.Unlock()
	for _, f := range held {
		f()
	}
}

func (l *fakeLog) Read(ctx context.Context, p int32, fn func(Record) error) error {
	l.mu.Lock()
	gate := l.readGate
	recs := slices.Clone(l.recs[p])
	l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (l *fakeLog) records(p int32) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs[p])
}

const testGroup = "g"

func testConfig(clock Clock) Config {
	return Config{
		BrokerID:                      1,
		OffsetsTopicPartitions:        4,
		MinSessionTimeout:             time.Second,
		MaxSessionTimeout:             time.Minute,
		InitialRebalanceDelay:         3 * time.Second,
		MaxGroupSize:                  10,
		OffsetMetadataMaxBytes:        16,
		OffsetsRetention:              time.Hour,
		OffsetsRetentionCheckInterval: time.Minute,
		Clock:                         clock,
	}
}

type env struct {
	t     *testing.T
	c     *Coordinator
	log   *fakeLog
	clock *fakeClock
}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	clock := newFakeClock()
	cfg := testConfig(clock)
	if mod != nil {
		mod(&cfg)
	}
	e := &env{t: t, log: newFakeLog(), clock: clock}
	e.c = New(cfg, e.log, quietLogger())
	t.Cleanup(e.c.Close)
	e.elect(e.c.PartitionFor(testGroup))
	return e
}

// elect makes the coordinator lead p and waits for the load.
func (e *env) elect(p int32) {
	e.t.Helper()
	e.c.OnElection(p, 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		part := (*e.c.parts.Load())[p]
		part.mu.Lock()
		loaded := part.loaded
		part.mu.Unlock()
		if loaded {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("partition %d not loaded", p)
		}
		time.Sleep(time.Millisecond)
	}
}

type pendingJoin chan *kmsg.JoinGroupResponse

func (p pendingJoin) ready() *kmsg.JoinGroupResponse {
	select {
	case r := <-p:
		return r
	default:
		return nil
	}
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.ConsumerMemberMetadata{Version: 0, Topics: topics}
	return m.AppendTo(nil)
}

func joinReq(version int16, memberID string, instance *string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = version
	r.Group = testGroup
	r.SessionTimeoutMillis = 10_000
	r.RebalanceTimeoutMillis = 30_000
	r.MemberID = memberID
	r.InstanceID = instance
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t1")}}
	return r
}

func (e *env) join(r *kmsg.JoinGroupRequest) pendingJoin {
	ch := make(pendingJoin, 1)
	e.c.JoinGroup(r, ClientInfo{ClientID: "cli", Host: "/127.0.0.1"}, func(resp *kmsg.JoinGroupResponse) {
		select {
		case ch <- resp:
		default:
			e.t.Errorf("JoinGroup answered twice")
		}
	})
	return ch
}

// joinNew joins a dynamic member with the KIP-394 round trip (v5) and
// returns its parked second join.
func (e *env) joinNew() (string, pendingJoin) {
	e.t.Helper()
	first := e.join(joinReq(5, "", nil)).ready()
	if first == nil || first.ErrorCode != kerr.MemberIDRequired.Code || first.MemberID == "" {
		e.t.Fatalf("first join: %+v, want MEMBER_ID_REQUIRED with an id", first)
	}
	return first.MemberID, e.join(joinReq(5, first.MemberID, nil))
}

type pendingSync chan *kmsg.SyncGroupResponse

func (p pendingSync) ready() *kmsg.SyncGroupResponse {
	select {
	case r := <-p:
		return r
	default:
		return nil
	}
}

func (e *env) sync(member string, gen int32, assign map[string]string) pendingSync {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 3
	r.Group = testGroup
	r.Generation = gen
	r.MemberID = member
	for id, a := range assign {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(a)})
	}
	ch := make(pendingSync, 1)
	e.c.SyncGroup(r, func(resp *kmsg.SyncGroupResponse) { ch <- resp })
	return ch
}

func (e *env) heartbeat(member string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group = testGroup
	r.Generation = gen
	r.MemberID = member
	return e.c.Heartbeat(r).ErrorCode
}

func (e *env) describe() kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 5
	r.Groups = []string{testGroup}
	return e.c.DescribeGroups(r).Groups[0]
}

func (e *env) commit(member string, gen int32, offsets map[string]int64, metadata string) map[string]int16 {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 7
	r.Group = testGroup
	r.Generation = gen
	r.MemberID = member
	for topic, off := range offsets {
		md := metadata
		r.Topics = append(r.Topics, kmsg.OffsetCommitRequestTopic{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: off, LeaderEpoch: -1, Metadata: &md}}})
	}
	ch := make(chan *kmsg.OffsetCommitResponse, 1)
	e.c.OffsetCommit(r, func(resp *kmsg.OffsetCommitResponse) { ch <- resp })
	select {
	case resp := <-ch:
		out := map[string]int16{}
		for _, t := range resp.Topics {
			out[t.Topic] = t.Partitions[0].ErrorCode
		}
		return out
	default:
		return nil // still waiting for the log
	}
}

func (e *env) fetch(topics ...string) map[string]int64 {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = testGroup
	if topics != nil {
		for _, t := range topics {
			r.Topics = append(r.Topics, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: []int32{0}})
		}
	}
	resp := e.c.OffsetFetch(r)
	if resp.ErrorCode != 0 {
		e.t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[string]int64{}
	for _, t := range resp.Topics {
		out[t.Topic] = t.Partitions[0].Offset
	}
	return out
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: %s, want %s", what, errName(got), errName(want))
	}
}

func quietLogger() *logrus.Entry {
	lg := logrus.New()
	lg.SetLevel(logrus.ErrorLevel)
	return logrus.NewEntry(lg)
}
