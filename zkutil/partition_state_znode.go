package zkutil

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"
)

// /brokers/topics/<topic>/partitions/<p>/state holds a partition's leader
// and ISR (Kafka's LeaderIsrAndControllerEpoch):
//
//	{"controller_epoch":5,"leader":1,"version":1,"leader_epoch":7,"isr":[1,2,3]}
//
// Only the controller writes it (Gregor's leaders ask it with AlterIsr
// instead of writing it themselves), always conditionally on the znode
// version it read (the partition's "zkVersion", also its partition epoch)
// and behind its fence. The partitions/ and partitions/<p>/ znodes above
// it are empty.

func partitionsPath(topic string) string { return topicPath(topic) + "/partitions" }

func partitionPath(tp TopicPartition) string {
	return partitionsPath(tp.Topic) + "/" + strconv.Itoa(int(tp.Partition))
}

func partitionStatePath(tp TopicPartition) string { return partitionPath(tp) + "/state" }

// PartitionState is a partition's leader and ISR, and the epoch of the
// controller that wrote them.
type PartitionState struct {
	Leader          int32 // broker id; -1: no leader
	LeaderEpoch     int32
	ISR             []int32
	ControllerEpoch int32
}

type partitionStateJSON struct {
	ControllerEpoch int32  `json:"controller_epoch"`
	Leader          int32  `json:"leader"`
	Version         int    `json:"version"`
	LeaderEpoch     int32  `json:"leader_epoch"`
	ISR             int32s `json:"isr"`
}

func encodePartitionState(s PartitionState) []byte {
	return marshal(partitionStateJSON{
		ControllerEpoch: s.ControllerEpoch, Leader: s.Leader, Version: 1, LeaderEpoch: s.LeaderEpoch, ISR: s.ISR,
	})
}

// decodePartitionState reads version 1, the only one; every field is
// required, as Kafka requires them.
func decodePartitionState(tp TopicPartition, data []byte) (PartitionState, error) {
	var v struct {
		ControllerEpoch *int32  `json:"controller_epoch"`
		Leader          *int32  `json:"leader"`
		Version         *int    `json:"version"`
		LeaderEpoch     *int32  `json:"leader_epoch"`
		ISR             *int32s `json:"isr"`
	}
	what := "partition state of " + tp.String()
	if err := unmarshal(what, data, &v); err != nil {
		return PartitionState{}, err
	}
	switch {
	case v.Version == nil || *v.Version != 1:
		return PartitionState{}, malformed(what, errors.New("version is not 1"))
	case v.ControllerEpoch == nil || v.Leader == nil || v.LeaderEpoch == nil || v.ISR == nil:
		return PartitionState{}, malformed(what, errors.New("controller_epoch, leader, leader_epoch or isr missing"))
	}
	return PartitionState{
		Leader: *v.Leader, LeaderEpoch: *v.LeaderEpoch, ISR: []int32(*v.ISR), ControllerEpoch: *v.ControllerEpoch,
	}, nil
}

// PartitionStateWrite is one partition's write in a batch call: the state,
// and for a set the znode version it was read at.
type PartitionStateWrite struct {
	TopicPartition
	State     PartitionState
	ZkVersion int32 // expected version (SetPartitionStates only)
}

// PartitionStateResult is one partition's outcome in a batch call.
type PartitionStateResult struct {
	TopicPartition
	State     PartitionState // what was read or written
	ZkVersion int32          // the state znode's version after the read or write
	// Err is nil, or matches ErrNoNode (no such partition state),
	// ErrVersionConflict (someone wrote since the expected version was
	// read: re-read and try again), ErrEpochFenced (the controller's
	// fence failed), ErrNodeExists (a create found the state there).
	Err error
}

// PartitionState reads a partition's state and the znode's version;
// ErrNoNode when it has none.
func (c *Client) PartitionState(ctx context.Context, tp TopicPartition) (PartitionState, int32, error) {
	if err := checkName("topic", tp.Topic); err != nil {
		return PartitionState{}, 0, err
	}
	data, st, err := c.get(ctx, partitionStatePath(tp))
	if err != nil {
		return PartitionState{}, 0, err
	}
	s, err := decodePartitionState(tp, data)
	if err != nil {
		return PartitionState{}, 0, fmt.Errorf("zkutil: %s: %w", partitionStatePath(tp), err)
	}
	return s, st.Version, nil
}

// PartitionStates reads many partitions' states, pipelined; the results
// are in the order of tps.
func (c *Client) PartitionStates(ctx context.Context, tps []TopicPartition) []PartitionStateResult {
	out := make([]PartitionStateResult, len(tps))
	c.parallel(len(tps), func(i int) {
		r := &out[i]
		r.TopicPartition = tps[i]
		r.State, r.ZkVersion, r.Err = c.PartitionState(ctx, tps[i])
	})
	return out
}

// CreatePartitionState creates a new partition's state znode, and the
// empty znodes above it if missing, behind f. The new znode's version is
// 0. ErrNodeExists when the partition has a state already.
func (c *Client) CreatePartitionState(ctx context.Context, f Fence, tp TopicPartition, s PartitionState) (int32, error) {
	if err := checkName("topic", tp.Topic); err != nil {
		return 0, err
	}
	for _, p := range []string{partitionsPath(tp.Topic), partitionPath(tp)} {
		if _, err := c.fencedCreate(ctx, f, p, nil, zk.FlagPersistent); err != nil && !errors.Is(err, ErrNodeExists) {
			return 0, err
		}
	}
	if _, err := c.fencedCreate(ctx, f, partitionStatePath(tp), encodePartitionState(s), zk.FlagPersistent); err != nil {
		return 0, err
	}
	return 0, nil
}

// CreatePartitionStates creates many partitions' states (as
// CreatePartitionState); the results are in the order of states.
//
// As SetPartitionStates does, it writes in transactions of up to
// stateWriteBatch partitions behind one fence check, several in flight,
// each creating the partitions' partitions/<p> and state znodes, once each
// topic's partitions/ znode is there. A transaction that fails (a znode
// already there, a lost connection) is done again one partition at a
// time, which gives each partition its own outcome; one whose fence check
// fails fails all of its partitions with ErrEpochFenced.
func (c *Client) CreatePartitionStates(ctx context.Context, f Fence, states []PartitionStateWrite) []PartitionStateResult {
	out := make([]PartitionStateResult, len(states))
	var valid []int
	topics := map[string]bool{}
	for i, w := range states {
		r := &out[i]
		r.TopicPartition, r.State = w.TopicPartition, w.State
		if err := checkName("topic", w.Topic); err != nil {
			r.Err = err
			continue
		}
		valid = append(valid, i)
		topics[w.Topic] = true
	}
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	parentErrs := make([]error, len(names))
	c.parallel(len(names), func(i int) {
		if _, err := c.fencedCreate(ctx, f, partitionsPath(names[i]), nil, zk.FlagPersistent); err != nil && !errors.Is(err, ErrNodeExists) {
			parentErrs[i] = err
		}
	})
	for i, err := range parentErrs {
		if err != nil {
			for _, j := range valid {
				if states[j].Topic == names[i] {
					out[j].Err = err
				}
			}
		}
	}
	valid = slices.DeleteFunc(valid, func(i int) bool { return out[i].Err != nil })
	batches := (len(valid) + stateWriteBatch - 1) / stateWriteBatch
	c.parallel(batches, func(b int) {
		idx := valid[b*stateWriteBatch : min((b+1)*stateWriteBatch, len(valid))]
		if c.createStatesBatch(ctx, f, states, idx, out) {
			return
		}
		for _, i := range idx {
			r := &out[i]
			r.ZkVersion, r.Err = c.CreatePartitionState(ctx, f, r.TopicPartition, r.State)
		}
	})
	return out
}

// createStatesBatch makes one attempt at creating the partition and state
// znodes of states[idx] in one transaction behind f, and reports whether
// it filled out for them: all created, or the fence failed.
func (c *Client) createStatesBatch(ctx context.Context, f Fence, states []PartitionStateWrite, idx []int, out []PartitionStateResult) bool {
	if ctx.Err() != nil || c.closed() {
		return false // the one-by-one writes report it
	}
	ops := make([]any, 0, 2*len(idx)+1)
	if f.set {
		ops = append(ops, &zk.CheckVersionRequest{Path: c.abs(controllerEpochPath), Version: f.epochZkVersion})
	}
	acl := zk.WorldACL(zk.PermAll)
	for _, i := range idx {
		tp := states[i].TopicPartition
		ops = append(ops,
			&zk.CreateRequest{Path: c.abs(partitionPath(tp)), Acl: acl, Flags: zk.FlagPersistent},
			&zk.CreateRequest{Path: c.abs(partitionStatePath(tp)), Data: encodePartitionState(states[i].State), Acl: acl, Flags: zk.FlagPersistent})
	}
	_, failed, err := c.multi(ops...)
	switch {
	case err == nil:
		for _, i := range idx {
			out[i].ZkVersion = 0
		}
		return true
	case f.set && failed == 0:
		for _, i := range idx {
			out[i].Err = &fencedError{expected: f.epochZkVersion}
		}
		return true
	}
	return false
}

// SetPartitionState writes a partition's state if its znode is still at
// the expected version (from the last read or write), behind f, and
// returns the new version. ErrVersionConflict: the state changed since.
func (c *Client) SetPartitionState(ctx context.Context, f Fence, tp TopicPartition, s PartitionState, expected int32) (int32, error) {
	if err := checkName("topic", tp.Topic); err != nil {
		return 0, err
	}
	if expected < 0 {
		return 0, fmt.Errorf("zkutil: set partition state of %s: expected version %d: the write must be conditional", tp, expected)
	}
	st, err := c.fencedSet(ctx, f, partitionStatePath(tp), encodePartitionState(s), expected)
	if err != nil {
		return 0, err
	}
	return st.Version, nil
}

// stateWriteBatch is how many partition state writes SetPartitionStates
// puts in one ZooKeeper transaction (about 150 bytes each, far below
// jute.maxbuffer).
const stateWriteBatch = 100

// SetPartitionStates writes many partitions' states (as
// SetPartitionState, each with its expected ZkVersion); the results are in
// the order of updates, with the new versions.
//
// The writes go in transactions of up to stateWriteBatch partitions behind
// one fence check, several transactions in flight at once: ZooKeeper
// commits a transaction as one request, so thousands of partitions (a
// controlled shutdown or a broker failure at scale) cost tens of requests
// rather than thousands. Kafka 2.8 pipelines one conditional set per
// partition instead; the outcome per partition is the same. A transaction
// is all or nothing: when one of its writes fails (a version conflict, a
// missing znode) or the connection is lost, its partitions are written
// again one by one, which gives each its own outcome (and resolves a
// transaction that was applied though its answer was lost). A failed fence
// check fails every partition of the transaction with ErrEpochFenced.
func (c *Client) SetPartitionStates(ctx context.Context, f Fence, updates []PartitionStateWrite) []PartitionStateResult {
	out := make([]PartitionStateResult, len(updates))
	var valid []int
	for i, u := range updates {
		r := &out[i]
		r.TopicPartition, r.State = u.TopicPartition, u.State
		switch {
		case checkName("topic", u.Topic) != nil:
			r.Err = checkName("topic", u.Topic)
		case u.ZkVersion < 0:
			r.Err = fmt.Errorf("zkutil: set partition state of %s: expected version %d: the write must be conditional", u.TopicPartition, u.ZkVersion)
		default:
			valid = append(valid, i)
		}
	}
	batches := (len(valid) + stateWriteBatch - 1) / stateWriteBatch
	c.parallel(batches, func(b int) {
		idx := valid[b*stateWriteBatch : min((b+1)*stateWriteBatch, len(valid))]
		maybeApplied, done := c.setStatesBatch(ctx, f, updates, idx, out)
		if done {
			return
		}
		for _, i := range idx {
			r := &out[i]
			st, err := c.fencedSetResolving(ctx, f, partitionStatePath(r.TopicPartition), encodePartitionState(r.State), updates[i].ZkVersion, maybeApplied)
			r.ZkVersion, r.Err = st.Version, err
		}
	})
	return out
}

// setStatesBatch makes one attempt at writing the states of updates[idx]
// in one transaction behind f, and fills out for them when it reaches a
// verdict for every partition (done): all written, or the fence failed.
// Otherwise maybeApplied reports whether the transaction may have been
// applied though its answer was lost.
func (c *Client) setStatesBatch(ctx context.Context, f Fence, updates []PartitionStateWrite, idx []int, out []PartitionStateResult) (maybeApplied, done bool) {
	if ctx.Err() != nil || c.closed() {
		return false, false // the one-by-one writes report it
	}
	ops := make([]any, 0, len(idx)+1)
	if f.set {
		ops = append(ops, &zk.CheckVersionRequest{Path: c.abs(controllerEpochPath), Version: f.epochZkVersion})
	}
	first := len(ops)
	for _, i := range idx {
		u := updates[i]
		ops = append(ops, &zk.SetDataRequest{Path: c.abs(partitionStatePath(u.TopicPartition)), Data: encodePartitionState(u.State), Version: u.ZkVersion})
	}
	res, failed, err := c.multi(ops...)
	switch {
	case err == nil:
		for k, i := range idx {
			out[i].ZkVersion = statOf(res[first+k].Stat).Version
		}
		return false, true
	case f.set && failed == 0:
		for _, i := range idx {
			out[i].Err = &fencedError{expected: f.epochZkVersion}
		}
		return false, true
	}
	return retriable(err), false
}
