package controller

import (
	"reflect"
	"slices"
	"testing"

	"github.com/gregor-broker/gregor/zkutil"
)

func TestNewPartitionState(t *testing.T) {
	tests := []struct {
		name     string
		replicas []int32
		alive    []int32
		want     zkutil.PartitionState
		wantOK   bool
	}{
		{name: "new topic: first replica leads, all replicas in sync", replicas: []int32{2, 3, 1}, alive: []int32{1, 2, 3},
			want: zkutil.PartitionState{Leader: 2, ISR: []int32{2, 3, 1}, ControllerEpoch: 7}, wantOK: true},
		{name: "dead replicas are left out of leader and ISR", replicas: []int32{2, 3, 1}, alive: []int32{1, 3},
			want: zkutil.PartitionState{Leader: 3, ISR: []int32{3, 1}, ControllerEpoch: 7}, wantOK: true},
		{name: "no live replica: no state yet", replicas: []int32{2, 3}, alive: []int32{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := newPartitionState(tt.replicas, aliveSet(tt.alive...), 7)
			if ok != tt.wantOK || (ok && !reflect.DeepEqual(got, tt.want)) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReconcilePartition(t *testing.T) {
	st := func(leader, epoch int32, isr ...int32) zkutil.PartitionState {
		return zkutil.PartitionState{Leader: leader, LeaderEpoch: epoch, ISR: isr, ControllerEpoch: 3}
	}
	tests := []struct {
		name        string
		replicas    []int32
		cur         zkutil.PartitionState
		alive       []int32
		shutting    []int32 // alive, in a controlled shutdown: cannot lead
		unclean     bool
		want        zkutil.PartitionState
		wantChanged bool
	}{
		{name: "all alive: nothing to do", replicas: []int32{1, 2, 3}, cur: st(1, 4, 1, 2, 3), alive: []int32{1, 2, 3},
			want: st(1, 4, 1, 2, 3)},
		{name: "leader died: next live ISR member leads, dead leaves the ISR", replicas: []int32{1, 2, 3}, cur: st(1, 4, 1, 2, 3), alive: []int32{2, 3},
			want: zkutil.PartitionState{Leader: 2, LeaderEpoch: 5, ISR: []int32{2, 3}, ControllerEpoch: 9}, wantChanged: true},
		{name: "follower died: ISR shrinks, leader stays, epoch bumps", replicas: []int32{1, 2, 3}, cur: st(1, 4, 1, 2, 3), alive: []int32{1, 3},
			want: zkutil.PartitionState{Leader: 1, LeaderEpoch: 5, ISR: []int32{1, 3}, ControllerEpoch: 9}, wantChanged: true},
		{name: "leader died, no live ISR member: offline, ISR kept", replicas: []int32{1, 2, 3}, cur: st(1, 4, 1), alive: []int32{2, 3},
			want: zkutil.PartitionState{Leader: NoLeader, LeaderEpoch: 5, ISR: []int32{1}, ControllerEpoch: 9}, wantChanged: true},
		{name: "all replicas died: offline, ISR kept", replicas: []int32{1, 2}, cur: st(2, 4, 1, 2), alive: nil,
			want: zkutil.PartitionState{Leader: NoLeader, LeaderEpoch: 5, ISR: []int32{1, 2}, ControllerEpoch: 9}, wantChanged: true},
		{name: "offline and still no ISR member: unchanged", replicas: []int32{1, 2}, cur: st(NoLeader, 5, 1), alive: []int32{2},
			want: st(NoLeader, 5, 1)},
		{name: "offline partition's ISR member returns: it leads", replicas: []int32{1, 2}, cur: st(NoLeader, 5, 1), alive: []int32{1, 2},
			want: zkutil.PartitionState{Leader: 1, LeaderEpoch: 6, ISR: []int32{1}, ControllerEpoch: 9}, wantChanged: true},
		{name: "leader died: a broker in controlled shutdown is passed over", replicas: []int32{1, 2, 3}, cur: st(1, 4, 1, 2, 3), alive: []int32{2, 3}, shutting: []int32{2},
			want: zkutil.PartitionState{Leader: 3, LeaderEpoch: 5, ISR: []int32{3}, ControllerEpoch: 9}, wantChanged: true},
		{name: "leader died, only ISR member left is shutting down: offline", replicas: []int32{1, 2}, cur: st(1, 4, 1, 2), alive: []int32{2}, shutting: []int32{2},
			want: zkutil.PartitionState{Leader: NoLeader, LeaderEpoch: 5, ISR: []int32{1, 2}, ControllerEpoch: 9}, wantChanged: true},
		{name: "unclean election takes a live out-of-sync replica", replicas: []int32{1, 2}, cur: st(1, 4, 1), alive: []int32{2}, unclean: true,
			want: zkutil.PartitionState{Leader: 2, LeaderEpoch: 5, ISR: []int32{2}, ControllerEpoch: 9}, wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alive := aliveSet(tt.alive...)
			canLead := func(id int32) bool { return alive(id) && !slices.Contains(tt.shutting, id) }
			got, changed := reconcilePartition(tt.replicas, tt.cur, alive, canLead, tt.unclean, 9)
			if changed != tt.wantChanged || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v %v, want %+v %v", got, changed, tt.want, tt.wantChanged)
			}
		})
	}
}
