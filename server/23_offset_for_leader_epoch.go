package server

// OffsetForLeaderEpoch (key 23): versions 0-3.
//
// For each partition, the largest leader epoch at or below the one asked
// that the leader's log knows, and the offset where it ended: the log end
// offset for the current epoch, otherwise the start of the next epoch
// (logstore.LeaderEpochCache.EndOffsetFor, KIP-101 and KIP-279). Followers
// ask it before fetching from a new leader and truncate to the answer;
// consumers ask it to detect truncation after a leader change (KIP-320).
// An epoch the log does not know gives leader epoch -1 and end offset -1.
//
// Only the leader answers: a partition not hosted is
// UNKNOWN_TOPIC_OR_PARTITION, one led elsewhere NOT_LEADER_OR_FOLLOWER, and
// from v2 a current leader epoch older than the leader's is
// FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (Kafka's
// Partition.lastOffsetForLeaderEpoch with fetchOnlyFromLeader).
//
// Per version: v1 answers the leader epoch with the offset; v2 adds the
// current leader epoch (KIP-320) and the throttle time; v3 the replica id
// (KIP-392). v4 (flexible, KIP-595) is not served.

import (
	"context"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerSyncAPI(kmsg.OffsetForLeaderEpoch, 0, 3, (*handlers).handleOffsetForLeaderEpoch)
}

func (h *handlers) handleOffsetForLeaderEpoch(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, rp := range t.Partitions {
			out := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			out.Partition = rp.Partition
			out.LeaderEpoch, out.EndOffset = logstore.UndefinedEpoch, logstore.UndefinedEpochOffset
			current := rp.CurrentLeaderEpoch
			if req.Version < 2 {
				current = noLeaderEpoch
			}
			tp := logstore.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			p, err := h.replicas.getPartition(tp)
			if err == nil {
				err = p.CheckLeader(current)
			}
			if err != nil {
				out.ErrorCode = errorCode(h.log, err)
			} else {
				out.LeaderEpoch, out.EndOffset = p.Log().EndOffsetForEpoch(rp.LeaderEpoch)
			}
			rt.Partitions = append(rt.Partitions, out)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
