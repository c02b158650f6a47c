package logstore

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Producer state: what the log remembers about each idempotent or
// transactional producer, so that it can fence zombie producers, reject
// batches that arrive out of order and answer retried batches with the
// offsets they were first written at instead of writing them twice (KIP-98).
// The rules mirror Kafka 2.8's ProducerAppendInfo and ProducerStateEntry
// (core/src/main/scala/kafka/log/ProducerStateManager.scala); the snapshot
// format and the snapshot file lifecycle are in producer_snapshot.go.
//
// How the owning Log uses it, per append:
//
//	for each batch with a producer id:  dup, err := m.CheckBatch(h, origin)
//	    err != nil  -> refuse the whole append, nothing is written
//	    dup != nil  -> write nothing, answer with dup's offsets and timestamp
//	assign offsets, write the batches
//	for each batch with a producer id:  m.Update(h, origin)
//	m.UpdateMapEndOffset(lastOffset + 1)   // after every append, idempotent or not
//
// and on a segment roll, UpdateMapEndOffset(newBaseOffset) then TakeSnapshot,
// so that a snapshot sits at the base of every segment and recovery can start
// from the one below the first segment it has to re-read.

// AppendOrigin says who is appending a batch, which decides how much of the
// producer state is checked (Kafka's AppendOrigin).
type AppendOrigin int8

const (
	// AppendOriginClient is a Produce request from a client: the epoch and
	// the sequence are checked, and duplicates are detected. It is the zero
	// value, so that forgetting to set an origin checks everything.
	AppendOriginClient AppendOrigin = iota
	// AppendOriginReplication is a follower copying the leader's log, or the
	// log replaying its own batches at recovery: the leader has validated
	// the batches already, so nothing is checked, only recorded (Kafka
	// 2.8's AppendOrigin.Replication, later Kafka's ValidationType None;
	// Kafka logs a warning for an older epoch).
	AppendOriginReplication
	// AppendOriginCoordinator is a write by the group or transaction
	// coordinator (offset commits in a transaction, transaction markers):
	// only the producer epoch is checked, as those batches carry no
	// sequence numbers.
	AppendOriginCoordinator
)

func (o AppendOrigin) String() string {
	switch o {
	case AppendOriginClient:
		return "client"
	case AppendOriginReplication:
		return "replication"
	case AppendOriginCoordinator:
		return "coordinator"
	default:
		return fmt.Sprintf("AppendOrigin(%d)", int8(o))
	}
}

// maxCachedProducerBatches is how many of a producer's most recent batches are
// remembered for duplicate detection (Kafka's NumBatchesToRetain). It matches
// max.in.flight.requests.per.connection=5, the most a client may have in
// flight with idempotence enabled: any retry is of one of those five.
const maxCachedProducerBatches = 5

// BatchMetadata describes one batch a producer wrote: enough to recognise a
// retry of it and to answer that retry with the original offsets.
//
// Invariant: FirstSeq is LastSeq minus OffsetDelta, wrapping below 0 to
// MaxInt32 (both are NoSequence for a batch written without sequences). The
// snapshot stores only LastSeq and OffsetDelta and derives FirstSeq.
type BatchMetadata struct {
	FirstSeq    int32 // sequence of the batch's first record
	LastSeq     int32 // sequence of the batch's last record
	LastOffset  int64 // offset of the batch's last record
	OffsetDelta int32 // LastOffset - FirstOffset, the header's last offset delta
	Timestamp   int64 // the batch's max timestamp (the append time under LogAppendTime), ms
}

// FirstOffset is the offset of the batch's first record.
func (b BatchMetadata) FirstOffset() int64 { return b.LastOffset - int64(b.OffsetDelta) }

// ProducerStateEntry is the state of one producer id.
type ProducerStateEntry struct {
	ProducerID    int64
	ProducerEpoch int16 // current epoch; NoProducerEpoch (-1) if none is known
	// Batches are the producer's most recent data batches in the current
	// epoch, oldest first, at most 5. A new epoch empties it. After a reload
	// from a snapshot it holds only the last batch, since that is all a
	// snapshot stores (as in Kafka), so a retry of an older one of the five
	// in-flight batches right after a restart is refused as out of order
	// rather than answered as a duplicate.
	Batches []BatchMetadata
	// CoordinatorEpoch is the epoch of the transaction coordinator that wrote
	// the producer's last transaction marker, -1 if none. Kept for the
	// snapshot format; transactions will maintain it.
	CoordinatorEpoch int32
	// CurrentTxnFirstOffset is the offset of the first batch of the
	// producer's open transaction, -1 if none.
	CurrentTxnFirstOffset int64
	// LastTimestamp is the max timestamp of the producer's last batch or
	// marker (ms; NoTimestamp if none). Expiration is measured from it.
	LastTimestamp int64
}

// LastSeq is the sequence of the producer's last cached batch, NoSequence if
// none is cached.
func (e *ProducerStateEntry) LastSeq() int32 {
	if len(e.Batches) == 0 {
		return NoSequence
	}
	return e.Batches[len(e.Batches)-1].LastSeq
}

// LastOffset is the offset of the producer's last cached batch's last record,
// -1 if none is cached (Kafka's lastDataOffset).
func (e *ProducerStateEntry) LastOffset() int64 {
	if len(e.Batches) == 0 {
		return -1
	}
	return e.Batches[len(e.Batches)-1].LastOffset
}

// lastOffsetDelta is the offset delta of the last cached batch, 0 if none.
func (e *ProducerStateEntry) lastOffsetDelta() int32 {
	if len(e.Batches) == 0 {
		return 0
	}
	return e.Batches[len(e.Batches)-1].OffsetDelta
}

// clone returns a copy that shares no memory with e.
func (e *ProducerStateEntry) clone() ProducerStateEntry {
	c := *e
	c.Batches = nil
	if len(e.Batches) > 0 {
		c.Batches = slices.Clone(e.Batches)
	}
	return c
}

// maybeUpdateEpoch moves the entry to epoch, forgetting the batches of the
// old one: sequences restart at 0 in a new epoch, so old batches can no
// longer be retried (Kafka's maybeUpdateProducerEpoch). An older epoch also
// replaces the current one: only replication and recovery get that far with
// one, and they record what the leader wrote.
func (e *ProducerStateEntry) maybeUpdateEpoch(epoch int16) {
	if e.ProducerEpoch != epoch {
		e.Batches = e.Batches[:0]
		e.ProducerEpoch = epoch
	}
}

func (e *ProducerStateEntry) addBatch(b BatchMetadata) {
	if len(e.Batches) == maxCachedProducerBatches {
		copy(e.Batches, e.Batches[1:])
		e.Batches = e.Batches[:maxCachedProducerBatches-1]
	}
	e.Batches = append(e.Batches, b)
}

// duplicateOf returns the cached batch with the same epoch and the same first
// and last sequence as h, if any (Kafka's findDuplicateBatch).
func (e *ProducerStateEntry) duplicateOf(h BatchHeader) (BatchMetadata, bool) {
	if h.ProducerEpoch != e.ProducerEpoch {
		return BatchMetadata{}, false
	}
	last := h.LastSequence()
	for _, b := range e.Batches {
		if b.FirstSeq == h.BaseSequence && b.LastSeq == last {
			return b, true
		}
	}
	return BatchMetadata{}, false
}

func newProducerStateEntry(producerID int64) *ProducerStateEntry {
	return &ProducerStateEntry{
		ProducerID:            producerID,
		ProducerEpoch:         NoProducerEpoch,
		Batches:               make([]BatchMetadata, 0, maxCachedProducerBatches),
		CoordinatorEpoch:      -1,
		CurrentTxnFirstOffset: -1,
		LastTimestamp:         NoTimestamp,
	}
}

// producerFirstSeq derives a batch's first sequence from its last one and its
// offset delta, wrapping below 0 to MaxInt32 (Kafka's
// DefaultRecordBatch.decrementSequence). A batch without sequences keeps
// NoSequence, so that state rebuilt from a snapshot equals the state it was
// taken from.
func producerFirstSeq(lastSeq, offsetDelta int32) int32 {
	if lastSeq == NoSequence {
		return NoSequence
	}
	if lastSeq < offsetDelta {
		return math.MaxInt32 - (offsetDelta - lastSeq) + 1
	}
	return lastSeq - offsetDelta
}

// producerInSequence reports whether next may follow last: one more, or 0 after
// MaxInt32 (Kafka's ProducerAppendInfo.inSequence).
func producerInSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// ProducerStateManager keeps the producer state of one partition's log: an
// entry per producer id, the offset the state is complete up to
// (MapEndOffset), and the snapshot files in the partition folder.
//
// Not safe for concurrent use; the owning Log's lock protects it (Kafka marks
// its ProducerStateManager @nonthreadsafe too).
type ProducerStateManager struct {
	fsys FS
	dir  string
	// expiration is how long a producer may stay idle before its state is
	// dropped. Kafka 2.8 uses transactional.id.expiration.ms (7 days).
	expiration time.Duration

	producers map[int64]*ProducerStateEntry
	// mapEndOffset: the state reflects every batch of the log below it.
	mapEndOffset int64
	// loaded is set once TruncateAndReload or TruncateFullyAndStartAt has
	// set the state up from disk; until then mapEndOffset means nothing.
	loaded bool

	// snapshots holds the offsets of the snapshot files in dir, ascending.
	snapshots []int64
	// listed is set once dir has been scanned for snapshots; until then
	// snapshots holds only those this manager wrote.
	listed bool
}

// NewProducerStateManager returns an empty manager for the partition folder
// dir. It does no I/O: the owning Log calls TruncateAndReload before
// anything else, also for a new, empty log, which scans dir and loads the
// latest snapshot. producerIDExpiration is how long a producer may
// be idle before RemoveExpiredProducers drops it; Kafka 2.8 passes
// transactional.id.expiration.ms (default 7 days).
func NewProducerStateManager(fsys FS, dir string, producerIDExpiration time.Duration) *ProducerStateManager {
	return &ProducerStateManager{
		fsys:       fsys,
		dir:        dir,
		expiration: producerIDExpiration,
		producers:  make(map[int64]*ProducerStateEntry),
	}
}

// CheckBatch validates a batch from a producer against the state, without
// changing it. The batch has not been written yet and its base offset need
// not be assigned: only the producer id, epoch, base sequence and last offset
// delta are read. A batch without a producer id is not checked.
//
// What is checked depends on origin:
//
//   - AppendOriginClient: first, a batch with the current epoch and the same
//     first and last sequence as one of the producer's last 5 batches is a
//     duplicate (a retry whose first attempt was written): dup is that
//     batch's metadata, err is nil, and the caller must not write it but
//     answer with dup's offsets and timestamp. Otherwise the epoch and the
//     sequence are checked as below.
//   - AppendOriginCoordinator: the epoch only.
//   - AppendOriginReplication: nothing.
//
// The rules, and what Kafka 2.8 raises for each:
//
//   - Epoch below the current one: the producer has been fenced by a newer
//     instance. ErrInvalidProducerEpoch (Kafka's checkProducerEpoch raises
//     InvalidProducerEpochException, which since 2.7 replaces
//     ProducerFencedException in produce responses so that the client
//     aborts its transaction and retries instead of dying).
//   - Epoch above the current one: a new epoch must start at sequence 0,
//     else ErrOutOfOrderSequence (Kafka's checkSequence:
//     OutOfOrderSequenceException, "Invalid sequence number for new epoch").
//   - Same epoch: the base sequence must follow the last one (last + 1, or 0
//     after MaxInt32), else ErrOutOfOrderSequence (Kafka:
//     OutOfOrderSequenceException).
//   - A producer the log does not know, or knows without an epoch, is
//     accepted with any sequence. Its state may have expired or, after a
//     restart, been lost with the segments that held it; Kafka 2.8's
//     checkSequence accepts it, and so do we.
//
// CheckBatch assumes record validation has run: a client batch with a
// producer id has a base sequence >= 0 and is not a control batch
// (ErrInvalidRecord there). A client append holds exactly one batch, so one
// CheckBatch per append sees the state it must; a coordinator append with
// several batches of one producer is checked against the state before all of
// them, which for the epoch-only check is the same thing.
//
// Kafka also refuses a non-transactional batch from a producer with an open
// transaction (InvalidTxnStateException); that check comes with transactions.
func (m *ProducerStateManager) CheckBatch(h BatchHeader, origin AppendOrigin) (dup *BatchMetadata, err error) {
	if !h.HasProducerID() || origin == AppendOriginReplication {
		return nil, nil
	}
	entry, known := m.producers[h.ProducerID]
	if known && origin == AppendOriginClient {
		if b, ok := entry.duplicateOf(h); ok {
			return &b, nil
		}
	}
	currentEpoch := NoProducerEpoch
	if known {
		currentEpoch = entry.ProducerEpoch
	}
	if h.ProducerEpoch < currentEpoch {
		return nil, fmt.Errorf("producer %d: epoch %d is older than the current epoch %d: %w",
			h.ProducerID, h.ProducerEpoch, currentEpoch, ErrInvalidProducerEpoch)
	}
	if origin != AppendOriginClient || currentEpoch == NoProducerEpoch {
		return nil, nil
	}
	if h.ProducerEpoch != currentEpoch {
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("producer %d: new epoch %d (current %d) starts at sequence %d, not 0: %w",
				h.ProducerID, h.ProducerEpoch, currentEpoch, h.BaseSequence, ErrOutOfOrderSequence)
		}
		return nil, nil
	}
	if last := entry.LastSeq(); !producerInSequence(last, h.BaseSequence) {
		return nil, fmt.Errorf("producer %d epoch %d: sequence %d does not follow the last sequence %d: %w",
			h.ProducerID, h.ProducerEpoch, h.BaseSequence, last, ErrOutOfOrderSequence)
	}
	return nil, nil
}

// Update records a batch that has been written: its header now carries the
// assigned base offset (and, under LogAppendTime, the broker's timestamp as
// its max timestamp). The batches of one append are passed in log order.
// Update checks nothing: it is also how recovery replays the log and how a
// follower records what it copied, and it records what the batch says even
// when that goes against the state (an older epoch, a sequence gap), as
// Kafka does for replication. A batch without a producer id is ignored, so a
// caller may pass every batch. origin is accepted for symmetry with
// CheckBatch and for the transaction markers to come; it does not change
// what is recorded.
//
// A data batch moves the producer to its epoch (forgetting the cached batches
// of an older one), becomes the newest of its cached batches, sets its last
// timestamp and, if transactional, opens a transaction at its base offset
// unless one is open. A control batch (a transaction marker) moves the epoch,
// closes the open transaction and sets the last timestamp; it is not a data
// batch and is not cached. An empty control batch (a marker the cleaner
// removed) changes nothing, as in Kafka.
//
// Cut corner, for the transactions work: a marker's coordinator epoch and
// whether it commits or aborts are in its record, which a header does not
// carry, so CoordinatorEpoch is not maintained yet and no completed
// transaction is reported.
func (m *ProducerStateManager) Update(h BatchHeader, origin AppendOrigin) {
	if !h.HasProducerID() {
		return
	}
	if h.IsControl() && h.RecordCount == 0 {
		return
	}
	entry, ok := m.producers[h.ProducerID]
	if !ok {
		entry = newProducerStateEntry(h.ProducerID)
		m.producers[h.ProducerID] = entry
	}
	entry.maybeUpdateEpoch(h.ProducerEpoch)
	entry.LastTimestamp = h.MaxTimestamp
	if h.IsControl() {
		entry.CurrentTxnFirstOffset = -1
		return
	}
	lastSeq := h.LastSequence()
	entry.addBatch(BatchMetadata{
		FirstSeq:    producerFirstSeq(lastSeq, h.LastOffsetDelta),
		LastSeq:     lastSeq,
		LastOffset:  h.LastOffset(),
		OffsetDelta: h.LastOffsetDelta,
		Timestamp:   h.MaxTimestamp,
	})
	if h.IsTransactional() && entry.CurrentTxnFirstOffset < 0 {
		entry.CurrentTxnFirstOffset = h.BaseOffset
	}
}

// LastEntry returns a copy of the state of producerID, if the log knows it.
func (m *ProducerStateManager) LastEntry(producerID int64) (ProducerStateEntry, bool) {
	e, ok := m.producers[producerID]
	if !ok {
		return ProducerStateEntry{}, false
	}
	return e.clone(), true
}

// Producers is the number of producer ids the log knows.
func (m *ProducerStateManager) Producers() int { return len(m.producers) }

// MapEndOffset is the offset the state is complete up to: it reflects every
// batch of the log below it and none at or above it.
func (m *ProducerStateManager) MapEndOffset() int64 { return m.mapEndOffset }

// UpdateMapEndOffset records that the state now reflects the log below
// offset. The Log calls it after every append (with the next offset, whether
// or not the append had producer ids, so that snapshots land at the log end
// offset), at each segment roll (with the new base offset) and while
// replaying at recovery.
func (m *ProducerStateManager) UpdateMapEndOffset(offset int64) { m.mapEndOffset = offset }

// isExpired reports whether e has been idle for at least the expiration time
// and has no open transaction (Kafka's isProducerExpired). Idleness is
// measured from the producer's last batch timestamp, which under CreateTime
// is the producer's clock, as in Kafka.
func (m *ProducerStateManager) isExpired(e *ProducerStateEntry, now time.Time) bool {
	return e.CurrentTxnFirstOffset < 0 && now.UnixMilli()-e.LastTimestamp >= m.expiration.Milliseconds()
}

// RemoveExpiredProducers drops the producers idle for at least the expiration
// time and without an open transaction. A dropped producer that comes back is
// accepted with any sequence (see CheckBatch). Kafka runs this every
// producer.id.expiration.check.interval.ms (10 minutes).
func (m *ProducerStateManager) RemoveExpiredProducers(now time.Time) {
	for id, e := range m.producers {
		if m.isExpired(e, now) {
			delete(m.producers, id)
		}
	}
}

// OnLogStartOffsetIncremented tells the manager that the log now starts at
// logStartOffset (retention deleted segments, or DeleteRecords moved the
// start). If the state's end lagged behind, it moves up to the new start.
//
// Producers whose batches are all below the new start are kept, as in Kafka
// 2.8 since KIP-360 (2.5): dropping them made an idle producer on a topic
// with short retention fail with UNKNOWN_PRODUCER_ID, and would here turn off
// its duplicate detection. They leave when they expire, and snapshots above
// the log start still hold them.
func (m *ProducerStateManager) OnLogStartOffsetIncremented(logStartOffset int64) {
	if m.mapEndOffset < logStartOffset {
		m.mapEndOffset = logStartOffset
	}
}
