package server

import (
	"context"
	"testing"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkHandleProduce is the broker's cost of one acks=1 Produce
// request of six partitions with one 100-byte record each, from the
// decoded frame to the encoded response: what a producer with linger 0
// costs per request, without the network. -benchmem shows the handler's
// own garbage per request.
func BenchmarkHandleProduce(b *testing.B) {
	m, err := logstore.NewManager(logstore.ManagerConfig{
		Dirs:             []string{b.TempDir()},
		DefaultLogConfig: logstore.DefaultLogConfig(),
		Logger:           discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = m.Shutdown() }()
	h := newHandlers(1, discardLogger())
	h.replicas = newReplicaManager(1, m, func(string) logstore.LogConfig { return logstore.DefaultLogConfig() }, discardLogger())
	var states []kmsg.LeaderAndISRRequestTopicPartition
	var parts []producePart
	opts := logstore.NewBuildOptions()
	batch, err := logstore.BuildBatch(opts, []logstore.Record{{Value: make([]byte, 100)}})
	if err != nil {
		b.Fatal(err)
	}
	for p := range int32(6) {
		states = append(states, leaderAndISRState("bench", p, 1, 1, 1))
		parts = append(parts, producePart{"bench", p, batch})
	}
	for tp, c := range h.replicas.becomeLeaderOrFollower(0, states, nil) {
		if c != 0 {
			b.Fatalf("LeaderAndIsr %s: code %d", tp, c)
		}
	}
	req := produceRequest(7, 1, parts...)
	body := req.AppendTo(nil)
	clientID := "bench"
	frame := make([]byte, len(body))
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		copy(frame, body) // the append patches the batches in place
		nr := &network.Request{
			Header: network.RequestHeader{APIKey: req.Key(), APIVersion: req.Version, CorrelationID: 7, ClientID: &clientID},
			Body:   frame,
		}
		var resp kmsg.Response
		if err := h.Handle(context.Background(), nr, func(r kmsg.Response) { resp = r }); err != nil {
			b.Fatal(err)
		}
		buf = resp.AppendTo(buf[:0])
	}
}
