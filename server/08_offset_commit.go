package server

// OffsetCommit (key 8): versions 0-8.
//
// Kafka 2.8's handleOffsetCommitRequest. Partitions of topics the metadata
// cache does not know are answered UNKNOWN_TOPIC_OR_PARTITION by the
// handler and never reach the coordinator; when no partition is left, the
// request is answered without it (so an unknown group gets no
// NOT_COORDINATOR then, as in Kafka).
//
// v0 commits go to ZooKeeper, /consumers/<group>/offsets/<topic>/<p>
// (Kafka's legacy storage, which 2.8 still serves): an offset whose
// metadata is longer than offset.metadata.max.bytes is
// OFFSET_METADATA_TOO_LARGE, and a ZooKeeper failure the error's code
// (UNKNOWN_SERVER_ERROR mostly), each partition on its own; the metadata
// itself is not stored, as in Kafka. v1 and later go to the group
// coordinator (coordinator/group), which answers once the offsets are
// replicated.
//
// Per version: v1 adds the generation, member id and a per-partition
// timestamp; v2-v4 a retention time (KIP-211 drops it in v5); v3
// throttle time; v6 the leader epoch (KIP-320); v7 the group instance id
// (KIP-345); v8 is flexible. All of these are the coordinator's.

import (
	"context"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.OffsetCommit, 0, 8, (*handlers).handleOffsetCommit) }

func (h *handlers) handleOffsetCommit(ctx context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.OffsetCommitRequest)
	known := *req
	known.Topics = nil
	var unknown []kmsg.OffsetCommitResponseTopic
	for _, t := range req.Topics {
		kt := t
		kt.Partitions = nil
		var ut *kmsg.OffsetCommitResponseTopic
		for _, p := range t.Partitions {
			if _, ok := h.metadata.PartitionInfo(t.Topic, p.Partition); ok {
				kt.Partitions = append(kt.Partitions, p)
				continue
			}
			if ut == nil {
				unknown = append(unknown, kmsg.NewOffsetCommitResponseTopic())
				ut = &unknown[len(unknown)-1]
				ut.Topic = t.Topic
			}
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicOrPartition.Code
			ut.Partitions = append(ut.Partitions, rp)
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
	}
	finish := func(resp *kmsg.OffsetCommitResponse) {
		resp.Version = req.Version
		resp.Topics = mergeOffsetCommitTopics(resp.Topics, unknown)
		respond(resp)
	}
	switch {
	case len(known.Topics) == 0:
		finish(req.ResponseKind().(*kmsg.OffsetCommitResponse))
	case req.Version == 0:
		finish(h.commitOffsetsToZooKeeper(ctx, &known))
	default:
		h.groups.OffsetCommit(&known, finish)
	}
	return nil
}

// mergeOffsetCommitTopics adds the partitions of extra to topics, into the
// entry of their topic when there is one.
func mergeOffsetCommitTopics(topics, extra []kmsg.OffsetCommitResponseTopic) []kmsg.OffsetCommitResponseTopic {
	for _, et := range extra {
		i := 0
		for i < len(topics) && topics[i].Topic != et.Topic {
			i++
		}
		if i == len(topics) {
			topics = append(topics, et)
			continue
		}
		topics[i].Partitions = append(topics[i].Partitions, et.Partitions...)
	}
	return topics
}

// commitOffsetsToZooKeeper serves OffsetCommit v0 (see the file header).
func (h *handlers) commitOffsetsToZooKeeper(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	maxMetadata := int64(4096) // offset.metadata.max.bytes
	if h.cfg != nil {
		maxMetadata = h.cfg.OffsetMetadataMaxBytes
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case p.Metadata != nil && int64(len(*p.Metadata)) > maxMetadata:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case h.consumerOffsets == nil:
				rp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			default:
				tp := zkutil.TopicPartition{Topic: t.Topic, Partition: p.Partition}
				rp.ErrorCode = errorCode(h.log, h.consumerOffsets.SetConsumerOffset(ctx, req.Group, tp, p.Offset))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
