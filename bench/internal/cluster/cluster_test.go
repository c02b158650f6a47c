package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(100-i) * time.Millisecond
	}
	for _, tt := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := Pct(ds, tt.p); got != tt.want {
			t.Errorf("Pct(1..100 ms, %d) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := Pct(nil, 50); got != 0 {
		t.Errorf("Pct(nil, 50) = %v, want 0", got)
	}
}

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	for _, tt := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{ms(7), 7 * time.Millisecond},
		{ms(9, 1, 5), 5 * time.Millisecond},
		{ms(8, 2, 6, 4), 5 * time.Millisecond},
	} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		n    int
		want string
	}{{2, "b\nc"}, {3, "a\nb\nc"}, {10, "a\nb\nc"}} {
		if got := Tail(path, tt.n); got != tt.want {
			t.Errorf("Tail(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// fakeBroker returns a broker whose binary is a shell script with body,
// run with the broker's arguments.
func fakeBroker(t *testing.T, body string) *Broker {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-gregor")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := NewBroker(bin, filepath.Join(dir, "b"), 7, "127.0.0.1:1/x", "a.b=c")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStop checks which ends of a broker process Stop reports: a clean
// exit on SIGTERM and a broker stopped by Kill are no error, a broker that
// exited by itself or failed on SIGTERM is.
func TestStop(t *testing.T) {
	for _, tt := range []struct {
		name    string
		body    string
		kill    bool
		exited  bool // wait for the process to exit before Stop
		wantErr string
	}{
		{"sigterm", "trap 'exit 0' TERM; : >ready; while :; do sleep 0.05; done", false, false, ""},
		{"killed", ": >ready; exec sleep 60", true, false, ""},
		{"exited by itself", "exit 3", false, true, "the broker had exited: exit status 3"},
		{"unclean on sigterm", "trap 'exit 4' TERM; : >ready; while :; do sleep 0.05; done", false, false, "exited with exit status 4 on SIGTERM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := fakeBroker(t, tt.body)
			if err := b.Start(); err != nil {
				t.Fatal(err)
			}
			if tt.exited {
				<-b.done
			} else {
				// Wait until the script has set its trap.
				err := Poll(t.Context(), 30*time.Second, "ready", Cluster{b}, func(context.Context) (bool, string) {
					_, err := os.Stat(filepath.Join(b.dir, "ready"))
					return err == nil, fmt.Sprint(err)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			if tt.kill {
				if err := b.Kill(); err != nil {
					t.Fatal(err)
				}
				if err := b.Kill(); err == nil {
					t.Error("second Kill: no error, want one")
				}
			}
			err := b.Stop()
			if tt.wantErr == "" && err != nil {
				t.Errorf("Stop = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Stop = %v, want %q", err, tt.wantErr)
			}
			if b.Running() {
				t.Error("running after Stop")
			}
		})
	}
}

// TestNewBroker checks the server.properties a broker is given.
func TestNewBroker(t *testing.T) {
	b := fakeBroker(t, "exit 0")
	got, err := os.ReadFile(b.propsPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "broker.id=7\nlisteners=PLAINTEXT://" + b.Addr + "\nlog.dirs=" + filepath.Join(b.dir, "logs") +
		"\nzookeeper.connect=127.0.0.1:1/x\nreplica.fetch.backoff.ms=100\na.b=c\n"
	if string(got) != want {
		t.Errorf("server.properties =\n%s\nwant\n%s", got, want)
	}
}

// TestPollBrokerExit checks that Poll gives up when a watched broker exits
// instead of waiting for its timeout.
func TestPollBrokerExit(t *testing.T) {
	b := fakeBroker(t, "sleep 0.2; exit 1")
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := Poll(t.Context(), time.Minute, "nothing", Cluster{b}, func(ctx context.Context) (bool, string) { return false, "" })
	if err == nil || !strings.Contains(err.Error(), "broker 7 exited") {
		t.Errorf("Poll = %v, want the broker's exit", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Poll took %v", d)
	}
	_ = b.Stop()
}

// TestFreeAddrUnique takes many addresses in a row, closing nothing in
// between as NewBroker does: none repeats, and each can be listened on.
func TestFreeAddrUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 300 {
		a, err := FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		if seen[a] {
			t.Fatalf("FreeAddr returned %s twice", a)
		}
		seen[a] = true
	}
	for a := range seen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("listen on %s: %v", a, err)
		}
		l.Close()
		break
	}
}
