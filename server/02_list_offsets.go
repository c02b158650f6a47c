package server

// ListOffsets (key 2): versions 0-6.
//
// Served by the partition leader only, except for replica_id -2 (a
// debugging consumer), which any replica hosting the partition answers. A
// partition not hosted is UNKNOWN_TOPIC_OR_PARTITION, one led elsewhere
// NOT_LEADER_OR_FOLLOWER; from v4 the client's current leader epoch is
// checked (KIP-320): FENCED_LEADER_EPOCH when older, UNKNOWN_LEADER_EPOCH
// when newer. Errors are per partition.
//
// v1+ (KIP-79): timestamp -2 is the log start offset; -1 the latest offset
// a consumer may read: for a consumer (replica_id -1) the high watermark,
// the last stable offset under read_committed (the same, until
// transactions exist: TODO(issue 7)), and for a replica the log end offset.
// Both answer timestamp -1. Any other timestamp finds the first record at
// or after it (Log.FetchOffsetByTimestamp), answered with that record's
// offset and timestamp if below the latest offset above, else offset -1
// and timestamp -1 with no error, as Kafka does. As in Kafka 2.8 (from
// v1), a partition named twice is INVALID_REQUEST on each entry.
//
// v0 is the old "offsets before" form: up to max_num_offsets offsets in
// descending order, taken from the segment base offsets and the log end
// offset (Kafka's Log.legacyFetchOffsetsBefore); -1 starts at the log end
// offset, -2 gives the log start offset. For a consumer an offset above
// the high watermark is replaced by the high watermark. Kafka picks
// segments for any other timestamp by the segment files' modification
// times, which logstore does not expose: a timestamp at or after now is
// answered as -1, an earlier one with no offsets (Kafka's answer when no
// segment is that old). TODO: segment mtimes from logstore.
//
// Per version: v1 a single offset with its timestamp (KIP-79); v2 the
// isolation level (KIP-98) and throttle time; v3 nothing new on the wire;
// v4 current leader epoch and the leader epoch in the response (KIP-320):
// for -1 the partition's current leader epoch, otherwise the epoch of the
// batch holding the offset; v5 allows OFFSET_NOT_AVAILABLE (KIP-207); v6
// is flexible (KIP-482).
//
// TODO(issue 4): OFFSET_NOT_AVAILABLE (LEADER_NOT_AVAILABLE before v5) for
// a consumer when a new leader's high watermark has not yet reached the
// start offset of its epoch (Kafka's Partition.fetchOffsetForTimestamp).
// With the leader alone in the ISR the high watermark is the log end offset
// as soon as it leads, so it cannot happen yet.

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.ListOffsets, 0, 6, (*handlers).handleListOffsets) }

// Special timestamps of ListOffsets (Kafka's ListOffsetsRequest).
const (
	listOffsetsLatest   int64 = -1
	listOffsetsEarliest int64 = -2
)

func (h *handlers) handleListOffsets(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)

	asked := map[logstore.TopicPartition]int{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			asked[logstore.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}]++
		}
	}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for i := range rt.Partitions {
			rp := &rt.Partitions[i]
			sp := kmsg.NewListOffsetsResponseTopicPartition() // offset, timestamp, epoch -1
			sp.Partition = rp.Partition
			tp := logstore.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			switch {
			case req.Version == 0:
				h.listOffsetsV0(req, tp, rp, &sp)
			case asked[tp] > 1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			default:
				h.listOffset(req, tp, rp, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// listOffsetsPartition returns the hosted partition if it may answer: this
// broker leads it, or any replica for the debugging consumer; and the
// client's leader epoch (-1: any) is current.
func (h *handlers) listOffsetsPartition(replicaID int32, tp logstore.TopicPartition, currentLeaderEpoch int32) (*Partition, error) {
	p, err := h.replicas.getPartition(tp)
	if err != nil {
		return nil, err
	}
	if replicaID == debuggingReplicaID {
		p.mu.RLock()
		err = p.checkLeaderEpochLocked(currentLeaderEpoch)
		p.mu.RUnlock()
	} else {
		err = p.CheckLeader(currentLeaderEpoch)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// listOffset answers one partition of a v1+ request.
func (h *handlers) listOffset(req *kmsg.ListOffsetsRequest, tp logstore.TopicPartition, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	fail := func(err error) {
		sp.ErrorCode = errorCode(h.log, err)
		sp.Offset, sp.Timestamp, sp.LeaderEpoch = -1, -1, -1
	}
	p, err := h.listOffsetsPartition(req.ReplicaID, tp, rp.CurrentLeaderEpoch) // -1 below v4
	if err != nil {
		fail(err)
		return
	}
	l := p.Log()
	// What a consumer may read; read_committed would stop at the LSO,
	// which is the high watermark without transactions (issue 7).
	lastFetchable := l.HighWatermark()
	if req.ReplicaID != consumerReplicaID {
		lastFetchable = l.LogEndOffset()
	}
	switch rp.Timestamp {
	case listOffsetsLatest:
		sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, lastFetchable, p.LeaderEpoch()
	case listOffsetsEarliest:
		start := l.LogStartOffset()
		epoch, err := batchLeaderEpoch(l, start)
		if err != nil {
			fail(err)
			return
		}
		if epoch < 0 && start == l.LogEndOffset() {
			// An empty log: Kafka's epoch cache holds the current
			// epoch, starting at the log end offset.
			epoch = p.LeaderEpoch()
		}
		sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, start, epoch
	default:
		to, found, err := l.FetchOffsetByTimestamp(rp.Timestamp)
		if err != nil {
			fail(err)
			return
		}
		if !found || to.Offset >= lastFetchable {
			return // no error; offset and timestamp -1
		}
		epoch, err := batchLeaderEpoch(l, to.Offset)
		if err != nil {
			fail(err)
			return
		}
		sp.Timestamp, sp.Offset, sp.LeaderEpoch = to.Timestamp, to.Offset, epoch
	}
}

// batchLeaderEpoch is the partition leader epoch stamped on the batch that
// holds offset, -1 when no batch does (offset is the log end offset).
func batchLeaderEpoch(l *logstore.Log, offset int64) (int32, error) {
	region, err := l.Read(offset, 1, -1, true)
	if err != nil {
		return -1, err
	}
	if region.Size < logstore.BatchHeaderSize {
		return -1, nil
	}
	var b [logstore.BatchHeaderSize]byte
	if _, err := region.File.ReadAt(b[:], region.Position); err != nil {
		return -1, fmt.Errorf("server: read batch header of offset %d: %w: %w", offset, logstore.ErrStorage, err)
	}
	hd, err := logstore.ParseBatchHeader(b[:])
	if err != nil {
		return -1, err
	}
	return hd.PartitionLeaderEpoch, nil
}

// listOffsetsV0 answers one partition of a v0 request.
func (h *handlers) listOffsetsV0(req *kmsg.ListOffsetsRequest, tp logstore.TopicPartition, rp *kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	sp.OldStyleOffsets = []int64{}
	p, err := h.listOffsetsPartition(req.ReplicaID, tp, -1)
	if err != nil {
		sp.ErrorCode = errorCode(h.log, err)
		return
	}
	l := p.Log()
	hw := l.HighWatermark()
	offsets := legacyOffsetsBefore(l, rp.Timestamp, int(max(rp.MaxNumOffsets, 0)), time.Now())
	if req.ReplicaID == consumerReplicaID && len(offsets) > 0 && offsets[0] > hw {
		i := 0
		for i < len(offsets) && offsets[i] > hw {
			i++
		}
		offsets = append([]int64{hw}, offsets[i:]...)
	}
	sp.OldStyleOffsets = offsets
}

// legacyOffsetsBefore is Kafka's Log.legacyFetchOffsetsBefore without
// segment modification times (see the header comment): the candidate
// offsets are each segment's base offset (at least the log start offset)
// and, when the last segment holds data, the log end offset; up to max
// of them are returned in descending order, starting from the last for -1
// (and any timestamp at or after now), from the first for -2.
func legacyOffsetsBefore(l *logstore.Log, timestamp int64, maxNum int, now time.Time) []int64 {
	start := l.LogStartOffset()
	leo := l.LogEndOffset()
	bases := l.SegmentBaseOffsets()
	candidates := make([]int64, 0, len(bases)+1)
	for _, b := range bases {
		candidates = append(candidates, max(b, start))
	}
	if len(bases) > 0 && leo > bases[len(bases)-1] {
		candidates = append(candidates, leo)
	}
	var from int
	switch {
	case timestamp == listOffsetsEarliest:
		from = 0
	case timestamp == listOffsetsLatest || timestamp >= now.UnixMilli():
		from = len(candidates) - 1
	default:
		from = -1
	}
	n := min(maxNum, from+1)
	out := make([]int64, 0, max(n, 0))
	for j := 0; j < n; j++ {
		out = append(out, candidates[from-j])
	}
	slices.SortFunc(out, func(a, b int64) int { return cmp.Compare(b, a) })
	return out
}
