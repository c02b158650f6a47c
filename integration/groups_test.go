package integration

import (
	"fmt"
	"io"
	"log"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func init() { sarama.Logger = log.New(io.Discard, "", 0) }

// TestGroupMembership runs a consumer group of each client and assignor
// through a member's clean leave, a member's crash and a restart of every
// member, on three brokers (__consumer_offsets with replication factor 3).
// The group's topic has 12 partitions. At each step the members' own
// callbacks and DescribeGroups must agree on an assignment that gives each
// partition to exactly one live member:
//   - a, b and k (k a child process) share the 12 partitions;
//   - b closes (LeaveGroup): a and k take its partitions at once;
//   - k is killed with SIGKILL: a takes everything after k's session
//     timeout (3 s);
//   - a closes; the committed offsets are the log end offsets; two new
//     members resume from them and process only what was produced since.
//
// Every record is processed exactly once and no commit fails: commits are
// synchronous and made before a member lets a rebalance proceed, so a
// clean rebalance moves no processed record uncommitted, and k is killed
// once its commits are acknowledged (OffsetFetch shows them).
func TestGroupMembership(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, groupProps...)
	for _, tt := range []struct{ client, assignor string }{
		{"franz-go", "range"},
		{"franz-go", "roundrobin"},
		{"franz-go", "sticky"},
		{"franz-go", "cooperative-sticky"},
		{"sarama", "range"},
		{"sarama", "roundrobin"},
		{"sarama", "sticky"},
	} {
		t.Run(tt.client+"/"+tt.assignor, func(t *testing.T) {
			testGroupMembership(t, c.For(t), tt.client, tt.assignor)
		})
	}
}

func testGroupMembership(t *testing.T, c *Cluster, client, assignor string) {
	const partitions = 12
	start := time.Now()
	name := sanitize("members-" + client + "-" + assignor)
	topic, group := name, name
	c.CreateTopic(topic, partitions)
	end := c.produceTo(topic, partitions, 600, "first")
	tr := newGroupTracker(t)
	cfg := func(m string) memberConfig { return memberCfg(c, m, client, assignor, group, topic) }

	a := startMember(t, cfg("a"), tr)
	b := startMember(t, cfg("b"), tr)
	k := startMemberProc(t, cfg("k"), tr)
	as := tr.waitAssignment(c, group, topic, []string{"a", "b", "k"}, partitions)
	t.Logf("3 members stable after %v: %v", time.Since(start).Round(time.Millisecond), as)
	for m, ps := range as {
		if len(ps) != partitions/3 {
			t.Fatalf("%s got %d partitions %v, want %d (every assignor balances 12 over 3)", m, len(ps), ps, partitions/3)
		}
	}
	tr.waitProcessed(c, end)

	step := time.Now()
	b.stop(t)
	as2 := tr.waitAssignment(c, group, topic, []string{"a", "k"}, partitions)
	t.Logf("b left: a and k stable after %v: %v", time.Since(step).Round(time.Millisecond), as2)
	// franz-go's eager "sticky" balancer moves partitions between the
	// remaining members here against kfake too (the same assignment,
	// deterministically), so only the others are held to stickiness.
	if assignor == "cooperative-sticky" || client == "sarama" && assignor == "sticky" {
		for _, m := range []string{"a", "k"} {
			for _, p := range as[m] {
				if !slices.Contains(as2[m], p) {
					t.Fatalf("%s assignor moved partition %d away from %s when b left: %v then %v", assignor, p, m, as, as2)
				}
			}
		}
	}
	end = c.produceTo(topic, partitions, 600, "second")
	tr.waitProcessed(c, end)

	// Once k's commits are acknowledged nothing it processed is
	// uncommitted, so its partitions must move without a record processed
	// twice.
	c.waitCommitted(group, topic, end)
	step = time.Now()
	k.kill()
	tr.waitAssignment(c, group, topic, []string{"a"}, partitions)
	expelled := time.Since(step)
	t.Logf("k killed: a alone after %v (session timeout 3s)", expelled.Round(time.Millisecond))
	if expelled < 2*time.Second {
		t.Fatalf("k's partitions moved %v after its kill, before its 3s session timeout could expire", expelled)
	}
	end = c.produceTo(topic, partitions, 600, "third")
	tr.waitProcessed(c, end)

	a.stop(t)
	c.waitCommitted(group, topic, end)

	step = time.Now()
	end = c.produceTo(topic, partitions, 300, "fourth")
	startMember(t, cfg("a2"), tr)
	startMember(t, cfg("b2"), tr)
	tr.waitAssignment(c, group, topic, []string{"a2", "b2"}, partitions)
	tr.waitProcessed(c, end)
	t.Logf("restarted members resumed in %v", time.Since(step).Round(time.Millisecond))
	tr.checkDelivery(end, true)
	t.Logf("%s/%s done in %v", client, assignor, time.Since(start).Round(time.Millisecond))
}

// TestGroupNoDuplicates produces while members join and leave a group one
// after the other, each committing synchronously after every batch and
// before letting a rebalance proceed: every record is processed exactly
// once, and no commit fails.
func TestGroupNoDuplicates(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, groupProps...)
	for _, tt := range []struct{ client, assignor string }{
		{"franz-go", "cooperative-sticky"},
		{"franz-go", "range"},
		{"sarama", "roundrobin"},
	} {
		t.Run(tt.client+"/"+tt.assignor, func(t *testing.T) {
			c := c.For(t)
			const partitions = 12
			name := sanitize("exactly-once-" + tt.client + "-" + tt.assignor)
			topic, group := name, name
			c.CreateTopic(topic, partitions)
			tr := newGroupTracker(t)
			cfg := func(m string) memberConfig { return memberCfg(c, m, tt.client, tt.assignor, group, topic) }
			live := map[string]*memberHandle{}
			// Joins and leaves, with records produced between them while
			// the group rebalances.
			steps := []struct{ join, leave string }{
				{join: "m1"}, {join: "m2"}, {join: "m3"}, {leave: "m1"}, {join: "m4"}, {leave: "m2"}, {leave: "m3"},
			}
			var end map[int32]int64
			for i, s := range steps {
				if s.join != "" {
					live[s.join] = startMember(t, cfg(s.join), tr)
				} else {
					live[s.leave].stop(t)
					delete(live, s.leave)
				}
				end = c.produceTo(topic, partitions, 300, fmt.Sprint("step-", i))
				tr.waitAssignment(c, group, topic, slices.Sorted(maps.Keys(live)), partitions)
				tr.waitProcessed(c, end)
			}
			tr.checkDelivery(end, true)
		})
	}
}
