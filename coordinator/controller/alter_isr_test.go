package controller

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerEpoch is the epoch of id's live registration.
func brokerEpoch(t *testing.T, zc *zkutil.Client, id int32) int64 {
	t.Helper()
	reg, err := zc.Broker(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return reg.Epoch
}

// alterISRRequest is an AlterIsr for one partition.
func alterISRRequest(broker int32, epoch int64, tp zkutil.TopicPartition, leaderEpoch, zkVersion int32, isr ...int32) *kmsg.AlterPartitionRequest {
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID, req.BrokerEpoch = broker, epoch
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewAlterPartitionRequestTopicPartition()
	rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = tp.Partition, leaderEpoch, zkVersion, isr
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// others lists the members' ids other than id, sorted.
func others(id int32, members ...*member) []int32 {
	var out []int32
	for _, m := range members {
		if m.id != id {
			out = append(out, m.id)
		}
	}
	slices.Sort(out)
	return out
}

func memberByID(members []*member, id int32) *member {
	for _, m := range members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// threeMembers starts three controller candidates on a fresh chroot and
// waits until the controller knows them all.
func threeMembers(t *testing.T) (members []*member, ctl *member, sender *recordingSender) {
	t.Helper()
	connect := zktest.Shared(t).Chroot(t)
	sender = newRecordingSender()
	members = []*member{startMember(t, connect, 1, sender), startMember(t, connect, 2, sender), startMember(t, connect, 3, sender)}
	ctl = controllerOf(t, members...)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(ctl.id); return len(ids) == 3 })
	return members, ctl, sender
}

func TestAlterISR(t *testing.T) {
	members, ctl, sender := threeMembers(t)
	// The partition's leader is not the controller, so that it can be
	// stopped at the end without a controller failover.
	rest := others(ctl.id, members...)
	leader, follower := rest[0], rest[1]
	tp := zkutil.TopicPartition{Topic: "t", Partition: 0}
	if err := ctl.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{
		TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {leader, follower, ctl.id}},
	}); err != nil {
		t.Fatal(err)
	}
	stateIs(t, ctl.zk, tp, "state", func(zkutil.PartitionState) bool { return true })
	_, v0, err := ctl.zk.PartitionState(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	epoch := brokerEpoch(t, ctl.zk, leader)
	followerEpoch := brokerEpoch(t, ctl.zk, follower)
	full := []int32{leader, follower, ctl.id}
	shrunk := []int32{leader, follower}

	tests := []struct {
		name      string
		req       *kmsg.AlterPartitionRequest
		wantTop   int16
		wantCode  int16
		wantISR   []int32 // answered (when wantCode is 0)
		wantVer   int32
		wantState []int32 // ISR in ZooKeeper afterwards
	}{
		{name: "stale broker epoch: the whole request", req: alterISRRequest(leader, epoch-1, tp, 0, v0, shrunk...),
			wantTop: kerr.StaleBrokerEpoch.Code, wantState: full},
		{name: "unknown broker: the whole request", req: alterISRRequest(42, epoch, tp, 0, v0, shrunk...),
			wantTop: kerr.StaleBrokerEpoch.Code, wantState: full},
		{name: "unknown partition", req: alterISRRequest(leader, epoch, zkutil.TopicPartition{Topic: "t", Partition: 7}, 0, v0, shrunk...),
			wantCode: kerr.UnknownTopicOrPartition.Code, wantState: full},
		{name: "unknown topic", req: alterISRRequest(leader, epoch, zkutil.TopicPartition{Topic: "nope", Partition: 0}, 0, v0, shrunk...),
			wantCode: kerr.UnknownTopicOrPartition.Code, wantState: full},
		{name: "older leader epoch is fenced", req: alterISRRequest(leader, epoch, tp, -1, v0, shrunk...),
			wantCode: kerr.FencedLeaderEpoch.Code, wantState: full},
		{name: "sender does not lead", req: alterISRRequest(follower, followerEpoch, tp, 0, v0, shrunk...),
			wantCode: kerr.NotLeaderForPartition.Code, wantState: full},
		{name: "znode version differs", req: alterISRRequest(leader, epoch, tp, 0, v0+3, shrunk...),
			wantCode: kerr.InvalidUpdateVersion.Code, wantState: full},
		{name: "ISR naming a replica outside the assignment", req: alterISRRequest(leader, epoch, tp, 0, v0, leader, 42),
			wantCode: kerr.InvalidRequest.Code, wantState: full},
		{name: "ISR without the leader", req: alterISRRequest(leader, epoch, tp, 0, v0, follower),
			wantCode: kerr.InvalidRequest.Code, wantState: full},
		{name: "no-op answers the current state", req: alterISRRequest(leader, epoch, tp, 0, v0, full...),
			wantISR: full, wantVer: v0, wantState: full},
		{name: "shrink accepted", req: alterISRRequest(leader, epoch, tp, 0, v0, shrunk...),
			wantISR: shrunk, wantVer: v0 + 1, wantState: shrunk},
		{name: "the old version is now stale", req: alterISRRequest(leader, epoch, tp, 0, v0, leader),
			wantCode: kerr.InvalidUpdateVersion.Code, wantState: shrunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := ctl.ctrl.AlterISR(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != tt.wantTop {
				t.Fatalf("top-level error %d, want %d", resp.ErrorCode, tt.wantTop)
			}
			if tt.wantTop == 0 {
				if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
					t.Fatalf("answer %+v, want one partition", resp.Topics)
				}
				rp := resp.Topics[0].Partitions[0]
				if rp.ErrorCode != tt.wantCode {
					t.Fatalf("partition error %d, want %d", rp.ErrorCode, tt.wantCode)
				}
				if tt.wantCode == 0 && (!slices.Equal(rp.ISR, tt.wantISR) || rp.PartitionEpoch != tt.wantVer || rp.LeaderID != leader || rp.LeaderEpoch != 0) {
					t.Fatalf("answered %+v, want leader %d epoch 0 ISR %v version %d", rp, leader, tt.wantISR, tt.wantVer)
				}
			}
			s, _, err := ctl.zk.PartitionState(context.Background(), tp)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.ISR, tt.wantState) || s.LeaderEpoch != 0 || s.Leader != leader {
				t.Fatalf("state %+v, want leader %d epoch 0 ISR %v", s, leader, tt.wantState)
			}
		})
	}

	eventually(t, "every broker told of the new ISR", func() bool {
		for _, m := range members {
			um, ok := sender.metadataOf(m.id, tp)
			if !ok || !slices.Equal(um.ISR, shrunk) || um.ZKVersion != v0+1 {
				return false
			}
		}
		return true
	})
	for _, m := range members {
		if m.id == ctl.id {
			continue
		}
		if _, err := m.ctrl.AlterISR(context.Background(), alterISRRequest(leader, epoch, tp, 0, v0+1, leader)); !errors.Is(err, kerr.NotController) {
			t.Fatalf("AlterISR at non-controller %d: %v, want NOT_CONTROLLER", m.id, err)
		}
	}

	// The controller's own view took the change: when the leader dies, the
	// election is over the ISR just written, so the controller, out of it,
	// cannot lead.
	memberByID(members, leader).stop()
	s := stateIs(t, ctl.zk, tp, "a new leader", func(s zkutil.PartitionState) bool { return s.Leader != leader })
	if s.Leader != follower || !slices.Equal(s.ISR, []int32{follower}) || s.LeaderEpoch != 1 {
		t.Fatalf("after the leader died: %+v, want leader %d ISR [%d] epoch 1", s, follower, follower)
	}
}

func TestAlterISRTimesOutWithTheContext(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	m := startMember(t, connect, 1, newRecordingSender())
	controllerOf(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err := m.ctrl.AlterISR(ctx, alterISRRequest(1, 1, zkutil.TopicPartition{Topic: "t"}, 0, 0, 1))
	if !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("AlterISR with a done context: %v, want REQUEST_TIMED_OUT", err)
	}
}

// One AlterIsr carrying several partitions of a topic gets every answer
// right: the answers once pointed into a slice that moved as it grew, and
// all but the last were sent empty (ISR [], version 0), which left leaders
// with an empty ISR that no later proposal could repair.
func TestAlterISRManyPartitionsOfOneTopic(t *testing.T) {
	members, ctl, _ := threeMembers(t)
	rest := others(ctl.id, members...)
	leader, follower := rest[0], rest[1]
	const n = 9
	assignment := map[int32][]int32{}
	for p := int32(0); p < n; p++ {
		assignment[p] = []int32{leader, follower, ctl.id}
	}
	if err := ctl.zk.CreateTopic(context.Background(), "many", zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: assignment}); err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrAlterPartitionRequest()
	req.BrokerID, req.BrokerEpoch = leader, brokerEpoch(t, ctl.zk, leader)
	rt := kmsg.NewAlterPartitionRequestTopic()
	rt.Topic = "many"
	versions := map[int32]int32{}
	for p := int32(0); p < n; p++ {
		tp := zkutil.TopicPartition{Topic: "many", Partition: p}
		stateIs(t, ctl.zk, tp, "state", func(zkutil.PartitionState) bool { return true })
		_, v, err := ctl.zk.PartitionState(context.Background(), tp)
		if err != nil {
			t.Fatal(err)
		}
		versions[p] = v
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.PartitionEpoch, rp.NewISR = p, 0, v, []int32{leader, follower}
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := ctl.ctrl.AlterISR(context.Background(), req)
	if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != n {
		t.Fatalf("AlterISR: %+v %v", resp, err)
	}
	for _, ans := range resp.Topics[0].Partitions {
		if ans.ErrorCode != 0 || !slices.Equal(ans.ISR, []int32{leader, follower}) || ans.PartitionEpoch != versions[ans.Partition]+1 || ans.LeaderID != leader {
			t.Errorf("partition %d answered %+v", ans.Partition, ans)
		}
	}
}

// A leader may propose a follower that has died since it last fetched;
// the controller refuses to add a broker that is not alive
// (INELIGIBLE_REPLICA), since an ISR holding it would stall acks=all until
// the lag time removed it again.
func TestAlterISRRefusesADeadReplica(t *testing.T) {
	members, ctl, sender := threeMembers(t)
	rest := others(ctl.id, members...)
	leader, follower := rest[0], rest[1]
	tp := zkutil.TopicPartition{Topic: "t", Partition: 0}
	if err := ctl.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{
		TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {leader, follower, ctl.id}},
	}); err != nil {
		t.Fatal(err)
	}
	stateIs(t, ctl.zk, tp, "state", func(zkutil.PartitionState) bool { return true })
	_, v0, err := ctl.zk.PartitionState(context.Background(), tp)
	if err != nil {
		t.Fatal(err)
	}
	epoch := brokerEpoch(t, ctl.zk, leader)
	resp, err := ctl.ctrl.AlterISR(context.Background(), alterISRRequest(leader, epoch, tp, 0, v0, leader, ctl.id))
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("shrink: %+v %v", resp, err)
	}
	memberByID(members, follower).stop()
	eventually(t, "the follower gone", func() bool { ids, _ := sender.lastSeen(ctl.id); return len(ids) == 2 })
	resp, err = ctl.ctrl.AlterISR(context.Background(), alterISRRequest(leader, epoch, tp, 0, v0+1, leader, ctl.id, follower))
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.IneligibleReplica.Code {
		t.Fatalf("adding a dead broker: %+v %v, want INELIGIBLE_REPLICA", resp, err)
	}
	stateIs(t, ctl.zk, tp, "ISR without the dead broker", func(s zkutil.PartitionState) bool {
		return slices.Equal(s.ISR, []int32{leader, ctl.id})
	})
}
