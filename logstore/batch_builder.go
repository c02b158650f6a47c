package logstore

import (
	"encoding/binary"
	"fmt"
	"math"
)

// BuildOptions are the batch header fields BuildBatch writes.
//
// The zero value is not "no producer": producer id 0 is a real one, which
// would make the batch idempotent. Start from NewBuildOptions, or set
// ProducerID to NoProducerID.
type BuildOptions struct {
	BaseOffset int64
	// PartitionLeaderEpoch is written as is; NoPartitionLeaderEpoch (-1)
	// for a batch no leader has stamped.
	PartitionLeaderEpoch int32
	Compression          Compression
	// BaseTimestamp is the timestamp the records' TimestampDelta are
	// relative to (ms since the epoch, or NoTimestamp).
	BaseTimestamp int64
	// LogAppendTime sets the timestamp type attribute. The max timestamp
	// is then BaseTimestamp (the append time), as with SetLogAppendTime;
	// otherwise it is the largest record timestamp, NoTimestamp for none.
	LogAppendTime bool
	// ProducerID is NoProducerID for a batch from a producer that is
	// neither idempotent nor transactional; ProducerEpoch and BaseSequence
	// are then written as -1 whatever they hold.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool
	Control       bool
	// LastOffsetDelta, when above the last record's offset delta, is
	// written instead of it. The cleaner needs this: a batch it compacts
	// keeps its original last offset so that the producer's last sequence
	// number survives, as Kafka's MemoryRecordsBuilder.overrideLastOffset
	// does. 0 means the last record's offset delta (and 0 for no records).
	LastOffsetDelta int32
}

// NewBuildOptions returns options for a batch at offset 0 with no producer
// and no leader epoch, uncompressed, with CreateTime timestamps from 0.
func NewBuildOptions() BuildOptions {
	return BuildOptions{
		PartitionLeaderEpoch: NoPartitionLeaderEpoch,
		ProducerID:           NoProducerID,
		ProducerEpoch:        NoProducerEpoch,
		BaseSequence:         NoSequence,
	}
}

// BuildBatch encodes records as one magic-2 batch, 12-byte prefix
// included, with a valid CRC. It serves the tests, the dump-log tool, the
// group coordinator and the cleaner.
//
// Offset deltas: if every record's OffsetDelta is 0, the records are
// numbered 0..n-1 in order (the caller's slice is not modified); otherwise
// they are written as given and must be >= 0 and strictly increasing, which
// lets the cleaner keep the offsets of the records it retains.
//
// BuildBatch checks only what it needs to encode a well-formed batch; it
// does not apply ValidateBatch's rules, so tests can build batches that
// break them. Errors are programming errors and match no sentinel.
func BuildBatch(opts BuildOptions, records []Record) ([]byte, error) {
	c := opts.Compression
	if c < CompressionNone || c > CompressionZstd {
		return nil, unsupportedCompression(c)
	}
	numbered := true // every OffsetDelta is zero: number them ourselves
	for i := range records {
		if records[i].OffsetDelta != 0 {
			numbered = false
			break
		}
	}
	lastDelta := int32(0)
	if !numbered {
		prev := int32(-1)
		for i := range records {
			d := records[i].OffsetDelta
			if d <= prev {
				return nil, fmt.Errorf("logstore: build batch: record %d has offset delta %d after %d: deltas must be >= 0 and increase", i, d, prev)
			}
			prev = d
		}
		lastDelta = prev
	} else if len(records) > 0 {
		lastDelta = int32(len(records) - 1)
	}
	if opts.LastOffsetDelta != 0 {
		if opts.LastOffsetDelta < lastDelta {
			return nil, fmt.Errorf("logstore: build batch: last offset delta %d is below the last record's, %d", opts.LastOffsetDelta, lastDelta)
		}
		lastDelta = opts.LastOffsetDelta
	}

	maxTimestamp := NoTimestamp
	if opts.LogAppendTime {
		maxTimestamp = opts.BaseTimestamp
	} else {
		for i := range records {
			if ts := opts.BaseTimestamp + records[i].TimestampDelta; ts > maxTimestamp {
				maxTimestamp = ts
			}
		}
	}

	// Encode the records: in place after the header when uncompressed,
	// else into a scratch buffer that is then compressed after it.
	size := BatchHeaderSize
	for i := range records {
		body := recordBodySize(&records[i])
		size += varintSize(int32(body)) + body
	}
	var b []byte
	if c == CompressionNone {
		b = make([]byte, BatchHeaderSize, size)
		b = appendRecords(b, records, numbered)
	} else {
		raw := appendRecords(make([]byte, 0, size-BatchHeaderSize), records, numbered)
		var err error
		b, err = compressAppend(make([]byte, BatchHeaderSize, BatchHeaderSize+len(raw)/2+64), c, raw)
		if err != nil {
			return nil, err
		}
	}
	if len(b)-LogOverhead > math.MaxInt32 {
		return nil, fmt.Errorf("logstore: build batch: %d bytes exceed a batch's int32 length", len(b))
	}

	attrs := uint16(c)
	if opts.LogAppendTime {
		attrs |= attrLogAppendTime
	}
	if opts.Transactional {
		attrs |= attrTransactional
	}
	if opts.Control {
		attrs |= attrControl
	}
	epoch, seq := opts.ProducerEpoch, opts.BaseSequence
	if opts.ProducerID == NoProducerID {
		epoch, seq = NoProducerEpoch, NoSequence
	}
	be := binary.BigEndian
	be.PutUint64(b[offsetBaseOffset:], uint64(opts.BaseOffset))
	be.PutUint32(b[offsetBatchLength:], uint32(len(b)-LogOverhead))
	be.PutUint32(b[offsetPartitionLeaderEpoch:], uint32(opts.PartitionLeaderEpoch))
	b[offsetMagic] = CurrentMagic
	be.PutUint16(b[offsetAttributes:], attrs)
	be.PutUint32(b[offsetLastOffsetDelta:], uint32(lastDelta))
	be.PutUint64(b[offsetBaseTimestamp:], uint64(opts.BaseTimestamp))
	be.PutUint64(b[offsetMaxTimestamp:], uint64(maxTimestamp))
	be.PutUint64(b[offsetProducerID:], uint64(opts.ProducerID))
	be.PutUint16(b[offsetProducerEpoch:], uint16(epoch))
	be.PutUint32(b[offsetBaseSequence:], uint32(seq))
	be.PutUint32(b[offsetRecordCount:], uint32(len(records)))
	be.PutUint32(b[offsetCRC:], ComputeCRC(b))
	return b, nil
}

// appendRecords encodes records after dst, numbering them 0..n-1 when
// numbered is set.
func appendRecords(dst []byte, records []Record, numbered bool) []byte {
	for i, r := range records {
		if numbered {
			r.OffsetDelta = int32(i)
		}
		dst = AppendRecord(dst, r)
	}
	return dst
}
