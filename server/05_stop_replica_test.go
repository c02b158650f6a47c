package server

import (
	"fmt"
	"os"
	"testing"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stopReplicaRequest builds a StopReplica request at version v for orders-0
// (and, v3, leader epoch leaderEpoch).
func stopReplicaRequest(v int16, controllerEpoch int32, brokerEpoch int64, leaderEpoch int32, del bool) *kmsg.StopReplicaRequest {
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version, req.ControllerID, req.ControllerEpoch, req.BrokerEpoch = v, 1, controllerEpoch, brokerEpoch
	req.DeletePartitions = del
	t := kmsg.NewStopReplicaRequestTopic()
	t.Topic = "orders"
	switch {
	case v == 0:
		t.Partition = 0
	case v <= 2:
		t.Partitions = []int32{0}
	default:
		ps := kmsg.NewStopReplicaRequestTopicPartitionState()
		ps.Partition, ps.LeaderEpoch, ps.Delete = 0, leaderEpoch, del
		t.PartitionStates = append(t.PartitionStates, ps)
	}
	req.Topics = append(req.Topics, t)
	return req
}

// stopReplicaCodes decodes resp at version v; it returns the top-level
// code and the code of orders-0.
func stopReplicaCodes(t *testing.T, v int16, resp kmsg.Response) (int16, int16) {
	t.Helper()
	got := kmsg.NewPtrStopReplicaResponse()
	got.Version = v
	if err := got.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatalf("decode v%d: %v", v, err)
	}
	if len(got.Partitions) != 1 || got.Partitions[0].Topic != "orders" || got.Partitions[0].Partition != 0 {
		t.Fatalf("v%d: partitions %+v", v, got.Partitions)
	}
	return got.ErrorCode, got.Partitions[0].ErrorCode
}

func TestStopReplicaEveryVersion(t *testing.T) {
	for v := int16(0); v <= 3; v++ {
		for _, del := range []bool{false, true} {
			t.Run(fmt.Sprintf("v%d delete=%v", v, del), func(t *testing.T) {
				h, m := newTestReplicaHandlers(t)
				call(t, h, leaderAndISRRequest(5, 1, -1, 4))
				tp := logstore.TopicPartition{Topic: "orders", Partition: 0}
				l, _ := m.GetLog(tp)
				resp, err := call(t, h, stopReplicaRequest(v, 1, -1, 5, del))
				if err != nil {
					t.Fatal(err)
				}
				if top, code := stopReplicaCodes(t, v, resp); top != 0 || code != 0 {
					t.Fatalf("error %d code %d", top, code)
				}
				_, hostedErr := h.replicas.getPartition(tp)
				_, logLoaded := m.GetLog(tp)
				_, statErr := os.Stat(l.Dir())
				if del {
					if hostedErr != kerr.UnknownTopicOrPartition || logLoaded || !os.IsNotExist(statErr) {
						t.Fatalf("after delete: hosted %v, log loaded %v, folder %v", hostedErr, logLoaded, statErr)
					}
					return
				}
				if hostedErr != nil || !logLoaded || statErr != nil {
					t.Fatalf("after stop: hosted %v, log loaded %v, folder %v", hostedErr, logLoaded, statErr)
				}
			})
		}
	}
}

func TestStopReplicaLeaderEpochs(t *testing.T) {
	tests := []struct {
		name        string
		leaderEpoch int32
		want        int16
	}{
		{"older", 3, kerr.FencedLeaderEpoch.Code},
		{"equal", 4, kerr.FencedLeaderEpoch.Code},
		{"newer", 5, 0},
		{"no epoch", -1, 0},
		{"during delete", -2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, m := newTestReplicaHandlers(t)
			call(t, h, leaderAndISRRequest(5, 1, -1, 4))
			resp, _ := call(t, h, stopReplicaRequest(3, 1, -1, tt.leaderEpoch, true))
			if _, code := stopReplicaCodes(t, 3, resp); code != tt.want {
				t.Fatalf("code %d, want %d", code, tt.want)
			}
			_, loaded := m.GetLog(logstore.TopicPartition{Topic: "orders"})
			if loaded != (tt.want != 0) {
				t.Fatalf("log still loaded: %v", loaded)
			}
		})
	}
}

func TestStopReplicaFences(t *testing.T) {
	tests := []struct {
		name            string
		v               int16
		controllerEpoch int32
		brokerEpoch     int64
		want            int16
	}{
		{"stale controller epoch", 3, 2, -1, kerr.StaleControllerEpoch.Code},
		{"stale broker epoch", 3, 3, 9, kerr.StaleBrokerEpoch.Code},
		{"broker epoch absent in v0", 0, 3, 9, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, m := newTestReplicaHandlers(t)
			call(t, h, leaderAndISRRequest(5, 3, -1, 4))
			h.brokerEpoch.Store(10)
			resp, err := call(t, h, stopReplicaRequest(tt.v, tt.controllerEpoch, tt.brokerEpoch, 5, true))
			if err != nil {
				t.Fatal(err)
			}
			if top, code := stopReplicaCodes(t, tt.v, resp); top != tt.want || code != tt.want {
				t.Fatalf("error %d code %d, want %d", top, code, tt.want)
			}
			_, loaded := m.GetLog(logstore.TopicPartition{Topic: "orders"})
			if loaded != (tt.want != 0) {
				t.Fatalf("log still loaded: %v", loaded)
			}
		})
	}
}
