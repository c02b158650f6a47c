package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestBadPorts(t *testing.T) {
	for _, ports := range []string{"", "x", "9092,", "-1", "65536"} {
		var stderr bytes.Buffer
		if code := run([]string{"-ports", ports}, io.Discard, &stderr, nil); code != 2 {
			t.Errorf("-ports %q: exit %d, want 2 (%s)", ports, code, stderr.String())
		}
	}
}

// TestPortTaken: a port in use is an exit with 1, not a hang.
func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")
	if code := run([]string{"-ports", port}, io.Discard, io.Discard, nil); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

// TestServe starts two brokers on free ports, checks that a client sees
// both at the printed addresses, then stops the server.
func TestServe(t *testing.T) {
	stop := make(chan os.Signal, 1)
	out := &syncBuffer{lines: make(chan string, 1)}
	code := make(chan int, 1)
	go func() { code <- run([]string{"-ports", "0,0"}, out, io.Discard, stop) }()
	var line string
	select {
	case line = <-out.lines:
	case <-time.After(30 * time.Second):
		t.Fatal("no listening line in 30 s")
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "listening" {
		t.Fatalf("printed %q", line)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(f[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	stop <- os.Interrupt
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d after stop, want 0", c)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not exit within 30 s of stop")
	}
}

// syncBuffer hands each write (one line here) to a channel.
type syncBuffer struct{ lines chan string }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.lines <- string(p)
	return len(p), nil
}
