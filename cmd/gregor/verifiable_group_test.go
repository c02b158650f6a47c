package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a strings.Builder safe for one writer and many readers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// groupMemberRun is one verifiable-consumer running in group mode.
type groupMemberRun struct {
	stdout, stderr syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func startVerifiableMember(t *testing.T, args ...string) *groupMemberRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMemberRun{cancel: cancel, done: make(chan int, 1)}
	go func() { m.done <- verifiableConsumer(ctx, args, &m.stdout, &m.stderr) }()
	t.Cleanup(func() {
		cancel()
		<-m.done
	})
	return m
}

// lines returns the complete lines printed so far.
func (m *groupMemberRun) lines() string {
	out := m.stdout.String()
	return out[:strings.LastIndex(out, "\n")+1]
}

// assignment replays the partitions_assigned and partitions_revoked events
// into the partitions the member holds now.
func assignment(t *testing.T, events []toolEvent) []int64 {
	held := map[int64]bool{}
	for _, e := range events {
		if e.name() != "partitions_assigned" && e.name() != "partitions_revoked" {
			continue
		}
		for _, p := range e["partitions"].([]any) {
			tp := toolEvent(p.(map[string]any))
			held[tp.int("partition")] = e.name() == "partitions_assigned"
		}
	}
	var out []int64
	for p, ok := range held {
		if ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Two verifiable consumers in one group share a topic's four partitions:
// each partition is read by exactly one of them, every record once, each
// poll committed synchronously; the group ends with no lag.
func TestVerifiableConsumerGroup(t *testing.T) {
	addr := startGroupGregor(t)
	tests := []struct {
		name, strategy string
		instanceID     string // of the first member
	}{
		{"range, static member", "org.apache.kafka.clients.consumer.RangeAssignor", "static-1"},
		{"cooperative sticky", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic, group := fmt.Sprintf("vg%d", i), fmt.Sprintf("vgroup%d", i)
			createTestTopic(t, addr, topic, "--partitions", "4")
			args := []string{"--bootstrap-server", addr, "--topic", topic, "--group-id", group,
				"--assignment-strategy", tt.strategy, "--session-timeout", "10000"}
			first := args
			if tt.instanceID != "" {
				first = append(slices.Clone(args), "--group-instance-id", tt.instanceID)
			}
			members := []*groupMemberRun{startVerifiableMember(t, first...), startVerifiableMember(t, args...)}
			waitFor(t, "two partitions each", func() (bool, string) {
				a, b := assignment(t, parseEvents(t, members[0].lines())), assignment(t, parseEvents(t, members[1].lines()))
				all := slices.Sorted(slices.Values(append(slices.Clone(a), b...)))
				return len(a) == 2 && len(b) == 2 && slices.Equal(all, []int64{0, 1, 2, 3}),
					fmt.Sprintf("%v %v\n%s\n%s", a, b, members[0].lines(), members[1].lines())
			})
			if tt.instanceID != "" {
				got := runTool(t, "", withoutStdin(runConsumerGroups), "--bootstrap-server", addr, "--describe", "--group", group, "--members")
				if !strings.Contains(got.stdout, " GROUP-INSTANCE-ID ") || !strings.Contains(got.stdout, " static-1 ") {
					t.Errorf("members view without the instance id:\n%s", got.stdout)
				}
			}
			produceTo(t, addr, topic, map[int32]int{0: 10, 1: 10, 2: 10, 3: 10})

			consumedBy := map[int64]int{} // partition → member
			waitFor(t, "40 records consumed", func() (bool, string) {
				total := int64(0)
				for _, m := range members {
					for _, e := range eventsNamed(parseEvents(t, m.lines()), "records_consumed") {
						total += e.int("count")
					}
				}
				return total >= 40, fmt.Sprintf("%d consumed", total)
			})
			for i, m := range members {
				m.cancel()
				if code := <-m.done; code != 0 {
					t.Fatalf("member %d: exit %d: %s", i, code, m.stderr.String())
				}
				m.done <- 0 // for the cleanup
			}
			for i, m := range members {
				events := parseEvents(t, m.stdout.String())
				if events[0].name() != "startup_complete" || events[len(events)-1].name() != "shutdown_complete" {
					t.Errorf("member %d events:\n%s", i, m.stdout.String())
				}
				held := map[int64]bool{}
				committed := map[int64]int64{}
				seen := map[int64]int64{} // partition → next offset expected
				for _, e := range events {
					switch e.name() {
					case "partitions_assigned", "partitions_revoked":
						for _, p := range e["partitions"].([]any) {
							held[toolEvent(p.(map[string]any)).int("partition")] = e.name() == "partitions_assigned"
						}
					case "records_consumed":
						for _, p := range e["partitions"].([]any) {
							ps := toolEvent(p.(map[string]any))
							part := ps.int("partition")
							if owner, ok := consumedBy[part]; ok && owner != i {
								t.Errorf("partition %d read by members %d and %d", part, owner, i)
							}
							consumedBy[part] = i
							if !held[part] {
								t.Errorf("member %d read partition %d, which it did not hold", i, part)
							}
							if ps.int("minOffset") != seen[part] || ps.int("maxOffset")-ps.int("minOffset")+1 != ps.int("count") {
								t.Errorf("member %d partition %d: %v after offset %d", i, part, ps, seen[part])
							}
							seen[part] = ps.int("maxOffset") + 1
						}
					case "offsets_committed":
						if e["success"] != true {
							t.Errorf("member %d: commit failed: %v", i, e)
						}
						for _, o := range e["offsets"].([]any) {
							os := toolEvent(o.(map[string]any))
							committed[os.int("partition")] = os.int("offset")
						}
					}
				}
				for p, next := range seen {
					if next != 10 || committed[p] != 10 {
						t.Errorf("member %d partition %d: read to %d, committed %d; want 10", i, p, next, committed[p])
					}
				}
			}
			if len(consumedBy) != 4 {
				t.Errorf("partitions read: %v", consumedBy)
			}
			got := runTool(t, "", withoutStdin(runConsumerGroups), "--bootstrap-server", addr, "--describe", "--group", group)
			for p := 0; p < 4; p++ {
				if !strings.Contains(got.stdout, fmt.Sprintf("%-15s %-15s %-10d 10              10              0 ", group, topic, p)) {
					t.Errorf("partition %d lag not 0:\n%s%s", p, got.stdout, got.stderr)
				}
			}
		})
	}
}
