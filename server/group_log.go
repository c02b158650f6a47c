package server

import (
	"context"
	"fmt"
	"time"

	"github.com/gregor-broker/gregor/coordinator/group"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupCoordinator is what the group APIs and the replica manager ask of
// the group coordinator; *group.Coordinator implements it, and tests use a
// fake.
type groupCoordinator interface {
	PartitionFor(groupID string) int32
	OnElection(p int32, leaderEpoch int32)
	OnResignation(p int32, leaderEpoch int32)
	JoinGroup(req *kmsg.JoinGroupRequest, client group.ClientInfo, respond func(*kmsg.JoinGroupResponse))
	SyncGroup(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse))
	Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse
	LeaveGroup(req *kmsg.LeaveGroupRequest, respond func(*kmsg.LeaveGroupResponse))
	OffsetCommit(req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse))
	OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse
	OffsetDelete(req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse))
	DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse
	ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse
	DeleteGroups(req *kmsg.DeleteGroupsRequest, respond func(*kmsg.DeleteGroupsResponse))
	Close()
}

var _ groupCoordinator = (*group.Coordinator)(nil)

// groupLog is __consumer_offsets as the group coordinator sees it
// (group.Log), over this broker's replica manager: what Kafka's
// GroupMetadataManager does with ReplicaManager.appendRecords and
// Log.read.
type groupLog struct {
	h *handlers
	// compression is offsets.topic.compression.codec.
	compression logstore.Compression
	// acks is offsets.commit.required.acks: -1 (the default) waits for
	// the high watermark, 1 answers after the leader's append.
	acks int16
	// timeout is offsets.commit.timeout.ms: how long an append waits for
	// replication before it fails with REQUEST_TIMED_OUT.
	timeout time.Duration
	// readBytes is offsets.load.buffer.size: how much Read reads at a time.
	readBytes int64
}

var _ group.Log = (*groupLog)(nil)

func offsetsPartition(p int32) logstore.TopicPartition {
	return logstore.TopicPartition{Topic: group.OffsetsTopic, Partition: p}
}

// Append writes recs as one magic-2 batch with no producer id to
// __consumer_offsets-p as its leader, with the coordinator's origin, and
// calls done once the high watermark passed it, as an acks=all produce
// (delayed_produce.go): NOT_ENOUGH_REPLICAS when the ISR is below
// min.insync.replicas before the append (nothing is written),
// NOT_ENOUGH_REPLICAS_AFTER_APPEND when it shrank meanwhile,
// NOT_LEADER_OR_FOLLOWER when the leadership moved, REQUEST_TIMED_OUT after
// offsets.commit.timeout.ms. A partition not hosted here is
// UNKNOWN_TOPIC_OR_PARTITION, as Kafka's appendRecords answers.
func (g *groupLog) Append(p int32, recs []group.Record, done func(err error)) {
	h := g.h
	tp := offsetsPartition(p)
	fail := func(err error) {
		done(kerr.ErrorForCode(errorCode(h.log, fmt.Errorf("server: append to %s: %w", tp, err))))
	}
	part, err := h.replicas.leaderPartition(tp)
	if err != nil {
		fail(err)
		return
	}
	batch, err := buildGroupBatch(recs, g.compression)
	if err != nil {
		fail(err)
		return
	}
	acks := g.acks
	if acks != 1 {
		acks = -1
	}
	info, hwMoved, err := part.AppendRecordsToLeader(batch, logstore.AppendOriginCoordinator, acks)
	if err != nil {
		fail(err)
		return
	}
	h.onAppend(tp)
	if hwMoved {
		h.onHighWatermark(tp)
	}
	if acks == 1 || h.produces == nil {
		done(nil)
		return
	}
	res := &produceResult{topic: tp.Topic, partition: p, info: info}
	op := newDelayedProduce(h, []*produceResult{res}, func() { done(kerr.ErrorForCode(res.code)) })
	op.timeout = g.timeout
	h.produces.tryCompleteElseWatch(op, op.keys())
}

// buildGroupBatch encodes recs as one batch with no producer, its base
// timestamp the first record's.
func buildGroupBatch(recs []group.Record, c logstore.Compression) ([]byte, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("no records: %w", kerr.InvalidRecord)
	}
	opts := logstore.NewBuildOptions()
	opts.Compression = c
	opts.BaseTimestamp = recs[0].Timestamp
	out := make([]logstore.Record, len(recs))
	for i, r := range recs {
		out[i] = logstore.Record{TimestampDelta: r.Timestamp - opts.BaseTimestamp, Key: r.Key, Value: r.Value}
	}
	return logstore.BuildBatch(opts, out)
}

// Read calls fn for every record of the local replica of
// __consumer_offsets-p from its log start offset to its log end offset as
// of the call, decoding batches of any codec (Kafka's
// GroupMetadataManager.doLoadGroupsAndOffsets). Control batches
// (transaction markers) are skipped: transactional offset commits are not
// supported yet.
func (g *groupLog) Read(ctx context.Context, p int32, fn func(group.Record) error) error {
	tp := offsetsPartition(p)
	part, err := g.h.replicas.getPartition(tp)
	if err != nil {
		return fmt.Errorf("server: read %s: %w", tp, err)
	}
	l := part.Log()
	end := l.LogEndOffset()
	next := l.LogStartOffset()
	for next < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		region, err := l.Read(next, max(g.readBytes, 1), end, true)
		if err != nil {
			return fmt.Errorf("server: read %s at %d: %w", tp, next, err)
		}
		buf, err := region.ReadAll()
		if err != nil {
			return fmt.Errorf("server: read %s at %d: %w", tp, next, err)
		}
		read := false
		for len(buf) > 0 {
			bh, err := logstore.ParseBatchHeader(buf)
			if err != nil || int64(len(buf)) < bh.Size() {
				break // a batch cut by the read size: read it next time
			}
			batch := buf[:bh.Size()]
			buf = buf[bh.Size():]
			if _, err := logstore.CheckBatch(batch); err != nil {
				return fmt.Errorf("server: read %s: %w", tp, err)
			}
			read = true
			next = bh.NextOffset()
			if bh.IsControl() {
				continue
			}
			if err := readGroupBatch(batch, bh, fn); err != nil {
				return err
			}
		}
		if !read {
			return fmt.Errorf("server: read %s at %d: no whole batch in %d bytes", tp, next, region.Size)
		}
	}
	return nil
}

func readGroupBatch(batch []byte, bh logstore.BatchHeader, fn func(group.Record) error) error {
	it, err := logstore.NewRecordIterator(batch)
	if err != nil {
		return fmt.Errorf("server: decode offsets batch at %d: %w", bh.BaseOffset, err)
	}
	for it.Next() {
		r := it.Record()
		ts := bh.BaseTimestamp + r.TimestampDelta
		if bh.IsLogAppendTime() {
			ts = bh.MaxTimestamp
		}
		if err := fn(group.Record{Offset: bh.BaseOffset + int64(r.OffsetDelta), Timestamp: ts, Key: r.Key, Value: r.Value}); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("server: decode offsets batch at %d: %w", bh.BaseOffset, err)
	}
	return nil
}
