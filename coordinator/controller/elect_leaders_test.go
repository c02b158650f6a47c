package controller

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
)

// connectZK opens a session that is no broker, for writing the cluster's
// state before or under the controllers.
func connectZK(t *testing.T, connect string) *zkutil.Client {
	t.Helper()
	zc, err := conf.ParseZooKeeperConnect(connect)
	if err != nil {
		t.Fatal(err)
	}
	client, err := zkutil.Connect(context.Background(), zkutil.Config{ZooKeeper: zc, SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	if err := client.CreateTopLevelPaths(context.Background()); err != nil {
		t.Fatal(err)
	}
	return client
}

// presetState is one partition of a topic written with its state before
// any controller runs.
type presetState struct {
	replicas []int32
	leader   int32
	isr      []int32
}

// createTopicWithStates writes a topic and its partitions' states as a
// previous controller would have left them.
func createTopicWithStates(t *testing.T, zc *zkutil.Client, topic string, parts map[int32]presetState) {
	t.Helper()
	ctx := context.Background()
	a := zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{}}
	var states []zkutil.PartitionStateWrite
	for p, s := range parts {
		a.Partitions[p] = s.replicas
		states = append(states, zkutil.PartitionStateWrite{
			TopicPartition: zkutil.TopicPartition{Topic: topic, Partition: p},
			State:          zkutil.PartitionState{Leader: s.leader, LeaderEpoch: 3, ISR: s.isr, ControllerEpoch: 1},
		})
	}
	if err := zc.CreateTopic(ctx, topic, a); err != nil {
		t.Fatal(err)
	}
	for _, r := range zc.CreatePartitionStates(ctx, zkutil.NoFence, states) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
}

// holdController takes /controller for a broker that does not exist, so
// that no term starts before every broker of ids is registered; the
// returned release waits for them, then lets the members campaign.
func holdController(t *testing.T, admin *zkutil.Client, ids ...int32) (release func()) {
	t.Helper()
	if _, err := admin.RegisterController(context.Background(), 99); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		eventually(t, "every broker registered", func() bool {
			got, err := admin.BrokerIDs(context.Background())
			return err == nil && slices.Equal(got, ids)
		})
		if err := admin.DeleteController(context.Background(), zkutil.NoFence); err != nil {
			t.Fatal(err)
		}
	}
}

func tpOf(topic string, p int32) zkutil.TopicPartition {
	return zkutil.TopicPartition{Topic: topic, Partition: p}
}

// TestPreferredReplicaElectionZnode: a request left in ZooKeeper before the
// term is resumed at term start, a request written during the term is
// carried out, and the znode is deleted after each; partitions whose
// preferred replica leads already, cannot lead, or do not exist are left.
func TestPreferredReplicaElectionZnode(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	admin := connectZK(t, connect)
	ctx := context.Background()
	createTopicWithStates(t, admin, "t", map[int32]presetState{
		0: {replicas: []int32{1, 2, 3}, leader: 2, isr: []int32{1, 2, 3}}, // moves to 1
		1: {replicas: []int32{2, 3, 1}, leader: 2, isr: []int32{2, 3, 1}}, // leads already
		2: {replicas: []int32{3, 1, 2}, leader: 1, isr: []int32{1, 2}},    // 3 not in the ISR
		3: {replicas: []int32{1, 3, 2}, leader: 3, isr: []int32{1, 3, 2}}, // asked later
	})
	if err := admin.CreatePreferredReplicaElection(ctx, []zkutil.TopicPartition{tpOf("t", 0), tpOf("t", 1), tpOf("t", 2), tpOf("nope", 0)}); err != nil {
		t.Fatal(err)
	}
	release := holdController(t, admin, 1, 2, 3)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	m2 := startMember(t, connect, 2, sender)
	m3 := startMember(t, connect, 3, sender)
	release()
	controllerOf(t, m1, m2, m3)

	s0 := stateIs(t, admin, tpOf("t", 0), "t-0 led by its preferred replica", func(s zkutil.PartitionState) bool { return s.Leader == 1 })
	if s0.LeaderEpoch != 4 || !slices.Equal(s0.ISR, []int32{1, 2, 3}) {
		t.Errorf("t-0 state %+v, want leader epoch 4 and the ISR unchanged", s0)
	}
	eventually(t, "the request deleted", func() bool {
		_, ok, err := admin.PreferredReplicaElection(ctx)
		return err == nil && !ok
	})
	eventually(t, "LeaderAndIsr to the replicas and UpdateMetadata to all", func() bool {
		for _, b := range []int32{1, 2, 3} {
			lai, ok := sender.leaderAndISROf(b, tpOf("t", 0))
			um, ok2 := sender.metadataOf(b, tpOf("t", 0))
			if !ok || !ok2 || lai.Leader != 1 || lai.LeaderEpoch != 4 || um.Leader != 1 {
				return false
			}
		}
		return true
	})
	for _, p := range []int32{1, 2} {
		s, _, err := admin.PartitionState(ctx, tpOf("t", p))
		if err != nil || s.LeaderEpoch != 3 {
			t.Errorf("t-%d state %+v (%v), want it untouched", p, s, err)
		}
	}

	// A request written while the controller runs.
	if err := admin.CreatePreferredReplicaElection(ctx, []zkutil.TopicPartition{tpOf("t", 3)}); err != nil {
		t.Fatal(err)
	}
	stateIs(t, admin, tpOf("t", 3), "t-3 led by its preferred replica", func(s zkutil.PartitionState) bool { return s.Leader == 1 && s.LeaderEpoch == 4 })
	eventually(t, "the second request deleted", func() bool {
		_, ok, err := admin.PreferredReplicaElection(ctx)
		return err == nil && !ok
	})
}

// TestElectLeaders covers Controller.ElectLeaders' per partition outcomes,
// including a partition whose state changed under the controller (a
// version conflict re-read and decided again).
func TestElectLeaders(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	admin := connectZK(t, connect)
	ctx := context.Background()
	// Broker 4 and 5 never run.
	createTopicWithStates(t, admin, "t", map[int32]presetState{
		0: {replicas: []int32{1, 2, 3}, leader: 2, isr: []int32{1, 2, 3}},
		1: {replicas: []int32{2, 3, 1}, leader: 2, isr: []int32{2, 3, 1}},
		2: {replicas: []int32{3, 1, 2}, leader: 1, isr: []int32{1, 2}},
		3: {replicas: []int32{4, 2}, leader: 4, isr: []int32{4}},    // offline: ISR all dead
		4: {replicas: []int32{4, 5}, leader: 4, isr: []int32{4}},    // offline: every replica dead
		5: {replicas: []int32{1, 2}, leader: 2, isr: []int32{2, 1}}, // changed under the controller below
	})
	release := holdController(t, admin, 1, 2)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	m2 := startMember(t, connect, 2, sender)
	release()
	leader := controllerOf(t, m1, m2)
	other := m1
	if leader == m1 {
		other = m2
	}
	stateIs(t, admin, tpOf("t", 3), "t-3 offline", func(s zkutil.PartitionState) bool { return s.Leader == NoLeader })

	if _, err := other.ctrl.ElectLeaders(ctx, ElectPreferred, []zkutil.TopicPartition{tpOf("t", 0)}, false); !errors.Is(err, kerr.NotController) {
		t.Fatalf("ElectLeaders on a non-controller: %v, want NOT_CONTROLLER", err)
	}

	// t-5 changes behind the controller's back (its leader epoch and
	// ISR order): the controller's write conflicts, it re-reads and
	// elects 1 on top of what it read.
	s5, v5, err := admin.PartitionState(ctx, tpOf("t", 5))
	if err != nil {
		t.Fatal(err)
	}
	s5.ISR, s5.LeaderEpoch = []int32{1, 2}, 9
	if r := admin.SetPartitionStates(ctx, zkutil.NoFence, []zkutil.PartitionStateWrite{{TopicPartition: tpOf("t", 5), State: s5, ZkVersion: v5}}); r[0].Err != nil {
		t.Fatal(r[0].Err)
	}

	for _, tc := range []struct {
		name string
		typ  ElectionType
		tps  []zkutil.TopicPartition
		want map[zkutil.TopicPartition]error // nil: elected
		lead map[zkutil.TopicPartition]int32
	}{
		{"preferred", ElectPreferred,
			[]zkutil.TopicPartition{tpOf("t", 0), tpOf("t", 0), tpOf("t", 1), tpOf("t", 2), tpOf("t", 5), tpOf("t", 9), tpOf("nope", 0)},
			map[zkutil.TopicPartition]error{tpOf("t", 0): nil, tpOf("t", 1): kerr.ElectionNotNeeded, tpOf("t", 2): kerr.PreferredLeaderNotAvailable,
				tpOf("t", 5): nil, tpOf("t", 9): kerr.UnknownTopicOrPartition, tpOf("nope", 0): kerr.UnknownTopicOrPartition},
			map[zkutil.TopicPartition]int32{tpOf("t", 0): 1, tpOf("t", 5): 1}},
		{"preferred again", ElectPreferred, []zkutil.TopicPartition{tpOf("t", 0)},
			map[zkutil.TopicPartition]error{tpOf("t", 0): kerr.ElectionNotNeeded}, nil},
		{"unclean", ElectUnclean, []zkutil.TopicPartition{tpOf("t", 1), tpOf("t", 3), tpOf("t", 4)},
			map[zkutil.TopicPartition]error{tpOf("t", 1): kerr.ElectionNotNeeded, tpOf("t", 3): nil, tpOf("t", 4): kerr.EligibleLeadersNotAvailable},
			map[zkutil.TopicPartition]int32{tpOf("t", 3): 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := leader.ctrl.ElectLeaders(ctx, tc.typ, tc.tps, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d results %v, want %d", len(got), got, len(tc.want))
			}
			for tp, want := range tc.want {
				r, ok := got[tp]
				if !ok || !errors.Is(r.Err, want) && !(want == nil && r.Err == nil) {
					t.Errorf("%s: %+v, want %v", tp, r, want)
				}
				if l, ok := tc.lead[tp]; ok && r.Leader != l {
					t.Errorf("%s: leader %d, want %d", tp, r.Leader, l)
				}
			}
		})
	}
	if s := stateIs(t, admin, tpOf("t", 3), "t-3 elected uncleanly", func(s zkutil.PartitionState) bool { return s.Leader == 2 }); !slices.Equal(s.ISR, []int32{2}) {
		t.Errorf("t-3 state %+v, want ISR [2]", s)
	}
	if s := stateIs(t, admin, tpOf("t", 5), "t-5 elected", func(s zkutil.PartitionState) bool { return s.Leader == 1 }); !slices.Equal(s.ISR, []int32{1, 2}) || s.LeaderEpoch != 10 {
		t.Errorf("t-5 state %+v, want the state re-read: ISR [1 2], leader epoch 10", s)
	}

	// All partitions: only t-2 (preferred not in ISR), t-3 (preferred 4
	// dead) and t-4 are not led by their preferred replica now.
	got, err := leader.ctrl.ElectLeaders(ctx, ElectPreferred, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 || !errors.Is(got[tpOf("t", 3)].Err, kerr.PreferredLeaderNotAvailable) || !errors.Is(got[tpOf("t", 0)].Err, kerr.ElectionNotNeeded) {
		t.Errorf("all partitions: %v", got)
	}
}

// TestAutoLeaderRebalance: with a short check interval the controller
// moves leadership back to a preferred replica that can take it.
func TestAutoLeaderRebalance(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	admin := connectZK(t, connect)
	createTopicWithStates(t, admin, "r", map[int32]presetState{
		0: {replicas: []int32{1, 2}, leader: 2, isr: []int32{1, 2}},
		1: {replicas: []int32{2, 1}, leader: 2, isr: []int32{2, 1}},
	})
	release := holdController(t, admin, 1, 2)
	sender := newRecordingSender()
	rebalance := func(c *Config) {
		c.AutoLeaderRebalance = RebalanceConfig{Enable: true, PerBrokerPercentage: 10, CheckInterval: 100 * time.Millisecond}
	}
	m1 := startMemberWith(t, connect, 1, sender, rebalance)
	m2 := startMemberWith(t, connect, 2, sender, rebalance)
	release()
	controllerOf(t, m1, m2)
	stateIs(t, admin, tpOf("r", 0), "r-0 back on broker 1", func(s zkutil.PartitionState) bool { return s.Leader == 1 && s.LeaderEpoch == 4 })
	if s, _, err := admin.PartitionState(context.Background(), tpOf("r", 1)); err != nil || s.LeaderEpoch != 3 {
		t.Errorf("r-1 state %+v (%v), want it untouched", s, err)
	}
}

// newTestTerm builds a term with no loop, for the pure decisions.
func newTestTerm(t *testing.T, cfg Config, alive ...int32) *term {
	t.Helper()
	cfg.ZK, cfg.Sender = fakeStore{}, newRecordingSender()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tm := &term{c: c, log: c.log, epoch: 7, brokers: map[int32]zkutil.BrokerRegistration{}, topics: map[string]*topic{}}
	for _, id := range alive {
		tm.brokers[id] = zkutil.BrokerRegistration{}
	}
	return tm
}

// fakeStore is a zkStore for tests that never reach ZooKeeper.
type fakeStore struct{ zkStore }

func (t *term) addPartition(topicName string, p int32, replicas []int32, leader int32, isr []int32) {
	top := t.topics[topicName]
	if top == nil {
		top = &topic{partitions: map[int32]*partition{}}
		t.topics[topicName] = top
	}
	top.partitions[p] = &partition{replicas: replicas, hasState: true, state: zkutil.PartitionState{Leader: leader, ISR: isr}}
}

func TestImbalancedPartitions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		percent int
		alive   []int32
		want    []zkutil.TopicPartition
	}{
		// Broker 1 prefers 4 partitions and leads 2: ratio 0.5.
		{"above the limit", 10, []int32{1, 2, 3}, []zkutil.TopicPartition{tpOf("a", 1)}}, // a-2's preferred is not in the ISR
		{"at the limit", 50, []int32{1, 2, 3}, nil},
		{"preferred replica dead", 10, []int32{2, 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTestTerm(t, Config{AutoLeaderRebalance: RebalanceConfig{Enable: true, PerBrokerPercentage: tc.percent}}, tc.alive...)
			tm.addPartition("a", 0, []int32{1, 2}, 1, []int32{1, 2})
			tm.addPartition("a", 1, []int32{1, 2}, 2, []int32{1, 2})
			tm.addPartition("a", 2, []int32{1, 3}, 3, []int32{3})
			tm.addPartition("a", 3, []int32{1, 3}, 1, []int32{1, 3})
			tm.addPartition("b", 0, []int32{2, 1}, 2, []int32{2, 1})
			e := &elections{t: tm}
			if got := e.imbalanced(); !slices.Equal(got, tc.want) {
				t.Errorf("imbalanced: %v, want %v", got, tc.want)
			}
		})
	}
}

// configStore answers EntityConfig from a map and counts the reads.
type configStore struct {
	zkStore
	topics map[string]map[string]string
	err    error
	reads  *int
}

func (s configStore) EntityConfig(_ context.Context, _ zkutil.ConfigEntityType, name string) (map[string]string, error) {
	*s.reads++
	if s.err != nil {
		return nil, s.err
	}
	if c, ok := s.topics[name]; ok {
		return c, nil
	}
	return map[string]string{}, nil
}

func TestUncleanAllowedReadsTopicOverride(t *testing.T) {
	for _, tc := range []struct {
		name      string
		brokerDef bool
		override  map[string]string
		err       error
		isr       []int32 // broker 1 is alive, 2 is not; the leader is dead
		want      bool
		wantReads int
	}{
		{"topic enables", false, map[string]string{"unclean.leader.election.enable": "true"}, nil, []int32{2}, true, 1},
		{"topic disables", true, map[string]string{"unclean.leader.election.enable": "false"}, nil, []int32{2}, false, 1},
		{"no override", true, nil, nil, []int32{2}, true, 1},
		{"invalid override", false, map[string]string{"unclean.leader.election.enable": "maybe"}, nil, []int32{2}, false, 1},
		{"read fails", false, nil, errors.New("zk down"), []int32{2}, false, 1},
		{"live ISR member: not read", false, map[string]string{"unclean.leader.election.enable": "true"}, nil, []int32{2, 1}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads := 0
			tm := newTestTerm(t, Config{UncleanLeaderElection: tc.brokerDef}, 1)
			tm.c.cfg.ZK = configStore{topics: map[string]map[string]string{"t": tc.override}, err: tc.err, reads: &reads}
			tm.addPartition("t", 0, []int32{2, 1}, 2, tc.isr)
			if got := tm.uncleanAllowed(context.Background(), "t", tm.partition(tpOf("t", 0))); got != tc.want || reads != tc.wantReads {
				t.Errorf("uncleanAllowed = %v after %d reads, want %v after %d", got, reads, tc.want, tc.wantReads)
			}
			// With a memo, as reconcile keeps for one event, another
			// partition of the topic reads nothing more.
			tm.addPartition("t", 1, []int32{2, 1}, 2, tc.isr)
			reads = 0
			memo := map[string]bool{}
			for p := int32(0); p < 2; p++ {
				if got := tm.uncleanAllowedMemo(context.Background(), "t", tm.partition(tpOf("t", p)), memo); got != tc.want || reads != tc.wantReads {
					t.Errorf("partition %d with a memo: %v after %d reads, want %v after %d", p, got, reads, tc.want, tc.wantReads)
				}
			}
		})
	}
}
