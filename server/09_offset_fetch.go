package server

// OffsetFetch (key 9): versions 0-7.
//
// Kafka 2.8's handleOffsetFetchRequest. v0 reads ZooKeeper,
// /consumers/<group>/offsets/<topic>/<p> (Kafka's legacy storage): a
// partition the metadata cache does not know, or with no offset stored, is
// offset -1 with empty metadata and no error, as Kafka answers; a
// ZooKeeper failure is offset -1 with the error's code. v1 and later are
// served by the group coordinator (coordinator/group), from
// __consumer_offsets.
//
// Per version (the coordinator's): v2 asks for every partition with null
// topics and adds a top-level error (KIP-88); v3 throttle time; v5 the
// leader epoch (KIP-320); v6 is flexible; v7 require_stable (KIP-447).

import (
	"context"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.OffsetFetch, 0, 7, (*handlers).handleOffsetFetch) }

func (h *handlers) handleOffsetFetch(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetFetchRequest)
	var resp *kmsg.OffsetFetchResponse
	if req.Version == 0 {
		resp = h.fetchOffsetsFromZooKeeper(ctx, req)
	} else {
		resp = h.groups.OffsetFetch(req)
	}
	resp.Version = req.Version
	return resp, nil
}

// fetchOffsetsFromZooKeeper serves OffsetFetch v0 (see the file header).
func (h *handlers) fetchOffsetsFromZooKeeper(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.Metadata = p, -1, kmsg.StringPtr("")
			if _, known := h.metadata.PartitionInfo(t.Topic, p); known {
				if h.consumerOffsets == nil {
					rp.ErrorCode = kerr.CoordinatorNotAvailable.Code
				} else {
					offset, ok, err := h.consumerOffsets.ConsumerOffset(ctx, req.Group, zkutil.TopicPartition{Topic: t.Topic, Partition: p})
					switch {
					case err != nil:
						rp.ErrorCode = errorCode(h.log, err)
					case ok:
						rp.Offset = offset
					}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
