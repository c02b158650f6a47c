package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startGregorWithTopics runs one Gregor broker (startGregor) with the
// given topics (createTopics) and returns its address.
func startGregorWithTopics(t *testing.T, partitions int32, topics ...string) string {
	t.Helper()
	addr := startGregor(t)
	createTopics(t, addr, partitions, topics...)
	return addr
}

// startGregorNoAutoCreate runs one Gregor broker with
// auto.create.topics.enable=false and the given topics. Kafka's tools, as
// sarama, ask for auto-creation in every Metadata request, so only such a
// broker refuses a topic that does not exist.
func startGregorNoAutoCreate(t *testing.T, partitions int32, topics ...string) string {
	t.Helper()
	addr := startGregorCluster(t, 1, func(int) map[string]string {
		return map[string]string{"auto.create.topics.enable": "false"}
	})[0].addr
	createTopics(t, addr, partitions, topics...)
	return addr
}

// createTopics creates the given topics, of partitions partitions each and
// one replica, with a CreateTopics request, and returns once Metadata shows
// a leader for every partition, so that a tool run next finds them all.
func createTopics(t *testing.T, addr string, partitions int32, topics ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = 30000
	for _, topic := range topics {
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, partitions, 1
		create.Topics = append(create.Topics, ct)
	}
	resp, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	for _, ct := range resp.Topics {
		if err := kerr.ErrorForCode(ct.ErrorCode); err != nil {
			t.Fatalf("CreateTopics %s: %v", ct.Topic, err)
		}
	}
	waitFor(t, "leaders for "+strings.Join(topics, ", "), func() (bool, string) {
		meta := kmsg.NewPtrMetadataRequest()
		for _, topic := range topics {
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(topic)
			meta.Topics = append(meta.Topics, mt)
		}
		resp, err := meta.RequestWith(ctx, cl)
		if err != nil {
			return false, err.Error()
		}
		for _, mt := range resp.Topics {
			if err := kerr.ErrorForCode(mt.ErrorCode); err != nil || len(mt.Partitions) != int(partitions) {
				return false, fmt.Sprintf("topic %s: %v, %d partitions", *mt.Topic, err, len(mt.Partitions))
			}
			for _, p := range mt.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.Leader < 0 {
					return false, fmt.Sprintf("%s/%d: %v, leader %d", *mt.Topic, p.Partition, err, p.Leader)
				}
			}
		}
		return true, ""
	})
}

// unreachableAddr returns an address nothing listens on: a port that was
// free a moment ago, so that dialing it is refused at once.
func unreachableAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// toolResult is what one run of a tool printed and returned.
type toolResult struct {
	code           int
	stdout, stderr string
}

// runTool runs a tool's run function with stdin as its input.
func runTool(t *testing.T, stdin string, f func(args []string, stdin io.Reader, stdout, stderr io.Writer) int, args ...string) toolResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := f(args, strings.NewReader(stdin), &stdout, &stderr)
	return toolResult{code, stdout.String(), stderr.String()}
}

// withoutStdin adapts a tool that reads no input to runTool.
func withoutStdin(f func(args []string, stdout, stderr io.Writer) int) func([]string, io.Reader, io.Writer, io.Writer) int {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) int { return f(args, stdout, stderr) }
}
