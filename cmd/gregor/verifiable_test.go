package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestMain lets a test run the gregor binary's main in a child process
// (the test binary itself, with GREGOR_RUN_TOOL holding the arguments as
// JSON), so that signal handling is tested on a real process. Otherwise it
// runs the tests and then stops the shared ZooKeeper the brokers use.
func TestMain(m *testing.M) {
	if raw := os.Getenv("GREGOR_RUN_TOOL"); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			panic(err)
		}
		os.Exit(run(args, os.Stdout, os.Stderr))
	}
	os.Exit(zktest.RunMain(m))
}

// toolEvent is one decoded line of a verifiable tool's output.
type toolEvent map[string]any

func (e toolEvent) name() string { return e["name"].(string) }

func (e toolEvent) int(k string) int64 {
	f, _ := e[k].(float64)
	return int64(f)
}

// parseEvents decodes the JSON lines of out, failing on any other line.
func parseEvents(t *testing.T, out string) []toolEvent {
	t.Helper()
	var events []toolEvent
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var e toolEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		if _, ok := e["timestamp"].(float64); !ok {
			t.Fatalf("line %q has no timestamp", line)
		}
		events = append(events, e)
	}
	return events
}

// eventsNamed returns the events of that name.
func eventsNamed(events []toolEvent, name string) []toolEvent {
	var out []toolEvent
	for _, e := range events {
		if e.name() == name {
			out = append(out, e)
		}
	}
	return out
}

func createTestTopic(t *testing.T, addr, topic string, args ...string) {
	t.Helper()
	mustRunTopics(t, addr, append([]string{"--create", "--topic", topic, "--replication-factor", "1"}, args...))
}

func runProducer(t *testing.T, args ...string) toolResult {
	t.Helper()
	return runTool(t, "", withoutStdin(func(a []string, stdout, stderr io.Writer) int {
		return verifiableProducer(context.Background(), a, stdout, stderr)
	}), args...)
}

func runConsumer(t *testing.T, args ...string) toolResult {
	t.Helper()
	return runTool(t, "", withoutStdin(func(a []string, stdout, stderr io.Writer) int {
		return verifiableConsumer(context.Background(), a, stdout, stderr)
	}), args...)
}

func TestVerifiableProducerAndConsumer(t *testing.T) {
	addr := startGregor(t)
	createTestTopic(t, addr, "vp", "--partitions", "1")

	got := runProducer(t, "--bootstrap-server", addr, "--topic", "vp", "--max-messages", "5")
	if got.code != 0 || got.stderr != "" {
		t.Fatalf("producer: exit %d, stderr %s", got.code, got.stderr)
	}
	// The exact lines, timestamps aside, in Kafka's field order.
	lines := strings.Split(strings.TrimSuffix(regexp.MustCompile(`"timestamp":\d+`).ReplaceAllString(got.stdout, `"timestamp":T`), "\n"), "\n")
	want := []string{`{"timestamp":T,"name":"startup_complete"}`}
	for i := 0; i < 5; i++ {
		want = append(want, `{"timestamp":T,"name":"producer_send_success","key":null,"value":"`+strconv.Itoa(i)+`","topic":"vp","partition":0,"offset":`+strconv.Itoa(i)+`}`)
	}
	want = append(want, `{"timestamp":T,"name":"shutdown_complete"}`)
	if len(lines) != len(want)+1 {
		t.Fatalf("output:\n%s", got.stdout)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d:\n%s\nwant\n%s", i, lines[i], w)
		}
	}
	if !regexp.MustCompile(`^\{"timestamp":T,"name":"tool_data","sent":5,"acked":5,"target_throughput":-1,"avg_throughput":[0-9.e+]+\}$`).MatchString(lines[len(want)]) {
		t.Errorf("tool_data line: %s", lines[len(want)])
	}

	t.Run("prefix, keys and create time", func(t *testing.T) {
		createTestTopic(t, addr, "keyed", "--partitions", "2")
		got := runProducer(t, "--bootstrap-server", addr, "--topic", "keyed", "--max-messages", "6",
			"--value-prefix", "7", "--repeating-keys", "3", "--message-create-time", "1000000", "--throughput", "1000")
		if got.code != 0 {
			t.Fatalf("exit %d: %s", got.code, got.stderr)
		}
		sent := eventsNamed(parseEvents(t, got.stdout), "producer_send_success")
		if len(sent) != 6 {
			t.Fatalf("%d successes:\n%s", len(sent), got.stdout)
		}
		partitionOfKey := map[string]int64{}
		values := map[string]bool{}
		for _, e := range sent {
			values[e["value"].(string)] = true
			key := e["key"].(string)
			if p, ok := partitionOfKey[key]; ok && p != e.int("partition") {
				t.Errorf("key %s on partitions %d and %d", key, p, e.int("partition"))
			}
			partitionOfKey[key] = e.int("partition")
		}
		for i := 0; i < 6; i++ {
			if !values["7."+strconv.Itoa(i)] {
				t.Errorf("value 7.%d not acknowledged: %v", i, values)
			}
		}
		if len(partitionOfKey) != 3 {
			t.Errorf("keys %v, want 0, 1 and 2", partitionOfKey)
		}

		// The consumer reads them back, with --verbose, from both partitions.
		got = runConsumer(t, "--bootstrap-server", addr, "--topic", "keyed", "--max-messages", "6", "--verbose")
		if got.code != 0 {
			t.Fatalf("consumer: exit %d: %s", got.code, got.stderr)
		}
		events := parseEvents(t, got.stdout)
		if events[0].name() != "startup_complete" || events[1].name() != "partitions_assigned" || events[len(events)-1].name() != "shutdown_complete" {
			t.Fatalf("events:\n%s", got.stdout)
		}
		if !strings.Contains(got.stdout, `"name":"partitions_assigned","partitions":[{"topic":"keyed","partition":0},{"topic":"keyed","partition":1}]}`) {
			t.Errorf("partitions_assigned:\n%s", got.stdout)
		}
		var total int64
		for _, e := range eventsNamed(events, "records_consumed") {
			var sum int64
			for _, p := range e["partitions"].([]any) {
				ps := toolEvent(p.(map[string]any))
				sum += ps.int("count")
				if ps.int("maxOffset")-ps.int("minOffset")+1 != ps.int("count") {
					t.Errorf("summary %v: offsets do not span the count", ps)
				}
			}
			if sum != e.int("count") {
				t.Errorf("records_consumed %v: partitions add up to %d", e, sum)
			}
			total += sum
		}
		records := eventsNamed(events, "record_data")
		if total != 6 || len(records) != 6 {
			t.Fatalf("consumed %d records, %d record_data:\n%s", total, len(records), got.stdout)
		}
		for _, r := range records {
			if want := partitionOfKey[r["key"].(string)]; r.int("partition") != want {
				t.Errorf("record %v: key on partition %d", r, want)
			}
		}
		if !regexp.MustCompile(`\{"timestamp":\d+,"name":"record_data","key":"0","value":"7.0","topic":"keyed","partition":\d,"offset":0\}`).MatchString(got.stdout) {
			t.Errorf("record_data line format:\n%s", got.stdout)
		}
	})

	t.Run("consumer bounded by max-messages and assigned partitions", func(t *testing.T) {
		got := runConsumer(t, "--bootstrap-server", addr, "--topic", "vp", "--max-messages", "3", "--assign-partitions", "0")
		if got.code != 0 {
			t.Fatalf("exit %d: %s", got.code, got.stderr)
		}
		var total int64
		for _, e := range eventsNamed(parseEvents(t, got.stdout), "records_consumed") {
			total += e.int("count")
		}
		if total != 3 {
			t.Fatalf("consumed %d, want 3:\n%s", total, got.stdout)
		}
		if got := runConsumer(t, "--bootstrap-server", addr, "--topic", "vp", "--assign-partitions", "4"); got.code != 1 || !strings.Contains(got.stderr, "topic vp has no partition 4") {
			t.Fatalf("missing partition: exit %d, stderr %s", got.code, got.stderr)
		}
	})

	t.Run("send errors", func(t *testing.T) {
		// One replica and min.insync.replicas=2: acks=-1 fails with
		// NOT_ENOUGH_REPLICAS, acks=1 succeeds.
		createTestTopic(t, addr, "strict", "--partitions", "1", "--config", "min.insync.replicas=2")
		props := filepath.Join(t.TempDir(), "producer.properties")
		if err := os.WriteFile(props, []byte("retries=0\nlinger.ms=0\nunknown.key=1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		got := runProducer(t, "--bootstrap-server", addr, "--topic", "strict", "--max-messages", "2", "--producer.config", props)
		if got.code != 0 {
			t.Fatalf("exit %d: %s", got.code, got.stderr)
		}
		if got.stderr != "gregor verifiable-producer: ignoring producer config unknown.key\n" {
			t.Errorf("stderr %q", got.stderr)
		}
		events := parseEvents(t, got.stdout)
		errs := eventsNamed(events, "producer_send_error")
		if len(errs) != 2 || len(eventsNamed(events, "producer_send_success")) != 0 {
			t.Fatalf("events:\n%s", got.stdout)
		}
		if !regexp.MustCompile(`\{"timestamp":\d+,"name":"producer_send_error","key":null,"value":"0","topic":"strict","exception":"class org.apache.kafka.common.errors.NotEnoughReplicasException","message":"[^"]+"\}`).MatchString(got.stdout) {
			t.Errorf("producer_send_error line:\n%s", got.stdout)
		}
		last := events[len(events)-1]
		if last.name() != "tool_data" || last.int("sent") != 2 || last.int("acked") != 0 {
			t.Errorf("tool_data %v", last)
		}
		got = runProducer(t, "--bootstrap-server", addr, "--topic", "strict", "--max-messages", "1", "--acks", "1", "--producer.config", props)
		if len(eventsNamed(parseEvents(t, got.stdout), "producer_send_success")) != 1 {
			t.Fatalf("acks=1:\n%s", got.stdout)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		props := filepath.Join(t.TempDir(), "producer.properties")
		if err := os.WriteFile(props, []byte("enable.idempotence=true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		got := runProducer(t, "--bootstrap-server", addr, "--topic", "vp", "--max-messages", "3", "--producer.config", props)
		if n := len(eventsNamed(parseEvents(t, got.stdout), "producer_send_success")); got.code != 0 || n != 3 {
			t.Fatalf("exit %d, %d successes:\n%s%s", got.code, n, got.stdout, got.stderr)
		}
		got = runProducer(t, "--bootstrap-server", addr, "--topic", "vp", "--max-messages", "3", "--producer.config", props, "--acks", "1")
		if got.code != 2 || !strings.Contains(got.stderr, "enable.idempotence=true needs acks=-1") {
			t.Fatalf("idempotence with acks=1: exit %d, stderr %s", got.code, got.stderr)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		// Unbounded, until the context ends: the closing events still come.
		ctx, cancel := context.WithCancel(context.Background())
		r, w := io.Pipe()
		done := make(chan int, 1)
		var stderr strings.Builder
		go func() {
			done <- verifiableProducer(ctx, []string{"--bootstrap-server", addr, "--topic", "vp", "--throughput", "200"}, w, &stderr)
			w.Close()
		}()
		var out strings.Builder
		sc := bufio.NewScanner(r)
		successes := 0
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "producer_send_success") {
				if successes++; successes == 3 {
					cancel()
				}
			}
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		events := parseEvents(t, out.String())
		n := len(events)
		if n < 2 || events[n-2].name() != "shutdown_complete" || events[n-1].name() != "tool_data" {
			t.Fatalf("events:\n%s", out.String())
		}
		answered := len(eventsNamed(events, "producer_send_success")) + len(eventsNamed(events, "producer_send_error"))
		if events[n-1].int("sent") != int64(answered) || events[n-1].int("target_throughput") != 200 {
			t.Fatalf("tool_data %v, %d answers", events[n-1], answered)
		}
	})
}

// startTool runs gregor with args in a child process and returns it with a
// scanner over its stdout.
func startTool(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner, *strings.Builder) {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GREGOR_RUN_TOOL="+string(raw))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, bufio.NewScanner(stdout), &stderr
}

// SIGTERM stops both tools cleanly: the closing events, exit status 0.
func TestVerifiableToolsSignal(t *testing.T) {
	addr := startGregor(t)
	createTestTopic(t, addr, "sig", "--partitions", "1")
	tests := []struct {
		name    string
		args    []string
		waitFor string // the event after which SIGTERM is sent
		last    []string
	}{
		{"producer", []string{"verifiable-producer", "--bootstrap-server", addr, "--topic", "sig", "--throughput", "100"},
			"producer_send_success", []string{"shutdown_complete", "tool_data"}},
		{"consumer", []string{"verifiable-consumer", "--bootstrap-server", addr, "--topic", "sig"},
			"records_consumed", []string{"shutdown_complete"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, sc, stderr := startTool(t, tt.args...)
			var out strings.Builder
			signalled := false
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if !signalled && strings.Contains(sc.Text(), `"name":"`+tt.waitFor+`"`) {
					signalled = true
					if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
				}
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			select {
			case err := <-waited:
				if err != nil {
					t.Fatalf("exit: %v; stderr %s\nstdout:\n%s", err, stderr.String(), out.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("not stopped within 30s of SIGTERM")
			}
			if !signalled {
				t.Fatalf("never saw %s:\n%s%s", tt.waitFor, out.String(), stderr.String())
			}
			events := parseEvents(t, out.String())
			tail := events[len(events)-len(tt.last):]
			for i, name := range tt.last {
				if tail[i].name() != name {
					t.Fatalf("last events %v, want %v:\n%s", tail, tt.last, out.String())
				}
			}
		})
	}
}

func TestVerifiableUsage(t *testing.T) {
	tests := []struct {
		name       string
		tool       func(context.Context, []string, io.Writer, io.Writer) int
		args       []string
		wantStderr string // a prefix
	}{
		{"producer without topic", verifiableProducer, []string{"--bootstrap-server", "x:1"}, `gregor verifiable-producer: Missing required argument "[topic]"`},
		{"producer without server", verifiableProducer, []string{"--topic", "t"}, `gregor verifiable-producer: Missing required argument "[bootstrap-server]"`},
		{"producer bad acks", verifiableProducer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--acks", "2"}, "gregor verifiable-producer: --acks must be 0, 1 or -1, not 2"},
		{"producer bad keys", verifiableProducer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--repeating-keys", "0"}, "gregor verifiable-producer: --repeating-keys must be positive"},
		{"producer missing config file", verifiableProducer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--producer.config", "/nonexistent"}, "gregor verifiable-producer: --producer.config: "},
		{"consumer group with assigned partitions", verifiableConsumer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--group-id", "g", "--assign-partitions", "0"}, "gregor verifiable-consumer: --assign-partitions cannot be used with --group-id"},
		{"consumer unknown assignor", verifiableConsumer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--group-id", "g", "--assignment-strategy", "org.example.MyAssignor"}, `gregor verifiable-consumer: --assignment-strategy: "org.example.MyAssignor" is not one of`},
		{"consumer group option without group", verifiableConsumer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--enable-autocommit"}, "gregor verifiable-consumer: --enable-autocommit needs --group-id"},
		{"consumer without topic", verifiableConsumer, []string{"--bootstrap-server", "x:1"}, `gregor verifiable-consumer: Missing required argument "[topic]"`},
		{"consumer bad reset policy", verifiableConsumer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--reset-policy", "none"}, `gregor verifiable-consumer: --reset-policy: "none" is not earliest or latest`},
		{"consumer bad partition", verifiableConsumer, []string{"--bootstrap-server", "x:1", "--topic", "t", "--assign-partitions", "0,x"}, `gregor verifiable-consumer: --assign-partitions: "x" is not a partition`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			if code := tt.tool(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), tt.wantStderr) {
				t.Errorf("stdout %q, stderr %q; want stderr to start %q", stdout.String(), stderr.String(), tt.wantStderr)
			}
		})
	}
}
