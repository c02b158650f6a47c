package integration

import (
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
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

// TestGroupCoordinatorFailover kills -9 the broker hosting a group's
// coordinator (the leader of the group's __consumer_offsets partition)
// while two members consume a replicated topic that is being produced to,
// committing after every batch. Once ZooKeeper expires the dead broker's
// session and the controller elects a new leader for the offsets
// partition, FindCoordinator names a survivor, which loads the group's
// offsets: each is at least the last commit acknowledged before the kill.
// The group then resumes from its committed offsets and processes every
// record, twice only where the first member's commit of it was never
// acknowledged (Kafka's at-least-once), and commits up to the end.
func TestGroupCoordinatorFailover(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, groupProps...)
	const partitions = 6
	topic, group := "coordinator-failover", "coordinator-failover"
	c.createTopicRF(topic, partitions, 3)
	tr := newGroupTracker(t)

	stopProduce := make(chan struct{})
	produced := make(chan error, 1)
	pcl := c.Client(append(c.produceOpts(topic), kgo.RecordDeliveryTimeout(groupTimeout))...)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopProduce:
				produced <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
			var recs []*kgo.Record
			for j := range 12 {
				recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "key-%d-%d", i, j), Value: fmt.Appendf(nil, "value-%d-%d", i, j)})
			}
			err := pcl.ProduceSync(ctx, recs...).FirstErr()
			cancel()
			if err != nil {
				produced <- err
				return
			}
		}
	}()
	stopProducer := func() {
		t.Helper()
		close(stopProduce)
		if err := <-produced; err != nil {
			t.Fatalf("producing: %v", err)
		}
	}
	defer func() {
		select {
		case <-stopProduce:
		default:
			close(stopProduce)
			<-produced
		}
	}()

	for _, m := range []string{"a", "b"} {
		startMember(t, memberCfg(c, m, "franz-go", "range", group, topic), tr)
	}
	tr.waitAssignment(c, group, topic, []string{"a", "b"}, partitions)
	var last string
	c.waitFor(groupTimeout, "commits past offset 50 on every partition", func() bool {
		acked := tr.lastAcked()
		last = fmt.Sprint(acked)
		for p := range int32(partitions) {
			if acked[p] < 50 {
				return false
			}
		}
		return true
	}, &last)

	coord, err := c.groupCoordinator(group)
	if err != nil {
		t.Fatal(err)
	}
	c.Broker(coord).Kill()
	killed := time.Now()
	before := tr.lastAcked()
	t.Logf("killed coordinator %d; commits acknowledged before: %v", coord, before)

	s := c.Without(coord)
	var next int32 = -1
	s.waitFor(groupTimeout, "a new coordinator", func() bool {
		id, err := s.groupCoordinator(group)
		last = fmt.Sprint(id, err)
		next = id
		return err == nil && id >= 0 && id != coord
	}, &last)
	var after map[int32]int64
	s.waitFor(groupTimeout, "the group's offsets from the new coordinator", func() bool {
		after, err = s.committedOffsets(group, topic)
		last = fmt.Sprint(after, err)
		return err == nil
	}, &last)
	t.Logf("broker %d is the coordinator %v after the kill; committed offsets %v", next, time.Since(killed).Round(time.Millisecond), after)
	for p, o := range before {
		if after[p] < o {
			t.Fatalf("partition %d: committed offset %d on the new coordinator, but %d was acknowledged before the kill", p, after[p], o)
		}
	}

	// The group resumes: more records are produced, processed and
	// committed through the new coordinator.
	resume := tr.lastAcked()
	s.waitFor(groupTimeout, "commits through the new coordinator on every partition", func() bool {
		acked := tr.lastAcked()
		last = fmt.Sprint(acked)
		for p := range int32(partitions) {
			if acked[p] <= resume[p] {
				return false
			}
		}
		return true
	}, &last)
	t.Logf("group committing again %v after the kill", time.Since(killed).Round(time.Millisecond))
	stopProducer()
	end := s.endOffsets(topic, partitions)
	tr.waitProcessed(s, end)
	s.waitCommitted(group, topic, end)
	tr.waitAssignment(s, group, topic, []string{"a", "b"}, partitions)
	tr.checkDelivery(end, false)
	tr.mu.Lock()
	t.Logf("%d commits failed during the failover", len(tr.commitErrs))
	tr.mu.Unlock()
}

// TestGroupKcat consumes with `kcat -G` (librdkafka's balanced consumer)
// until the end of every partition: it reads each record once and
// commits, as OffsetFetch shows. The lag computed from OffsetFetch and
// ListOffsets is then what was produced since, and a second `kcat -G`
// resumes from the committed offsets, reading only those records.
func TestGroupKcat(t *testing.T) {
	t.Parallel()
	bin := requireKcat(t)
	c := StartCluster(t, 3, groupProps...)
	const partitions = 4
	topic, group := "kcat-group", "kcat-group"
	c.CreateTopic(topic, partitions)
	consume := func(from, end map[int32]int64) {
		t.Helper()
		out := kcat(t, bin, "", "-b", strings.Join(c.Seeds(), ","), "-G", group, "-e", "-q",
			"-f", `%p %o\n`, "-X", "auto.offset.reset=earliest", "-X", "auto.commit.interval.ms=100", topic)
		seen := map[[2]int64]bool{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var p, o int64
			if _, err := fmt.Sscanf(l, "%d %d", &p, &o); err != nil {
				t.Fatalf("kcat printed %q: %v", l, err)
			}
			if seen[[2]int64{p, o}] {
				t.Fatalf("kcat -G read %d/%d twice", p, o)
			}
			if o < from[int32(p)] || o >= end[int32(p)] {
				t.Fatalf("kcat -G read %d/%d, want offsets [%d, %d)", p, o, from[int32(p)], end[int32(p)])
			}
			seen[[2]int64{p, o}] = true
		}
		want := 0
		for p, e := range end {
			want += int(e - from[p])
		}
		if len(seen) != want {
			t.Fatalf("kcat -G read %d records, want %d", len(seen), want)
		}
		c.waitCommitted(group, topic, end)
		d, err := c.describeGroup(group)
		if err != nil || d.State != "Empty" || len(d.Members) != 0 {
			t.Fatalf("after kcat exited, DescribeGroups: %+v, %v; want an Empty group", d, err)
		}
	}
	end := c.produceTo(topic, partitions, 400, "first")
	consume(map[int32]int64{}, end)

	committed := end
	end = c.produceTo(topic, partitions, 100, "second")
	lag := int64(0)
	for p, e := range end {
		lag += e - committed[p]
	}
	got, err := c.committedOffsets(group, topic)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, committed) || lag != 100 {
		t.Fatalf("committed %v (want %v), lag %d (want 100)", got, committed, lag)
	}
	c.checkDescribedLag(group, topic, committed, end)
	consume(committed, end)
}

// checkDescribedLag runs `gregor consumer-groups --describe` for group and
// checks each of topic's partitions: CURRENT-OFFSET is committed's,
// LOG-END-OFFSET is end's and LAG their difference.
func (c *Cluster) checkDescribedLag(group, topic string, committed, end map[int32]int64) {
	c.t.Helper()
	out, err := exec.Command(gregorBinary(c.t), "consumer-groups", "--bootstrap-server", strings.Join(c.Seeds(), ","),
		"--describe", "--group", group).CombinedOutput()
	if err != nil {
		c.t.Fatalf("gregor consumer-groups --describe: %v\n%s", err, out)
	}
	rows := 0
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || f[0] != group || f[1] != topic {
			continue
		}
		p, _ := strconv.ParseInt(f[2], 10, 32)
		want := []string{strconv.FormatInt(committed[int32(p)], 10), strconv.FormatInt(end[int32(p)], 10),
			strconv.FormatInt(end[int32(p)]-committed[int32(p)], 10)}
		if !slices.Equal(f[3:6], want) {
			c.t.Fatalf("consumer-groups --describe, partition %d: CURRENT-OFFSET LOG-END-OFFSET LAG %v, want %v\n%s", p, f[3:6], want, out)
		}
		rows++
	}
	if rows != len(end) {
		c.t.Fatalf("consumer-groups --describe listed %d partitions of %s, want %d:\n%s", rows, topic, len(end), out)
	}
}

// TestGroupStaticMembership restarts a static member (group.instance.id,
// KIP-345) within its session timeout: it closes without LeaveGroup and
// its successor joins with the same instance id. The coordinator hands the
// successor the old member's assignment in the same generation, and the
// others see no rebalance: no revocation, no new assignment, for longer
// than a session timeout after the restart.
func TestGroupStaticMembership(t *testing.T) {
	t.Parallel()
	c := StartCluster(t, 3, groupProps...)
	for _, client := range []string{"franz-go", "sarama"} {
		t.Run(client, func(t *testing.T) {
			c := c.For(t)
			const partitions = 12
			name := sanitize("static-" + client)
			topic, group := name, name
			c.CreateTopic(topic, partitions)
			tr := newGroupTracker(t)
			cfg := func(m string) memberConfig {
				mc := memberCfg(c, m, client, "range", group, topic)
				mc.InstanceID = "instance-" + m
				mc.Session = 6 * time.Second
				return mc
			}
			// s1 first, so that it leads: the restarted member is not the
			// leader (a rejoining leader makes Kafka 2.8 rebalance).
			startMember(t, cfg("s1"), tr)
			tr.waitAssignment(c, group, topic, []string{"s1"}, partitions)
			startMember(t, cfg("s2"), tr)
			s3 := startMember(t, cfg("s3"), tr)
			members := []string{"s1", "s2", "s3"}
			as := tr.waitAssignment(c, group, topic, members, partitions)
			end := c.produceTo(topic, partitions, 300, "static")
			tr.waitProcessed(c, end)
			type seen struct {
				revokes int
				gen     int32
			}
			snap := func() map[string]seen {
				out := map[string]seen{}
				for _, m := range []string{"s1", "s2"} {
					r, g := tr.revocations(m)
					out[m] = seen{r, g}
				}
				return out
			}
			others := snap()
			_, gen3 := tr.revocations("s3")

			restart := time.Now()
			s3.stop(t)
			d, err := c.describeGroup(group)
			if err != nil || len(d.Members) != 3 {
				t.Fatalf("after static member s3 closed, DescribeGroups: %+v, %v; want its membership kept", d, err)
			}
			startMember(t, cfg("s3"), tr)
			as2 := tr.waitAssignment(c, group, topic, members, partitions)
			t.Logf("s3 restarted and assigned in %v", time.Since(restart).Round(time.Millisecond))
			if !slices.Equal(as["s3"], as2["s3"]) {
				t.Fatalf("restarted s3 got %v, had %v", as2["s3"], as["s3"])
			}
			if _, g := tr.revocations("s3"); g != gen3 {
				t.Fatalf("restarted s3 is in generation %d, was in %d: the group rebalanced", g, gen3)
			}
			// Watch for longer than a session timeout: the old s3's expiry
			// must not rebalance the group either.
			end = c.produceTo(topic, partitions, 300, "after-restart")
			deadline := time.Now().Add(7 * time.Second)
			for time.Now().Before(deadline) {
				if now := snap(); !maps.Equal(now, others) {
					t.Fatalf("s1 and s2 saw a rebalance after s3's restart: (revocations, generation) %v, before %v", now, others)
				}
				time.Sleep(pollInterval)
			}
			tr.waitProcessed(c, end)
			tr.waitAssignment(c, group, topic, members, partitions)
			tr.checkDelivery(end, true)
		})
	}
}
