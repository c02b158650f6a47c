package logstore

import (
	"encoding/binary"
	"hash/crc32"
	"math"
)

// Record batch v2 (magic 2) header layout; all integers big-endian. This is
// Kafka's DefaultRecordBatch, the only format logstore stores: Produce v3 and
// later can only carry magic 2, so nothing older ever reaches the log.
//
//	offset  size  field
//	     0     8  base offset               assigned by the broker
//	     8     4  batch length              bytes after this field
//	    12     4  partition leader epoch    set by the leader on append
//	    16     1  magic                     2
//	    17     4  crc                       CRC-32C of bytes [21, end)
//	    21     2  attributes                compression, timestamp type, txn, control
//	    23     4  last offset delta
//	    27     8  base timestamp
//	    35     8  max timestamp
//	    43     8  producer id
//	    51     2  producer epoch
//	    53     4  base sequence
//	    57     4  record count
//	    61     .  records (compressed as a whole when the codec is not none)
//
// The first 21 bytes are outside the CRC, which is why the broker can assign
// the base offset and the leader epoch without re-checksumming.
const (
	offsetBaseOffset           = 0
	offsetBatchLength          = 8
	offsetPartitionLeaderEpoch = 12
	offsetMagic                = 16
	offsetCRC                  = 17
	offsetAttributes           = 21
	offsetLastOffsetDelta      = 23
	offsetBaseTimestamp        = 27
	offsetMaxTimestamp         = 35
	offsetProducerID           = 43
	offsetProducerEpoch        = 51
	offsetBaseSequence         = 53
	offsetRecordCount          = 57

	// BatchHeaderSize is the size of a magic-2 batch header, records excluded.
	BatchHeaderSize = 61
	// LogOverhead is the base offset and length prefix that every batch in a
	// log starts with; a batch occupies LogOverhead+BatchLength bytes.
	LogOverhead = 12
	// CurrentMagic is the only record batch format logstore stores.
	CurrentMagic = 2
)

// Attribute bits of a record batch.
const (
	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// NoProducerID, NoProducerEpoch and NoSequence are the values a
// non-idempotent producer writes in the batch header.
const (
	NoProducerID    int64 = -1
	NoProducerEpoch int16 = -1
	NoSequence      int32 = -1
	// NoPartitionLeaderEpoch is the leader epoch of a batch not yet stamped.
	NoPartitionLeaderEpoch int32 = -1
	// NoTimestamp is Kafka's "no timestamp" value.
	NoTimestamp int64 = -1
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded fixed header of one record batch.
type BatchHeader struct {
	BaseOffset           int64
	BatchLength          int32
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// ParseBatchHeader decodes the header at the start of b. It checks only that
// b holds a whole header and that the magic byte is 2; it does not check the
// CRC or that b holds the whole batch (see ValidateBatch).
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	if len(b) < BatchHeaderSize {
		return BatchHeader{}, Corruptf("batch header needs %d bytes, have %d", BatchHeaderSize, len(b))
	}
	h := BatchHeader{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offsetBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offsetBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offsetPartitionLeaderEpoch:])),
		Magic:                int8(b[offsetMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offsetCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offsetAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offsetLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offsetBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offsetMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offsetProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offsetProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offsetBaseSequence:])),
		RecordCount:          int32(binary.BigEndian.Uint32(b[offsetRecordCount:])),
	}
	if h.Magic != CurrentMagic {
		return h, Corruptf("batch at offset %d has magic %d: %w", h.BaseOffset, h.Magic, ErrUnsupportedMagic)
	}
	if h.BatchLength < BatchHeaderSize-LogOverhead {
		return h, Corruptf("batch at offset %d has length %d, less than a header", h.BaseOffset, h.BatchLength)
	}
	return h, nil
}

// Size is the number of bytes the batch occupies, prefix included.
func (h BatchHeader) Size() int64 { return LogOverhead + int64(h.BatchLength) }

// LastOffset is the offset of the batch's last record (valid once the base
// offset is assigned). Compaction may have removed records, so it can be
// above BaseOffset+RecordCount-1.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h BatchHeader) NextOffset() int64 { return h.LastOffset() + 1 }

// Compression is the codec the batch's records are compressed with.
func (h BatchHeader) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}

// IsLogAppendTime reports whether the batch's timestamps were set by the
// broker (TimestampType LogAppendTime) rather than the producer.
func (h BatchHeader) IsLogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// IsTransactional reports the transactional bit.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// IsControl reports the control bit (commit and abort markers).
func (h BatchHeader) IsControl() bool { return h.Attributes&attrControl != 0 }

// HasProducerID reports whether the batch came from an idempotent or
// transactional producer.
func (h BatchHeader) HasProducerID() bool { return h.ProducerID != NoProducerID }

// LastSequence is the sequence number of the batch's last record. Sequences
// wrap from MaxInt32 to 0, as in Kafka's DefaultRecordBatch.incrementSequence.
func (h BatchHeader) LastSequence() int32 {
	if h.BaseSequence == NoSequence {
		return NoSequence
	}
	return IncrementSequence(h.BaseSequence, h.LastOffsetDelta)
}

// IncrementSequence adds delta to a sequence number, wrapping past MaxInt32.
func IncrementSequence(seq, delta int32) int32 {
	if seq > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - seq) - 1
	}
	return seq + delta
}

// ComputeCRC returns the CRC-32C of a whole batch (prefix included) over the
// range Kafka checksums: from the attributes to the end.
func ComputeCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[offsetAttributes:], crc32c)
}

// SetBaseOffset writes the base offset into a batch in place. The base offset
// is outside the CRC.
func SetBaseOffset(batch []byte, base int64) {
	binary.BigEndian.PutUint64(batch[offsetBaseOffset:], uint64(base))
}

// SetPartitionLeaderEpoch writes the partition leader epoch in place. It is
// outside the CRC.
func SetPartitionLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[offsetPartitionLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks a batch's timestamps as broker-assigned and sets its
// max timestamp to ts, then recomputes the CRC, since both fields are inside
// it. Per-record timestamp deltas are left alone: with LogAppendTime,
// consumers use the batch's max timestamp for every record, as in Kafka.
func SetLogAppendTime(batch []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(batch[offsetAttributes:])
	binary.BigEndian.PutUint16(batch[offsetAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(batch[offsetMaxTimestamp:], uint64(ts))
	binary.BigEndian.PutUint32(batch[offsetCRC:], ComputeCRC(batch))
}
