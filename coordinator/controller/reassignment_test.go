package controller

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
)

// reassignOne asks ctl to reassign tp to replicas (nil: cancel) and returns
// the partition's outcome.
func reassignOne(t *testing.T, ctl *member, tp zkutil.TopicPartition, replicas []int32) error {
	t.Helper()
	out, err := ctl.ctrl.AlterReassignments(context.Background(), []ReassignmentRequest{{TopicPartition: tp, Replicas: replicas}})
	if err != nil {
		t.Fatal(err)
	}
	return out[tp]
}

// assignmentIs polls the topic znode until cond holds.
func assignmentIs(t *testing.T, zc *zkutil.Client, topic, what string, cond func(zkutil.TopicAssignment) bool) zkutil.TopicAssignment {
	t.Helper()
	var a zkutil.TopicAssignment
	eventually(t, what, func() bool {
		var err error
		a, _, err = zc.TopicAssignment(context.Background(), topic)
		return err == nil && cond(a)
	})
	return a
}

// listed is ctl's reassignment of tp in progress, if any.
func listed(t *testing.T, ctl *member, tp zkutil.TopicPartition) (Reassignment, bool) {
	t.Helper()
	l, err := ctl.ctrl.ListReassignments(context.Background(), []zkutil.TopicPartition{tp}, false)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := l[tp]
	return r, ok
}

func TestReassignment(t *testing.T) {
	connect := zktest.Shared(t).Chroot(t)
	sender := newRecordingSender()
	members := []*member{startMember(t, connect, 1, sender), startMember(t, connect, 2, sender), startMember(t, connect, 3, sender)}
	ctl := controllerOf(t, members...)
	eventually(t, "all brokers known", func() bool { ids, _ := sender.lastSeen(ctl.id); return len(ids) == 3 })
	zc := ctl.zk
	ctx := context.Background()

	t.Run("move finishes once the new replica is in the ISR", func(t *testing.T) {
		tp := tpOf("moved", 0)
		if err := zc.CreateTopic(ctx, "moved", zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {1, 2}}}); err != nil {
			t.Fatal(err)
		}
		stateIs(t, zc, tp, "a leader", func(s zkutil.PartitionState) bool { return s.Leader == 1 })
		if err := reassignOne(t, ctl, tp, []int32{2, 3}); err != nil {
			t.Fatal(err)
		}
		a := assignmentIs(t, zc, "moved", "the full replica set", func(a zkutil.TopicAssignment) bool {
			return slices.Equal(a.Partitions[0], []int32{2, 3, 1})
		})
		if !slices.Equal(a.AddingReplicas[0], []int32{3}) || !slices.Equal(a.RemovingReplicas[0], []int32{1}) {
			t.Fatalf("topic znode %+v, want adding [3] removing [1]", a)
		}
		s, v, err := zc.PartitionState(ctx, tp)
		if err != nil || s.LeaderEpoch != 1 || s.Leader != 1 || !slices.Equal(s.ISR, []int32{1, 2}) {
			t.Fatalf("state %+v %v, want leader 1 epoch 1 ISR [1 2]", s, err)
		}
		eventually(t, "the new replica told to follow", func() bool {
			ps, ok := sender.leaderAndISROf(3, tp)
			return ok && ps.LeaderEpoch == 1 && slices.Equal(ps.Replicas, []int32{2, 3, 1}) &&
				slices.Equal(ps.AddingReplicas, []int32{3}) && slices.Equal(ps.RemovingReplicas, []int32{1})
		})
		if r, ok := listed(t, ctl, tp); !ok || !slices.Equal(r.Adding, []int32{3}) || !slices.Equal(r.Removing, []int32{1}) || !slices.Equal(r.Replicas, []int32{2, 3, 1}) {
			t.Fatalf("listed %+v %v", r, ok)
		}
		// The new replica catches up: the leader adds it to the ISR.
		resp, err := ctl.ctrl.AlterISR(ctx, alterISRRequest(1, brokerEpoch(t, zc, 1), tp, 1, v, 1, 2, 3))
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("AlterIsr: %+v %v", resp, err)
		}
		s = stateIs(t, zc, tp, "the leader moved into the target", func(s zkutil.PartitionState) bool { return s.Leader == 2 })
		if !slices.Equal(s.ISR, []int32{2, 3}) || s.LeaderEpoch != 2 {
			t.Fatalf("state %+v, want leader 2 epoch 2 ISR [2 3]", s)
		}
		a = assignmentIs(t, zc, "moved", "the target replicas", func(a zkutil.TopicAssignment) bool {
			return slices.Equal(a.Partitions[0], []int32{2, 3})
		})
		if len(a.AddingReplicas) != 0 || len(a.RemovingReplicas) != 0 {
			t.Fatalf("topic znode %+v, want no adding or removing replicas", a)
		}
		eventually(t, "the removed replica deleted", func() bool { return sender.stopped(1, tp) })
		if _, ok := listed(t, ctl, tp); ok {
			t.Fatal("still listed after it finished")
		}
	})

	t.Run("cancel reverts and stops the new replicas", func(t *testing.T) {
		tp := tpOf("cancelled", 0)
		if err := zc.CreateTopic(ctx, "cancelled", zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {1}}}); err != nil {
			t.Fatal(err)
		}
		stateIs(t, zc, tp, "a leader", func(s zkutil.PartitionState) bool { return s.Leader == 1 })
		if err := reassignOne(t, ctl, tp, []int32{3}); err != nil {
			t.Fatal(err)
		}
		if _, ok := listed(t, ctl, tp); !ok {
			t.Fatal("not listed")
		}
		if err := reassignOne(t, ctl, tp, nil); err != nil {
			t.Fatal(err)
		}
		a := assignmentIs(t, zc, "cancelled", "the original replicas", func(a zkutil.TopicAssignment) bool {
			return slices.Equal(a.Partitions[0], []int32{1})
		})
		if len(a.AddingReplicas) != 0 || len(a.RemovingReplicas) != 0 {
			t.Fatalf("topic znode %+v, want no adding or removing replicas", a)
		}
		eventually(t, "the new replica deleted", func() bool { return sender.stopped(3, tp) })
		if _, ok := listed(t, ctl, tp); ok {
			t.Fatal("still listed after the cancel")
		}
		if err := reassignOne(t, ctl, tp, nil); !errors.Is(err, kerr.NoReassignmentInProgress) {
			t.Fatalf("second cancel: %v", err)
		}
	})

	t.Run("invalid requests", func(t *testing.T) {
		tp := tpOf("moved", 0)
		for _, tt := range []struct {
			name     string
			tp       zkutil.TopicPartition
			replicas []int32
			want     error
		}{
			{"unknown topic", tpOf("nope", 0), []int32{1}, kerr.UnknownTopicOrPartition},
			{"unknown partition", tpOf("moved", 5), []int32{1}, kerr.UnknownTopicOrPartition},
			{"empty", tp, []int32{}, kerr.InvalidReplicaAssignment},
			{"duplicates", tp, []int32{2, 2}, kerr.InvalidReplicaAssignment},
			{"broker not alive", tp, []int32{2, 7}, kerr.InvalidReplicaAssignment},
			{"cancel nothing", tp, nil, kerr.NoReassignmentInProgress},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if err := reassignOne(t, ctl, tt.tp, tt.replicas); !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
			})
		}
	})

	t.Run("not controller", func(t *testing.T) {
		for _, m := range members {
			if m == ctl {
				continue
			}
			if _, err := m.ctrl.AlterReassignments(ctx, nil); !errors.Is(err, kerr.NotController) {
				t.Fatalf("AlterReassignments at %d: %v", m.id, err)
			}
			if _, err := m.ctrl.ListReassignments(ctx, nil, true); !errors.Is(err, kerr.NotController) {
				t.Fatalf("ListReassignments at %d: %v", m.id, err)
			}
		}
	})

	t.Run("znode request is carried out and deleted", func(t *testing.T) {
		tp := tpOf("byznode", 0)
		if err := zc.CreateTopic(ctx, "byznode", zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {1, 2}}}); err != nil {
			t.Fatal(err)
		}
		stateIs(t, zc, tp, "a leader", func(s zkutil.PartitionState) bool { return s.Leader == 1 })
		// Shrinking to a subset finishes at once: the target is in the ISR.
		if err := zc.CreatePartitionReassignment(ctx, map[zkutil.TopicPartition][]int32{tp: {2}}); err != nil {
			t.Fatal(err)
		}
		assignmentIs(t, zc, "byznode", "the target replicas", func(a zkutil.TopicAssignment) bool {
			return slices.Equal(a.Partitions[0], []int32{2}) && len(a.AddingReplicas) == 0 && len(a.RemovingReplicas) == 0
		})
		eventually(t, "the request deleted", func() bool {
			_, ok, err := zc.PartitionReassignment(ctx)
			return err == nil && !ok
		})
		s, _, err := zc.PartitionState(ctx, tp)
		if err != nil || s.Leader != 2 || !slices.Equal(s.ISR, []int32{2}) {
			t.Fatalf("state %+v %v, want leader 2 ISR [2]", s, err)
		}
		eventually(t, "the removed replica deleted", func() bool { return sender.stopped(1, tp) })
	})

	t.Run("a new controller resumes a reassignment in progress", func(t *testing.T) {
		tp := tpOf("resumed", 0)
		// Neither replica is the controller, which is stopped next.
		rest := others(ctl.id, members...)
		origin, target := rest[0], rest[1]
		if err := zc.CreateTopic(ctx, "resumed", zkutil.TopicAssignment{TopicID: zkutil.NewUUID(), Partitions: map[int32][]int32{0: {origin}}}); err != nil {
			t.Fatal(err)
		}
		stateIs(t, zc, tp, "a leader", func(s zkutil.PartitionState) bool { return s.Leader == origin })
		if err := reassignOne(t, ctl, tp, []int32{origin, target}); err != nil {
			t.Fatal(err)
		}
		var survivors []*member
		for _, m := range members {
			if m != ctl {
				survivors = append(survivors, m)
			}
		}
		zc = survivors[0].zk
		ctl.stop()
		next := controllerOf(t, survivors...)
		eventually(t, "the reassignment listed by the new controller", func() bool {
			l, err := next.ctrl.ListReassignments(ctx, nil, true)
			r, ok := l[tp]
			return err == nil && ok && slices.Equal(r.Adding, []int32{target})
		})
		// And finishes it once the new replica is in the ISR.
		s, v, err := zc.PartitionState(ctx, tp)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := next.ctrl.AlterISR(ctx, alterISRRequest(origin, brokerEpoch(t, zc, origin), tp, s.LeaderEpoch, v, origin, target))
		if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("AlterIsr: %+v %v", resp, err)
		}
		assignmentIs(t, zc, "resumed", "the target replicas", func(a zkutil.TopicAssignment) bool {
			return slices.Equal(a.Partitions[0], []int32{origin, target}) && len(a.AddingReplicas) == 0
		})
	})
}
