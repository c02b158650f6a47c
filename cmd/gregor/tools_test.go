package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// newTestCluster starts an in-memory Kafka (kfake) with one broker and the
// given topics of partitions partitions each, and returns its address. The
// broker does not serve Metadata yet, so the tools are tested against kfake.
func newTestCluster(t *testing.T, partitions int32, topics ...string) string {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
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
