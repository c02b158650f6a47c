package zkutil

import (
	"errors"
	"sync"
	"testing"

	"github.com/go-zookeeper/zk"
)

// TestControllerElection races several brokers for /controller: exactly
// one wins and the epoch goes up by exactly one.
func TestControllerElection(t *testing.T) {
	t.Parallel()
	const brokers = 6
	cs := clients(t, brokers)
	ctx := testContext(t)

	var wg sync.WaitGroup
	elections := make([]Election, brokers)
	errs := make([]error, brokers)
	start := make(chan struct{})
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			elections[i], errs[i] = c.RegisterController(ctx, int32(i+1))
		}()
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("brokers %d and %d both won", winner+1, i+1)
			}
			winner = i
		case !errors.Is(err, ErrElectionLost):
			t.Errorf("broker %d: %v, want ErrElectionLost", i+1, err)
		}
	}
	if winner < 0 {
		t.Fatal("nobody won")
	}
	if e := elections[winner]; e.Epoch != 1 {
		t.Errorf("first election's epoch = %d, want 1", e.Epoch)
	}
	epoch, version, ok, err := cs[0].ControllerEpoch(ctx)
	if err != nil || !ok || epoch != 1 || version != elections[winner].EpochZkVersion {
		t.Errorf("ControllerEpoch = %d (zk version %d), %v, %v; want 1 at %d", epoch, version, ok, err, elections[winner].EpochZkVersion)
	}
	info, ok, err := cs[0].Controller(ctx)
	if err != nil || !ok || info.BrokerID != int32(winner+1) || info.Timestamp != 1620000000000 {
		t.Errorf("Controller = %+v, %v, %v; want broker %d", info, ok, err, winner+1)
	}

	// The controller's session ends: the next election bumps the epoch
	// once more.
	cs[winner].Close()
	next := (winner + 1) % brokers
	e, err := cs[next].RegisterController(ctx, int32(next+1))
	if err != nil || e.Epoch != 2 {
		t.Fatalf("second election: %+v, %v; want epoch 2", e, err)
	}
}

// TestEpochFence checks that a controller that has been replaced cannot
// write: its fence fails with ErrEpochFenced, and the new controller's
// writes go through.
func TestEpochFence(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	old, current := cs[0], cs[1]
	ctx := testContext(t)
	tp := TopicPartition{Topic: "t", Partition: 0}

	if err := old.CreateTopic(ctx, "t", TopicAssignment{Partitions: map[int32][]int32{0: {1, 2}, 1: {2, 1}}}); err != nil {
		t.Fatal(err)
	}
	first, err := old.RegisterController(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.CreatePartitionState(ctx, first.Fence(), tp, PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, ControllerEpoch: first.Epoch}); err != nil {
		t.Fatalf("a fenced create by the controller: %v", err)
	}
	// The old controller resigns (as after a GC pause, or a lost session),
	// and the other broker is elected.
	if err := old.DeleteController(ctx, first.Fence()); err != nil {
		t.Fatal(err)
	}
	second, err := current.RegisterController(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}

	stale := PartitionState{Leader: 1, LeaderEpoch: 1, ISR: []int32{1}, ControllerEpoch: first.Epoch}
	_, err = old.SetPartitionState(ctx, first.Fence(), tp, stale, 0)
	if !errors.Is(err, ErrEpochFenced) || !errors.Is(err, ErrVersionConflict) {
		t.Fatalf("the old controller's write: %v, want ErrEpochFenced", err)
	}
	if err := old.DeleteTopicDeletion(ctx, first.Fence(), "t"); !errors.Is(err, ErrEpochFenced) {
		t.Errorf("the old controller's delete: %v, want ErrEpochFenced", err)
	}
	if _, err := old.CreatePartitionState(ctx, first.Fence(), TopicPartition{"t", 1}, stale); !errors.Is(err, ErrEpochFenced) {
		t.Errorf("the old controller's create: %v, want ErrEpochFenced", err)
	}
	if s, _, err := current.PartitionState(ctx, tp); err != nil || s.LeaderEpoch != 0 {
		t.Fatalf("the fenced write changed the state: %+v, %v", s, err)
	}
	fresh := PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2}, ControllerEpoch: second.Epoch}
	version, err := current.SetPartitionState(ctx, second.Fence(), tp, fresh, 0)
	if err != nil || version != 1 {
		t.Fatalf("the new controller's write: version %d, %v", version, err)
	}
	// A fenced write still honours the znode version it names.
	if _, err := current.SetPartitionState(ctx, second.Fence(), tp, fresh, 0); !errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrEpochFenced) {
		t.Errorf("a stale version behind a good fence: %v, want a plain ErrVersionConflict", err)
	}
	if _, err := current.SetPartitionState(ctx, second.Fence(), tp, fresh, MatchAnyVersion); err == nil {
		t.Error("an unconditional partition state write was accepted")
	}
}

func TestWatchController(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	watcher, broker := cs[0], cs[1]
	ctx := testContext(t)

	_, ok, watch, err := watcher.WatchController(ctx)
	if err != nil || ok {
		t.Fatalf("WatchController with no controller: ok=%v, %v", ok, err)
	}
	e, err := broker.RegisterController(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, watch); ev.Type != NodeCreated || ev.Path != "/controller" {
		t.Errorf("watch event %+v, want /controller created", ev)
	}
	info, ok, watch, err := watcher.WatchController(ctx)
	if err != nil || !ok || info.BrokerID != 7 {
		t.Fatalf("re-armed: %+v, %v, %v", info, ok, err)
	}
	if err := broker.DeleteController(ctx, e.Fence()); err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, watch); ev.Type != NodeDeleted {
		t.Errorf("watch event %+v, want /controller deleted", ev)
	}
}

// TestMultiFailedOp pins down what zkutil's fence detection relies on:
// a failed transaction reports which op failed.
func TestMultiFailedOp(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx := testContext(t)
	if _, err := c.create(ctx, "/a", nil, zk.FlagPersistent); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		ops    []any
		failed int
		err    error
	}{
		{"first op", []any{
			&zk.CheckVersionRequest{Path: c.abs("/a"), Version: 5},
			&zk.SetDataRequest{Path: c.abs("/a"), Version: 0},
		}, 0, zk.ErrBadVersion},
		{"second op", []any{
			&zk.CheckVersionRequest{Path: c.abs("/a"), Version: 0},
			&zk.CreateRequest{Path: c.abs("/a"), Acl: zk.WorldACL(zk.PermAll)},
		}, 1, zk.ErrNodeExists},
		{"middle op", []any{
			&zk.CheckVersionRequest{Path: c.abs("/a"), Version: 0},
			&zk.DeleteRequest{Path: c.abs("/missing"), Version: -1},
			&zk.SetDataRequest{Path: c.abs("/a"), Version: 0},
		}, 1, zk.ErrNoNode},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, failed, err := c.multi(tt.ops...)
			if !errors.Is(err, tt.err) || failed != tt.failed {
				t.Errorf("multi: op %d failed with %v; want op %d with %v", failed, err, tt.failed, tt.err)
			}
		})
	}
	if _, st, _ := c.get(ctx, "/a"); st.Version != 0 {
		t.Error("a failed transaction changed the znode")
	}
}
