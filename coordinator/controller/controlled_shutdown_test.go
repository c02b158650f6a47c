package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func controlledShutdownRequest(broker int32, epoch int64) *kmsg.ControlledShutdownRequest {
	req := kmsg.NewPtrControlledShutdownRequest()
	req.Version = 3
	req.BrokerID, req.BrokerEpoch = broker, epoch
	return req
}

func TestControlledShutdown(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	members := []*member{startMember(t, connect, 1, sender), startMember(t, connect, 2, sender), startMember(t, connect, 3, sender)}
	ctl := controllerOf(t, members...)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(ctl.id); return len(ids) == 3 })
	rest := others(ctl.id, members...)
	a, b, c := rest[0], rest[1], ctl.id // a shuts down
	tp := func(p int32) zkutil.TopicPartition { return zkutil.TopicPartition{Topic: "t", Partition: p} }
	if err := ctl.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{
		TopicID: zkutil.NewUUID(),
		Partitions: map[int32][]int32{
			0: {a, b, c}, // a leads: leadership moves to b
			1: {b, a, c}, // a follows: it leaves the ISR, gets StopReplica
			2: {a},       // one replica: nothing to do, not remaining
			3: {a, b},    // a leads, alone in the ISR: remains
		},
	}); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		stateIs(t, ctl.zk, tp(p), "states", func(zkutil.PartitionState) bool { return true })
	}
	epochA := brokerEpoch(t, ctl.zk, a)
	_, v3, _ := ctl.zk.PartitionState(context.Background(), tp(3))
	if resp, err := ctl.ctrl.AlterISR(context.Background(), alterISRRequest(a, epochA, tp(3), 0, v3, a)); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("shrinking p3's ISR to [a]: %+v %v", resp, err)
	}

	refusals := []struct {
		name string
		req  *kmsg.ControlledShutdownRequest
		want int16
	}{
		{name: "stale broker epoch", req: controlledShutdownRequest(a, epochA-1), want: kerr.StaleBrokerEpoch.Code},
		{name: "unregistered broker", req: controlledShutdownRequest(42, epochA), want: kerr.BrokerNotAvailable.Code},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ctl.ctrl.ControlledShutdown(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != tt.want || len(resp.PartitionsRemaining) != 0 {
				t.Fatalf("got %+v, want error %d", resp, tt.want)
			}
			s, _, _ := ctl.zk.PartitionState(context.Background(), tp(0))
			if s.Leader != a {
				t.Fatalf("refused, yet p0's leader moved: %+v", s)
			}
		})
	}
	if _, err := memberByID(members, a).ctrl.ControlledShutdown(context.Background(), controlledShutdownRequest(a, epochA)); !errors.Is(err, kerr.NotController) {
		t.Fatalf("ControlledShutdown at a non-controller: %v, want NOT_CONTROLLER", err)
	}

	resp, err := ctl.ctrl.ControlledShutdown(context.Background(), controlledShutdownRequest(a, epochA))
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ControlledShutdown: %+v %v", resp, err)
	}
	if len(resp.PartitionsRemaining) != 1 || resp.PartitionsRemaining[0].Topic != "t" || resp.PartitionsRemaining[0].Partition != 3 {
		t.Fatalf("remaining %+v, want only t-3", resp.PartitionsRemaining)
	}
	want := map[int32]zkutil.PartitionState{
		0: {Leader: b, LeaderEpoch: 1, ISR: []int32{b, c}},
		1: {Leader: b, LeaderEpoch: 1, ISR: []int32{b, c}},
		2: {Leader: a, LeaderEpoch: 0, ISR: []int32{a}},
		3: {Leader: a, LeaderEpoch: 0, ISR: []int32{a}},
	}
	for p, w := range want {
		s, _, err := ctl.zk.PartitionState(context.Background(), tp(p))
		if err != nil || s.Leader != w.Leader || s.LeaderEpoch != w.LeaderEpoch || !slices.Equal(s.ISR, w.ISR) {
			t.Fatalf("p%d state %+v %v, want %+v", p, s, err, w)
		}
	}
	eventually(t, "LeaderAndIsr for p0 at every replica, a included, and for p1 at the others", func() bool {
		for _, r := range []int32{a, b, c} {
			if lai, ok := sender.leaderAndISROf(r, tp(0)); !ok || lai.Leader != b || lai.LeaderEpoch != 1 {
				return false
			}
		}
		for _, r := range []int32{b, c} {
			if lai, ok := sender.leaderAndISROf(r, tp(1)); !ok || lai.LeaderEpoch != 1 || !slices.Equal(lai.ISR, []int32{b, c}) {
				return false
			}
		}
		um, ok := sender.metadataOf(c, tp(0))
		return ok && um.Leader == b
	})
	// Leadership first: b's first LeaderAndIsr and UpdateMetadata of the
	// shutdown carry p0 (moved to b) and not p1 (a left its ISR), which
	// come in later requests.
	eventually(t, "both steps' requests at b", func() bool {
		_, ok := sender.metadataOf(b, tp(1))
		um, _ := sender.metadataOf(b, tp(1))
		return ok && um.LeaderEpoch == 1
	})
	steps := partitionSteps(sender.requests(b), "t", 1, 0, 1)
	wantSteps := []string{
		"LeaderAndISR p0=true p1=false", "UpdateMetadata p0=true p1=false",
		"LeaderAndISR p0=false p1=true", "UpdateMetadata p0=false p1=true",
	}
	if !slices.Equal(steps, wantSteps) {
		t.Fatalf("b's requests of the shutdown:\n%s\nwant\n%s", strings.Join(steps, "\n"), strings.Join(wantSteps, "\n"))
	}
	if lai, _ := sender.leaderAndISROf(a, tp(1)); lai.LeaderEpoch == 1 {
		t.Fatalf("a, whose replica of p1 was stopped, was sent p1's LeaderAndIsr")
	}
	eventually(t, "StopReplica without delete for p1 at a", func() bool {
		for _, r := range sender.stopRequests(a) {
			for _, rt := range r.Topics {
				for _, ps := range rt.PartitionStates {
					if rt.Topic == "t" && ps.Partition == 1 && !ps.Delete && ps.LeaderEpoch == 1 {
						return len(rt.PartitionStates) == 1 // p1 only
					}
				}
			}
		}
		return false
	})

	// While it shuts down, a may not rejoin an ISR.
	_, v0, _ := ctl.zk.PartitionState(context.Background(), tp(0))
	r, err := ctl.ctrl.AlterISR(context.Background(), alterISRRequest(b, brokerEpoch(t, ctl.zk, b), tp(0), 1, v0, b, c, a))
	if err != nil || r.Topics[0].Partitions[0].ErrorCode != kerr.IneligibleReplica.Code {
		t.Fatalf("adding a shutting-down broker to the ISR: %+v %v, want INELIGIBLE_REPLICA", r, err)
	}
	// A second attempt changes nothing and still reports t-3.
	resp, err = ctl.ctrl.ControlledShutdown(context.Background(), controlledShutdownRequest(a, epochA))
	if err != nil || resp.ErrorCode != 0 || len(resp.PartitionsRemaining) != 1 {
		t.Fatalf("second ControlledShutdown: %+v %v", resp, err)
	}
	if s, _, _ := ctl.zk.PartitionState(context.Background(), tp(0)); s.LeaderEpoch != 1 {
		t.Fatalf("second attempt rewrote p0: %+v", s)
	}

	// Once a's registration goes, its shutdown is over: back, it may
	// rejoin ISRs.
	memberByID(members, a).stop()
	eventually(t, "a gone", func() bool { ids, _ := sender.lastSeen(c); return !slices.Contains(ids, a) })
	startMember(t, connect, a, sender)
	eventually(t, "a back", func() bool { ids, _ := sender.lastSeen(c); return slices.Contains(ids, a) })
	_, v0, _ = ctl.zk.PartitionState(context.Background(), tp(0))
	r, err = ctl.ctrl.AlterISR(context.Background(), alterISRRequest(b, brokerEpoch(t, ctl.zk, b), tp(0), 1, v0, b, c, a))
	if err != nil || r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("adding a restarted broker to the ISR: %+v %v", r, err)
	}
}

// stallingZK is a ZooKeeper client whose partition state writes, once
// stall is set, hang until their context ends, as with an unreachable
// ZooKeeper (zkutil retries until then); entered gets a value each time
// one starts hanging.
type stallingZK struct {
	*zkutil.Client
	stall   *atomic.Bool
	entered chan struct{}
}

func (z stallingZK) SetPartitionStates(ctx context.Context, f zkutil.Fence, updates []zkutil.PartitionStateWrite) []zkutil.PartitionStateResult {
	if !z.stall.Load() {
		return z.Client.SetPartitionStates(ctx, f, updates)
	}
	select {
	case z.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	out := make([]zkutil.PartitionStateResult, len(updates))
	for i, u := range updates {
		out[i] = zkutil.PartitionStateResult{TopicPartition: u.TopicPartition, Err: ctx.Err()}
	}
	return out
}

// TestQuiesceAnswersWaitingRequests checks that a request waiting for the
// controller's loop, which is stuck on ZooKeeper, is answered
// NOT_CONTROLLER as soon as the controller is quiesced (the broker is
// shutting down), and that later ones are refused at once.
func TestQuiesceAnswersWaitingRequests(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	stall := &atomic.Bool{}
	entered := make(chan struct{}, 1)
	start := func(id int32) *member {
		return startMemberWith(t, connect, id, sender, func(cfg *Config) {
			cfg.ZK = stallingZK{Client: cfg.ZK.(*zkutil.Client), stall: stall, entered: entered}
		})
	}
	members := []*member{start(1), start(2), start(3)}
	ctl := controllerOf(t, members...)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(ctl.id); return len(ids) == 3 })
	rest := others(ctl.id, members...)
	a, b := rest[0], rest[1]
	tp := zkutil.TopicPartition{Topic: "t", Partition: 0}
	if err := ctl.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{
		TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {a, b, ctl.id}},
	}); err != nil {
		t.Fatal(err)
	}
	stateIs(t, ctl.zk, tp, "a state", func(s zkutil.PartitionState) bool { return len(s.ISR) == 3 })

	stall.Store(true)
	epochA := brokerEpoch(t, ctl.zk, a)
	answered := make(chan error, 1)
	go func() {
		_, err := ctl.ctrl.ControlledShutdown(context.Background(), controlledShutdownRequest(a, epochA))
		answered <- err
	}()
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the controlled shutdown never wrote")
	}
	select {
	case err := <-answered:
		t.Fatalf("answered while the loop is stuck: %v", err)
	default:
	}
	ctl.ctrl.Quiesce()
	select {
	case err := <-answered:
		if !errors.Is(err, kerr.NotController) {
			t.Fatalf("the waiting ControlledShutdown: %v, want NOT_CONTROLLER", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting ControlledShutdown was not answered after Quiesce")
	}
	if _, err := ctl.ctrl.AlterISR(context.Background(), alterISRRequest(a, epochA, tp, 0, 0, a, b)); !errors.Is(err, kerr.NotController) {
		t.Fatalf("AlterIsr after Quiesce: %v, want NOT_CONTROLLER", err)
	}
}
