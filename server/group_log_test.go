package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/coordinator/group"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupLogTest is broker 1 leading __consumer_offsets-0 (replicas 1 and 2)
// with the given ISR, and its group.Log.
func groupLogTest(t *testing.T, isr ...int32) (*handlers, *groupLog, *Partition) {
	t.Helper()
	h, _ := newTestReplicaHandlers(t)
	h.replicas.onHighWatermark = h.onHighWatermark
	codes := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState(groupMetadataTopic, 0, 1, 1, isr...),
		leaderAndISRState(groupMetadataTopic, 1, 2, 1, 2),
	}, nil)
	for tp, c := range codes {
		if c != 0 {
			t.Fatalf("LeaderAndIsr %s: code %d", tp, c)
		}
	}
	p, err := h.replicas.getPartition(offsetsPartition(0))
	if err != nil {
		t.Fatal(err)
	}
	return h, &groupLog{h: h, acks: -1, timeout: 30 * time.Second, readBytes: 1 << 20}, p
}

// appendAsync appends and returns where done's error arrives.
func appendAsync(g *groupLog, p int32, recs ...group.Record) <-chan error {
	ch := make(chan error, 2)
	g.Append(p, recs, func(err error) { ch <- err })
	return ch
}

func waitDone(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Append never completed")
		return nil
	}
}

func readAll(t *testing.T, g *groupLog, p int32) []group.Record {
	t.Helper()
	var out []group.Record
	if err := g.Read(context.Background(), p, func(r group.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGroupLogRoundTrip appends uncompressed and compressed batches, a
// tombstone among them, and reads them back.
func TestGroupLogRoundTrip(t *testing.T) {
	_, g, _ := groupLogTest(t, 1)
	var want []group.Record
	for i, c := range []logstore.Compression{logstore.CompressionNone, logstore.CompressionGzip, logstore.CompressionZstd} {
		g.compression = c
		recs := []group.Record{
			{Timestamp: 1000 + int64(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte("v")},
			{Timestamp: 2000 + int64(i), Key: []byte(fmt.Sprintf("t%d", i))}, // tombstone
		}
		if err := waitDone(t, appendAsync(g, 0, recs...)); err != nil {
			t.Fatalf("append %s: %v", c, err)
		}
		for _, r := range recs {
			r.Offset = int64(len(want))
			want = append(want, r)
		}
	}
	got := readAll(t, g, 0)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, r := want[i], got[i]
		if r.Offset != w.Offset || r.Timestamp != w.Timestamp || !bytes.Equal(r.Key, w.Key) ||
			!bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) {
			t.Fatalf("record %d: %+v, want %+v", i, r, w)
		}
	}
	// A small read size still reads everything, a batch at a time.
	g.readBytes = 1
	if n := len(readAll(t, g, 0)); n != len(want) {
		t.Fatalf("read %d records with a 1-byte buffer", n)
	}
}

// TestGroupLogAppendWaitsForReplication checks that Append completes only
// once the high watermark passed the batch.
func TestGroupLogAppendWaitsForReplication(t *testing.T) {
	h, g, p := groupLogTest(t, 1, 2)
	done := appendAsync(g, 0, group.Record{Key: []byte("k"), Value: []byte("v")})
	select {
	case err := <-done:
		t.Fatalf("completed before the follower fetched: %v", err)
	default:
	}
	leo := p.Log().LogEndOffset()
	if ok, hwMoved := p.updateFollowerFetchState(2, leo, 0, leo); !ok || !hwMoved {
		t.Fatalf("follower fetch: ok %v, high watermark moved %v", ok, hwMoved)
	}
	h.onHighWatermark(offsetsPartition(0))
	if err := waitDone(t, done); err != nil {
		t.Fatal(err)
	}
}

func TestGroupLogAppendFailures(t *testing.T) {
	tests := []struct {
		name  string
		isr   []int32
		setup func(h *handlers, g *groupLog, p *Partition)
		part  int32
		after func(h *handlers) // once appended
		want  *kerr.Error
	}{
		{name: "ISR below min.insync.replicas", isr: []int32{1}, want: kerr.NotEnoughReplicas,
			setup: func(_ *handlers, _ *groupLog, p *Partition) {
				cfg := *p.Log().Config()
				cfg.MinInSyncReplicas = 2
				p.Log().UpdateConfig(cfg)
			}},
		{name: "not hosted", isr: []int32{1}, part: 5, want: kerr.UnknownTopicOrPartition},
		{name: "follower", isr: []int32{1}, part: 1, want: kerr.NotLeaderForPartition},
		{name: "times out", isr: []int32{1, 2}, want: kerr.RequestTimedOut,
			setup: func(_ *handlers, g *groupLog, _ *Partition) { g.timeout = 50 * time.Millisecond }},
		{name: "leadership lost while waiting", isr: []int32{1, 2}, want: kerr.NotLeaderForPartition,
			after: func(h *handlers) {
				h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
					leaderAndISRState(groupMetadataTopic, 0, 2, 2, 2),
				}, nil)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, g, p := groupLogTest(t, tt.isr...)
			if tt.setup != nil {
				tt.setup(h, g, p)
			}
			before := p.Log().LogEndOffset()
			done := appendAsync(g, tt.part, group.Record{Key: []byte("k"), Value: []byte("v")})
			if tt.after != nil {
				tt.after(h)
			}
			err := waitDone(t, done)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.want == kerr.NotEnoughReplicas && p.Log().LogEndOffset() != before {
				t.Fatal("appended although the ISR was too small")
			}
		})
	}
}

func TestGroupLogReadStops(t *testing.T) {
	_, g, _ := groupLogTest(t, 1)
	for i := range 3 {
		if err := waitDone(t, appendAsync(g, 0, group.Record{Key: []byte{byte(i)}, Value: []byte("v")})); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := g.Read(context.Background(), 0, func(group.Record) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("fn's error: %v after %d records", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Read(ctx, 0, func(group.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
	if err := g.Read(context.Background(), 5, func(group.Record) error { return nil }); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("read of a partition not hosted: %v", err)
	}
}

// TestOffsetsLeadershipReachesTheCoordinator checks the coordinator hears
// of every leadership change of __consumer_offsets, and of nothing else.
func TestOffsetsLeadershipReachesTheCoordinator(t *testing.T) {
	h, _ := newTestReplicaHandlers(t)
	f := &fakeGroups{}
	h.replicas.offsetsLeadership = f
	rm := h.replicas
	rm.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState(groupMetadataTopic, 0, 1, 3, 1),
		leaderAndISRState(groupMetadataTopic, 1, 2, 4, 2),
		leaderAndISRState("orders", 0, 1, 1, 1),
	}, nil)
	rm.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState(groupMetadataTopic, 0, 1, 3, 1), // stale: ignored
		leaderAndISRState(groupMetadataTopic, 1, 1, 5, 1),
	}, nil)
	rm.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState(groupMetadataTopic, 0, 2, 6, 2),
	}, nil)
	rm.stopReplicas([]stopReplicaPartition{
		{tp: offsetsPartition(0), leaderEpoch: 7},
		{tp: offsetsPartition(1), leaderEpoch: epochDuringDelete, delete: true},
		{tp: logstore.TopicPartition{Topic: "orders", Partition: 0}, leaderEpoch: stopReplicaNoEpoch, delete: true},
	})
	rm.stopReplicas([]stopReplicaPartition{{tp: offsetsPartition(0), leaderEpoch: 6}}) // fenced: ignored
	want := []string{"elect 0@3", "resign 1@4", "elect 1@5", "resign 0@6", "resign 0@7", "resign 1@-1"}
	if got := f.leadership(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("coordinator heard %v, want %v", got, want)
	}
}
