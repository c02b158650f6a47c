package logstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Log is one partition's log: an ordered list of segments, the last of which
// (the active segment) takes appends.
//
// Safe for concurrent use. mu serialises appends, rolls, truncation and
// retention (write lock) against reads (read lock); reads run in parallel
// with one another. Fsyncs run outside mu, under flushMu, so that a flush of
// a gigabyte never stalls produce requests; flushMu also keeps a segment's
// files open while a flush uses them. Lock order: flushMu -> mu.
//
// logstore stores offsets it is given but decides none of replication's: the
// high watermark is set by the caller (SetHighWatermark) and only bounds what
// retention may delete.
type Log struct {
	dir    string         // immutable
	tp     TopicPartition // immutable
	fs     FS             // immutable
	now    func() time.Time
	log    *logrus.Entry
	onRoll func(*Log)

	config atomic.Pointer[LogConfig]

	// epochs is the partition's leader epoch history (KIP-101), kept in
	// step with the log under mu's write lock.
	epochs *LeaderEpochCache

	// logEndOffset mirrors the active segment's next offset for lock-free
	// readers; it is written under mu.
	logEndOffset  atomic.Int64
	highWatermark atomic.Int64
	// closedFlag mirrors closed for the cleaner, which polls it without
	// the lock to abandon a cleaning of a log being closed.
	closedFlag atomic.Bool

	flushMu sync.Mutex // serialises flushes; taken before mu

	mu sync.RWMutex // guards the fields below
	// segments is sorted by base offset; the last one is active. Never empty
	// while the log is open.
	segments []*Segment
	// logStartOffset is the first offset a reader may fetch (it can lie
	// inside the first segment after DeleteRecords).
	logStartOffset int64
	// recoveryPoint is the offset below which the log is known fsynced.
	recoveryPoint  int64
	producers      *ProducerStateManager
	unflushed      int64 // records appended since the last flush
	lastFlush      time.Time
	pendingDeletes []pendingDelete
	// truncations counts truncations: a cleaning that started before one
	// does not swap its result in, even if the segments it read look the
	// same again.
	truncations int64
	// err is the first storage error: once set, appends fail with it.
	err    error
	closed bool
}

type pendingDelete struct {
	segment *Segment
	due     time.Time
}

// AppendInfo describes an append.
type AppendInfo struct {
	FirstOffset int64
	LastOffset  int64
	// MaxTimestamp is the largest timestamp appended (the broker's time with
	// LogAppendTime).
	MaxTimestamp int64
	// LogAppendTime is the broker time stamped on the batch, or NoTimestamp
	// with CreateTime.
	LogAppendTime  int64
	LogStartOffset int64
	RecordCount    int
	// Duplicate is set when the batch repeats one an idempotent producer
	// already wrote: nothing was appended, and the offsets are the original
	// ones.
	Duplicate bool
}

// AppendOptions qualifies a leader's append.
type AppendOptions struct {
	// Origin is AppendOriginClient for produce requests and
	// AppendOriginCoordinator for the group and transaction coordinators.
	Origin AppendOrigin
	// LeaderEpoch is stamped on the batch as its partition leader epoch.
	LeaderEpoch int32
}

// Append validates one record batch from a producer or coordinator, assigns
// it the next offsets and appends it. The batch is modified in place: only
// its base offset, partition leader epoch and, with LogAppendTime, its
// timestamp type and max timestamp (then the CRC) change; nothing is
// re-encoded. A batch an idempotent producer already wrote is not appended
// again: the result carries its original offsets and Duplicate.
func (l *Log) Append(batch []byte, opts AppendOptions) (AppendInfo, error) {
	cfg := l.config.Load()
	now := l.now()
	if int64(len(batch)) > cfg.SegmentBytes {
		return AppendInfo{}, fmt.Errorf("batch of %d bytes is larger than segment.bytes %d: %w", len(batch), cfg.SegmentBytes, ErrRecordTooLarge)
	}
	vopts := ValidateOptions{
		MaxBatchBytes:          cfg.MaxMessageBytes,
		TimestampType:          cfg.TimestampType,
		MaxTimestampDifference: cfg.MaxTimestampDifference,
		Now:                    now,
		RequireKeys:            cfg.Compact,
		AllowControl:           opts.Origin != AppendOriginClient,
		MaxDecompressedBytes:   maxDecompressedBytes(cfg),
	}
	if len(batch) >= overlapMinBytes && cfg.TimestampType == CreateTime {
		if res, done, err := l.appendOverlapped(batch, opts, vopts, now); done {
			return res, err
		}
	}
	info, err := ValidateBatch(batch, vopts)
	if err != nil {
		return AppendInfo{}, err
	}
	h := info.Header
	if h.Size() != int64(len(batch)) {
		return AppendInfo{}, fmt.Errorf("%d bytes after the first batch: a produce request carries exactly one batch: %w",
			int64(len(batch))-h.Size(), ErrInvalidRecord)
	}

	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, err
	}
	if h.HasProducerID() {
		dup, err := l.producers.CheckBatch(h, opts.Origin)
		if err != nil {
			l.mu.Unlock()
			return AppendInfo{}, err
		}
		if dup != nil {
			res := AppendInfo{
				FirstOffset:    dup.LastOffset - int64(dup.OffsetDelta),
				LastOffset:     dup.LastOffset,
				MaxTimestamp:   dup.Timestamp,
				LogAppendTime:  NoTimestamp,
				LogStartOffset: l.logStartOffset,
				RecordCount:    int(dup.OffsetDelta) + 1,
				Duplicate:      true,
			}
			l.mu.Unlock()
			return res, nil
		}
	}

	base := l.logEndOffset.Load()
	if err := l.assignEpochLocked(opts.LeaderEpoch, base); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, err
	}
	SetBaseOffset(batch, base)
	SetPartitionLeaderEpoch(batch, opts.LeaderEpoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, opts.LeaderEpoch
	res := AppendInfo{
		FirstOffset:   base,
		LastOffset:    h.LastOffset(),
		MaxTimestamp:  info.MaxTimestamp,
		LogAppendTime: NoTimestamp,
		RecordCount:   int(info.RecordCount),
	}
	if cfg.TimestampType == CreateTime && h.MaxTimestamp != info.MaxTimestamp {
		// Some producers leave the header's max timestamp unset (sarama
		// before 1.45 sends -1); Kafka overwrites it, and so do we: it is
		// what retention, the time index and consumers read.
		SetMaxTimestamp(batch, info.MaxTimestamp)
		h.MaxTimestamp = info.MaxTimestamp
	}
	if cfg.TimestampType == LogAppendTime {
		res.LogAppendTime = now.UnixMilli()
		res.MaxTimestamp = res.LogAppendTime
		SetLogAppendTime(batch, res.LogAppendTime)
		h.MaxTimestamp = res.LogAppendTime
		h.Attributes |= attrLogAppendTime
	}
	if err := l.appendLocked(batch, base, h.LastOffset(), res.MaxTimestamp, int64(info.RecordCount), now); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, err
	}
	if h.HasProducerID() {
		l.producers.Update(h, opts.Origin)
	}
	return l.finishAppendLocked(res)
}

// overlapMinBytes is the smallest batch whose validation Append overlaps
// with its write. Below it the goroutine hand-off costs more than the
// validation it would hide.
const overlapMinBytes = 64 << 10

// appendOverlapped is Append for a large CreateTime batch: the batch is
// validated on another goroutine while this one writes it past the
// segment's end, so that a batch costs about its write instead of its
// validation (CRC-32C and the record walk) plus its write. The bytes become
// part of the log only once validation has succeeded, and the file never
// holds a refused batch that recovery could take for a good one:
//
//   - everything after the CRC field is written first, leaving the batch's
//     first 21 bytes (base offset, length, epoch, magic, CRC) a hole of
//     zeros, which recovery reads as the end of the log;
//   - once validation succeeded, those 21 bytes are written: that write is
//     the commit, and the segment counts the batch;
//   - if validation failed, the file is cut back to where it was, and
//     validation's error is returned, as if nothing had been written.
//
// done is false when the ordinary path must take the batch instead, so that
// errors and duplicates are reported exactly as it reports them: a header
// that does not parse or does not span the batch, an idempotent producer's
// duplicate or sequence error, a log that refuses appends, and a header max
// timestamp that differs from the records' (the ordinary path fixes it,
// which changes the CRC). The epoch history may then already name the log
// end offset as the start of opts.LeaderEpoch, which is where its next
// batch goes anyway.
func (l *Log) appendOverlapped(batch []byte, opts AppendOptions, vopts ValidateOptions, now time.Time) (res AppendInfo, done bool, err error) {
	h, err := ParseBatchHeader(batch)
	if err != nil || h.Size() != int64(len(batch)) || h.IsLogAppendTime() {
		return AppendInfo{}, false, nil
	}
	l.mu.Lock()
	if l.checkWritableLocked() != nil {
		l.mu.Unlock()
		return AppendInfo{}, false, nil
	}
	if h.HasProducerID() {
		if dup, err := l.producers.CheckBatch(h, opts.Origin); dup != nil || err != nil {
			l.mu.Unlock()
			return AppendInfo{}, false, nil
		}
	}
	base := l.logEndOffset.Load()
	if err := l.assignEpochLocked(opts.LeaderEpoch, base); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, true, err
	}
	// Patched before validation starts, so that the two goroutines only
	// ever read the batch; both fields are outside the CRC.
	SetBaseOffset(batch, base)
	SetPartitionLeaderEpoch(batch, opts.LeaderEpoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, opts.LeaderEpoch
	seg, err := l.maybeRollLocked(int64(len(batch)), base, h.LastOffset(), h.MaxTimestamp, now)
	if err != nil {
		return l.failAppendLocked(err)
	}

	type validation struct {
		info BatchInfo
		err  error
	}
	validated := make(chan validation, 1)
	go func() {
		info, err := ValidateBatch(batch, vopts)
		validated <- validation{info, err}
	}()
	pos := seg.size
	werr := seg.writeAt(batch, pos, offsetAttributes)
	v := <-validated
	if werr == nil && v.err == nil && v.info.MaxTimestamp == h.MaxTimestamp {
		werr = seg.writeAt(batch[:offsetAttributes], pos, 0)
		if werr == nil {
			werr = seg.appended(int64(len(batch)), h.LastOffset(), h.MaxTimestamp, h.LastOffset())
		}
		if werr != nil {
			return l.failAppendLocked(werr)
		}
		l.logEndOffset.Store(h.LastOffset() + 1)
		l.unflushed += int64(v.info.RecordCount)
		if h.HasProducerID() {
			l.producers.Update(h, opts.Origin)
		}
		res, err := l.finishAppendLocked(AppendInfo{
			FirstOffset:   base,
			LastOffset:    h.LastOffset(),
			MaxTimestamp:  h.MaxTimestamp,
			LogAppendTime: NoTimestamp,
			RecordCount:   int(v.info.RecordCount),
		})
		return res, true, err
	}
	if werr == nil {
		if terr := seg.log.Truncate(pos); terr != nil {
			werr = storageErr("cut a refused batch off the segment", terr)
		}
	}
	if werr != nil {
		return l.failAppendLocked(werr)
	}
	l.mu.Unlock()
	if v.err != nil {
		return AppendInfo{}, true, v.err
	}
	return AppendInfo{}, false, nil
}

// failAppendLocked ends an append that failed under mu with err, which a
// storage error makes sticky, and releases mu.
func (l *Log) failAppendLocked(err error) (AppendInfo, bool, error) {
	if errors.Is(err, ErrStorage) {
		l.failLocked(err)
	}
	l.mu.Unlock()
	return AppendInfo{}, true, err
}

// finishAppendLocked completes an append that wrote res: it moves the
// producer state's end, releases the lock, and applies flush.messages. The
// caller holds mu, which this releases.
func (l *Log) finishAppendLocked(res AppendInfo) (AppendInfo, error) {
	l.producers.UpdateMapEndOffset(res.LastOffset + 1)
	res.LogStartOffset = l.logStartOffset
	cfg := l.config.Load()
	flush := cfg.FlushMessages > 0 && l.unflushed >= cfg.FlushMessages
	l.mu.Unlock()
	if flush {
		if err := l.Flush(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// maxDecompressedBytes bounds how far a compressed batch may expand while it
// is validated: a producer cannot make the broker allocate more than this.
// Kafka has no such bound; 64 times max.message.bytes, at least 64 MiB, is far
// above any real compression ratio for a batch.
func maxDecompressedBytes(cfg *LogConfig) int {
	return max(64*cfg.MaxMessageBytes, 64<<20)
}

// AppendAsFollower appends batches fetched from the partition leader, keeping
// the offsets, leader epochs and timestamps the leader assigned. Each batch
// is checked (length, magic, CRC) but not re-validated record by record, as
// Kafka's followers do. A partial batch at the end, as a fetch response may
// carry, is ignored. The first batch must start at or after the log end
// offset, and batches must follow each other.
func (l *Log) AppendAsFollower(records []byte) (AppendInfo, error) {
	var headers []BatchHeader
	var valid int
	for valid < len(records) {
		rest := records[valid:]
		if len(rest) < LogOverhead {
			break
		}
		h, err := CheckBatch(rest)
		if err != nil {
			if len(rest) < BatchHeaderSize || int64(len(rest)) < LogOverhead+int64(int32(beUint32(rest[offsetBatchLength:]))) {
				break // a partial trailing batch
			}
			return AppendInfo{}, err
		}
		if n := len(headers); n > 0 && h.BaseOffset < headers[n-1].NextOffset() {
			return AppendInfo{}, Corruptf("follower batch at offset %d overlaps the previous batch ending at %d", h.BaseOffset, headers[n-1].LastOffset())
		}
		headers = append(headers, h)
		valid += int(h.Size())
	}
	if len(headers) == 0 {
		return AppendInfo{FirstOffset: -1, LastOffset: -1, LogAppendTime: NoTimestamp}, nil
	}
	first, last := headers[0], headers[len(headers)-1]
	res := AppendInfo{
		FirstOffset:   first.BaseOffset,
		LastOffset:    last.LastOffset(),
		MaxTimestamp:  NoTimestamp,
		LogAppendTime: NoTimestamp,
	}
	for _, h := range headers {
		res.MaxTimestamp = max(res.MaxTimestamp, h.MaxTimestamp)
		res.RecordCount += int(h.RecordCount)
	}

	l.mu.Lock()
	if err := l.checkWritableLocked(); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, err
	}
	if leo := l.logEndOffset.Load(); first.BaseOffset < leo {
		l.mu.Unlock()
		return AppendInfo{}, fmt.Errorf("logstore: follower append at offset %d is below the log end offset %d", first.BaseOffset, leo)
	}
	for _, h := range headers {
		if err := l.assignEpochLocked(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			l.mu.Unlock()
			return AppendInfo{}, err
		}
	}
	now := l.now()
	if err := l.appendLocked(records[:valid], first.BaseOffset, res.LastOffset, res.MaxTimestamp, int64(res.RecordCount), now); err != nil {
		l.mu.Unlock()
		return AppendInfo{}, err
	}
	for _, h := range headers {
		if h.HasProducerID() {
			l.producers.Update(h, AppendOriginReplication)
		}
	}
	return l.finishAppendLocked(res)
}

// assignEpochLocked records in the epoch history that epoch's first record
// is at offset, when epoch is new (Kafka's maybeAssignEpochStartOffset,
// called for every batch before it is written). Failing to persist the
// history is a storage error.
func (l *Log) assignEpochLocked(epoch int32, offset int64) error {
	if _, err := l.epochs.Assign(epoch, offset); err != nil {
		err = storageErr("write leader epoch checkpoint", err)
		l.failLocked(err)
		return err
	}
	return nil
}

// AssignEpochStartOffset records that the leader of epoch starts writing at
// offset: a broker that becomes leader calls it with its log end offset
// before any append, so that OffsetForLeaderEpoch answers for the new epoch
// at once (Kafka's Partition.makeLeader).
func (l *Log) AssignEpochStartOffset(epoch int32, offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	return l.assignEpochLocked(epoch, offset)
}

// LatestEpoch is the newest leader epoch in the log's history.
func (l *Log) LatestEpoch() (int32, bool) { return l.epochs.LatestEpoch() }

// EpochEntries is a copy of the log's leader epoch history, oldest first.
func (l *Log) EpochEntries() []EpochEntry { return l.epochs.Entries() }

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch at or
// below epoch that the log knows and the offset where it ended (the log end
// offset for the latest epoch), or (UndefinedEpoch, UndefinedEpochOffset).
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.EndOffsetFor(epoch, l.logEndOffset.Load())
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (l *Log) checkWritableLocked() error {
	if l.closed {
		return ErrClosed
	}
	return l.err
}

// appendLocked writes validated batches holding [firstOffset, lastOffset] to
// the active segment, rolling first when needed. A failed write is sticky.
func (l *Log) appendLocked(batches []byte, firstOffset, lastOffset, maxTimestamp, records int64, now time.Time) error {
	seg, err := l.maybeRollLocked(int64(len(batches)), firstOffset, lastOffset, maxTimestamp, now)
	if err == nil {
		err = seg.append(batches, lastOffset, maxTimestamp, lastOffset)
	}
	if err != nil {
		if errors.Is(err, ErrStorage) {
			l.failLocked(err)
		}
		return err
	}
	l.logEndOffset.Store(lastOffset + 1)
	l.unflushed += records
	return nil
}

// failLocked records the first storage error; from then on the log refuses
// appends, and the manager takes its directory offline.
func (l *Log) failLocked(err error) {
	if l.err == nil {
		l.err = err
		l.log.WithError(err).Error("log failed; appends are refused from now on")
	}
}

// Err returns the log's sticky storage error, if any.
func (l *Log) Err() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.err
}

func (l *Log) activeLocked() *Segment { return l.segments[len(l.segments)-1] }

// maybeRollLocked returns the segment the next append goes to, rolling a new
// one at firstOffset when the active segment would pass segment.bytes, an
// index is full, the offsets would not fit its relative index entries, or
// segment.ms has passed since its first batch.
func (l *Log) maybeRollLocked(size, firstOffset, lastOffset, maxTimestamp int64, now time.Time) (*Segment, error) {
	seg := l.activeLocked()
	cfg := l.config.Load()
	roll := seg.offsetIndex.IsFull() || seg.timeIndex.IsFull() || !seg.canConvertToRelativeOffset(lastOffset)
	if seg.size > 0 {
		roll = roll || seg.size+size > cfg.SegmentBytes || l.timeToRoll(seg, cfg, maxTimestamp, now)
	}
	if !roll {
		return seg, nil
	}
	return l.rollLocked(firstOffset, now)
}

// timeToRoll applies segment.ms: the time is measured from the first batch's
// timestamp to the incoming batch's, as Kafka does, or by the wall clock
// since the segment was created when batches carry no timestamps.
func (l *Log) timeToRoll(seg *Segment, cfg *LogConfig, maxTimestamp int64, now time.Time) bool {
	if cfg.SegmentMs <= 0 {
		return false
	}
	var waited time.Duration
	if seg.rollingBasedTimestamp >= 0 {
		waited = time.Duration(maxTimestamp-seg.rollingBasedTimestamp) * time.Millisecond
	} else {
		waited = now.Sub(seg.created)
	}
	return waited >= cfg.SegmentMs-seg.rollJitter
}

// Roll starts a new active segment at the log end offset.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	if l.activeLocked().size == 0 {
		return nil
	}
	_, err := l.rollLocked(l.logEndOffset.Load(), l.now())
	return err
}

// rollLocked closes the active segment for appends and creates a new one at
// newBase. The producer state is snapshotted at the new base, so recovery
// replays at most one segment to rebuild it. The rolled segment is fsynced
// later by the manager (onRoll), never on the append path.
func (l *Log) rollLocked(newBase int64, now time.Time) (*Segment, error) {
	prev := l.activeLocked()
	if prev.size == 0 && prev.baseOffset == newBase {
		return prev, nil
	}
	if err := prev.onBecomeInactive(); err != nil {
		l.failLocked(err)
		return nil, err
	}
	if prev.size == 0 {
		// An empty segment below newBase (offsets jumped past what its
		// relative entries can hold) is simply replaced.
		l.segments = l.segments[:len(l.segments)-1]
		l.scheduleDeleteLocked(prev, now)
	}
	cfg := l.config.Load()
	seg, err := createSegment(l.fs, l.dir, newBase, cfg, now)
	if err != nil {
		l.failLocked(err)
		return nil, err
	}
	if cfg.SegmentJitter > 0 {
		// segment.jitter.ms spreads the rolls of many partitions created
		// together, so they don't all roll (and fsync) at the same moment.
		seg.rollJitter = rand.N(cfg.SegmentJitter)
	}
	l.segments = append(l.segments, seg)
	l.producers.UpdateMapEndOffset(newBase)
	if err := l.producers.TakeSnapshot(); err != nil {
		l.failLocked(err)
		return nil, err
	}
	l.log.WithField("offset", newBase).Debug("rolled new log segment")
	if l.onRoll != nil {
		l.onRoll(l)
	}
	return seg, nil
}

// Read returns the bytes of the batches from the one containing startOffset
// onward, up to maxBytes and never at or past maxOffset (the high watermark
// for consumers; a negative maxOffset means the log end offset). With
// minOneMessage the first batch is returned whole even when it is larger
// than maxBytes. Reading at the log end offset, or at or past maxOffset,
// returns an empty region. Offsets outside [log start offset, log end
// offset] give an *OffsetOutOfRangeError.
func (l *Log) Read(startOffset, maxBytes, maxOffset int64, minOneMessage bool) (Region, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return Region{}, ErrClosed
	}
	leo := l.logEndOffset.Load()
	if startOffset < l.logStartOffset || startOffset > leo {
		return Region{}, &OffsetOutOfRangeError{Requested: startOffset, LogStartOffset: l.logStartOffset, LogEndOffset: leo}
	}
	if maxOffset < 0 || maxOffset > leo {
		maxOffset = leo
	}
	if startOffset >= maxOffset {
		return Region{}, nil
	}
	for i := l.floorSegmentLocked(startOffset); i < len(l.segments); i++ {
		seg := l.segments[i]
		maxPosition := seg.size
		if maxOffset < seg.nextOffset {
			pos, err := seg.positionOf(maxOffset)
			if err != nil {
				return Region{}, err
			}
			maxPosition = pos
		}
		r, _, found, err := seg.read(startOffset, maxBytes, maxPosition, minOneMessage)
		if err != nil {
			return Region{}, err
		}
		if found {
			return r, nil
		}
	}
	return Region{}, nil
}

// floorSegmentLocked is the index of the last segment whose base offset is at
// most offset, or 0.
func (l *Log) floorSegmentLocked(offset int64) int {
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].baseOffset > offset })
	return max(i-1, 0)
}

// FetchOffsetByTimestamp returns the first record at or after the log start
// offset whose timestamp is at least ts (ListOffsets by time). found is
// false when every record is older.
func (l *Log) FetchOffsetByTimestamp(ts int64) (TimestampOffset, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return TimestampOffset{}, false, ErrClosed
	}
	for _, seg := range l.segments {
		if seg.nextOffset <= l.logStartOffset || seg.largestTimestamp() < ts {
			continue
		}
		to, found, err := seg.findOffsetByTimestamp(ts, l.logStartOffset)
		if err != nil || found {
			return to, found, err
		}
	}
	return TimestampOffset{}, false, nil
}

// LogEndOffset is the offset the next appended record will get.
func (l *Log) LogEndOffset() int64 { return l.logEndOffset.Load() }

// LogStartOffset is the first offset a reader may fetch.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStartOffset
}

// RecoveryPoint is the offset below which the log is known to be on disk.
func (l *Log) RecoveryPoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.recoveryPoint
}

// HighWatermark is the value last given to SetHighWatermark.
func (l *Log) HighWatermark() int64 { return l.highWatermark.Load() }

// SetHighWatermark records the high watermark decided by the replication
// layer, capped at the log end offset. Retention never deletes a segment
// holding offsets at or above it.
func (l *Log) SetHighWatermark(hw int64) {
	l.highWatermark.Store(min(hw, l.logEndOffset.Load()))
}

// MaybeIncrementHighWatermark moves the high watermark up to hw (capped at
// the log end offset) and reports whether it moved; it never moves it
// back. A leader calls it from concurrent produce and fetch paths.
func (l *Log) MaybeIncrementHighWatermark(hw int64) bool {
	hw = min(hw, l.logEndOffset.Load())
	for {
		cur := l.highWatermark.Load()
		if hw <= cur {
			return false
		}
		if l.highWatermark.CompareAndSwap(cur, hw) {
			return true
		}
	}
}

// Size is the total size of the log's segments in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size
	}
	return n
}

// NumberOfSegments counts the log's segments.
func (l *Log) NumberOfSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

// SegmentBaseOffsets lists the segments' base offsets in order.
func (l *Log) SegmentBaseOffsets() []int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	bases := make([]int64, len(l.segments))
	for i, s := range l.segments {
		bases[i] = s.baseOffset
	}
	return bases
}

// Dir is the partition folder.
func (l *Log) Dir() string { return l.dir }

// TopicPartition names the log's partition.
func (l *Log) TopicPartition() TopicPartition { return l.tp }

// Config returns the log's current configuration. Do not modify it.
func (l *Log) Config() *LogConfig { return l.config.Load() }

// UpdateConfig swaps in a new configuration (a topic config change). It
// applies to the next append, roll and retention pass.
func (l *Log) UpdateConfig(cfg LogConfig) { l.config.Store(&cfg) }

// RemoveExpiredProducers forgets producer ids idle for longer than the
// configured expiration (Kafka 2.8: transactional.id.expiration.ms).
func (l *Log) RemoveExpiredProducers() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.producers.RemoveExpiredProducers(l.now())
}

// LastProducerEntry returns the idempotence state of a producer id.
func (l *Log) LastProducerEntry(producerID int64) (ProducerStateEntry, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.producers.LastEntry(producerID)
}
