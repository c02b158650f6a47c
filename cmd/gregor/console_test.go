package main

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// createTimes matches the timestamp column, which depends on the clock.
var createTimes = regexp.MustCompile(`CreateTime:\d{13}`)

// safetyTimeout bounds every consumer run in these tests: a test that
// expects records stops at --max-messages long before this.
const safetyTimeout = "10000"

func produce(t *testing.T, addr, topic, lines string, args ...string) {
	t.Helper()
	got := runTool(t, lines, runConsoleProducer, append([]string{"--bootstrap-server", addr, "--topic", topic}, args...)...)
	if got.code != 0 || got.stdout != "" || got.stderr != "" {
		t.Fatalf("console-producer %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, got.code, got.stdout, got.stderr)
	}
}

func consumeArgs(addr, topic string, args ...string) []string {
	return append([]string{"--bootstrap-server", addr, "--topic", topic, "--timeout-ms", safetyTimeout}, args...)
}

// TestConsoleRoundTrip produces records with and without keys and headers
// and reads them back with every formatter property.
func TestConsoleRoundTrip(t *testing.T) {
	addr := startGregorWithTopics(t, 1, "t")
	produce(t, addr, "t", "h1:v1,h2:v2\tk1\tv1\nh3:x\tk2\tv2\n",
		"--property", "parse.key=true", "--property", "parse.headers=true")
	produce(t, addr, "t", "k3|v3\r\n", "--property", "parse.key=true", "--property", "key.separator=|", "--sync")
	produce(t, addr, "t", "v4") // no newline at the end

	tests := []struct {
		name  string
		args  []string
		want  string // stdout, with timestamps shown as <ts>
		count int
	}{
		{"values", []string{"--from-beginning"}, "v1\nv2\nv3\nv4\n", 4},
		{"keys", []string{"--from-beginning", "--property", "print.key=true"}, "k1\tv1\nk2\tv2\nk3\tv3\nnull\tv4\n", 4},
		{"timestamp and key", []string{"--from-beginning", "--property", "print.timestamp=true", "--property", "print.key=true"},
			"CreateTime:<ts>\tk1\tv1\nCreateTime:<ts>\tk2\tv2\nCreateTime:<ts>\tk3\tv3\nCreateTime:<ts>\tnull\tv4\n", 4},
		{"partition and offset", []string{"--from-beginning", "--property", "print.partition=true", "--property", "print.offset=true"},
			"Partition:0\tOffset:0\tv1\nPartition:0\tOffset:1\tv2\nPartition:0\tOffset:2\tv3\nPartition:0\tOffset:3\tv4\n", 4},
		{"headers", []string{"--from-beginning", "--property", "print.headers=true"},
			"h1:v1,h2:v2\tv1\nh3:x\tv2\nNO_HEADERS\tv3\nNO_HEADERS\tv4\n", 4},
		{"everything with separators", []string{"--from-beginning", "--max-messages", "2",
			"--property", "print.timestamp=true", "--property", "print.partition=true", "--property", "print.offset=true",
			"--property", "print.headers=true", "--property", "print.key=true",
			"--property", "key.separator= | ", "--property", "line.separator=;\n", "--property", "headers.separator=&"},
			"CreateTime:<ts> | Partition:0 | Offset:0 | h1:v1&h2:v2 | k1 | v1;\nCreateTime:<ts> | Partition:0 | Offset:1 | h3:x | k2 | v2;\n", 2},
		{"keys only", []string{"--from-beginning", "--property", "print.key=true", "--property", "print.value=false", "--property", "null.literal=<none>"},
			"k1\nk2\nk3\n<none>\n", 4},
		{"max messages", []string{"--from-beginning", "--max-messages", "1"}, "v1\n", 1},
		{"partition and offset flags", []string{"--partition", "0", "--offset", "2", "--max-messages", "2"}, "v3\nv4\n", 2},
		{"offset earliest", []string{"--partition", "0", "--offset", "earliest", "--max-messages", "1"}, "v1\n", 1},
		{"partition from beginning", []string{"--partition", "0", "--from-beginning", "--max-messages", "3"}, "v1\nv2\nv3\n", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := consumeArgs(addr, "t", tt.args...)
			if !slices.Contains(args, "--max-messages") {
				args = append(args, "--max-messages", "4")
			}
			got := runTool(t, "", withoutStdin(runConsoleConsumer), args...)
			if got.code != 0 {
				t.Errorf("exit %d, want 0", got.code)
			}
			if stdout := createTimes.ReplaceAllString(got.stdout, "CreateTime:<ts>"); stdout != tt.want {
				t.Errorf("stdout:\n%q\nwant:\n%q", stdout, tt.want)
			}
			if want := "Processed a total of " + strconv.Itoa(tt.count) + " messages\n"; got.stderr != want {
				t.Errorf("stderr:\n%q\nwant:\n%q", got.stderr, want)
			}
		})
	}
}

// TestConsoleConsumerTimeout checks that --timeout-ms ends a run that finds
// nothing to read, with status 0 as Kafka's tool.
func TestConsoleConsumerTimeout(t *testing.T) {
	addr := startGregorWithTopics(t, 1, "t")
	produce(t, addr, "t", "old\n")
	got := runTool(t, "", withoutStdin(runConsoleConsumer), "--bootstrap-server", addr, "--topic", "t", "--timeout-ms", "200")
	if got.code != 0 || got.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 0 and nothing", got.code, got.stdout)
	}
	if !strings.HasSuffix(got.stderr, "Processed a total of 0 messages\n") || !strings.Contains(got.stderr, "--timeout-ms") {
		t.Errorf("stderr:\n%s", got.stderr)
	}
}

// TestConsoleAllPartitions reads a topic of three partitions without
// --partition; keyed records go where Kafka's partitioner puts them.
func TestConsoleAllPartitions(t *testing.T) {
	addr := startGregorWithTopics(t, 3, "multi")
	produce(t, addr, "multi", "a\t1\nb\t2\nc\t3\nd\t4\ne\t5\nf\t6\n", "--property", "parse.key=true")
	got := runTool(t, "", withoutStdin(runConsoleConsumer), consumeArgs(addr, "multi", "--from-beginning", "--max-messages", "6",
		"--property", "print.key=true", "--property", "print.partition=true")...)
	if got.code != 0 {
		t.Fatalf("exit %d\n%s", got.code, got.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(got.stdout, "\n"), "\n")
	slices.Sort(lines)
	// franz-go's partitioner, with no hasher, partitions as Kafka's
	// DefaultPartitioner does: murmur2(key) & 0x7fffffff % partitions.
	kafka := kgo.StickyKeyPartitioner(nil).ForTopic("multi")
	var want []string
	for i, key := range []string{"a", "b", "c", "d", "e", "f"} {
		p := kafka.Partition(&kgo.Record{Key: []byte(key)}, 3)
		want = append(want, fmt.Sprintf("Partition:%d\t%s\t%d", p, key, i+1))
	}
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("records:\n%q\nwant:\n%q", lines, want)
	}
}

// TestConsoleCompressionAndAcks round-trips records produced with each
// codec and acks setting, each case on a topic of its own on one broker.
func TestConsoleCompressionAndAcks(t *testing.T) {
	cases := [][]string{
		{"--compression-codec", "none"},
		{"--compression-codec", "gzip"},
		{"--compression-codec", "snappy"},
		{"--compression-codec", "lz4"},
		{"--compression-codec", "zstd"},
		{"--compression-codec", "GZIP", "--sync"},
		{"--request-required-acks", "0"},
		{"--request-required-acks", "all", "--batch-size", "1", "--timeout", "0"},
		{"--request-required-acks", "-1", "--message-send-max-retries", "0"},
	}
	var topics []string
	for i := range cases {
		topics = append(topics, "t"+strconv.Itoa(i))
	}
	addr := startGregorWithTopics(t, 1, topics...)
	for i, args := range cases {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			lines := strings.Repeat("compressible line\n", 50)
			produce(t, addr, topics[i], lines, args...)
			got := runTool(t, "", withoutStdin(runConsoleConsumer), consumeArgs(addr, topics[i], "--from-beginning", "--max-messages", "50")...)
			if got.code != 0 || got.stdout != lines {
				t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", got.code, got.stdout, got.stderr)
			}
		})
	}
}

// TestConsoleProducerBadLine checks that a line without a key separator
// stops the producer with status 1 after the lines before it are sent.
func TestConsoleProducerBadLine(t *testing.T) {
	addr := startGregorWithTopics(t, 1, "t")
	got := runTool(t, "k\tv\nnovalue\nk2\tv2\n", runConsoleProducer, "--bootstrap-server", addr, "--topic", "t", "--property", "parse.key=true")
	if got.code != 1 || got.stderr != "gregor console-producer: No key separator found on line number 2: 'novalue'\n" {
		t.Errorf("exit %d, stderr:\n%q", got.code, got.stderr)
	}
	got = runTool(t, "", withoutStdin(runConsoleConsumer), consumeArgs(addr, "t", "--from-beginning", "--max-messages", "1")...)
	if got.stdout != "v\n" {
		t.Errorf("consumed %q, want the line before the bad one", got.stdout)
	}
	// ignore.error=true sends such a line as a value without a key.
	produce(t, addr, "t", "novalue\n", "--property", "parse.key=true", "--property", "ignore.error=true")
	got = runTool(t, "", withoutStdin(runConsoleConsumer), consumeArgs(addr, "t", "--partition", "0", "--offset", "1", "--max-messages", "1", "--property", "print.key=true")...)
	if got.stdout != "null\tnovalue\n" {
		t.Errorf("consumed %q", got.stdout)
	}
}

func TestConsoleUsage(t *testing.T) {
	tests := []struct {
		name       string
		run        func([]string, io.Reader, io.Writer, io.Writer) int
		args       []string
		wantStderr string // a prefix
	}{
		{"producer without topic", runConsoleProducer, []string{"--bootstrap-server", "x:9092"}, `gregor console-producer: Missing required argument "[topic]"`},
		{"producer without bootstrap", runConsoleProducer, []string{"--topic", "t"}, `gregor console-producer: Missing required argument "[bootstrap-server]"`},
		{"producer bad acks", runConsoleProducer, []string{"--bootstrap-server", "x:9092", "--topic", "t", "--request-required-acks", "2"}, "gregor console-producer: --request-required-acks must be one of"},
		{"producer bad codec", runConsoleProducer, []string{"--bootstrap-server", "x:9092", "--topic", "t", "--compression-codec", "brotli"}, "gregor console-producer: --compression-codec must be one of"},
		{"producer bad batch size", runConsoleProducer, []string{"--bootstrap-server", "x:9092", "--topic", "t", "--batch-size", "0"}, "gregor console-producer: --batch-size"},
		{"producer unknown flag", runConsoleProducer, []string{"--bootstrap-server", "x:9092", "--topic", "t", "--broker-list", "x:9092"}, "flag provided but not defined: -broker-list"},
		{"producer stray argument", runConsoleProducer, []string{"--bootstrap-server", "x:9092", "--topic", "t", "--property", "parse.key=true", "key.separator=:"}, `gregor console-producer: unexpected argument "key.separator=:"`},
		{"consumer group and partition", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092", "--topic", "t", "--group", "g", "--partition", "0"}, "gregor console-consumer: Options group and partition cannot be specified together."},
		{"consumer two group ids", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092", "--topic", "t", "--group", "g", "--consumer-property", "group.id=h"}, "gregor console-consumer: The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: 'g', 'h'"},
		{"consumer bad reset", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092", "--topic", "t", "--consumer-property", "group.id=h", "--consumer-property", "auto.offset.reset=none"}, `gregor console-consumer: auto.offset.reset: "none" is not earliest or latest`},
		{"consumer without topic", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092"}, "gregor console-consumer: Exactly one of whitelist/topic is required."},
		{"consumer without bootstrap", withoutStdin(runConsoleConsumer), []string{"--topic", "t"}, `gregor console-consumer: Missing required argument "[bootstrap-server]"`},
		{"consumer offset without partition", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092", "--topic", "t", "--offset", "3"}, "gregor console-consumer: The partition is required when offset is specified."},
		{"consumer offset and from-beginning", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092", "--topic", "t", "--partition", "0", "--offset", "3", "--from-beginning"}, "gregor console-consumer: Options from-beginning and offset cannot be specified together."},
		{"consumer bad offset", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092", "--topic", "t", "--partition", "0", "--offset", "-3"}, "gregor console-consumer: The provided offset value '-3' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."},
		{"consumer negative partition", withoutStdin(runConsoleConsumer), []string{"--bootstrap-server", "x:9092", "--topic", "t", "--partition", "-1"}, "gregor console-consumer: --partition must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runTool(t, "", tt.run, tt.args...)
			if got.code != 2 {
				t.Errorf("exit %d, want 2", got.code)
			}
			if !strings.HasPrefix(got.stderr, tt.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to start:\n%s", got.stderr, tt.wantStderr)
			}
		})
	}
}

func TestConsoleUnreachable(t *testing.T) {
	addr := unreachableAddr(t)
	for name, run := range map[string]func([]string, io.Reader, io.Writer, io.Writer) int{
		"console-producer": runConsoleProducer,
		"console-consumer": withoutStdin(runConsoleConsumer),
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			got := runTool(t, "line\n", run, "--bootstrap-server", addr, "--topic", "t")
			if got.code != 1 {
				t.Errorf("exit %d, want 1", got.code)
			}
			if want := "gregor " + name + ": cannot connect to --bootstrap-server " + addr + ": "; !strings.HasPrefix(got.stderr, want) {
				t.Errorf("stderr:\n%s\nwant it to start:\n%s", got.stderr, want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v to give up", d)
			}
		})
	}
}

// TestConsoleConsumerUnknownTopic checks that a topic the cluster does not
// have (and will not auto-create) ends the consumer with status 1.
func TestConsoleConsumerUnknownTopic(t *testing.T) {
	addr := startGregorNoAutoCreate(t, 1, "t")
	got := runTool(t, "", withoutStdin(runConsoleConsumer), "--bootstrap-server", addr, "--topic", "nope", "--timeout-ms", "200")
	if got.code != 1 || !strings.HasPrefix(got.stderr, "gregor console-consumer: topic nope: ") {
		t.Errorf("exit %d, stderr:\n%s", got.code, got.stderr)
	}
}

// TestConsoleProducerRejected checks that a record the cluster refuses is
// reported the way Kafka's ErrorLoggingCallback reports it, and makes the
// exit status 1.
func TestConsoleProducerRejected(t *testing.T) {
	addr := startGregorNoAutoCreate(t, 1, "t")
	for _, mode := range [][]string{nil, {"--sync"}} {
		t.Run(fmt.Sprint("mode", mode), func(t *testing.T) {
			args := append([]string{"--bootstrap-server", addr, "--topic", "nope", "--message-send-max-retries", "0"}, mode...)
			got := runTool(t, "x\n", runConsoleProducer, args...)
			if got.code != 1 {
				t.Errorf("exit %d, want 1", got.code)
			}
			if want := "ERROR Error when sending message to topic nope with key: null, value: 1 bytes with error: "; !strings.HasPrefix(got.stderr, want) {
				t.Errorf("stderr:\n%s\nwant it to start:\n%s", got.stderr, want)
			}
		})
	}
}
