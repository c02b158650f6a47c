package server

// Fetch (key 1): versions 4-12.
//
// Consumers only for now (replica_id -1, or -2 for a debugging consumer):
// every partition is read from its leader here, below its high watermark,
// so a consumer never sees a record that is not committed. A partition not
// hosted is UNKNOWN_TOPIC_OR_PARTITION, one led elsewhere
// NOT_LEADER_OR_FOLLOWER; from v9 the client's current leader epoch is
// checked (KIP-320): FENCED_LEADER_EPOCH when older than ours,
// UNKNOWN_LEADER_EPOCH when newer. A fetch offset outside [log start
// offset, log end offset] is OFFSET_OUT_OF_RANGE; one between the high
// watermark and the log end offset reads nothing. A partition in error has
// high watermark, last stable offset and log start offset -1 and no
// records, as in Kafka.
// A follower's fetch (replica_id >= 0) reads from the leader up to the log
// end offset, not the high watermark, and records the follower's position
// (Partition.updateFollowerFetchState), which may add it to the ISR and
// move the high watermark; the response carries the high watermark after
// that. A broker that is not a replica of the partition gets no records, as
// in Kafka. Reads from followers (KIP-392, v11+ consumers) are not served,
// and the diverging-epoch check of last_fetched_epoch (v12, KIP-595) is not
// made: Gregor's followers truncate with OffsetForLeaderEpoch instead.
//
// Sizes: each partition reads at most partition_max_bytes, and the response
// at most max_bytes (KIP-74) capped by fetch.max.bytes. As in Kafka since
// v3, the first partition with data returns at least one whole batch even
// if it is larger than both limits, so that a consumer can always make
// progress; after it, a batch that does not fit is not sent at all rather
// than cut. Partitions are read in request order (a partition named twice
// is read once, with its last entry, where it first appeared).
//
// Long polling: when fewer than min_bytes are readable and max_wait_ms > 0,
// the request waits in the fetch purgatory (delayed_fetch.go), keyed by
// partition, until appends make min_bytes readable (handlers.onAppend) or
// max_wait_ms passes; it then reads again and answers with what is there.
// Any partition error answers at once.
//
// Isolation: read_committed reads the same as read_uncommitted until
// transactions exist: the last stable offset is the high watermark and the
// aborted transaction list is empty (null under read_uncommitted, as in
// Kafka). TODO(issue 7): stop at the LSO and list aborted transactions.
//
// Fetch sessions (KIP-227, v7+) are not kept: a full fetch (session epoch 0
// or -1) is answered sessionless, with session id 0, which tells the client
// to send every partition each time; forgotten topics are ignored. An
// incremental fetch (epoch > 0) names a session we cannot have, and is
// answered FETCH_SESSION_ID_NOT_FOUND, after which the client starts over
// with a full fetch.
//
// Per version: v4 adds isolation level, last stable offset and aborted
// transactions (KIP-98); v5 log start offset (KIP-107); v6 and v8 change
// nothing on the wire; v7 fetch sessions (KIP-227); v9 current leader epoch
// (KIP-320); v10 ZStd (KIP-110; the batch bytes are sent as stored); v11 the
// rack and preferred read replica, always -1 here (KIP-392); v12 is flexible
// (KIP-482) with last fetched epoch (KIP-595). Topic ids (v13, KIP-516) are
// not served.
//
// Zero-copy: reading a partition only finds the region of its segment file
// that holds the records; nothing is copied. With gregor.fetch.zero.copy
// (Gregor's key, on by default) the response is a streamedFetchResponse
// (fetch_streamed.go), whose record bytes go from the segment files to the
// socket with sendfile(2) on PLAINTEXT listeners, the other fields written
// around them, as Kafka does with FileRecords and TransportLayer.transferFrom.
// With it off, the regions are read into memory and the response encoded
// by kmsg (the copying path; a segment that cannot be read then gets
// KAFKA_STORAGE_ERROR, while on the zero-copy path the connection closes).

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.Fetch, 4, 12, (*handlers).handleFetch) }

// Replica ids a consumer sends (Kafka's FetchRequest.CONSUMER_REPLICA_ID
// and DEBUGGING_CONSUMER_ID).
const (
	consumerReplicaID  int32 = -1
	debuggingReplicaID int32 = -2
)

// isolationReadCommitted is isolation_level 1.
const isolationReadCommitted int8 = 1

// fetchRead is what a fetch reads, kept for a second read when it waits.
type fetchRead struct {
	isolation int8
	minBytes  int32
	// maxBytes is the response-wide limit: max_bytes capped by
	// fetch.max.bytes.
	maxBytes int32
	// follower marks a fetch from a replica (replica_id >= 0), replicaID
	// names it.
	follower  bool
	replicaID int32
	// partitions, one per partition asked, grouped by topic in order.
	partitions []fetchPartition
}

// fetchPartition is one partition of a fetch.
type fetchPartition struct {
	tp                 logstore.TopicPartition
	fetchOffset        int64
	currentLeaderEpoch int32
	maxBytes           int32
	// logStartOffset is a follower's log start offset (-1 from consumers).
	logStartOffset int64
}

// fetchPartitionResult is what was read from one partition: its records
// are a region of a segment file, not read yet.
type fetchPartitionResult struct {
	code          int16
	highWatermark int64
	lastStable    int64
	logStart      int64
	records       logstore.Region
}

func (h *handlers) handleFetch(_ context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.FetchRequest)
	if req.Version >= 7 && req.SessionEpoch > 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		respond(resp)
		return nil
	}
	f := h.newFetchRead(req)
	answer := func(results []fetchPartitionResult) { respond(h.fetchResponseFor(req, f, results)) }

	results, readBytes, failed := h.readFetch(f)
	if req.MaxWaitMillis <= 0 || len(f.partitions) == 0 || readBytes >= int64(req.MinBytes) || failed || h.fetches == nil {
		answer(results)
		return nil
	}
	op := &delayedFetch{h: h, fetch: f, respond: answer}
	op.timeout = time.Duration(req.MaxWaitMillis) * time.Millisecond
	h.fetches.tryCompleteElseWatch(op, op.keys())
	return nil
}

// newFetchRead collects the partitions of req, each once.
func (h *handlers) newFetchRead(req *kmsg.FetchRequest) *fetchRead {
	f := &fetchRead{
		isolation: req.IsolationLevel,
		minBytes:  req.MinBytes,
		maxBytes:  max(req.MaxBytes, 0),
		follower:  req.ReplicaID >= 0,
		replicaID: req.ReplicaID,
	}
	if h.cfg != nil && h.cfg.FetchMaxBytes > 0 && int64(f.maxBytes) > h.cfg.FetchMaxBytes {
		f.maxBytes = int32(h.cfg.FetchMaxBytes)
	}
	// A topic named twice is answered as one, and a partition named twice
	// once, with its last entry (Kafka keeps them in a LinkedHashMap).
	var topics []string
	byTopic := map[string][]fetchPartition{}
	index := map[logstore.TopicPartition]int{}
	total := 0
	for _, rt := range req.Topics {
		total += len(rt.Partitions)
		if _, seen := byTopic[rt.Topic]; !seen {
			topics = append(topics, rt.Topic)
			byTopic[rt.Topic] = make([]fetchPartition, 0, len(rt.Partitions))
		}
		for _, rp := range rt.Partitions {
			fp := fetchPartition{
				tp:                 logstore.TopicPartition{Topic: rt.Topic, Partition: rp.Partition},
				fetchOffset:        rp.FetchOffset,
				currentLeaderEpoch: rp.CurrentLeaderEpoch, // -1 below v9
				maxBytes:           max(rp.PartitionMaxBytes, 0),
				logStartOffset:     rp.LogStartOffset, // -1 below v5
			}
			if i, dup := index[fp.tp]; dup {
				byTopic[rt.Topic][i] = fp
				continue
			}
			index[fp.tp] = len(byTopic[rt.Topic])
			byTopic[rt.Topic] = append(byTopic[rt.Topic], fp)
		}
	}
	f.partitions = make([]fetchPartition, 0, total)
	for _, t := range topics {
		f.partitions = append(f.partitions, byTopic[t]...)
	}
	return f
}

// readFetch reads every partition of f in order, within the size limits,
// and returns the results, the record bytes read and whether any partition
// failed (Kafka's ReplicaManager.readFromLocalLog).
func (h *handlers) readFetch(f *fetchRead) (results []fetchPartitionResult, readBytes int64, failed bool) {
	results = make([]fetchPartitionResult, len(f.partitions))
	limit := int64(f.maxBytes)
	minOneMessage := true
	for i := range f.partitions {
		fp := &f.partitions[i]
		res := h.readFetchPartition(f, fp, min(int64(fp.maxBytes), limit), minOneMessage)
		n := res.records.Size
		if n > 0 {
			minOneMessage = false
		}
		limit = max(0, limit-n)
		readBytes += n
		failed = failed || res.code != 0
		results[i] = res
	}
	return results, readBytes, failed
}

// fetchPartitionError is the result of a partition that cannot be read.
func fetchPartitionError(code int16) fetchPartitionResult {
	return fetchPartitionResult{code: code, highWatermark: -1, lastStable: -1, logStart: -1}
}

// fetchLeader returns the partition of fp if this broker leads it at the
// client's leader epoch.
func (h *handlers) fetchLeader(f *fetchRead, fp *fetchPartition) (*Partition, error) {
	p, err := h.replicas.getPartition(fp.tp)
	if err != nil {
		return nil, err
	}
	if err := p.CheckLeader(fp.currentLeaderEpoch); err != nil {
		return nil, err
	}
	return p, nil
}

// readFetchPartition reads at most maxBytes of one partition below its high
// watermark; with minOneMessage, the first batch whole whatever its size.
func (h *handlers) readFetchPartition(f *fetchRead, fp *fetchPartition, maxBytes int64, minOneMessage bool) fetchPartitionResult {
	p, err := h.fetchLeader(f, fp)
	if err != nil {
		return fetchPartitionError(errorCode(h.log, err))
	}
	l := p.Log()
	hw, leaderEnd := l.HighWatermark(), l.LogEndOffset()
	res := fetchPartitionResult{highWatermark: hw, lastStable: hw, logStart: l.LogStartOffset()}
	readTo := hw
	if f.follower {
		readTo = leaderEnd
	}
	region, err := l.Read(fp.fetchOffset, maxBytes, readTo, minOneMessage)
	if err != nil {
		return fetchPartitionError(errorCode(h.log, fmt.Errorf("server: fetch %s at %d: %w", fp.tp, fp.fetchOffset, err)))
	}
	if f.follower {
		known, hwMoved := p.updateFollowerFetchState(f.replicaID, fp.fetchOffset, fp.logStartOffset, leaderEnd)
		if hwMoved {
			h.onHighWatermark(fp.tp)
		}
		if !known {
			// Not a replica of the partition: nothing to send (Kafka's
			// withEmptyFetchInfo), and nothing recorded.
			return res
		}
		res.highWatermark = l.HighWatermark()
		res.lastStable = res.highWatermark
	}
	if !minOneMessage && region.Size > 0 && region.Size >= maxBytes {
		// The region was cut by the size limit: send nothing rather than
		// a first batch cut short (Kafka's firstEntryIncomplete).
		size, err := firstBatchSize(region)
		if err != nil {
			return h.fetchStorageError(fp, err)
		}
		if size > region.Size {
			return res
		}
	}
	res.records = region
	return res
}

// fetchStorageError answers a partition whose segment could not be read.
func (h *handlers) fetchStorageError(fp *fetchPartition, err error) fetchPartitionResult {
	h.log.WithFields(map[string]any{"topic": fp.tp.Topic, "partition": fp.tp.Partition, "offset": fp.fetchOffset}).
		WithError(err).Error("cannot read log segment for fetch")
	return fetchPartitionError(kerr.KafkaStorageError.Code)
}

// firstBatchSize is the size of the batch the region starts with, prefix
// included.
func firstBatchSize(r logstore.Region) (int64, error) {
	var prefix [logstore.LogOverhead]byte
	if _, err := r.File.ReadAt(prefix[:], r.Position); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("read batch header of %s at %d: %w", r.File.Name(), r.Position, err)
	}
	return logstore.LogOverhead + int64(int32(binary.BigEndian.Uint32(prefix[8:]))), nil
}

// readableBytes is how many bytes a delayed fetch could read from fp now,
// at most its partition_max_bytes; an error means the partition would now
// be answered with one. It only looks the region up; nothing is copied.
//
// need is how many more bytes the fetch waits for. When it is at most one
// (min_bytes 1, what consumers and followers send by default) and the
// fetch offset is below the offset the fetch may read to, the answer is
// known without looking: the read would give at least one batch (or an
// error, if the offset fell below the log start), so it reports one byte
// and skips the index lookup and the scan of batch headers that Log.Read
// does, on every append, for every fetch waiting on the partition.
func (h *handlers) readableBytes(f *fetchRead, fp *fetchPartition, need int64) (int64, error) {
	p, err := h.fetchLeader(f, fp)
	if err != nil {
		return 0, err
	}
	l := p.Log()
	readTo := l.HighWatermark()
	if f.follower {
		readTo = l.LogEndOffset()
	}
	if need <= 1 && fp.maxBytes > 0 && fp.fetchOffset < readTo {
		return 1, nil
	}
	region, err := l.Read(fp.fetchOffset, int64(fp.maxBytes), readTo, true)
	if err != nil {
		return 0, err
	}
	return min(region.Size, int64(fp.maxBytes)), nil
}

// fetchResponseFor builds the response to req from the results of f: a
// streamed one when zero-copy is on, else one with the records read into
// memory.
func (h *handlers) fetchResponseFor(req *kmsg.FetchRequest, f *fetchRead, results []fetchPartitionResult) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	resp.SessionID = 0 // sessionless
	// f.partitions are grouped by topic: size every slice once (a fetch
	// response is built for every wake-up of a consumer that keeps up, so
	// its garbage sets how often the collector runs).
	topics := 0
	for i := range f.partitions {
		if i == 0 || f.partitions[i].tp.Topic != f.partitions[i-1].tp.Topic {
			topics++
		}
	}
	resp.Topics = make([]kmsg.FetchResponseTopic, 0, topics)
	regions := make([][]logstore.Region, 0, topics)
	for i := 0; i < len(f.partitions); {
		end := i + 1
		for end < len(f.partitions) && f.partitions[end].tp.Topic == f.partitions[i].tp.Topic {
			end++
		}
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = f.partitions[i].tp.Topic
		rt.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, end-i)
		topicRegions := make([]logstore.Region, 0, end-i)
		for ; i < end; i++ {
			fp, res := &f.partitions[i], &results[i]
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = fp.tp.Partition
			rp.ErrorCode = res.code
			rp.HighWatermark = res.highWatermark
			rp.LastStableOffset = res.lastStable
			rp.LogStartOffset = res.logStart
			if f.isolation == isolationReadCommitted {
				rp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
			}
			rp.PreferredReadReplica = -1
			rt.Partitions = append(rt.Partitions, rp)
			topicRegions = append(topicRegions, res.records)
		}
		resp.Topics = append(resp.Topics, rt)
		regions = append(regions, topicRegions)
	}
	var recordBytes int64
	for i := range regions {
		for _, r := range regions[i] {
			recordBytes += r.Size
		}
	}
	if h.fetchZeroCopy() && recordBytes > smallFetchRecordBytes {
		return newStreamedFetchResponse(resp, regions, h.log, &h.sendfileBytes)
	}
	if h.fetchZeroCopy() {
		h.smallFetchCopiedBytes.Add(recordBytes)
	}
	// The copying path: every region is read into one buffer (pooled when
	// it is small), which the response's records alias until network is
	// done with it (copiedFetchResponse.Close).
	out := &copiedFetchResponse{FetchResponse: resp}
	var buf []byte
	switch {
	case recordBytes == 0:
	case recordBytes <= smallFetchRecordBytes:
		out.pooled = smallFetchBufPool.Get().(*[]byte)
		buf = (*out.pooled)[:recordBytes]
	default:
		buf = make([]byte, recordBytes)
	}
	k := 0 // the index in f.partitions, which are in response order
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			rp := &resp.Topics[i].Partitions[j]
			r := regions[i][j]
			b := buf[:r.Size:r.Size]
			buf = buf[r.Size:]
			err := readRegion(r, b)
			k++
			if err != nil {
				e := h.fetchStorageError(&f.partitions[k-1], err)
				rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = e.code, e.highWatermark, e.lastStable, e.logStart
				b = b[:0]
			}
			if len(b) == 0 {
				b = []byte{} // empty records, not null, as Kafka sends
			}
			rp.RecordBatches = b
		}
	}
	return out
}

// smallFetchRecordBytes is the most record bytes a fetch response copies
// even when zero-copy is on. Sending a response with sendfile takes a write
// for the response header, and per partition with records one for its
// fields and one sendfile: for the small responses a consumer that keeps up
// gets (a few records each), those system calls, and the TCP segments they
// make with TCP_NODELAY, cost far more than copying the bytes. Below this
// size the regions are read (one pread each) and the whole frame goes out
// in one write. Kafka always uses sendfile; this is Gregor's departure,
// measured in docs/PERFORMANCE.md.
const smallFetchRecordBytes = 16 << 10

// smallFetchBufPool holds the record buffers of small copied responses.
var smallFetchBufPool = sync.Pool{New: func() any { b := make([]byte, smallFetchRecordBytes); return &b }}

// copiedFetchResponse is a fetch response whose records were read into
// memory. Close (called by network once the response is written or
// dropped) returns a pooled buffer.
type copiedFetchResponse struct {
	*kmsg.FetchResponse
	pooled *[]byte
}

// Close implements io.Closer for network.
func (c *copiedFetchResponse) Close() error {
	if c.pooled != nil {
		for i := range c.Topics {
			for j := range c.Topics[i].Partitions {
				c.Topics[i].Partitions[j].RecordBatches = nil
			}
		}
		smallFetchBufPool.Put(c.pooled)
		c.pooled = nil
	}
	return nil
}

// readRegion reads r into b, which is r.Size bytes long.
func readRegion(r logstore.Region, b []byte) error {
	if r.Size == 0 {
		return nil
	}
	n, err := r.File.ReadAt(b, r.Position)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %s at %d: %w", r.File.Name(), r.Position, err)
}

// fetchZeroCopy says whether fetch responses send their records with
// sendfile (gregor.fetch.zero.copy; on when there is no configuration, in
// tests).
func (h *handlers) fetchZeroCopy() bool { return h.cfg == nil || h.cfg.FetchZeroCopy }
