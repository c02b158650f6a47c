package server

import (
	"context"
	"slices"
	"testing"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var existingTopicID = [16]byte{0xee, 1}

// deleteTopics sends DeleteTopics with a timeout of 30s; a request that
// waits has the controller played for it (playController), which removes
// the topics pending deletion from the cache.
func deleteTopics(t *testing.T, h *handlers, v int16, topics ...kmsg.DeleteTopicsRequestTopic) *kmsg.DeleteTopicsResponse {
	t.Helper()
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = v, 30000
	if v >= 6 {
		req.Topics = topics
	} else {
		for _, tt := range topics {
			req.TopicNames = append(req.TopicNames, *tt.Topic)
		}
	}
	r, _ := callAdmin(t, h, req, playController(t, h, h.topics.(*zkutil.Client)))
	resp := r.(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != len(topics) {
		t.Fatalf("%d topics answered, %d asked", len(resp.Topics), len(topics))
	}
	return resp
}

func byName(name string) kmsg.DeleteTopicsRequestTopic {
	return kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr(name)}
}

// cacheExisting puts topic "existing" (one partition, id existingTopicID)
// back in h's cache, as the controller would after creating it.
func cacheExisting(t *testing.T, h *handlers) {
	t.Helper()
	updateMetadata(t, h, partitionState("existing", 0, 1, 1, 2))
	h.metadata.update(&MetadataUpdate{ControllerID: 1, LiveBrokers: h.metadata.snapshotBrokersForTest(),
		TopicIDs: map[string][16]byte{"existing": existingTopicID}})
}

func TestDeleteTopics(t *testing.T) {
	h, zkc := adminTestHandlers(t)
	ctx := context.Background()
	if err := zkc.CreateTopic(ctx, "existing", zkutil.TopicAssignment{Partitions: map[int32][]int32{0: {1, 2}}}); err != nil {
		t.Fatal(err)
	}
	cacheExisting(t, h)

	for v := int16(0); v <= 6; v++ {
		resp := deleteTopics(t, h, v, byName("existing"), byName("unknown"))
		if resp.Topics[0].ErrorCode != 0 || resp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("v%d: %+v", v, resp.Topics)
		}
		if strPtr(resp.Topics[0].Topic) != "existing" {
			t.Fatalf("v%d: answered for %s", v, strPtr(resp.Topics[0].Topic))
		}
		if h.metadata.Contains("existing") {
			t.Fatalf("v%d: answered before the topic left the cache", v)
		}
		// The deletion stays pending (the played controller does not
		// finish it in ZooKeeper): asking again is no error.
		cacheExisting(t, h)
	}
	if pending, err := zkc.TopicDeletions(ctx); err != nil || !slices.Equal(pending, []string{"existing"}) {
		t.Fatalf("deletions pending: %v %v", pending, err)
	}

	resp := deleteTopics(t, h, 6, kmsg.DeleteTopicsRequestTopic{TopicID: existingTopicID}, kmsg.DeleteTopicsRequestTopic{TopicID: [16]byte{9}})
	if got := resp.Topics[0]; got.ErrorCode != 0 || strPtr(got.Topic) != "existing" || got.TopicID != existingTopicID {
		t.Fatalf("by id: %+v", got)
	}
	if got := resp.Topics[1]; got.ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown id: error %d", got.ErrorCode)
	}
	cacheExisting(t, h)
	resp = deleteTopics(t, h, 6, byName("existing"), kmsg.DeleteTopicsRequestTopic{Topic: kmsg.StringPtr("existing"), TopicID: existingTopicID})
	for _, got := range resp.Topics {
		if got.ErrorCode != kerr.InvalidRequest.Code {
			t.Fatalf("name and id: error %d", got.ErrorCode)
		}
	}

	// A timeout of 0 does not wait; a short one waits for a controller
	// that does not act, then times out.
	for _, timeout := range []int32{0, 100} {
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.Version, req.TimeoutMillis, req.TopicNames = 5, timeout, []string{"existing", "unknown"}
		r, parked := callAdmin(t, h, req, nil)
		got := r.(*kmsg.DeleteTopicsResponse).Topics
		if got[0].ErrorCode != kerr.RequestTimedOut.Code || got[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("timeout %d: errors %d, %d", timeout, got[0].ErrorCode, got[1].ErrorCode)
		}
		if parked != (timeout > 0) {
			t.Fatalf("timeout %d: waited %v", timeout, parked)
		}
	}

	h.cfg.DeleteTopicEnable = false
	for v, want := range map[int16]*kerr.Error{2: kerr.InvalidRequest, 3: kerr.TopicDeletionDisabled, 6: kerr.TopicDeletionDisabled} {
		if got := deleteTopics(t, h, v, byName("existing")).Topics[0]; got.ErrorCode != want.Code {
			t.Fatalf("v%d with delete.topic.enable=false: error %d, want %s", v, got.ErrorCode, want.Message)
		}
	}
	h.cfg.DeleteTopicEnable = true

	h.metadata.update(&MetadataUpdate{ControllerID: 2, LiveBrokers: h.metadata.snapshotBrokersForTest()})
	if got := deleteTopics(t, h, 6, byName("existing")).Topics[0]; got.ErrorCode != kerr.NotController.Code {
		t.Fatalf("not the controller: error %d", got.ErrorCode)
	}
}
