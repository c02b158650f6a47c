package server

import (
	"fmt"
	"testing"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// leaderAndISRRequest builds a LeaderAndIsr request at version v naming
// broker 1 leader of orders-0 and orders-1 at leader epoch leaderEpoch.
func leaderAndISRRequest(v int16, controllerEpoch int32, brokerEpoch int64, leaderEpoch int32) *kmsg.LeaderAndISRRequest {
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version, req.ControllerID, req.ControllerEpoch, req.BrokerEpoch = v, 1, controllerEpoch, brokerEpoch
	states := []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState("orders", 0, 1, leaderEpoch, 1),
		leaderAndISRState("orders", 1, 1, leaderEpoch, 1),
	}
	if v < 2 {
		req.PartitionStates = states
		return req
	}
	ts := kmsg.NewLeaderAndISRRequestTopicState()
	ts.Topic, ts.TopicID = "orders", [16]byte{7}
	ts.PartitionStates = states
	req.TopicStates = append(req.TopicStates, ts)
	return req
}

// leaderAndISRCodes decodes resp as a client at version v would, and
// returns its top-level code and the per-partition codes of orders.
func leaderAndISRCodes(t *testing.T, v int16, resp kmsg.Response) (int16, []int16) {
	t.Helper()
	got := kmsg.NewPtrLeaderAndISRResponse()
	got.Version = v
	if err := got.ReadFrom(resp.AppendTo(nil)); err != nil {
		t.Fatalf("decode v%d: %v", v, err)
	}
	var codes []int16
	if v < 5 {
		if len(got.Topics) != 0 {
			t.Fatalf("v%d: topics in a per-partition response", v)
		}
		for _, p := range got.Partitions {
			if p.Topic != "orders" {
				t.Fatalf("v%d: topic %q", v, p.Topic)
			}
			codes = append(codes, p.ErrorCode)
		}
		return got.ErrorCode, codes
	}
	if len(got.Partitions) != 0 || len(got.Topics) != 1 || got.Topics[0].TopicID != [16]byte{7} {
		t.Fatalf("v%d: shape %+v", v, got)
	}
	for _, p := range got.Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	return got.ErrorCode, codes
}

func TestLeaderAndISREveryVersion(t *testing.T) {
	for v := int16(0); v <= 5; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			h, m := newTestReplicaHandlers(t)
			resp, err := call(t, h, leaderAndISRRequest(v, 1, -1, 0))
			if err != nil {
				t.Fatal(err)
			}
			top, codes := leaderAndISRCodes(t, v, resp)
			if top != 0 || len(codes) != 2 || codes[0] != 0 || codes[1] != 0 {
				t.Fatalf("error %d codes %v", top, codes)
			}
			for i := int32(0); i < 2; i++ {
				if _, ok := m.GetLog(logstore.TopicPartition{Topic: "orders", Partition: i}); !ok {
					t.Fatalf("no log for orders-%d", i)
				}
			}
			// The same request again: the epoch is not newer.
			resp, _ = call(t, h, leaderAndISRRequest(v, 1, -1, 0))
			if _, codes := leaderAndISRCodes(t, v, resp); codes[0] != kerr.StaleControllerEpoch.Code {
				t.Fatalf("repeat: codes %v", codes)
			}
		})
	}
}

func TestLeaderAndISRFences(t *testing.T) {
	tests := []struct {
		name            string
		v               int16
		controllerEpoch int32
		brokerEpoch     int64
		want            int16
	}{
		{"stale controller epoch", 5, 2, -1, kerr.StaleControllerEpoch.Code},
		{"stale broker epoch", 5, 3, 9, kerr.StaleBrokerEpoch.Code},
		{"broker epoch ignored before v2", 1, 3, 9, 0},
		{"newer broker epoch accepted", 2, 3, 11, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, m := newTestReplicaHandlers(t)
			h.brokerEpoch.Store(10)
			_ = h.controllerEpoch.apply(3, func() {})
			resp, err := call(t, h, leaderAndISRRequest(tt.v, tt.controllerEpoch, tt.brokerEpoch, 0))
			if err != nil {
				t.Fatal(err)
			}
			top, codes := leaderAndISRCodes(t, tt.v, resp)
			if top != tt.want || len(codes) != 2 || codes[0] != tt.want || codes[1] != tt.want {
				t.Fatalf("error %d codes %v, want %d", top, codes, tt.want)
			}
			_, hosted := m.GetLog(logstore.TopicPartition{Topic: "orders"})
			if hosted != (tt.want == 0) {
				t.Fatalf("log created: %v", hosted)
			}
		})
	}
}
