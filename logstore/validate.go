package logstore

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// CheckBatch is the shallow check that recovery and follower appends run on
// every batch: the header parses, the magic is 2, b holds the whole batch
// (len(b) >= 12+BatchLength; bytes after it are ignored) and the CRC-32C
// matches. It does not look inside the records. Every error matches
// ErrCorrupt; a wrong magic also matches ErrUnsupportedMagic.
func CheckBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if int64(len(b)) < h.Size() {
		return h, Corruptf("batch at offset %d has length %d, but only %d bytes follow its length field",
			h.BaseOffset, h.BatchLength, len(b)-LogOverhead)
	}
	if crc := ComputeCRC(b[:h.Size()]); crc != h.CRC {
		return h, Corruptf("batch at offset %d: stored crc %#08x, computed %#08x", h.BaseOffset, h.CRC, crc)
	}
	return h, nil
}

// TimestampType says who set a batch's timestamps: the producer
// (CreateTime) or the broker on append (LogAppendTime). The values are
// Kafka's, and LogAppendTime is the batch attribute bit 3.
type TimestampType int8

const (
	CreateTime    TimestampType = 0
	LogAppendTime TimestampType = 1
)

func (t TimestampType) String() string {
	switch t {
	case CreateTime:
		return "CreateTime"
	case LogAppendTime:
		return "LogAppendTime"
	}
	return fmt.Sprintf("TimestampType(%d)", int8(t))
}

// ValidateOptions are the topic's rules for ValidateBatch.
type ValidateOptions struct {
	// MaxBatchBytes is max.message.bytes: a batch larger than this,
	// 12-byte prefix included, is ErrRecordTooLarge. 0 means no limit.
	MaxBatchBytes int
	// TimestampType is the topic's message.timestamp.type.
	TimestampType TimestampType
	// MaxTimestampDifference is message.timestamp.difference.max.ms, applied
	// to CreateTime topics only; <= 0 means unlimited (Kafka's default is
	// Long.MaxValue).
	MaxTimestampDifference time.Duration
	// Now is the broker's clock, needed when MaxTimestampDifference is set.
	Now time.Time
	// RequireKeys is set for compacted topics: a record with a null key is
	// ErrInvalidRecord.
	RequireKeys bool
	// AllowControl admits control batches (transaction markers written by
	// the coordinator). It is false for client produce requests, which may
	// not write them (ErrInvalidRecord).
	AllowControl bool
	// MaxDecompressedBytes bounds the decompressed size of the records of a
	// compressed batch; more is ErrRecordTooLarge. <= 0 means
	// DefaultMaxDecompressedBytes (see compression.go for why a bound is
	// always applied).
	MaxDecompressedBytes int
}

// BatchInfo is what ValidateBatch learnt about a valid batch.
type BatchInfo struct {
	Header BatchHeader
	// MaxTimestamp is the largest record timestamp (base timestamp plus
	// delta), NoTimestamp if no record has one above it, and
	// OffsetDeltaOfMaxTimestamp the offset delta of the first record that
	// has it (-1 if none). For a LogAppendTime topic the appender stamps the batch with
	// its own clock (SetLogAppendTime) and, as Kafka does, should index it
	// at the batch's last offset instead.
	MaxTimestamp              int64
	OffsetDeltaOfMaxTimestamp int32
	RecordCount               int32
}

// decompressBufPool holds *[]byte buffers for ValidateBatch, which needs the
// decompressed records only while it looks at them. Buffers that grew past
// maxPooledBuf are dropped rather than kept alive by the pool.
var decompressBufPool sync.Pool

const maxPooledBuf = 1 << 20

// ValidateBatch is the deep validation of one magic-2 batch on the produce
// path, with the rules of Kafka 2.8's LogValidator and
// Log.analyzeAndValidateRecords. batch must be exactly one batch, 12-byte
// prefix included. ValidateBatch never modifies or re-encodes it: the caller
// sets the base offset and leader epoch (and, for LogAppendTime, the
// timestamp) on the bytes it appends.
//
// The checks, in order, and the error each failure matches:
//
//   - the header parses, magic 2, the batch fits in the bytes: ErrCorrupt
//     (a wrong magic also matches ErrUnsupportedMagic)
//   - no bytes after the batch: ErrInvalidRecord (a produce request
//     carries one batch per partition)
//   - size at most MaxBatchBytes: ErrRecordTooLarge
//   - CRC-32C: ErrCorrupt
//   - a known codec: ErrUnsupportedCompression
//   - not marked LogAppendTime: ErrInvalidTimestamp (only the broker sets
//     that)
//   - last offset delta >= 0, record count > 0 and equal to last offset
//     delta + 1: ErrInvalidRecord
//   - producer fields: a producer id is -1 or >= 0; with a producer id, an
//     epoch >= 0 and a base sequence >= 0; a transactional batch has a
//     producer id: ErrInvalidRecord
//   - a control batch only with AllowControl: ErrInvalidRecord
//   - the records decode (after decompression, bounded by
//     MaxDecompressedBytes: ErrRecordTooLarge), exactly RecordCount of
//     them with no bytes left over: ErrCorrupt
//   - record i has offset delta i: ErrInvalidRecord
//   - with RequireKeys, every record has a key: ErrInvalidRecord
//   - for CreateTime topics with a MaxTimestampDifference, every record
//     timestamp other than NoTimestamp is within it of Now:
//     ErrInvalidTimestamp
//
// The header's max timestamp is not checked: Kafka's broker always
// overwrites it with the records' largest, and clients rely on that (sarama
// before 1.45 sends -1). For a CreateTime topic the appender must do the
// same, with SetMaxTimestamp(batch, info.MaxTimestamp), which costs nothing
// when the producer got it right. For LogAppendTime it calls
// SetLogAppendTime instead.
//
// Where Gregor is stricter than Kafka, it is because it never re-encodes:
// Kafka 2.8 rewrites a compressed batch whose offset deltas are not 0..n-1,
// Gregor rejects it; Kafka clients (Java, librdkafka, sarama, franz-go)
// always number them so. The producer epoch check and the transactional
// check are Gregor's own; Kafka catches those cases later, or not at all.
//
// ValidateBatch is safe for concurrent use. Errors from records name the
// record (index and offset delta). A record
// that does not decode behind a valid CRC matches ErrCorrupt (CORRUPT_MESSAGE),
// as errors.go specifies; Kafka 2.8 answers INVALID_RECORD for those.
func ValidateBatch(batch []byte, opts ValidateOptions) (BatchInfo, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return BatchInfo{Header: h}, err
	}
	info := BatchInfo{Header: h, MaxTimestamp: NoTimestamp, OffsetDeltaOfMaxTimestamp: -1}
	size := h.Size()
	if int64(len(batch)) < size {
		return info, Corruptf("batch at offset %d has length %d, but only %d bytes follow its length field",
			h.BaseOffset, h.BatchLength, len(batch)-LogOverhead)
	}
	if int64(len(batch)) > size {
		return info, fmt.Errorf("logstore: %d bytes follow the batch: an append holds exactly one batch: %w",
			int64(len(batch))-size, ErrInvalidRecord)
	}
	if opts.MaxBatchBytes > 0 && size > int64(opts.MaxBatchBytes) {
		return info, fmt.Errorf("logstore: batch of %d bytes exceeds the maximum of %d (max.message.bytes): %w",
			size, opts.MaxBatchBytes, ErrRecordTooLarge)
	}
	if crc := ComputeCRC(batch); crc != h.CRC {
		return info, Corruptf("batch: stored crc %#08x, computed %#08x", h.CRC, crc)
	}
	if c := h.Compression(); c > CompressionZstd {
		return info, unsupportedCompression(c)
	}
	if h.IsLogAppendTime() {
		return info, fmt.Errorf("logstore: batch has timestamp type LogAppendTime, which only the broker may set: %w",
			ErrInvalidTimestamp)
	}
	if err := validateBatchFields(&h, opts.AllowControl); err != nil {
		return info, err
	}

	// The records. Uncompressed ones are read in place; compressed ones go
	// through a pooled buffer, since nothing outlives this call.
	var bufp *[]byte
	var buf []byte
	if h.Compression() != CompressionNone {
		bufp, _ = decompressBufPool.Get().(*[]byte)
		if bufp == nil {
			bufp = new([]byte)
		}
		buf = (*bufp)[:0]
	}
	_, records, err := batchRecords(batch, opts.MaxDecompressedBytes, buf)
	if bufp != nil {
		defer func() {
			if cap(records) <= maxPooledBuf {
				*bufp = records[:0]
				decompressBufPool.Put(bufp)
			}
		}()
	}
	if err != nil {
		return info, err
	}

	checks := recordChecks{
		requireKeys:   opts.RequireKeys,
		checkDiff:     opts.TimestampType == CreateTime && opts.MaxTimestampDifference > 0,
		now:           opts.Now.UnixMilli(),
		maxDiff:       opts.MaxTimestampDifference.Milliseconds(),
		baseTimestamp: h.BaseTimestamp,
	}
	// The fast walk accepts or rejects; only a rejected batch is decoded,
	// to name its first bad record (see record_walk.go).
	res, ok := walkRecords(records, h.RecordCount, &checks)
	if !ok {
		if err := validateDecodedRecords(&h, records, &checks); err != nil {
			return info, err
		}
		// walkRecords and the decoder disagree: a bug, which
		// FuzzWalkRecords exists to find. Reject rather than append
		// records the walk could not account for.
		return info, Corruptf("batch at offset %d: records rejected by the walk but not by the decoder", h.BaseOffset)
	}
	info.MaxTimestamp, info.OffsetDeltaOfMaxTimestamp = res.maxTimestamp, res.offsetDeltaOfMaxTimestamp
	info.RecordCount = h.RecordCount
	return info, nil
}

// validateDecodedRecords checks the records of a batch by decoding each
// one, with the rules of walkRecords, and returns the first error, which
// names the record. ValidateBatch runs it only on records the walk
// rejected, for the error.
func validateDecodedRecords(h *BatchHeader, records []byte, c *recordChecks) error {
	rr := recordReader{base: h.BaseOffset, count: h.RecordCount, b: records, left: h.RecordCount}
	var rec Record
	for i := int32(0); ; i++ {
		ok, err := rr.next(&rec, false)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if rec.OffsetDelta != i {
			return fmt.Errorf("logstore: record %d has offset delta %d, want %d: offset deltas must run 0..%d: %w",
				i, rec.OffsetDelta, i, h.LastOffsetDelta, ErrInvalidRecord)
		}
		if c.requireKeys && rec.Key == nil {
			return fmt.Errorf("logstore: record %d (offset delta %d) has a null key, which a compacted topic does not accept: %w",
				i, rec.OffsetDelta, ErrInvalidRecord)
		}
		ts := c.baseTimestamp + rec.TimestampDelta
		if c.checkDiff && ts != NoTimestamp && absDiff(ts, c.now) > c.maxDiff {
			return fmt.Errorf("logstore: record %d (offset delta %d) has timestamp %d, outside [%d, %d] (message.timestamp.difference.max.ms %d): %w",
				i, rec.OffsetDelta, ts, c.now-c.maxDiff, c.now+c.maxDiff, c.maxDiff, ErrInvalidTimestamp)
		}
	}
}

// SetMaxTimestamp writes ts as a batch's max timestamp and recomputes the
// CRC, unless the batch already holds it. The produce path calls it on a
// validated CreateTime batch with BatchInfo.MaxTimestamp, as Kafka's
// LogValidator calls setMaxTimestamp: some clients leave the field at -1.
func SetMaxTimestamp(batch []byte, ts int64) {
	if int64(binary.BigEndian.Uint64(batch[offsetMaxTimestamp:])) == ts {
		return
	}
	binary.BigEndian.PutUint64(batch[offsetMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offsetCRC:], ComputeCRC(batch))
}

// validateBatchFields checks the header fields LogValidator.validateBatch
// checks for a client's batch, plus the producer fields.
func validateBatchFields(h *BatchHeader, allowControl bool) error {
	if h.LastOffsetDelta < 0 {
		return fmt.Errorf("logstore: batch has last offset delta %d, an empty offset range: %w", h.LastOffsetDelta, ErrInvalidRecord)
	}
	if h.RecordCount <= 0 {
		return fmt.Errorf("logstore: batch has record count %d: %w", h.RecordCount, ErrInvalidRecord)
	}
	if int64(h.LastOffsetDelta)+1 != int64(h.RecordCount) {
		return fmt.Errorf("logstore: batch has last offset delta %d but %d records; they must be %d: %w",
			h.LastOffsetDelta, h.RecordCount, int64(h.LastOffsetDelta)+1, ErrInvalidRecord)
	}
	if h.ProducerID < NoProducerID {
		return fmt.Errorf("logstore: batch has producer id %d: %w", h.ProducerID, ErrInvalidRecord)
	}
	if h.HasProducerID() {
		if h.ProducerEpoch < 0 {
			return fmt.Errorf("logstore: batch has producer id %d but producer epoch %d: %w", h.ProducerID, h.ProducerEpoch, ErrInvalidRecord)
		}
		if h.BaseSequence < 0 {
			return fmt.Errorf("logstore: batch has producer id %d but base sequence %d: %w", h.ProducerID, h.BaseSequence, ErrInvalidRecord)
		}
	} else if h.IsTransactional() {
		return fmt.Errorf("logstore: transactional batch has no producer id: %w", ErrInvalidRecord)
	}
	if h.IsControl() && !allowControl {
		return fmt.Errorf("logstore: clients may not write control batches: %w", ErrInvalidRecord)
	}
	return nil
}

func absDiff(a, b int64) int64 {
	// Timestamps are milliseconds, far from overflowing a difference, but a
	// hostile delta can make one anything: saturate instead of wrapping.
	d := a - b
	if (a >= b) != (d >= 0) || d == -1<<63 {
		return 1<<63 - 1
	}
	if d < 0 {
		return -d
	}
	return d
}
