package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// requireKcat returns kcat's path, or skips t with the reason (fails it when
// GREGOR_CI=1, as the CI installs kcat).
func requireKcat(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("GREGOR_CI") == "1" {
			t.Fatalf("kcat is required when GREGOR_CI=1: %v", err)
		}
		t.Skipf("skipping: needs kcat on PATH: %v", err)
	}
	return path
}

// kcat runs kcat with args and stdin, bounded in time, and returns its
// standard output.
func kcat(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestKcat lists a broker with `kcat -L`, produces keyed lines with
// `kcat -P -K:` and consumes them back with `kcat -C -e`.
func TestKcat(t *testing.T) {
	t.Parallel()
	bin := requireKcat(t)
	c := StartCluster(t, 1)
	addr := c.Brokers[0].Addr
	const topic = "kcat"
	c.CreateTopic(topic, 1)

	meta := kcat(t, bin, "", "-b", addr, "-L", "-t", topic)
	for _, want := range []string{"1 brokers:", "broker 1 at " + addr, `topic "kcat" with 1 partitions:`, "partition 0, leader 1"} {
		if !strings.Contains(meta, want) {
			t.Fatalf("kcat -L output lacks %q:\n%s", want, meta)
		}
	}

	input := "a:one\nb:two\na:three\nc:four\n"
	kcat(t, bin, input, "-b", addr, "-P", "-t", topic, "-K:")
	got := kcat(t, bin, "", "-b", addr, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", `%k=%s\n`)
	want := "a=one\nb=two\na=three\nc=four\n"
	if got != want {
		t.Fatalf("kcat -C printed:\n%s\nwant:\n%s", got, want)
	}
}
