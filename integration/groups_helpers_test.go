package integration

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupTimeout bounds each wait of a group test: a rebalance, a member's
// session timeout, a coordinator moving after a broker's ZooKeeper
// session expires.
const groupTimeout = 45 * time.Second

// groupProps are the server.properties lines of every group test: a short
// initial rebalance delay, so that a new group forms quickly, and a low
// minimum session timeout, so that a killed member is expelled in seconds.
var groupProps = []string{
	"group.initial.rebalance.delay.ms=100",
	"group.min.session.timeout.ms=1000",
}

// groupTracker collects the events of a group's members (in-process and
// child processes alike) and checks them.
type groupTracker struct {
	t *testing.T

	mu         sync.Mutex                   // guards the fields below
	owned      map[string]map[int32]bool    // member -> partitions it owns, per its callbacks
	generation map[string]int32             // member -> generation of its last assignment
	assigns    map[string]int               // member -> assignment callbacks
	revokes    map[string]int               // member -> revocations of at least one partition
	processed  map[int32]map[int64][]string // partition -> offset -> members that processed it, in order
	committed  map[string]map[int32]int64   // member -> partition -> last acknowledged commit
	commitErrs []string
	errs       []string
	// redelivered lists records processed again after the member that
	// first processed them had had a commit past them acknowledged.
	redelivered []string
}

func newGroupTracker(t *testing.T) *groupTracker {
	return &groupTracker{
		t:          t,
		owned:      map[string]map[int32]bool{},
		generation: map[string]int32{},
		assigns:    map[string]int{},
		revokes:    map[string]int{},
		processed:  map[int32]map[int64][]string{},
		committed:  map[string]map[int32]int64{},
	}
}

func (tr *groupTracker) emit(e groupEvent) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	own := tr.owned[e.Member]
	if own == nil {
		own = map[int32]bool{}
		tr.owned[e.Member] = own
	}
	switch e.Kind {
	case "assigned":
		for _, p := range e.Partitions {
			own[p] = true
		}
		tr.generation[e.Member] = e.Generation
		tr.assigns[e.Member]++
	case "revoked", "lost":
		for _, p := range e.Partitions {
			delete(own, p)
		}
		if len(e.Partitions) > 0 {
			tr.revokes[e.Member]++
		}
	case "processed":
		m := tr.processed[e.Partition]
		if m == nil {
			m = map[int64][]string{}
			tr.processed[e.Partition] = m
		}
		if by := m[e.Offset]; len(by) > 0 {
			if acked, ok := tr.committed[by[0]][e.Partition]; ok && acked > e.Offset {
				tr.redelivered = append(tr.redelivered, fmt.Sprintf("record %d/%d processed by %s after %s, which had had a commit of offset %d acknowledged",
					e.Partition, e.Offset, e.Member, by[0], acked))
			}
		}
		m[e.Offset] = append(m[e.Offset], e.Member)
	case "committed":
		c := tr.committed[e.Member]
		if c == nil {
			c = map[int32]int64{}
			tr.committed[e.Member] = c
		}
		for p, o := range e.Offsets {
			c[p] = max(c[p], o)
		}
	case "commit_error":
		tr.commitErrs = append(tr.commitErrs, fmt.Sprintf("%s: %s (offsets %v)", e.Member, e.Err, e.Offsets))
	case "error":
		tr.errs = append(tr.errs, fmt.Sprintf("%s: partition %d: %s", e.Member, e.Partition, e.Err))
	}
}

// assignment returns the partitions each of members owns, sorted.
func (tr *groupTracker) assignment(members []string) map[string][]int32 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string][]int32{}
	for _, m := range members {
		out[m] = slices.Sorted(maps.Keys(tr.owned[m]))
	}
	return out
}

// revocations returns how many revocations member has seen and the
// generation of its last assignment.
func (tr *groupTracker) revocations(member string) (int, int32) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.revokes[member], tr.generation[member]
}

// splitsPartitions says whether as gives each of the partitions to exactly
// one member and none to anyone else; it explains why not otherwise.
func splitsPartitions(as map[string][]int32, partitions int32) (bool, string) {
	owner := map[int32]string{}
	for m, ps := range as {
		for _, p := range ps {
			if o, ok := owner[p]; ok {
				return false, fmt.Sprintf("partition %d owned by %s and %s", p, o, m)
			}
			if p < 0 || p >= partitions {
				return false, fmt.Sprintf("%s owns partition %d of %d", m, p, partitions)
			}
			owner[p] = m
		}
	}
	if int32(len(owner)) != partitions {
		return false, fmt.Sprintf("%d of %d partitions owned", len(owner), partitions)
	}
	return true, ""
}

// waitAssignment waits until exactly members are in group, DescribeGroups
// says it is Stable, the members' callbacks give each of topic's
// partitions to one of them with no overlap, and DescribeGroups reports
// the same assignment. It returns the assignment.
func (tr *groupTracker) waitAssignment(c *Cluster, group, topic string, members []string, partitions int32) map[string][]int32 {
	tr.t.Helper()
	var last string
	var as map[string][]int32
	c.waitFor(groupTimeout, fmt.Sprintf("group %s stable with members %v sharing %d partitions", group, members, partitions), func() bool {
		as = tr.assignment(members)
		if ok, why := splitsPartitions(as, partitions); !ok {
			last = fmt.Sprintf("callbacks: %v: %s", as, why)
			return false
		}
		d, err := c.describeGroup(group)
		if err != nil {
			last = fmt.Sprintf("callbacks %v; DescribeGroups: %v", as, err)
			return false
		}
		described, err := describedAssignment(d, topic)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("callbacks %v; DescribeGroups: state %s, assignment %v", as, d.State, described)
		if d.State != "Stable" || len(described) != len(members) {
			return false
		}
		for _, m := range members {
			if got, ok := described[m]; !ok || !slices.Equal(got, as[m]) {
				return false
			}
		}
		return true
	}, &last)
	return as
}

// describedAssignment decodes the consumer protocol assignment of each
// member of a DescribeGroups answer, keyed by client id.
func describedAssignment(d *kmsg.DescribeGroupsResponseGroup, topic string) (map[string][]int32, error) {
	out := map[string][]int32{}
	for _, m := range d.Members {
		if _, dup := out[m.ClientID]; dup {
			return nil, fmt.Errorf("two members with client id %s", m.ClientID)
		}
		var a kmsg.ConsumerMemberAssignment
		if len(m.MemberAssignment) > 0 {
			if err := a.ReadFrom(m.MemberAssignment); err != nil {
				return nil, fmt.Errorf("member %s's assignment: %v", m.MemberID, err)
			}
		}
		var ps []int32
		for _, t := range a.Topics {
			if t.Topic == topic {
				ps = append(ps, t.Partitions...)
			}
		}
		slices.Sort(ps)
		out[m.ClientID] = ps
	}
	return out, nil
}

// waitProcessed waits until every offset below end (per partition) has been
// processed by some member.
func (tr *groupTracker) waitProcessed(c *Cluster, end map[int32]int64) {
	tr.t.Helper()
	var last string
	c.waitFor(groupTimeout, fmt.Sprintf("records below %v processed", end), func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		var missing []string
		for p, e := range end {
			n := int64(0)
			for o := range tr.processed[p] {
				if o < e {
					n++
				}
			}
			if n < e {
				missing = append(missing, fmt.Sprintf("%d: %d of %d", p, n, e))
			}
		}
		sort.Strings(missing)
		last = fmt.Sprintf("partitions short of records: %v; errors %v; commit errors %v", missing, tail(tr.errs, 3), tail(tr.commitErrs, 3))
		return len(missing) == 0
	}, &last)
}

func tail(s []string, n int) []string { return s[max(0, len(s)-n):] }

// checkDelivery checks that each record below end was processed, and
// processed once, except where Kafka allows a second time: when the member
// that first processed it had not had a commit past it acknowledged (it
// died, or its commit failed) by the time it was processed again. When
// strict, it allows no second time and no commit error at all.
func (tr *groupTracker) checkDelivery(end map[int32]int64, strict bool) {
	tr.t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if strict && len(tr.commitErrs) > 0 {
		tr.t.Fatalf("%d commit errors, first %s", len(tr.commitErrs), tr.commitErrs[0])
	}
	if len(tr.redelivered) > 0 {
		tr.t.Fatalf("%d records redelivered past an acknowledged commit, first: %s", len(tr.redelivered), tr.redelivered[0])
	}
	total, dups := 0, 0
	for p, e := range end {
		for o := int64(0); o < e; o++ {
			by := tr.processed[p][o]
			if len(by) == 0 {
				tr.t.Fatalf("record %d/%d was never processed", p, o)
			}
			total++
			if len(by) == 1 {
				continue
			}
			dups++
			if strict {
				tr.t.Fatalf("record %d/%d processed by %v with synchronous commits and clean rebalances", p, o, by)
			}
		}
	}
	tr.t.Logf("%d records processed, %d of them more than once (each after a crash or failed commit of the first member)", total, dups)
}

// lastAcked returns, per partition, the highest commit acknowledged to any
// member.
func (tr *groupTracker) lastAcked() map[int32]int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[int32]int64{}
	for _, c := range tr.committed {
		for p, o := range c {
			out[p] = max(out[p], o)
		}
	}
	return out
}

// requestGroup sends req with a fresh franz-go client (which routes group
// requests to the coordinator), bounded in time.
func requestGroup[R kmsg.Response](c *Cluster, req interface {
	RequestWith(context.Context, kmsg.Requestor) (R, error)
}) (R, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.RequestRetries(2))
	if err != nil {
		var zero R
		return zero, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return req.RequestWith(ctx, cl)
}

// groupCoordinator asks FindCoordinator for group's coordinator.
func (c *Cluster) groupCoordinator(group string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = group
	resp, err := requestGroup[*kmsg.FindCoordinatorResponse](c, req)
	if err != nil {
		return -1, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return -1, err
	}
	return resp.NodeID, nil
}

// describeGroup asks group's coordinator to describe it.
func (c *Cluster) describeGroup(group string) (*kmsg.DescribeGroupsResponseGroup, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := requestGroup[*kmsg.DescribeGroupsResponse](c, req)
	if err != nil {
		return nil, err
	}
	if len(resp.Groups) != 1 {
		return nil, fmt.Errorf("DescribeGroups answered %d groups", len(resp.Groups))
	}
	d := &resp.Groups[0]
	if err := kerr.ErrorForCode(d.ErrorCode); err != nil {
		return nil, err
	}
	return d, nil
}

// committedOffsets asks OffsetFetch for group's committed offsets of topic
// (partitions without a commit are left out).
func (c *Cluster) committedOffsets(group, topic string) (map[int32]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	for p := range int32(64) {
		rt.Partitions = append(rt.Partitions, p)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := requestGroup[*kmsg.OffsetFetchResponse](c, req)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil && err != kerr.UnknownTopicOrPartition {
				return nil, fmt.Errorf("partition %d: %w", p.Partition, err)
			}
			if p.ErrorCode == 0 && p.Offset >= 0 {
				out[p.Partition] = p.Offset
			}
		}
	}
	return out, nil
}

// waitCommitted waits until group's committed offsets of topic are want.
func (c *Cluster) waitCommitted(group, topic string, want map[int32]int64) {
	c.t.Helper()
	var last string
	c.waitFor(groupTimeout, fmt.Sprintf("group %s's commits at %v", group, want), func() bool {
		got, err := c.committedOffsets(group, topic)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprint(got)
		return maps.Equal(got, want)
	}, &last)
}

// endOffsets asks the leaders for each partition's latest offset: its
// high watermark, for a read_uncommitted ListOffsets.
func (c *Cluster) endOffsets(topic string, partitions int32) map[int32]int64 {
	c.t.Helper()
	var last string
	out := map[int32]int64{}
	c.waitFor(groupTimeout, "end offsets of "+topic, func() bool {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := range partitions {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = p, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := requestGroup[*kmsg.ListOffsetsResponse](c, req)
		if err != nil {
			last = err.Error()
			return false
		}
		clear(out)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					last = fmt.Sprintf("partition %d: %v", p.Partition, err)
					return false
				}
				out[p.Partition] = p.Offset
			}
		}
		return int32(len(out)) == partitions
	}, &last)
	return out
}

// produceTo writes n keyed records to topic (acks=all) and returns the end
// offsets of its partitions afterwards.
func (c *Cluster) produceTo(topic string, partitions int32, n int, prefix string) map[int32]int64 {
	c.t.Helper()
	cl := c.Client(c.produceOpts(topic)...)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, keyed(n, 97, prefix)...).FirstErr(); err != nil {
		c.t.Fatalf("produce to %s: %v", topic, err)
	}
	return c.endOffsets(topic, partitions)
}

// createTopicRF creates topic with rf replicas per partition and waits
// until every partition has a leader.
func (c *Cluster) createTopicRF(topic string, partitions int32, rf int16) {
	c.t.Helper()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	c.createTopic(rt, groupTimeout)
	c.WaitOnline(topic, partitions)
}

// memberCfg is the configuration of member name of group on c, with a
// 3 s session timeout and 300 ms heartbeats.
func memberCfg(c *Cluster, name, client, assignor, group, topic string) memberConfig {
	return memberConfig{
		Name: name, Client: client, Assignor: assignor, Group: group, Topic: topic,
		Seeds:     c.Seeds(),
		Session:   3 * time.Second,
		Heartbeat: 300 * time.Millisecond,
		Rebalance: 15 * time.Second,
	}
}

// sanitize turns s into a topic or group name.
func sanitize(s string) string {
	return strings.NewReplacer("/", "-", " ", "-").Replace(s)
}
