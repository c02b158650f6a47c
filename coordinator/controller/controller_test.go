package controller

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) { os.Exit(zktest.RunMain(m)) }

// recordingSender answers every control request and remembers, per target
// broker, the live broker ids of the last UpdateMetadata it got, the
// partition states UpdateMetadata requests left in its cache (applied
// incrementally, as a broker's metadata cache does) and the last
// LeaderAndIsr state of each partition it was sent.
type recordingSender struct {
	mu   sync.Mutex
	last map[int32][]int32 // target broker -> live broker ids
	from map[int32]int32   // target broker -> controller id of the last request
	um   map[int32]map[zkutil.TopicPartition]kmsg.UpdateMetadataRequestTopicPartition
	lai  map[int32]map[zkutil.TopicPartition]kmsg.LeaderAndISRRequestTopicPartition
	// laiLeaders: target broker -> live leader ids of its last LeaderAndIsr
	laiLeaders map[int32][]int32
	// stops: target broker -> the StopReplica requests it was sent
	stops map[int32][]*kmsg.StopReplicaRequest
	// refuseStop, if set, gives the error code a target answers a
	// StopReplica with (0: NONE) for every partition.
	refuseStop func(target int32, req *kmsg.StopReplicaRequest) int16
	// sent: target broker -> every request it was sent, in order
	sent map[int32][]kmsg.Request
}

func newRecordingSender() *recordingSender {
	return &recordingSender{
		last: map[int32][]int32{}, from: map[int32]int32{},
		um:         map[int32]map[zkutil.TopicPartition]kmsg.UpdateMetadataRequestTopicPartition{},
		lai:        map[int32]map[zkutil.TopicPartition]kmsg.LeaderAndISRRequestTopicPartition{},
		laiLeaders: map[int32][]int32{},
		stops:      map[int32][]*kmsg.StopReplicaRequest{},
		sent:       map[int32][]kmsg.Request{},
	}
}

// stopped reports whether target was sent a StopReplica deleting tp.
func (s *recordingSender) stopped(target int32, tp zkutil.TopicPartition) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.stops[target] {
		for _, rt := range r.Topics {
			for _, ps := range rt.PartitionStates {
				if rt.Topic == tp.Topic && ps.Partition == tp.Partition && ps.Delete {
					return true
				}
			}
		}
	}
	return false
}

// stopRequests lists the StopReplica requests target was sent.
func (s *recordingSender) stopRequests(target int32) []*kmsg.StopReplicaRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stops[target])
}

func (s *recordingSender) Send(_ context.Context, broker zkutil.BrokerRegistration, req kmsg.Request) (kmsg.Response, error) {
	target := broker.Info.ID
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[target] = append(s.sent[target], req)
	switch r := req.(type) {
	case *kmsg.UpdateMetadataRequest:
		var ids []int32
		for _, b := range r.LiveBrokers {
			ids = append(ids, b.ID)
		}
		s.last[target] = ids
		s.from[target] = r.ControllerID
		if s.um[target] == nil {
			s.um[target] = map[zkutil.TopicPartition]kmsg.UpdateMetadataRequestTopicPartition{}
		}
		for _, ts := range r.TopicStates {
			for _, ps := range ts.PartitionStates {
				tp := zkutil.TopicPartition{Topic: ts.Topic, Partition: ps.Partition}
				if ps.Leader == -2 {
					delete(s.um[target], tp)
				} else {
					s.um[target][tp] = ps
				}
			}
		}
	case *kmsg.LeaderAndISRRequest:
		s.from[target] = r.ControllerID
		if s.lai[target] == nil {
			s.lai[target] = map[zkutil.TopicPartition]kmsg.LeaderAndISRRequestTopicPartition{}
		}
		for _, ts := range r.TopicStates {
			for _, ps := range ts.PartitionStates {
				s.lai[target][zkutil.TopicPartition{Topic: ts.Topic, Partition: ps.Partition}] = ps
			}
		}
		s.laiLeaders[target] = nil
		for _, l := range r.LiveLeaders {
			s.laiLeaders[target] = append(s.laiLeaders[target], l.BrokerID)
		}
	case *kmsg.StopReplicaRequest:
		s.stops[target] = append(s.stops[target], r)
		var code int16
		if s.refuseStop != nil {
			code = s.refuseStop(target, r)
		}
		resp := r.ResponseKind().(*kmsg.StopReplicaResponse)
		for _, rt := range r.Topics {
			for _, ps := range rt.PartitionStates {
				p := kmsg.NewStopReplicaResponsePartition()
				p.Topic, p.Partition, p.ErrorCode = rt.Topic, ps.Partition, code
				resp.Partitions = append(resp.Partitions, p)
			}
		}
		return resp, nil
	}
	return req.ResponseKind(), nil
}

// requests lists the requests target was sent, in order.
func (s *recordingSender) requests(target int32) []kmsg.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent[target])
}

func (s *recordingSender) lastSeen(target int32) ([]int32, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[target], s.from[target]
}

// metadataOf is target's cached UpdateMetadata state of tp.
func (s *recordingSender) metadataOf(target int32, tp zkutil.TopicPartition) (kmsg.UpdateMetadataRequestTopicPartition, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.um[target][tp]
	return ps, ok
}

// leaderAndISROf is the last LeaderAndIsr state of tp target was sent.
func (s *recordingSender) leaderAndISROf(target int32, tp zkutil.TopicPartition) (kmsg.LeaderAndISRRequestTopicPartition, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.lai[target][tp]
	return ps, ok
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
}

type member struct {
	id     int32
	zk     *zkutil.Client
	ctrl   *Controller
	cancel context.CancelFunc
	done   chan struct{}
}

// startMember connects a ZooKeeper session, registers broker id in it and
// runs a controller candidate with Kafka's defaults (delete.topic.enable).
func startMember(t *testing.T, connect string, id int32, sender Sender) *member {
	t.Helper()
	return startMemberWith(t, connect, id, sender, func(*Config) {})
}

// startMemberWith is startMember with the controller's Config adjusted by
// configure.
func startMemberWith(t *testing.T, connect string, id int32, sender Sender, configure func(*Config)) *member {
	t.Helper()
	zc, err := conf.ParseZooKeeperConnect(connect)
	if err != nil {
		t.Fatal(err)
	}
	client, err := zkutil.Connect(context.Background(), zkutil.Config{ZooKeeper: zc, SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.CreateTopLevelPaths(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RegisterBroker(context.Background(), zkutil.BrokerInfo{
		ID:        id,
		Endpoints: []conf.Listener{{Name: "PLAINTEXT", SecurityProtocol: conf.Plaintext, Host: "127.0.0.1", Port: 9000 + int(id)}},
		JMXPort:   -1,
	}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{BrokerID: id, ZK: client, Sender: sender, RetryBackoff: 50 * time.Millisecond, DeleteTopicEnable: true}
	configure(&cfg)
	ctrl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{id: id, zk: client, ctrl: ctrl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		ctrl.Run(ctx)
	}()
	t.Cleanup(m.stop)
	return m
}

// stop ends the candidate and its session (its broker znode and, if it led,
// /controller go with it).
func (m *member) stop() {
	m.cancel()
	<-m.done
	m.zk.Close()
}

func TestElectionFailoverAndBrokerChanges(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	m2 := startMember(t, connect, 2, sender)

	var leader, other *member
	eventually(t, "one controller", func() bool {
		l1, _ := m1.ctrl.IsController()
		l2, _ := m2.ctrl.IsController()
		switch {
		case l1 && !l2:
			leader, other = m1, m2
		case l2 && !l1:
			leader, other = m2, m1
		default:
			return false
		}
		return other.ctrl.ActiveController() == leader.id
	})
	_, firstEpoch := leader.ctrl.IsController()
	eventually(t, "both brokers told of both", func() bool {
		a, from1 := sender.lastSeen(1)
		b, from2 := sender.lastSeen(2)
		return slices.Equal(a, []int32{1, 2}) && slices.Equal(b, []int32{1, 2}) && from1 == leader.id && from2 == leader.id
	})

	m3 := startMember(t, connect, 3, sender)
	eventually(t, "a joining broker announced to all", func() bool {
		for _, target := range []int32{1, 2, 3} {
			if ids, _ := sender.lastSeen(target); !slices.Equal(ids, []int32{1, 2, 3}) {
				return false
			}
		}
		return true
	})

	leader.stop()
	eventually(t, "a new controller with a higher epoch", func() bool {
		for _, m := range []*member{other, m3} {
			if ok, epoch := m.ctrl.IsController(); ok && epoch > firstEpoch {
				return true
			}
		}
		return false
	})
	survivors := []int32{other.id, m3.id}
	slices.Sort(survivors)
	eventually(t, "the dead broker dropped from the survivors' metadata", func() bool {
		for _, target := range survivors {
			if ids, _ := sender.lastSeen(target); !slices.Equal(ids, survivors) {
				return false
			}
		}
		return true
	})
}

func TestControllerResignsWhenItsSessionExpires(t *testing.T) {
	zk := zktest.Shared(t)
	connect := zk.Chroot(t)
	m := startMember(t, connect, 1, newRecordingSender())
	eventually(t, "controller", func() bool { ok, _ := m.ctrl.IsController(); return ok })
	_, epoch := m.ctrl.IsController()
	if err := zk.ExpireSession(context.Background(), m.zk.SessionID()); err != nil {
		t.Fatal(err)
	}
	// The lone candidate resigns, then wins again in its new session (its
	// broker registration is gone; the server re-registers in real life).
	eventually(t, "re-elected with a new epoch", func() bool {
		ok, e := m.ctrl.IsController()
		return ok && e > epoch
	})
}

// partitionSteps summarises the LeaderAndIsr and UpdateMetadata requests
// of reqs that carry partition p0 or p1 of topic at leader epoch epoch, in
// order: "LeaderAndISR p0=true p1=false" and the like.
func partitionSteps(reqs []kmsg.Request, topic string, epoch, p0, p1 int32) []string {
	var steps []string
	for _, req := range reqs {
		var has0, has1 bool
		see := func(tp string, partition, leaderEpoch int32) {
			has0 = has0 || tp == topic && partition == p0 && leaderEpoch == epoch
			has1 = has1 || tp == topic && partition == p1 && leaderEpoch == epoch
		}
		switch r := req.(type) {
		case *kmsg.LeaderAndISRRequest:
			for _, ts := range r.TopicStates {
				for _, ps := range ts.PartitionStates {
					see(ts.Topic, ps.Partition, ps.LeaderEpoch)
				}
			}
		case *kmsg.UpdateMetadataRequest:
			for _, ts := range r.TopicStates {
				for _, ps := range ts.PartitionStates {
					see(ts.Topic, ps.Partition, ps.LeaderEpoch)
				}
			}
		}
		if has0 || has1 {
			steps = append(steps, fmt.Sprintf("%s p0=%v p1=%v", kmsg.Key(req.Key()).Name(), has0, has1))
		}
	}
	return steps
}

// TestLeaderMovesGoFirst checks that when a broker dies, and when the
// controller dies (the new controller's start), the partitions whose
// leader moved reach a survivor in a LeaderAndIsr and an UpdateMetadata of
// their own, before the partitions whose ISR only shrank (Kafka's
// onBrokerFailure order).
func TestLeaderMovesGoFirst(t *testing.T) {
	for _, tt := range []struct {
		name           string
		controllerDies bool
	}{
		{name: "broker failure"},
		{name: "controller failover", controllerDies: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			members, ctl, sender := threeMembers(t)
			rest := others(ctl.id, members...)
			a, b, c := rest[0], rest[1], ctl.id // a dies
			if tt.controllerDies {
				a, b, c = ctl.id, rest[0], rest[1]
			}
			tp := func(p int32) zkutil.TopicPartition { return zkutil.TopicPartition{Topic: "t", Partition: p} }
			if err := ctl.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{
				TopicID: zkutil.NewUUID(),
				Partitions: map[int32][]int32{
					0: {a, b, c}, // a leads: leadership moves to b
					1: {b, a, c}, // a follows: it leaves the ISR
				},
			}); err != nil {
				t.Fatal(err)
			}
			for p := int32(0); p < 2; p++ {
				stateIs(t, ctl.zk, tp(p), "states", func(s zkutil.PartitionState) bool { return len(s.ISR) == 3 })
			}
			memberByID(members, a).stop()
			want := []string{
				"LeaderAndISR p0=true p1=false", "UpdateMetadata p0=true p1=false",
				"LeaderAndISR p0=false p1=true", "UpdateMetadata p0=true p1=true",
			}
			var steps []string
			eventually(t, "both partitions' new states in b's metadata", func() bool {
				steps = partitionSteps(sender.requests(b), "t", 1, 0, 1)
				return slices.ContainsFunc(steps, func(s string) bool {
					return strings.HasPrefix(s, "UpdateMetadata") && strings.HasSuffix(s, "p1=true")
				})
			})
			if len(steps) < len(want) || !slices.Equal(steps[:len(want)], want) {
				t.Fatalf("b's requests after a died:\n%s\nwant\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// stallingSender holds the LeaderAndIsr requests to one broker until
// release closes (or the send is cancelled), and passes everything else
// to a recordingSender.
type stallingSender struct {
	*recordingSender
	stalled int32
	release chan struct{}
}

func (s *stallingSender) Send(ctx context.Context, broker zkutil.BrokerRegistration, req kmsg.Request) (kmsg.Response, error) {
	if _, ok := req.(*kmsg.LeaderAndISRRequest); ok && broker.Info.ID == s.stalled {
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.recordingSender.Send(ctx, broker, req)
}

// TestSlowBrokerDelaysNoOther checks that the requests to one broker do
// not wait for another's: with the LeaderAndIsr to one broker stalled, the
// other brokers get theirs and the UpdateMetadata for a new topic.
func TestSlowBrokerDelaysNoOther(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	const slow = 3
	sender := &stallingSender{recordingSender: newRecordingSender(), stalled: slow, release: make(chan struct{})}
	defer close(sender.release)
	members := []*member{startMember(t, connect, 1, sender), startMember(t, connect, 2, sender), startMember(t, connect, slow, sender)}
	ctl := controllerOf(t, members...)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(ctl.id); return len(ids) == 3 })
	tp := zkutil.TopicPartition{Topic: "t", Partition: 0}
	if err := ctl.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{
		TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {1, 2, slow}},
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the others told of the new partition", func() bool {
		for _, id := range []int32{1, 2} {
			if _, ok := sender.leaderAndISROf(id, tp); !ok {
				return false
			}
			if um, ok := sender.metadataOf(id, tp); !ok || um.Leader != 1 {
				return false
			}
		}
		return true
	})
	if _, ok := sender.leaderAndISROf(slow, tp); ok {
		t.Fatal("the stalled broker got its LeaderAndIsr")
	}
	if _, ok := sender.metadataOf(slow, tp); ok {
		t.Fatal("the stalled broker's UpdateMetadata overtook its LeaderAndIsr")
	}
}
