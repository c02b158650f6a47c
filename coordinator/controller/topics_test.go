package controller

import (
	"context"
	"slices"
	"testing"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
)

// controllerOf waits for one of members to lead and returns it.
func controllerOf(t *testing.T, members ...*member) *member {
	t.Helper()
	var leader *member
	eventually(t, "a controller", func() bool {
		for _, m := range members {
			if ok, _ := m.ctrl.IsController(); ok {
				leader = m
				return true
			}
		}
		return false
	})
	return leader
}

// stateIs waits until tp's state znode satisfies cond, and returns it.
func stateIs(t *testing.T, zc *zkutil.Client, tp zkutil.TopicPartition, what string, cond func(zkutil.PartitionState) bool) zkutil.PartitionState {
	t.Helper()
	var s zkutil.PartitionState
	eventually(t, what, func() bool {
		var err error
		s, _, err = zc.PartitionState(context.Background(), tp)
		return err == nil && cond(s)
	})
	return s
}

func TestNewTopicGetsLeadersAndBrokersAreTold(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	m2 := startMember(t, connect, 2, sender)
	m3 := startMember(t, connect, 3, sender)
	controllerOf(t, m1, m2, m3)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(3); return len(ids) == 3 })

	id := zkutil.NewUUID()
	if err := m1.zk.CreateTopic(context.Background(), "orders", zkutil.TopicAssignment{
		TopicID:    id,
		Partitions: map[int32][]int32{0: {2, 3, 1}, 1: {3, 1, 2}},
	}); err != nil {
		t.Fatal(err)
	}
	p0 := zkutil.TopicPartition{Topic: "orders", Partition: 0}
	p1 := zkutil.TopicPartition{Topic: "orders", Partition: 1}
	s0 := stateIs(t, m1.zk, p0, "p0 state", func(s zkutil.PartitionState) bool { return true })
	if s0.Leader != 2 || !slices.Equal(s0.ISR, []int32{2, 3, 1}) || s0.LeaderEpoch != 0 {
		t.Fatalf("p0 state %+v, want leader 2 ISR [2 3 1] epoch 0", s0)
	}
	s1 := stateIs(t, m1.zk, p1, "p1 state", func(s zkutil.PartitionState) bool { return true })
	if s1.Leader != 3 {
		t.Fatalf("p1 state %+v, want leader 3", s1)
	}
	eventually(t, "LeaderAndIsr at every replica and partitions in every broker's metadata", func() bool {
		for _, b := range []int32{1, 2, 3} {
			for _, tp := range []zkutil.TopicPartition{p0, p1} {
				lai, ok := sender.leaderAndISROf(b, tp)
				if !ok || !lai.IsNew || len(lai.Replicas) != 3 {
					return false
				}
				um, ok := sender.metadataOf(b, tp)
				if !ok || um.Leader != lai.Leader {
					return false
				}
			}
		}
		return true
	})
}

func TestLeaderFailoverOfflineAndBack(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	ctl := controllerOf(t, m1) // broker 1 controls; brokers 2 and 3 hold the replicas
	m2 := startMember(t, connect, 2, sender)
	m3 := startMember(t, connect, 3, sender)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(1); return len(ids) == 3 })

	if err := ctl.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{
		Partitions: map[int32][]int32{0: {2, 3}},
	}); err != nil {
		t.Fatal(err)
	}
	tp := zkutil.TopicPartition{Topic: "t", Partition: 0}
	first := stateIs(t, ctl.zk, tp, "leader 2", func(s zkutil.PartitionState) bool { return s.Leader == 2 })

	m2.stop()
	moved := stateIs(t, ctl.zk, tp, "leader moves to 3", func(s zkutil.PartitionState) bool { return s.Leader == 3 })
	if moved.LeaderEpoch <= first.LeaderEpoch || !slices.Equal(moved.ISR, []int32{3}) {
		t.Fatalf("after failover %+v, want a higher leader epoch than %d and ISR [3]", moved, first.LeaderEpoch)
	}
	eventually(t, "3 told it leads; metadata updated", func() bool {
		lai, ok := sender.leaderAndISROf(3, tp)
		um, ok2 := sender.metadataOf(1, tp)
		return ok && ok2 && lai.Leader == 3 && lai.LeaderEpoch == moved.LeaderEpoch &&
			um.Leader == 3 && slices.Equal(um.OfflineReplicas, []int32{2})
	})

	m3.stop()
	offline := stateIs(t, ctl.zk, tp, "offline", func(s zkutil.PartitionState) bool { return s.Leader == NoLeader })
	if !slices.Equal(offline.ISR, []int32{3}) {
		t.Fatalf("offline state %+v, want ISR [3] kept", offline)
	}
	eventually(t, "metadata shows the partition offline", func() bool {
		um, ok := sender.metadataOf(1, tp)
		return ok && um.Leader == NoLeader
	})

	startMember(t, connect, 2, sender) // not in the ISR: stays offline
	eventually(t, "2 told of the partition again", func() bool {
		lai, ok := sender.leaderAndISROf(2, tp)
		return ok && lai.Leader == NoLeader
	})
	if s, _, _ := ctl.zk.PartitionState(context.Background(), tp); s.Leader != NoLeader {
		t.Fatalf("an out-of-sync replica took leadership: %+v", s)
	}
	startMember(t, connect, 3, sender)
	back := stateIs(t, ctl.zk, tp, "back online with 3", func(s zkutil.PartitionState) bool { return s.Leader == 3 })
	if back.LeaderEpoch <= offline.LeaderEpoch {
		t.Fatalf("back online %+v, want a leader epoch above %d", back, offline.LeaderEpoch)
	}
	eventually(t, "replicas and metadata told", func() bool {
		l2, ok2 := sender.leaderAndISROf(2, tp)
		l3, ok3 := sender.leaderAndISROf(3, tp)
		um, ok := sender.metadataOf(2, tp)
		return ok2 && ok3 && ok && l2.Leader == 3 && l3.Leader == 3 && um.Leader == 3 && l2.LeaderEpoch == back.LeaderEpoch
	})
}

func TestNewControllerResyncsBrokers(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	m1 := startMember(t, connect, 1, sender)
	controllerOf(t, m1)
	m2 := startMember(t, connect, 2, sender)
	eventually(t, "both known", func() bool { ids, _ := sender.lastSeen(2); return len(ids) == 2 })
	if err := m1.zk.CreateTopic(context.Background(), "t", zkutil.TopicAssignment{Partitions: map[int32][]int32{0: {1, 2}}}); err != nil {
		t.Fatal(err)
	}
	tp := zkutil.TopicPartition{Topic: "t", Partition: 0}
	first := stateIs(t, m2.zk, tp, "leader 1", func(s zkutil.PartitionState) bool { return s.Leader == 1 })

	m1.stop() // the controller and the leader go at once
	eventually(t, "2 takes over", func() bool { ok, _ := m2.ctrl.IsController(); return ok })
	s := stateIs(t, m2.zk, tp, "leader 2", func(s zkutil.PartitionState) bool { return s.Leader == 2 })
	if s.LeaderEpoch <= first.LeaderEpoch || !slices.Equal(s.ISR, []int32{2}) {
		t.Fatalf("after failover %+v", s)
	}
	_, epoch := m2.ctrl.IsController()
	if s.ControllerEpoch != epoch {
		t.Fatalf("state written by controller epoch %d, want %d", s.ControllerEpoch, epoch)
	}
	eventually(t, "2 re-synced by the new controller", func() bool {
		um, ok := sender.metadataOf(2, tp)
		lai, ok2 := sender.leaderAndISROf(2, tp)
		return ok && ok2 && um.Leader == 2 && lai.Leader == 2
	})
}
