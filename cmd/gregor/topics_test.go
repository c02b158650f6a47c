package main

import (
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/server"
	"github.com/sirupsen/logrus"
)

// topicIDs matches the TopicId column: random ids the controller gives
// each topic when it creates it.
var topicIDs = regexp.MustCompile(`\tTopicId: [A-Za-z0-9_-]{22}\t`)

func TestTopics(t *testing.T) {
	tests := []struct {
		name       string
		setup      [][]string // gregor topics runs that must succeed first
		args       []string   // --bootstrap-server is added in front
		wantCode   int
		wantStdout string // exact, with TopicIds shown as <id>
		wantStderr string // exact
	}{
		{name: "list", args: []string{"--list"}, wantStdout: "orders\npayments\n"},
		{name: "list regex", args: []string{"--list", "--topic", "pay.*"}, wantStdout: "payments\n"},
		{name: "list regex must match the whole name", args: []string{"--list", "--topic", "pay"}, wantStdout: "\n"},
		{name: "list comma means or", args: []string{"--list", "--topic", "orders,payments"}, wantStdout: "orders\npayments\n"},
		{
			name:       "create",
			args:       []string{"--create", "--topic", "events", "--partitions", "2", "--replication-factor", "1"},
			wantStdout: "Created topic events.\n",
		},
		{
			name:       "create then list",
			setup:      [][]string{{"--create", "--topic", "events", "--partitions", "2", "--replication-factor", "1"}},
			args:       []string{"--list"},
			wantStdout: "events\norders\npayments\n",
		},
		{
			name:       "create warns about collisions",
			args:       []string{"--create", "--topic", "a.b", "--partitions", "1", "--replication-factor", "1"},
			wantStdout: "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.\nCreated topic a.b.\n",
		},
		{
			name:       "create existing",
			args:       []string{"--create", "--topic", "orders", "--partitions", "1", "--replication-factor", "1"},
			wantCode:   1,
			wantStderr: "Error while executing topic command : Topic 'orders' already exists.\n",
		},
		{
			name: "create existing with --if-not-exists",
			args: []string{"--create", "--topic", "orders", "--partitions", "1", "--replication-factor", "1", "--if-not-exists"},
		},
		{
			name: "describe",
			args: []string{"--describe", "--topic", "orders"},
			wantStdout: "Topic: orders\tTopicId: <id>\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: \n" +
				"\tTopic: orders\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: orders\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: orders\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\n",
		},
		{
			name: "describe all",
			args: []string{"--describe"},
			wantStdout: "Topic: orders\tTopicId: <id>\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: \n" +
				"\tTopic: orders\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: orders\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: orders\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"Topic: payments\tTopicId: <id>\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n" +
				"\tTopic: payments\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n",
		},
		{
			name:  "describe configs",
			setup: [][]string{{"--create", "--topic", "logs", "--partitions", "1", "--replication-factor", "1", "--config", "retention.ms=1000", "--config", "cleanup.policy = compact"}},
			args:  []string{"--describe", "--topic", "logs"},
			wantStdout: "Topic: logs\tTopicId: <id>\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: cleanup.policy=compact,retention.ms=1000\n" +
				"\tTopic: logs\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n",
		},
		{
			name:       "describe topics with overrides",
			setup:      [][]string{{"--create", "--topic", "logs", "--partitions", "1", "--replication-factor", "1", "--config", "retention.ms=1000"}},
			args:       []string{"--describe", "--topics-with-overrides"},
			wantStdout: "Topic: logs\tTopicId: <id>\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: retention.ms=1000\n",
		},
		{
			name:  "create with replica assignment",
			setup: [][]string{{"--create", "--topic", "manual", "--replica-assignment", "0,0"}},
			args:  []string{"--describe", "--topic", "manual"},
			wantStdout: "Topic: manual\tTopicId: <id>\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: \n" +
				"\tTopic: manual\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: manual\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n",
		},
		{name: "describe under-replicated: none", args: []string{"--describe", "--under-replicated-partitions"}},
		{name: "describe unavailable: none", args: []string{"--describe", "--unavailable-partitions"}},
		{
			name:       "describe missing",
			args:       []string{"--describe", "--topic", "nope"},
			wantCode:   1,
			wantStderr: "Error while executing topic command : Topic 'nope' does not exist as expected\n",
		},
		{name: "describe missing with --if-exists", args: []string{"--describe", "--topic", "nope", "--if-exists"}},
		{
			name:       "delete",
			setup:      [][]string{{"--delete", "--topic", "payments"}},
			args:       []string{"--list"},
			wantStdout: "orders\n",
		},
		{
			name:       "delete by regex",
			setup:      [][]string{{"--delete", "--topic", ".*s"}},
			args:       []string{"--list"},
			wantStdout: "\n",
		},
		{
			name:       "delete missing",
			args:       []string{"--delete", "--topic", "nope"},
			wantCode:   1,
			wantStderr: "Error while executing topic command : Topic 'nope' does not exist as expected\n",
		},
		{name: "delete missing with --if-exists", args: []string{"--delete", "--topic", "nope", "--if-exists"}},
		{
			name:  "alter partitions",
			setup: [][]string{{"--alter", "--topic", "payments", "--partitions", "3"}},
			args:  []string{"--describe", "--topic", "payments"},
			wantStdout: "Topic: payments\tTopicId: <id>\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: \n" +
				"\tTopic: payments\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: payments\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: payments\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\n",
		},
		{
			name:  "alter with replica assignment",
			setup: [][]string{{"--alter", "--topic", "payments", "--partitions", "2", "--replica-assignment", "0,0"}},
			args:  []string{"--describe", "--topic", "payments"},
			wantStdout: "Topic: payments\tTopicId: <id>\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: \n" +
				"\tTopic: payments\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: payments\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n",
		},
		{
			name:       "alter cannot shrink",
			args:       []string{"--alter", "--topic", "orders", "--partitions", "2"},
			wantCode:   1,
			wantStderr: "Error while executing topic command : ",
		},
		{
			name:       "alter missing",
			args:       []string{"--alter", "--topic", "nope", "--partitions", "2"},
			wantCode:   1,
			wantStderr: "Error while executing topic command : Topic 'nope' does not exist as expected\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Broker id 0, so that "0,0" is a valid replica assignment.
			addr := startGregorCluster(t, 1, func(int) map[string]string {
				return map[string]string{"broker.id": "0"}
			})[0].addr
			// orders gets 3 partitions, payments 1.
			for _, args := range [][]string{
				{"--create", "--topic", "orders", "--partitions", "3", "--replication-factor", "1"},
				{"--create", "--topic", "payments", "--partitions", "1", "--replication-factor", "1"},
			} {
				mustRunTopics(t, addr, args)
			}
			for _, args := range tt.setup {
				mustRunTopics(t, addr, args)
			}
			got := runTool(t, "", withoutStdin(runTopics), append([]string{"--bootstrap-server", addr}, tt.args...)...)
			if got.code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", got.code, tt.wantCode, got.stderr)
			}
			if stdout := topicIDs.ReplaceAllString(got.stdout, "\tTopicId: <id>\t"); stdout != tt.wantStdout {
				t.Errorf("stdout:\n%q\nwant:\n%q", stdout, tt.wantStdout)
			}
			if tt.wantCode != 0 && strings.HasSuffix(tt.wantStderr, ": ") {
				if !strings.HasPrefix(got.stderr, tt.wantStderr) {
					t.Errorf("stderr:\n%q\nwant it to start:\n%q", got.stderr, tt.wantStderr)
				}
			} else if got.stderr != tt.wantStderr {
				t.Errorf("stderr:\n%q\nwant:\n%q", got.stderr, tt.wantStderr)
			}
		})
	}
}

func mustRunTopics(t *testing.T, addr string, args []string) {
	t.Helper()
	got := runTool(t, "", withoutStdin(runTopics), append([]string{"--bootstrap-server", addr}, args...)...)
	if got.code != 0 {
		t.Fatalf("gregor topics %q: exit %d\n%s", args, got.code, got.stderr)
	}
}

func TestTopicsUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStderr string // a prefix
	}{
		{"no action", []string{"--bootstrap-server", "x:9092"}, "gregor topics: Command must include exactly one action"},
		{"two actions", []string{"--bootstrap-server", "x:9092", "--list", "--describe"}, "gregor topics: Command must include exactly one action"},
		{"no bootstrap server", []string{"--list"}, `gregor topics: Missing required argument "[bootstrap-server]"`},
		{"create without topic", []string{"--bootstrap-server", "x:9092", "--create"}, `gregor topics: Missing required argument "[topic]"`},
		{"alter without partitions", []string{"--bootstrap-server", "x:9092", "--alter", "--topic", "t"}, `gregor topics: Missing required argument "[partitions]"`},
		{"alter with config", []string{"--bootstrap-server", "x:9092", "--alter", "--topic", "t", "--partitions", "2", "--config", "a=b"}, `gregor topics: Option "[config]" can't be used with option "[alter]"`},
		{"replication factor with alter", []string{"--bootstrap-server", "x:9092", "--alter", "--topic", "t", "--partitions", "2", "--replication-factor", "1"}, `gregor topics: Option "[replication-factor]" can't be used with option "[alter]"`},
		{"partitions with list", []string{"--bootstrap-server", "x:9092", "--list", "--partitions", "2"}, `gregor topics: Option "[partitions]" can't be used with option "[list]"`},
		{"if-not-exists with delete", []string{"--bootstrap-server", "x:9092", "--delete", "--topic", "t", "--if-not-exists"}, `gregor topics: Option "[if-not-exists]" can't be used with option "[delete]"`},
		{"assignment with partitions", []string{"--bootstrap-server", "x:9092", "--create", "--topic", "t", "--partitions", "2", "--replica-assignment", "0,1"}, `gregor topics: Option "[replica-assignment]" can't be used`},
		{"zero partitions", []string{"--bootstrap-server", "x:9092", "--create", "--topic", "t", "--partitions", "0"}, "gregor topics: The partitions must be greater than 0"},
		{"bad replication factor", []string{"--bootstrap-server", "x:9092", "--create", "--topic", "t", "--replication-factor", "0"}, "gregor topics: The replication factor must be between 1 and 32767 inclusive"},
		{"bad assignment", []string{"--bootstrap-server", "x:9092", "--create", "--topic", "t", "--replica-assignment", "0:x"}, `gregor topics: --replica-assignment: "x" is not a broker id`},
		{"duplicate broker", []string{"--bootstrap-server", "x:9092", "--create", "--topic", "t", "--replica-assignment", "0:0"}, "gregor topics: Partition replica lists may not contain duplicate entries: 0"},
		{"uneven assignment", []string{"--bootstrap-server", "x:9092", "--create", "--topic", "t", "--replica-assignment", "0:1,2"}, "gregor topics: Partition 1 has different replication factor: [2]"},
		{"bad config", []string{"--bootstrap-server", "x:9092", "--create", "--topic", "t", "--config", "retention.ms"}, `gregor topics: Invalid topic config: all configs to be added must be in the format "key=val".`},
		{"unknown flag", []string{"--bootstrap-server", "x:9092", "--list", "--zookeeper", "z:2181"}, "flag provided but not defined: -zookeeper"},
		{"stray argument", []string{"--bootstrap-server", "x:9092", "--list", "orders"}, `gregor topics: unexpected argument "orders"`},
		{"two reports", []string{"--bootstrap-server", "x:9092", "--describe", "--under-min-isr-partitions", "--at-min-isr-partitions"}, `gregor topics: Option "[under-min-isr-partitions]" can't be used with option "[at-min-isr-partitions]"`},
		{"report with list", []string{"--bootstrap-server", "x:9092", "--list", "--at-min-isr-partitions"}, `gregor topics: Option "[at-min-isr-partitions]" can't be used with option "[list]"`},
		{"describe if-exists without topic", []string{"--bootstrap-server", "x:9092", "--describe", "--if-exists"}, `gregor topics: Missing required argument "[topic]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runTool(t, "", withoutStdin(runTopics), tt.args...)
			if got.code != 2 {
				t.Errorf("exit %d, want 2", got.code)
			}
			if got.stdout != "" {
				t.Errorf("stdout %q, want nothing", got.stdout)
			}
			if !strings.HasPrefix(got.stderr, tt.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to start:\n%s", got.stderr, tt.wantStderr)
			}
		})
	}
}

func TestTopicsUnreachable(t *testing.T) {
	addr := unreachableAddr(t)
	start := time.Now()
	got := runTool(t, "", withoutStdin(runTopics), "--bootstrap-server", addr, "--list")
	if got.code != 1 {
		t.Errorf("exit %d, want 1", got.code)
	}
	if want := "gregor topics: cannot connect to --bootstrap-server " + addr + ": "; !strings.HasPrefix(got.stderr, want) {
		t.Errorf("stderr:\n%s\nwant it to start:\n%s", got.stderr, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

// startGregor runs one Gregor broker, id 1, on a chroot of its own in the
// package's shared ZooKeeper and returns its address; it stops when the test
// ends.
func startGregor(t *testing.T) string {
	t.Helper()
	return startGregorCluster(t, 1, nil)[0].addr
}

// gregorBroker is one broker of a test cluster; stop shuts it down (once,
// also at the end of the test).
type gregorBroker struct {
	addr string
	stop func()
}

// startGregorCluster runs n Gregor brokers, ids 1..n, on a chroot of
// their own in the package's shared ZooKeeper (a JVM per test would cost
// seconds each), with the extra config given (extra(id), when not nil;
// it may override broker.id), and waits until each serves.
func startGregorCluster(t *testing.T, n int, extra func(id int) map[string]string) []gregorBroker {
	t.Helper()
	connect := zktest.Shared(t).Chroot(t)
	var out []gregorBroker
	for id := 1; id <= n; id++ {
		props := map[string]string{
			"broker.id":         strconv.Itoa(id),
			"listeners":         "PLAINTEXT://127.0.0.1:0",
			"log.dirs":          filepath.Join(t.TempDir(), "logs"),
			"zookeeper.connect": connect,
		}
		if extra != nil {
			for k, v := range extra(id) {
				props[k] = v
			}
		}
		cfg, _, err := conf.Parse(props)
		if err != nil {
			t.Fatal(err)
		}
		log := logrus.New()
		log.SetOutput(io.Discard)
		b, err := server.New(cfg, logrus.NewEntry(log))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("broker %d stopped with %v", id, err)
				}
			})
		}
		t.Cleanup(stop)
		select {
		case <-b.Ready():
		case err := <-done:
			t.Fatalf("broker %d failed to start: %v", id, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("broker %d not ready within 30s", id)
		}
		out = append(out, gregorBroker{addr: b.Addrs()[0].String(), stop: stop})
	}
	return out
}

// The --describe reports against a two-broker Gregor cluster, before and
// after broker 2 stops: "full" (replicas 1,2, min.insync.replicas=2),
// "pair" (replicas 1,2, min.insync.replicas=1) and "single" (replica 2).
func TestTopicsDescribeReports(t *testing.T) {
	brokers := startGregorCluster(t, 2, func(int) map[string]string {
		return map[string]string{"replica.lag.time.max.ms": "1000"}
	})
	addr := brokers[0].addr
	run := func(args ...string) toolResult {
		return runTool(t, "", withoutStdin(runTopics), append([]string{"--bootstrap-server", addr}, args...)...)
	}
	// The controller may not know broker 2 yet: retry until it does.
	waitFor(t, "topics created", func() (bool, string) {
		got := run("--create", "--topic", "full", "--replica-assignment", "1:2", "--config", "min.insync.replicas=2", "--if-not-exists")
		return got.code == 0, got.stderr
	})
	mustRunTopics(t, addr, []string{"--create", "--topic", "pair", "--replica-assignment", "1:2"})
	mustRunTopics(t, addr, []string{"--create", "--topic", "single", "--replica-assignment", "2"})

	full := "\tTopic: full\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\n"
	pair := "\tTopic: pair\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\n"
	single := "\tTopic: single\tPartition: 0\tLeader: 2\tReplicas: 2\tIsr: 2\n"
	waitFor(t, "replicas in sync", func() (bool, string) {
		got := run("--describe")
		return strings.Contains(got.stdout, full) && strings.Contains(got.stdout, pair) &&
			strings.Contains(got.stdout, single), got.stdout
	})
	before := []struct {
		report, want string
	}{
		{"--under-replicated-partitions", ""},
		{"--unavailable-partitions", ""},
		{"--under-min-isr-partitions", ""},
		{"--at-min-isr-partitions", full + single},
		{"--topics-with-overrides", "Topic: full\tTopicId: <id>\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: min.insync.replicas=2\n"},
	}
	for _, c := range before {
		got := run("--describe", c.report)
		if stdout := topicIDs.ReplaceAllString(got.stdout, "\tTopicId: <id>\t"); got.code != 0 || stdout != c.want {
			t.Errorf("all brokers up, %s: exit %d, stdout\n%q\nwant\n%q\nstderr %s", c.report, got.code, stdout, c.want, got.stderr)
		}
	}

	brokers[1].stop()
	fullShrunk := "\tTopic: full\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\n"
	pairShrunk := "\tTopic: pair\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\n"
	singleOffline := "\tTopic: single\tPartition: 0\tLeader: none\tReplicas: 2\tIsr: 2\n"
	waitFor(t, "ISRs shrunk", func() (bool, string) {
		got := run("--describe", "--under-replicated-partitions")
		return got.stdout == fullShrunk+pairShrunk, got.stdout + got.stderr
	})
	after := []struct {
		report, want string
	}{
		{"--unavailable-partitions", singleOffline},
		{"--under-min-isr-partitions", fullShrunk + singleOffline},
		// single keeps its last replica in the ISR, as in Kafka: one
		// replica in sync is min.insync.replicas=1, leader or not.
		{"--at-min-isr-partitions", pairShrunk + singleOffline},
	}
	for _, c := range after {
		waitFor(t, c.report, func() (bool, string) {
			got := run("--describe", c.report)
			return got.code == 0 && got.stdout == c.want, got.stdout + got.stderr
		})
	}
}

// Brokers with a broker.rack get rack-aware assignments from --create and
// --alter: broker 1 alone on rack r1, brokers 2 and 3 on r2, so every
// partition of two replicas has one on broker 1.
func TestTopicsRackAware(t *testing.T) {
	racks := map[int]string{1: "r1", 2: "r2", 3: "r2"}
	brokers := startGregorCluster(t, 3, func(id int) map[string]string {
		return map[string]string{"broker.rack": racks[id]}
	})
	addr := brokers[0].addr
	waitFor(t, "three brokers known", func() (bool, string) {
		got := runTool(t, "", withoutStdin(runTopics), "--bootstrap-server", addr, "--create", "--topic", "spread",
			"--partitions", "6", "--replication-factor", "2", "--if-not-exists")
		return got.code == 0, got.stderr
	})
	// Every broker's metadata must know the topic before --alter, which
	// may ask any of them (Kafka's tool has the same race).
	for _, b := range brokers {
		waitFor(t, "the topic known to "+b.addr, func() (bool, string) {
			got := runTool(t, "", withoutStdin(runTopics), "--bootstrap-server", b.addr, "--describe", "--topic", "spread")
			return got.code == 0 && strings.Contains(got.stdout, "Topic: spread"), got.stdout + got.stderr
		})
	}
	mustRunTopics(t, addr, []string{"--alter", "--topic", "spread", "--partitions", "9"})
	replicas := regexp.MustCompile(`\tPartition: (\d+)\tLeader: \S+\tReplicas: (\d+),(\d+)\t`)
	waitFor(t, "nine partitions described", func() (bool, string) {
		got := runTool(t, "", withoutStdin(runTopics), "--bootstrap-server", addr, "--describe", "--topic", "spread")
		return len(replicas.FindAllString(got.stdout, -1)) == 9, got.stdout + got.stderr
	})
	got := runTool(t, "", withoutStdin(runTopics), "--bootstrap-server", addr, "--describe", "--topic", "spread")
	for _, m := range replicas.FindAllStringSubmatch(got.stdout, -1) {
		if m[2] != "1" && m[3] != "1" {
			t.Errorf("partition %s on %s,%s: both on rack r2\n%s", m[1], m[2], m[3], got.stdout)
		}
	}
}

// waitFor polls cond every 100ms for up to 30s and fails the test with
// what cond last reported if it never holds.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s; last:\n%s", what, last)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
}

// Against a Gregor broker: --create waits for the leaders, --alter gets
// the broker's CreatePartitions answers, --delete its DeleteTopics
// answers, printed as kafka-topics prints them.
func TestTopicsAgainstGregor(t *testing.T) {
	addr := startGregor(t)
	run := func(args ...string) toolResult {
		return runTool(t, "", withoutStdin(runTopics), append([]string{"--bootstrap-server", addr}, args...)...)
	}
	if got := run("--create", "--topic", "orders", "--partitions", "2", "--replication-factor", "1"); got.code != 0 || got.stdout != "Created topic orders.\n" {
		t.Fatalf("create: %+v", got)
	}
	failures := []struct {
		args   []string
		stderr string
	}{
		{[]string{"--alter", "--topic", "orders", "--partitions", "1"}, "Topic currently has 2 partitions, which is higher than the requested 1."},
		{[]string{"--alter", "--topic", "orders", "--partitions", "2"}, "Topic already has 2 partitions."},
		{[]string{"--alter", "--topic", "orders", "--partitions", "3", "--replica-assignment", "1,1,7"}, "Unknown broker(s) in replica assignment: 7."},
		{[]string{"--alter", "--topic", "nope", "--partitions", "2"}, "Topic 'nope' does not exist as expected"},
		{[]string{"--delete", "--topic", "nope"}, "Topic 'nope' does not exist as expected"},
	}
	for _, f := range failures {
		got := run(f.args...)
		if want := "Error while executing topic command : " + f.stderr + "\n"; got.code != 1 || got.stderr != want || got.stdout != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want stderr %q", f.args, got.code, got.stdout, got.stderr, want)
		}
	}

	t.Run("alter grows", func(t *testing.T) {
		if got := run("--alter", "--topic", "orders", "--partitions", "4"); got.code != 0 || got.stdout != "" || got.stderr != "" {
			t.Fatalf("alter: %+v", got)
		}
		got := run("--describe", "--topic", "orders")
		if !strings.Contains(got.stdout, "\tPartitionCount: 4\t") || strings.Count(got.stdout, "\tLeader: 1\t") != 4 {
			t.Fatalf("describe after alter:\n%s", got.stdout)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if got := run("--delete", "--topic", "orders"); got.code != 0 || got.stdout != "" || got.stderr != "" {
			t.Fatalf("delete: %+v", got)
		}
		if got := run("--list"); got.stdout != "\n" {
			t.Fatalf("list after delete: %q", got.stdout)
		}
	})
}
