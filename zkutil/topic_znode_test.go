package zkutil

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func TestTopics(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	admin, watcher := cs[0], cs[1]
	ctx := testContext(t)
	if err := admin.CreateTopLevelPaths(ctx); err != nil {
		t.Fatal(err)
	}
	topics, watch, err := watcher.WatchTopics(ctx)
	if err != nil || len(topics) != 0 {
		t.Fatalf("WatchTopics = %v, %v", topics, err)
	}
	a := TopicAssignment{
		TopicID:          NewUUID(),
		Partitions:       map[int32][]int32{0: {1, 2}, 1: {2, 1}},
		AddingReplicas:   map[int32][]int32{},
		RemovingReplicas: map[int32][]int32{},
	}
	if err := admin.CreateTopic(ctx, "orders", a); err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, watch); ev.Type != NodeChildrenChanged || ev.Path != "/brokers/topics" {
		t.Errorf("topic watch: %+v", ev)
	}
	if err := admin.CreateTopic(ctx, "orders", a); !errors.Is(err, ErrNodeExists) {
		t.Errorf("creating the topic again: %v, want ErrNodeExists", err)
	}
	if err := admin.CreateTopic(ctx, "../controller", a); !errors.Is(err, ErrInvalidName) {
		t.Errorf("a topic named ../controller: %v, want ErrInvalidName", err)
	}
	got, st, partitionWatch, err := watcher.WatchTopicAssignment(ctx, "orders")
	if err != nil || !reflect.DeepEqual(got, a) || st.Version != 0 {
		t.Fatalf("WatchTopicAssignment = %+v (version %d), %v; want %+v", got, st.Version, err, a)
	}

	// Adding a partition (an admin request: no fence, conditional).
	a.Partitions[2] = []int32{1, 2}
	if _, err := admin.SetTopicAssignment(ctx, NoFence, "orders", a, st.Version); err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, partitionWatch); ev.Type != NodeDataChanged || ev.Path != "/brokers/topics/orders" {
		t.Errorf("assignment watch: %+v", ev)
	}
	if _, err := admin.SetTopicAssignment(ctx, NoFence, "orders", a, st.Version); !errors.Is(err, ErrVersionConflict) {
		t.Errorf("a stale assignment write: %v", err)
	}

	if err := admin.CreateTopic(ctx, "payments", TopicAssignment{Partitions: map[int32][]int32{0: {3}}}); err != nil {
		t.Fatal(err)
	}
	if topics, err := watcher.Topics(ctx); err != nil || !reflect.DeepEqual(topics, []string{"orders", "payments"}) {
		t.Errorf("Topics = %v, %v", topics, err)
	}
	all, err := watcher.TopicAssignments(ctx, []string{"orders", "payments", "missing"})
	if err != nil || len(all) != 2 || len(all["orders"].Partitions) != 3 || !all["payments"].TopicID.IsZero() {
		t.Errorf("TopicAssignments = %+v, %v", all, err)
	}
	if ok, err := watcher.TopicExists(ctx, "missing"); err != nil || ok {
		t.Errorf("TopicExists(missing) = %v, %v", ok, err)
	}

	// The controller creates the partition states, then deletes the
	// whole topic.
	e, err := admin.RegisterController(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		tp := TopicPartition{"orders", p}
		if _, err := admin.CreatePartitionState(ctx, e.Fence(), tp, PartitionState{Leader: 1, ISR: []int32{1, 2}, ControllerEpoch: e.Epoch}); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.DeleteTopic(ctx, e.Fence(), "orders"); err != nil {
		t.Fatal(err)
	}
	if ok, err := watcher.TopicExists(ctx, "orders"); err != nil || ok {
		t.Errorf("after DeleteTopic: exists=%v, %v", ok, err)
	}
	if err := admin.DeleteTopic(ctx, e.Fence(), "orders"); err != nil {
		t.Errorf("deleting a deleted topic: %v", err)
	}
}

func TestPartitionStates(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx := testContext(t)
	const partitions = 25
	e := topicsWithController(t, c, partitions, "t")
	var writes []PartitionStateWrite
	var tps []TopicPartition
	for p := range int32(partitions) {
		tp := TopicPartition{"t", p}
		tps = append(tps, tp)
		writes = append(writes, PartitionStateWrite{TopicPartition: tp,
			State: PartitionState{Leader: 1 + p%3, LeaderEpoch: 0, ISR: []int32{1, 2, 3}, ControllerEpoch: e.Epoch}})
	}
	for i, r := range c.CreatePartitionStates(ctx, e.Fence(), writes) {
		if r.Err != nil || r.ZkVersion != 0 || r.TopicPartition != tps[i] {
			t.Fatalf("CreatePartitionStates[%d] = %+v", i, r)
		}
	}
	if _, err := c.CreatePartitionState(ctx, e.Fence(), tps[0], writes[0].State); !errors.Is(err, ErrNodeExists) {
		t.Errorf("creating a state twice: %v, want ErrNodeExists", err)
	}
	read := c.PartitionStates(ctx, append(tps, TopicPartition{"t", 99}))
	for i, r := range read[:partitions] {
		if r.Err != nil || !reflect.DeepEqual(r.State, writes[i].State) || r.ZkVersion != 0 {
			t.Fatalf("PartitionStates[%d] = %+v, want %+v", i, r, writes[i].State)
		}
	}
	if r := read[partitions]; !errors.Is(r.Err, ErrNoNode) {
		t.Errorf("a partition without state: %+v, want ErrNoNode", r)
	}

	// Shrink every ISR; partition 3 was changed by someone else meanwhile,
	// so its write conflicts and the others go through.
	if _, err := c.SetPartitionState(ctx, e.Fence(), tps[3], writes[3].State, 0); err != nil {
		t.Fatal(err)
	}
	var updates []PartitionStateWrite
	for i, r := range read[:partitions] {
		s := r.State
		s.ISR = []int32{s.Leader}
		s.LeaderEpoch++
		updates = append(updates, PartitionStateWrite{TopicPartition: tps[i], State: s, ZkVersion: r.ZkVersion})
	}
	for i, r := range c.SetPartitionStates(ctx, e.Fence(), updates) {
		switch {
		case i == 3:
			if !errors.Is(r.Err, ErrVersionConflict) {
				t.Errorf("partition 3: %v, want ErrVersionConflict", r.Err)
			}
		case r.Err != nil || r.ZkVersion != 1:
			t.Errorf("SetPartitionStates[%d] = %+v", i, r)
		}
	}
	s, version, err := c.PartitionState(ctx, tps[7])
	if err != nil || version != 1 || !reflect.DeepEqual(s.ISR, []int32{s.Leader}) || s.LeaderEpoch != 1 {
		t.Errorf("after the batch: %+v at version %d, %v", s, version, err)
	}
}

func TestWatchTopicAssignments(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	admin, watcher := cs[0], cs[1]
	ctx := testContext(t)
	if err := admin.CreateTopLevelPaths(ctx); err != nil {
		t.Fatal(err)
	}
	a := map[string]TopicAssignment{
		"a": {Partitions: map[int32][]int32{0: {1}}},
		"b": {Partitions: map[int32][]int32{0: {2}, 1: {1}}},
	}
	for name, ta := range a {
		if err := admin.CreateTopic(ctx, name, ta); err != nil {
			t.Fatal(err)
		}
	}
	got, watches, err := watcher.WatchTopicAssignments(ctx, []string{"a", "b", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(watches) != 2 || !reflect.DeepEqual(got["b"].Partitions, a["b"].Partitions) {
		t.Fatalf("WatchTopicAssignments = %+v, %d watches; want a and b only", got, len(watches))
	}
	b := a["b"]
	b.Partitions[2] = []int32{2}
	if _, err := admin.SetTopicAssignment(ctx, NoFence, "b", b, MatchAnyVersion); err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, watches["b"]); ev.Type != NodeDataChanged || ev.Path != "/brokers/topics/b" {
		t.Errorf("b's watch: %+v", ev)
	}
	select {
	case ev := <-watches["a"]:
		t.Errorf("a's watch fired without a change: %+v", ev)
	default:
	}
}

// TestSetPartitionStatesBatched checks that SetPartitionStates writes in
// transactions of stateWriteBatch partitions (those of one transaction
// share its zxid), that a transaction with a conflicting write falls back
// to one write per partition, the others going through, and that a failed
// fence fails every partition.
func TestSetPartitionStatesBatched(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	c, next := cs[0], cs[1]
	ctx := testContext(t)
	const partitions = 2*stateWriteBatch + 50
	const conflicting = stateWriteBatch + 30 // in the second transaction
	e := topicsWithController(t, c, partitions, "t")
	var writes []PartitionStateWrite
	for p := range int32(partitions) {
		writes = append(writes, PartitionStateWrite{TopicPartition: TopicPartition{"t", p},
			State: PartitionState{Leader: 1, ISR: []int32{1, 2, 3}, ControllerEpoch: e.Epoch}})
	}
	for i, r := range c.CreatePartitionStates(ctx, e.Fence(), writes) {
		if r.Err != nil {
			t.Fatalf("CreatePartitionStates[%d] = %+v", i, r)
		}
	}
	if _, err := c.SetPartitionState(ctx, e.Fence(), writes[conflicting].TopicPartition, writes[conflicting].State, 0); err != nil {
		t.Fatal(err)
	}
	for i := range writes {
		writes[i].State.ISR = []int32{1, 2}
		writes[i].State.LeaderEpoch = 1
	}
	mzxids := map[int64]int{}
	for i, r := range c.SetPartitionStates(ctx, e.Fence(), writes) {
		if i == conflicting {
			if !errors.Is(r.Err, ErrVersionConflict) || errors.Is(r.Err, ErrEpochFenced) {
				t.Errorf("the conflicting write: %v, want ErrVersionConflict", r.Err)
			}
			continue
		}
		if r.Err != nil || r.ZkVersion != 1 || r.TopicPartition != writes[i].TopicPartition {
			t.Fatalf("SetPartitionStates[%d] = %+v", i, r)
		}
		_, st, err := c.get(ctx, partitionStatePath(r.TopicPartition))
		if err != nil || st.Version != 1 {
			t.Fatalf("partition %d after the batch: %+v %v", i, st, err)
		}
		mzxids[st.Mzxid]++
	}
	// The first and third transactions went through whole; the second's
	// 99 others were written one by one.
	checkOneTransactionRedone(t, "write", mzxids, partitions)

	// Another controller is elected: every write of the old one is fenced.
	if err := c.DeleteController(ctx, e.Fence()); err != nil {
		t.Fatal(err)
	}
	if _, err := next.RegisterController(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for i := range writes {
		writes[i].ZkVersion = 1
	}
	for i, r := range c.SetPartitionStates(ctx, e.Fence(), writes) {
		if i != conflicting && !errors.Is(r.Err, ErrEpochFenced) {
			t.Fatalf("a fenced controller's write %d: %v, want ErrEpochFenced", i, r.Err)
		}
	}
	if _, v, err := c.PartitionState(ctx, writes[0].TopicPartition); err != nil || v != 1 {
		t.Errorf("after the fenced batch: version %d, %v; want 1", v, err)
	}
}

// TestCreatePartitionStatesBatched checks that CreatePartitionStates
// creates in transactions of stateWriteBatch partitions (those of one
// transaction share its zxid), that a transaction meeting a state that is
// there already falls back to one create per partition, and that a failed
// fence fails every partition and creates nothing.
func TestCreatePartitionStatesBatched(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	c, next := cs[0], cs[1]
	ctx := testContext(t)
	const partitions = 2*stateWriteBatch + 50
	const existing = stateWriteBatch + 30 // in the second transaction
	e := topicsWithController(t, c, partitions, "t", "u")
	writes := func(topic string) []PartitionStateWrite {
		var ws []PartitionStateWrite
		for p := range int32(partitions) {
			ws = append(ws, PartitionStateWrite{TopicPartition: TopicPartition{topic, p},
				State: PartitionState{Leader: 1, ISR: []int32{1, 2, 3}, ControllerEpoch: e.Epoch}})
		}
		return ws
	}
	ws := writes("t")
	if _, err := c.CreatePartitionState(ctx, e.Fence(), ws[existing].TopicPartition, ws[existing].State); err != nil {
		t.Fatal(err)
	}
	czxids := map[int64]int{}
	for i, r := range c.CreatePartitionStates(ctx, e.Fence(), ws) {
		if i == existing {
			if !errors.Is(r.Err, ErrNodeExists) {
				t.Errorf("the existing state: %v, want ErrNodeExists", r.Err)
			}
			continue
		}
		if r.Err != nil || r.ZkVersion != 0 || r.TopicPartition != ws[i].TopicPartition {
			t.Fatalf("CreatePartitionStates[%d] = %+v", i, r)
		}
		s, _, err := c.PartitionState(ctx, r.TopicPartition)
		if err != nil || !reflect.DeepEqual(s, ws[i].State) {
			t.Fatalf("partition %d after the batch: %+v %v", i, s, err)
		}
		_, st, _ := c.get(ctx, partitionStatePath(r.TopicPartition))
		czxids[st.Czxid]++
	}
	checkOneTransactionRedone(t, "create", czxids, partitions)

	if err := c.DeleteController(ctx, e.Fence()); err != nil {
		t.Fatal(err)
	}
	if _, err := next.RegisterController(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for i, r := range c.CreatePartitionStates(ctx, e.Fence(), writes("u")) {
		if !errors.Is(r.Err, ErrEpochFenced) {
			t.Fatalf("a fenced controller's create %d: %v, want ErrEpochFenced", i, r.Err)
		}
	}
	if _, _, err := c.PartitionState(ctx, TopicPartition{"u", 0}); !errors.Is(err, ErrNoNode) {
		t.Errorf("after the fenced batch: %v, want ErrNoNode", err)
	}
}

// checkOneTransactionRedone checks the zxids of partitions writes (how
// many znodes each zxid wrote) made in three transactions of which the
// second was redone one write at a time: the first and third show as one
// zxid each for their partitions, the second's writes as a zxid apiece.
func checkOneTransactionRedone(t *testing.T, what string, zxids map[int64]int, partitions int) {
	t.Helper()
	var whole []int
	for _, n := range zxids {
		if n > 1 {
			whole = append(whole, n)
		}
	}
	slices.Sort(whole)
	if want := []int{partitions - 2*stateWriteBatch, stateWriteBatch}; !slices.Equal(whole, want) || len(zxids) != 2+stateWriteBatch-1 {
		t.Errorf("transactions of more than one %s: %v, %d distinct zxids; want %v and %d", what, whole, len(zxids), want, 2+stateWriteBatch-1)
	}
}

// topicsWithController creates the topics, each with partitions
// partitions on brokers 1, 2 and 3, and registers broker 1 as the
// controller through c, whose election it returns.
func topicsWithController(t *testing.T, c *Client, partitions int32, topics ...string) Election {
	t.Helper()
	ctx := testContext(t)
	a := TopicAssignment{Partitions: map[int32][]int32{}}
	for p := range partitions {
		a.Partitions[p] = []int32{1, 2, 3}
	}
	for _, topic := range topics {
		if err := c.CreateTopic(ctx, topic, a); err != nil {
			t.Fatal(err)
		}
	}
	e, err := c.RegisterController(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
