package controller

import (
	"reflect"
	"slices"
	"testing"
)

func aliveSet(ids ...int32) func(int32) bool {
	return func(id int32) bool { return slices.Contains(ids, id) }
}

func TestElectLeader(t *testing.T) {
	tests := []struct {
		name        string
		assignment  []int32
		isr         []int32
		alive       []int32
		unclean     bool
		wantLeader  int32
		wantISR     []int32
		wantUnclean bool
	}{
		{name: "first live ISR member in assignment order", assignment: []int32{1, 2, 3}, isr: []int32{3, 2}, alive: []int32{2, 3}, wantLeader: 2, wantISR: []int32{3, 2}},
		{name: "dead ISR members leave the ISR", assignment: []int32{1, 2, 3}, isr: []int32{1, 2, 3}, alive: []int32{3}, wantLeader: 3, wantISR: []int32{3}},
		{name: "no live ISR member stays offline", assignment: []int32{1, 2, 3}, isr: []int32{1}, alive: []int32{2, 3}, wantLeader: NoLeader, wantISR: []int32{1}},
		{name: "unclean picks a live out-of-sync replica", assignment: []int32{1, 2, 3}, isr: []int32{1}, alive: []int32{3, 2}, unclean: true, wantLeader: 2, wantISR: []int32{2}, wantUnclean: true},
		{name: "unclean prefers the ISR when it can", assignment: []int32{1, 2, 3}, isr: []int32{3}, alive: []int32{2, 3}, unclean: true, wantLeader: 3, wantISR: []int32{3}},
		{name: "nobody alive", assignment: []int32{1, 2}, isr: []int32{1, 2}, alive: nil, unclean: true, wantLeader: NoLeader, wantISR: []int32{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leader, isr, unclean := ElectLeader(tt.assignment, tt.isr, aliveSet(tt.alive...), tt.unclean)
			if leader != tt.wantLeader || !reflect.DeepEqual(isr, tt.wantISR) || unclean != tt.wantUnclean {
				t.Fatalf("got leader %d isr %v unclean %v, want %d %v %v", leader, isr, unclean, tt.wantLeader, tt.wantISR, tt.wantUnclean)
			}
		})
	}
}

func TestElectPreferredLeader(t *testing.T) {
	if l, ok := ElectPreferredLeader([]int32{2, 1}, []int32{1, 2}, aliveSet(1, 2)); !ok || l != 2 {
		t.Fatalf("preferred replica alive and in sync: %d %v", l, ok)
	}
	if _, ok := ElectPreferredLeader([]int32{2, 1}, []int32{1}, aliveSet(1, 2)); ok {
		t.Fatal("a preferred replica out of the ISR must not lead")
	}
	if _, ok := ElectPreferredLeader([]int32{2, 1}, []int32{1, 2}, aliveSet(1)); ok {
		t.Fatal("a dead preferred replica must not lead")
	}
}

func TestElectControlledShutdownLeader(t *testing.T) {
	leader, isr := ElectControlledShutdownLeader([]int32{1, 2, 3}, []int32{1, 2, 3}, aliveSet(1, 2, 3), aliveSet(1))
	if leader != 2 || !reflect.DeepEqual(isr, []int32{2, 3}) {
		t.Fatalf("got %d %v, want 2 [2 3]", leader, isr)
	}
	leader, isr = ElectControlledShutdownLeader([]int32{1, 2}, []int32{1}, aliveSet(1, 2), aliveSet(1))
	if leader != NoLeader || len(isr) != 0 {
		t.Fatalf("only the shutting-down broker in sync: got %d %v", leader, isr)
	}
}
