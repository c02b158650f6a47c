package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startGroupGregor runs one Gregor broker that can host consumer groups:
// one broker cannot give __consumer_offsets its default three replicas,
// and the initial rebalance delay would only slow the tests down.
func startGroupGregor(t *testing.T) string {
	t.Helper()
	return startGregorCluster(t, 1, func(int) map[string]string {
		return map[string]string{
			"offsets.topic.replication.factor": "1",
			"offsets.topic.num.partitions":     "3",
			"group.initial.rebalance.delay.ms": "0",
		}
	})[0].addr
}

// produceTo writes n records to each partition given, values "p<p>-<i>".
func produceTo(t *testing.T, addr, topic string, counts map[int32]int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rs []*kgo.Record
	for p, n := range counts {
		for i := 0; i < n; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "p%d-%d", p, i)})
		}
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// adminCommit commits offsets for an empty group as an admin client does.
func adminCommit(t *testing.T, addr, group, topic string, offsets map[int32]int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, o := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, o, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("commit partition %d: error %d", p.Partition, p.ErrorCode)
		}
	}
}

// startMember runs a franz-go group member of group on topic, polling
// until the test ends or stop is called; stop leaves the group.
func startMember(t *testing.T, addr, group, topic string) (stop func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("live-client"), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !cl.PollFetches(context.Background()).IsClientClosed() {
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cl.Close(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func TestConsumerGroupsAgainstGregor(t *testing.T) {
	addr := startGroupGregor(t)
	createTestTopic(t, addr, "orders", "--partitions", "2")
	produceTo(t, addr, "orders", map[int32]int{0: 6, 1: 4})
	cg := func(args ...string) toolResult {
		return runTool(t, "", withoutStdin(runConsumerGroups), append([]string{"--bootstrap-server", addr}, args...)...)
	}
	const header = "GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\n"

	// g1 has offsets but no members: "-" in the member columns.
	adminCommit(t, addr, "g1", "orders", map[int32]int64{0: 4, 1: 1})
	describeG1 := "\n" + header +
		"g1              orders          0          4               6               2               -               -               -\n" +
		"g1              orders          1          1               4               3               -               -               -\n"
	if got := cg("--describe", "--group", "g1"); got.code != 0 || got.stdout != describeG1 ||
		got.stderr != "\nConsumer group 'g1' has no active members.\n" {
		t.Fatalf("describe g1: %+v\nwant stdout:\n%s", got, describeG1)
	}

	// A live member: the offsets table names it, the members and state
	// views describe it, and nothing destructive is allowed.
	stopLive := startMember(t, addr, "live", "orders")
	waitFor(t, "group live stable", func() (bool, string) {
		got := cg("--describe", "--group", "live", "--state")
		return strings.Contains(got.stdout, " Stable ") && strings.HasSuffix(got.stdout, " 1\n"), got.stdout + got.stderr
	})
	got := cg("--describe", "--group", "live", "--state")
	if !regexp.MustCompile(`^\nGROUP                     COORDINATOR \(ID\)          ASSIGNMENT-STRATEGY  STATE           #MEMBERS\n` +
		`live                      127\.0\.0\.1:\d+ \(1\) +\S+ +Stable          1\n$`).MatchString(got.stdout) {
		t.Errorf("state view:\n%q", got.stdout)
	}
	// The member has committed nothing yet (franz-go autocommits every 5s),
	// unless it already did; either way the LOG-END-OFFSET is right.
	got = cg("--describe", "--group", "live")
	rows := regexp.MustCompile(`(?m)^live +orders +(\d) +(\S+) +(\d+) +(\S+) +(\S+) +(\S+) +live-client$`).FindAllStringSubmatch(got.stdout, -1)
	if got.code != 0 || len(rows) != 2 || rows[0][3] != "6" || rows[1][3] != "4" || !strings.HasPrefix(got.stdout, "\nGROUP ") || got.stderr != "" {
		t.Errorf("describe live: %+v", got)
	}
	got = cg("--describe", "--group", "live", "--members", "--verbose")
	if !regexp.MustCompile(`^\nGROUP           CONSUMER-ID +HOST +CLIENT-ID       #PARTITIONS     ASSIGNMENT\n` +
		`live            \S+ +\S+ +live-client     2               orders\(0,1\)\n$`).MatchString(got.stdout) {
		t.Errorf("members view:\n%q", got.stdout)
	}
	got = cg("--describe", "--group", "live", "--members")
	if strings.Contains(got.stdout, "ASSIGNMENT") || !strings.Contains(got.stdout, "live-client     2               \n") {
		t.Errorf("members view without --verbose:\n%q", got.stdout)
	}
	if got := cg("--list"); got.stdout != "g1\nlive\n" {
		t.Errorf("list: %+v", got)
	}
	if got := cg("--list", "--state"); got.stdout != "GROUP           STATE\ng1              Empty\nlive            Stable\n" {
		t.Errorf("list --state:\n%q", got.stdout)
	}
	if got := cg("--list", "--state", "stable"); got.stdout != "GROUP           STATE\nlive            Stable\n" {
		t.Errorf("list --state stable:\n%q", got.stdout)
	}
	if got := cg("--delete", "--group", "live"); got.code != 1 || got.stderr != "Error: Deletion of some consumer groups failed:\n" ||
		got.stdout != "* Group 'live' could not be deleted due to: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.\n" {
		t.Errorf("delete live: %+v", got)
	}
	if got := cg("--reset-offsets", "--group", "live", "--topic", "orders", "--to-earliest", "--execute"); got.code != 1 || got.stdout != "" ||
		got.stderr != "Error: Assignments can only be reset if the group 'live' is inactive, but the current state is Stable.\n" {
		t.Errorf("reset live: %+v", got)
	}
	if got := cg("--delete-offsets", "--group", "live", "--topic", "orders:0"); got.code != 1 ||
		got.stderr != "Error: Encounter some partition level error, see the follow-up details:\n" ||
		!strings.Contains(got.stdout, "orders                         0               Error: ") {
		t.Errorf("delete-offsets live: %+v", got)
	}
	stopLive()
	waitFor(t, "group live empty", func() (bool, string) {
		got := cg("--describe", "--group", "live", "--state")
		return strings.Contains(got.stdout, " Empty "), got.stdout + got.stderr
	})

	resetTable := func(rows ...string) string {
		return "\nGROUP                          TOPIC                          PARTITION  NEW-OFFSET     \n" + strings.Join(rows, "")
	}
	row := func(p, off int) string {
		return fmt.Sprintf("g1                             orders                         %-10d %-15d\n", p, off)
	}
	resets := []struct {
		name       string
		args       []string
		wantStdout string
		committed  [2]int64 // what --describe shows afterwards
	}{
		{"dry run to earliest", []string{"--to-earliest", "--dry-run"}, resetTable(row(0, 0), row(1, 0)), [2]int64{4, 1}},
		{"no --execute warns", []string{"--to-latest"}, "WARN: No action will be performed as the --execute option is missing.In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.\n" +
			resetTable(row(0, 6), row(1, 4)), [2]int64{4, 1}},
		{"to earliest", []string{"--to-earliest", "--execute"}, resetTable(row(0, 0), row(1, 0)), [2]int64{0, 0}},
		{"to offset", []string{"--to-offset", "3", "--execute"}, resetTable(row(0, 3), row(1, 3)), [2]int64{3, 3}},
		{"to offset past the end", []string{"--topic", "orders:1", "--to-offset", "9", "--execute"},
			"New offset (9) is higher than latest offset for topic partition orders-1. Value will be set to 4\n" + resetTable(row(1, 4)), [2]int64{3, 4}},
		{"shift by", []string{"--shift-by", "-2", "--execute"}, resetTable(row(0, 1), row(1, 2)), [2]int64{1, 2}},
		{"shift before the start", []string{"--topic", "orders:0", "--shift-by", "-5", "--execute"},
			"New offset (-4) is lower than earliest offset for topic partition orders-0. Value will be set to 0\n" + resetTable(row(0, 0)), [2]int64{0, 2}},
		{"to datetime in the future", []string{"--to-datetime", "2999-01-01T00:00:00.000", "--execute"}, resetTable(row(0, 6), row(1, 4)), [2]int64{6, 4}},
		{"to datetime in the past", []string{"--to-datetime", "2000-01-01T00:00:00.000Z", "--execute"}, resetTable(row(0, 0), row(1, 0)), [2]int64{0, 0}},
		{"to current", []string{"--to-current", "--execute"}, resetTable(row(0, 0), row(1, 0)), [2]int64{0, 0}},
		{"by duration", []string{"--by-duration", "PT0H0M0.001S", "--execute", "--all-topics"}, resetTable(row(0, 6), row(1, 4)), [2]int64{6, 4}},
	}
	for _, tt := range resets {
		t.Run("reset "+tt.name, func(t *testing.T) {
			args := append([]string{"--reset-offsets", "--group", "g1"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--topic") && !strings.Contains(strings.Join(tt.args, " "), "--all-topics") {
				args = append(args, "--topic", "orders")
			}
			got := cg(args...)
			if got.code != 0 || got.stdout != tt.wantStdout || got.stderr != "" {
				t.Fatalf("exit %d\nstdout:\n%q\nwant:\n%q\nstderr: %s", got.code, got.stdout, tt.wantStdout, got.stderr)
			}
			got = cg("--describe", "--group", "g1")
			for p, want := range tt.committed {
				if !regexp.MustCompile(fmt.Sprintf(`(?m)^g1 +orders +%d +%d `, p, want)).MatchString(got.stdout) {
					t.Errorf("partition %d not at %d:\n%s", p, want, got.stdout)
				}
			}
		})
	}
	if got := cg("--reset-offsets", "--group", "nobody", "--topic", "orders", "--shift-by", "1", "--execute"); got.code != 1 ||
		got.stderr != "Error: Cannot shift offset for partition orders-0 since there is no current committed offset\n" {
		t.Errorf("shift without offsets: %+v", got)
	}

	// --delete-offsets of one partition; then the group is deleted.
	got = cg("--delete-offsets", "--group", "g1", "--topic", "orders:0")
	if want := "Request succeed for deleting offsets with topic orders group g1\n\nTOPIC                          PARTITION       STATUS         \n" +
		"orders                         0               Successful     \n"; got.code != 0 || got.stdout != want {
		t.Errorf("delete-offsets:\n%q\nwant\n%q", got.stdout, want)
	}
	if got := cg("--describe", "--group", "g1"); strings.Contains(got.stdout, "orders          0 ") || !strings.Contains(got.stdout, "orders          1 ") {
		t.Errorf("after delete-offsets:\n%s", got.stdout)
	}
	if got := cg("--delete-offsets", "--group", "g1", "--topic", "nope"); got.code != 1 ||
		got.stdout != "\nTOPIC                          PARTITION       STATUS         \nnope                           Not Provided    Error: This server does not host this topic-partition.\n" {
		t.Errorf("delete-offsets of a missing topic: %+v", got)
	}
	if got := cg("--delete", "--group", "g1"); got.code != 0 || got.stdout != "Deletion of requested consumer groups ('g1') was successful.\n" {
		t.Errorf("delete g1: %+v", got)
	}
	if got := cg("--delete", "--group", "g1"); got.code != 1 ||
		got.stdout != "* Group 'g1' could not be deleted due to: org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist.\n" {
		t.Errorf("delete g1 again: %+v", got)
	}
	if got := cg("--describe", "--group", "g1"); got.code != 1 || got.stdout != "" || got.stderr != "Error: Consumer group 'g1' does not exist.\n" {
		t.Errorf("describe deleted g1: %+v", got)
	}
}

// console-consumer --group commits what it printed; a second run resumes
// there, and --describe shows the lag.
func TestConsoleConsumerGroupResumes(t *testing.T) {
	addr := startGroupGregor(t)
	createTestTopic(t, addr, "events", "--partitions", "1")
	produce(t, addr, "events", "a\nb\nc\nd\ne\n")
	consume := func(args ...string) toolResult {
		return runTool(t, "", withoutStdin(runConsoleConsumer), consumeArgs(addr, "events", append([]string{"--group", "cg"}, args...)...)...)
	}
	if got := consume("--from-beginning", "--max-messages", "3"); got.code != 0 || got.stdout != "a\nb\nc\n" {
		t.Fatalf("first run: %+v", got)
	}
	got := runTool(t, "", withoutStdin(runConsumerGroups), "--bootstrap-server", addr, "--describe", "--group", "cg")
	if !regexp.MustCompile(`(?m)^cg +events +0 +3 +5 +2 +- +- +-$`).MatchString(got.stdout) {
		t.Errorf("describe after the first run:\n%s%s", got.stdout, got.stderr)
	}
	produce(t, addr, "events", "f\n")
	// --from-beginning only matters without a committed offset.
	if got := consume("--from-beginning", "--max-messages", "3"); got.code != 0 || got.stdout != "d\ne\nf\n" {
		t.Fatalf("second run: %+v", got)
	}
	// A new group without --from-beginning starts at the end: nothing to read.
	if got := consume("--consumer-property", "group.id=other", "--group", "other", "--timeout-ms", "1500"); got.code != 0 || got.stdout != "" ||
		!strings.Contains(got.stderr, "Processed a total of 0 messages") {
		t.Fatalf("new group at the end: %+v", got)
	}
}

func TestConsumerGroupsUsage(t *testing.T) {
	b := []string{"--bootstrap-server", "x:9092"}
	tests := []struct {
		name       string
		args       []string
		wantStderr string // a prefix
	}{
		{"no action", b, "gregor consumer-groups: Command must include exactly one action"},
		{"two actions", append(b, "--list", "--delete"), "gregor consumer-groups: Command must include exactly one action"},
		{"no bootstrap server", []string{"--list"}, `gregor consumer-groups: Missing required argument "[bootstrap-server]"`},
		{"describe without group", append(b, "--describe"), "gregor consumer-groups: Option [describe] takes one of these options: [all-groups], [group]"},
		{"group and all groups", append(b, "--describe", "--group", "g", "--all-groups"), `gregor consumer-groups: Option "[all-groups]" can't be used with option "[group]"`},
		{"two views", append(b, "--describe", "--group", "g", "--members", "--state"), "gregor consumer-groups: Option [describe] takes at most one of these options"},
		{"verbose without members", append(b, "--describe", "--group", "g", "--verbose"), `gregor consumer-groups: Option "[verbose]" can only be used`},
		{"delete without group", append(b, "--delete"), "gregor consumer-groups: Option [delete] takes one of these options"},
		{"delete-offsets without topic", append(b, "--delete-offsets", "--group", "g"), "gregor consumer-groups: Option [delete-offsets] takes the following options: [group], [topic]"},
		{"reset without topic", append(b, "--reset-offsets", "--group", "g", "--to-earliest"), "gregor consumer-groups: Option [reset-offsets] takes exactly one of these options: [topic], [all-topics]"},
		{"reset without scenario", append(b, "--reset-offsets", "--group", "g", "--all-topics"), "gregor consumer-groups: Option [reset-offsets] takes exactly one of these options: [to-datetime]"},
		{"reset with two scenarios", append(b, "--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--to-latest"), "gregor consumer-groups: Option [reset-offsets] takes exactly one of these options: [to-datetime]"},
		{"dry run and execute", append(b, "--reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--dry-run", "--execute"), `gregor consumer-groups: Option "[dry-run]" can't be used with option "[execute]"`},
		{"execute without reset", append(b, "--describe", "--group", "g", "--execute"), "gregor consumer-groups: Option [to-*]"},
		{"topic with describe", append(b, "--describe", "--group", "g", "--topic", "t"), `gregor consumer-groups: Option "[topic]" can only be used`},
		{"bad datetime", append(b, "--reset-offsets", "--group", "g", "--all-topics", "--to-datetime", "yesterday"), "gregor consumer-groups: Error parsing timestamp."},
		{"bad duration", append(b, "--reset-offsets", "--group", "g", "--all-topics", "--by-duration", "1h"), `gregor consumer-groups: --by-duration: "1h" is not an ISO-8601 duration`},
		{"bad partition", append(b, "--delete-offsets", "--group", "g", "--topic", "t:x"), `gregor consumer-groups: --topic t:x: "x" is not a partition`},
		{"stray argument", append(b, "--list", "g"), `gregor consumer-groups: unexpected argument "g"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runTool(t, "", withoutStdin(runConsumerGroups), tt.args...)
			if got.code != 2 || got.stdout != "" || !strings.HasPrefix(got.stderr, tt.wantStderr) {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant it to start:\n%s", got.code, got.stdout, got.stderr, tt.wantStderr)
			}
		})
	}
}

func TestParseResetTimes(t *testing.T) {
	utc := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	datetimes := []struct {
		in   string
		want time.Time
	}{
		{"2021-03-04T05:06:07.890Z", utc("2021-03-04T05:06:07.89Z")},
		{"2021-03-04T05:06:07.890+02:00", utc("2021-03-04T03:06:07.89Z")},
		{"2021-03-04T05:06:07.890-0130", utc("2021-03-04T06:36:07.89Z")},
		{"2021-03-04T05:06:07.890", time.Date(2021, 3, 4, 5, 6, 7, 890e6, time.Local)},
	}
	for _, tt := range datetimes {
		if got, err := parseDatetime(tt.in); err != nil || !got.Equal(tt.want) {
			t.Errorf("parseDatetime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"2021-03-04", "2021-03-04 05:06:07.890", "2021-03-04T05:06:07"} {
		if _, err := parseDatetime(bad); err == nil {
			t.Errorf("parseDatetime(%q) accepted", bad)
		}
	}
	durations := []struct {
		in   string
		want time.Duration
	}{
		{"PT1H", time.Hour},
		{"P1DT2H3M4.5S", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond},
		{"P2D", 48 * time.Hour},
		{"pt15m", 15 * time.Minute},
		{"-PT1M", -time.Minute},
	}
	for _, tt := range durations {
		if got, err := parseISODuration(tt.in); err != nil || got != tt.want {
			t.Errorf("parseISODuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "1H", "P1H", "P1DT"} {
		if _, err := parseISODuration(bad); err == nil {
			t.Errorf("parseISODuration(%q) accepted", bad)
		}
	}
}

func TestConsumerGroupsUnreachable(t *testing.T) {
	addr := unreachableAddr(t)
	start := time.Now()
	got := runTool(t, "", withoutStdin(runConsumerGroups), "--bootstrap-server", addr, "--list")
	if got.code != 1 || !strings.HasPrefix(got.stderr, "gregor consumer-groups: ") || !strings.Contains(got.stderr, addr) {
		t.Errorf("exit %d, stderr %q", got.code, got.stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v to give up", d)
	}
}
