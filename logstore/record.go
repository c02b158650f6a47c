package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Records inside a magic-2 batch (Kafka's DefaultRecord). After the 61-byte
// batch header come RecordCount records, compressed as a whole when the
// batch's codec is not none. Each record is
//
//	field            encoding
//	length           varint     bytes of the record after this field
//	attributes       int8       unused, 0
//	timestampDelta   varlong    timestamp - batch base timestamp (ms)
//	offsetDelta      varint     offset - batch base offset
//	keyLength        varint     -1 for a null key
//	key              bytes
//	valueLength      varint     -1 for a null value
//	value            bytes
//	headerCount      varint
//	headers          headerCount times:
//	  keyLength      varint     never negative
//	  key            bytes      a UTF-8 string
//	  valueLength    varint     -1 for a null value
//	  value          bytes
//
// A varint is a zigzag-encoded int32 in 1 to 5 bytes of 7 bits each, least
// significant group first, high bit set on every byte but the last (the
// protobuf encoding); a varlong is the same for int64, in up to 10 bytes.
//
// Decoding is strict where Kafka's DefaultRecord.readFrom is, and also
// rejects a varint that overflows 32 bits, which Java silently truncates.
// Like Java, it takes any negative key or value length as null.

// Record is one decoded record. Key, Value and header values are nil when
// null and non-nil (possibly empty) otherwise.
//
// A Record from a RecordIterator or DecodeRecords aliases the bytes it was
// decoded from: the batch itself when uncompressed, else a buffer the
// iterator allocated. It stays valid as long as those bytes are not modified.
type Record struct {
	Attributes     int8
	TimestampDelta int64 // ms after the batch's base timestamp
	OffsetDelta    int32 // offset after the batch's base offset
	Key, Value     []byte
	Headers        []RecordHeader
}

// RecordHeader is one record header. Kafka requires a key; the value may be
// null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// minRecordSize is the smallest possible encoded record: a one-byte length
// and six one-byte fields (attributes, timestamp delta, offset delta, key
// length, value length, header count).
const minRecordSize = 7

// RecordIterator walks the records of one batch, decompressing first when
// needed. Use it as
//
//	it, err := NewRecordIterator(batch)
//	...
//	for it.Next() {
//		r := it.Record()
//	}
//	if err := it.Err(); err != nil { ... }
//
// Iterating an uncompressed batch allocates nothing per record, except for
// records that have headers (one slice and one string per header key).
// A RecordIterator is not safe for concurrent use.
type RecordIterator struct {
	header  BatchHeader
	records recordReader
	rec     Record
	err     error
}

// NewRecordIterator returns an iterator over the records of batch, which
// holds one whole batch, 12-byte prefix included; bytes past the batch's
// length are ignored. Compressed records are decompressed at once, bounded
// by DefaultMaxDecompressedBytes.
//
// It checks that the header parses and that batch holds the whole batch,
// but not the CRC: call CheckBatch first on bytes that have not been checked
// since they came from the disk or the network. Errors match ErrCorrupt,
// ErrUnsupportedCompression or ErrRecordTooLarge.
func NewRecordIterator(batch []byte) (*RecordIterator, error) {
	return NewRecordIteratorLimit(batch, DefaultMaxDecompressedBytes)
}

// NewRecordIteratorLimit is NewRecordIterator with an explicit bound on the
// decompressed size of the records (<= 0 means DefaultMaxDecompressedBytes).
func NewRecordIteratorLimit(batch []byte, maxDecompressedBytes int) (*RecordIterator, error) {
	it := new(RecordIterator)
	h, records, err := batchRecords(batch, maxDecompressedBytes, nil)
	if err != nil {
		return nil, err
	}
	it.header = h
	it.records = recordReader{base: h.BaseOffset, count: h.RecordCount, b: records, left: h.RecordCount}
	return it, nil
}

// Header is the header of the batch being iterated.
func (it *RecordIterator) Header() BatchHeader { return it.header }

// Next decodes the next record. It returns false after the last record or
// at the first error; Err tells which.
func (it *RecordIterator) Next() bool {
	if it.err != nil {
		return false
	}
	ok, err := it.records.next(&it.rec, true)
	if err != nil {
		it.err = err
		it.rec = Record{}
	}
	return ok
}

// Record is the record Next decoded. It stays valid after the next call to
// Next (see Record for what it aliases).
func (it *RecordIterator) Record() Record { return it.rec }

// Err is the error that stopped the iteration, nil if it reached the end of
// a well-formed batch. Malformed records match ErrCorrupt.
func (it *RecordIterator) Err() error { return it.err }

// DecodeRecords decodes every record of a batch; see NewRecordIterator for
// what it checks and what the records alias.
func DecodeRecords(batch []byte) ([]Record, error) {
	it, err := NewRecordIterator(batch)
	if err != nil {
		return nil, err
	}
	// The count comes from the batch: bound the preallocation by what the
	// bytes could hold.
	n := min(int(max(it.header.RecordCount, 0)), len(it.records.b)/minRecordSize)
	recs := make([]Record, 0, n)
	for it.Next() {
		recs = append(recs, it.Record())
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	return recs, nil
}

// batchRecords parses the header of batch and returns its records section,
// decompressed (appended to buf) if needed.
func batchRecords(batch []byte, maxDecompressedBytes int, buf []byte) (BatchHeader, []byte, error) {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		return h, nil, err
	}
	if int64(len(batch)) < h.Size() {
		return h, nil, Corruptf("batch at offset %d has length %d, but only %d bytes follow its length field",
			h.BaseOffset, h.BatchLength, len(batch)-LogOverhead)
	}
	if h.RecordCount < 0 {
		return h, nil, Corruptf("batch at offset %d has record count %d", h.BaseOffset, h.RecordCount)
	}
	records := batch[BatchHeaderSize:h.Size()]
	switch c := h.Compression(); c {
	case CompressionNone:
		return h, records, nil
	default:
		out, err := decompressAppend(buf, c, records, maxDecompressedBytes)
		if err != nil {
			return h, nil, withBatchOffset(h, err)
		}
		return h, out, nil
	}
}

// withBatchOffset prefixes a decompression error with the batch it is in.
func withBatchOffset(h BatchHeader, err error) error {
	return &batchError{base: h.BaseOffset, err: err}
}

// batchError names the batch an error is in, keeping a single "logstore:"
// at the front of the message.
type batchError struct {
	base int64
	err  error
}

func (e *batchError) Error() string {
	return fmt.Sprintf("logstore: batch at offset %d: %s", e.base, strings.TrimPrefix(e.err.Error(), "logstore: "))
}

func (e *batchError) Unwrap() error { return e.err }

// recordReader decodes records one after the other from a records section.
// It is a value type so that ValidateBatch can keep it on the stack.
type recordReader struct {
	base  int64 // the batch's base offset and record count, for errors
	count int32
	b     []byte // records not read yet
	pos   int    // bytes of the section read so far, for error messages
	left  int32  // records the header says are still to come
	idx   int32  // index of the next record
}

// next decodes the next record into r. It returns false, nil after the last
// one, having checked that no bytes follow it. With withHeaders false the
// headers are checked but not materialised, and r.Headers is left nil.
func (rr *recordReader) next(r *Record, withHeaders bool) (bool, error) {
	if rr.left == 0 {
		if len(rr.b) != 0 {
			return false, Corruptf("batch at offset %d: %d bytes follow its last record (record count %d)",
				rr.base, len(rr.b), rr.count)
		}
		return false, nil
	}
	if len(rr.b) == 0 {
		return false, Corruptf("batch at offset %d: record count %d, but the records end after %d",
			rr.base, rr.count, rr.idx)
	}
	n, err := decodeRecord(rr.b, r, withHeaders)
	if err != nil {
		return false, Corruptf("batch at offset %d: record %d at byte %d of the records: %w",
			rr.base, rr.idx, rr.pos, err)
	}
	rr.b = rr.b[n:]
	rr.pos += n
	rr.left--
	rr.idx++
	return true, nil
}

// decodeRecord decodes the record at the start of b into r and returns its
// encoded size. It never reads past b and never allocates from a length
// field before checking the bytes are there.
func decodeRecord(b []byte, r *Record, withHeaders bool) (int, error) {
	length, n := readVarint(b)
	if n <= 0 {
		return 0, errors.New("malformed length varint")
	}
	if length < 0 || int(length) > len(b)-n {
		return 0, fmt.Errorf("record length %d exceeds the %d bytes left", length, len(b)-n)
	}
	body := b[n : n+int(length) : n+int(length)]
	total := n + int(length)

	if len(body) < 1 {
		return 0, errors.New("record has no attributes byte")
	}
	r.Attributes = int8(body[0])
	p := 1

	tsDelta, n := binary.Varint(body[p:])
	if n <= 0 {
		return 0, errors.New("malformed timestamp delta varlong")
	}
	r.TimestampDelta = tsDelta
	p += n

	offDelta, n := readVarint(body[p:])
	if n <= 0 {
		return 0, errors.New("malformed offset delta varint")
	}
	r.OffsetDelta = offDelta
	p += n

	var err error
	if r.Key, p, err = readBytes(body, p, "key"); err != nil {
		return 0, fmt.Errorf("offset delta %d: %w", r.OffsetDelta, err)
	}
	if r.Value, p, err = readBytes(body, p, "value"); err != nil {
		return 0, fmt.Errorf("offset delta %d: %w", r.OffsetDelta, err)
	}

	count, n := readVarint(body[p:])
	if n <= 0 {
		return 0, fmt.Errorf("offset delta %d: malformed header count varint", r.OffsetDelta)
	}
	p += n
	// Each header takes at least two bytes (two length varints), which
	// bounds the allocation below by the record's size.
	if count < 0 || int(count) > (len(body)-p)/2 {
		return 0, fmt.Errorf("offset delta %d: header count %d is negative or more than the %d bytes left can hold", r.OffsetDelta, count, len(body)-p)
	}
	r.Headers = nil
	if withHeaders && count > 0 {
		r.Headers = make([]RecordHeader, count)
	}
	for i := 0; i < int(count); i++ {
		kl, n := readVarint(body[p:])
		if n <= 0 {
			return 0, fmt.Errorf("offset delta %d: header %d: malformed key length varint", r.OffsetDelta, i)
		}
		p += n
		if kl < 0 || int(kl) > len(body)-p {
			return 0, fmt.Errorf("offset delta %d: header %d: key length %d is negative or exceeds the %d bytes left", r.OffsetDelta, i, kl, len(body)-p)
		}
		key := body[p : p+int(kl)]
		p += int(kl)
		var value []byte
		if value, p, err = readBytes(body, p, "value"); err != nil {
			return 0, fmt.Errorf("offset delta %d: header %d: %w", r.OffsetDelta, i, err)
		}
		if withHeaders {
			r.Headers[i] = RecordHeader{Key: string(key), Value: value}
		}
	}
	if p != len(body) {
		return 0, fmt.Errorf("offset delta %d: record length %d leaves %d bytes after the headers", r.OffsetDelta, length, len(body)-p)
	}
	return total, nil
}

// readBytes reads a length-prefixed byte string at body[p:]; a negative
// length is null (nil). The result's capacity is its length, so an append
// to it cannot overwrite the bytes that follow.
func readBytes(body []byte, p int, what string) ([]byte, int, error) {
	l, n := readVarint(body[p:])
	if n <= 0 {
		return nil, p, fmt.Errorf("malformed %s length varint", what)
	}
	p += n
	if l < 0 {
		return nil, p, nil
	}
	if int(l) > len(body)-p {
		return nil, p, fmt.Errorf("%s length %d exceeds the %d bytes left", what, l, len(body)-p)
	}
	return body[p : p+int(l) : p+int(l)], p + int(l), nil
}

// appendVarint appends v as a zigzag varint.
func appendVarint(dst []byte, v int32) []byte {
	return binary.AppendUvarint(dst, uint64(uint32(v<<1)^uint32(v>>31)))
}

// varintSize is the encoded size of v as a zigzag varint.
func varintSize(v int32) int {
	return uvarintSize(uint64(uint32(v<<1) ^ uint32(v>>31)))
}

// varlongSize is the encoded size of v as a zigzag varlong.
func varlongSize(v int64) int {
	return uvarintSize(uint64(v<<1) ^ uint64(v>>63))
}

func uvarintSize(u uint64) int {
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// bytesFieldSize is the encoded size of a nullable byte string.
func bytesFieldSize(b []byte) int {
	if b == nil {
		return 1 // varint -1
	}
	return varintSize(int32(len(b))) + len(b)
}

// recordBodySize is the size of r's encoding after its length varint.
func recordBodySize(r *Record) int {
	size := 1 + varlongSize(r.TimestampDelta) + varintSize(r.OffsetDelta) +
		bytesFieldSize(r.Key) + bytesFieldSize(r.Value) + varintSize(int32(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		size += varintSize(int32(len(h.Key))) + len(h.Key) + bytesFieldSize(h.Value)
	}
	return size
}

// AppendRecord appends the encoding of r to dst, length prefix included. A
// nil Key, Value or header value is written as null (-1). It does not check
// r: BuildBatch does.
func AppendRecord(dst []byte, r Record) []byte {
	dst = appendVarint(dst, int32(recordBodySize(&r)))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.TimestampDelta)
	dst = appendVarint(dst, r.OffsetDelta)
	dst = appendBytesField(dst, r.Key)
	dst = appendBytesField(dst, r.Value)
	dst = appendVarint(dst, int32(len(r.Headers)))
	for _, h := range r.Headers {
		dst = appendVarint(dst, int32(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytesField(dst, h.Value)
	}
	return dst
}

func appendBytesField(dst, b []byte) []byte {
	if b == nil {
		return appendVarint(dst, -1)
	}
	dst = appendVarint(dst, int32(len(b)))
	return append(dst, b...)
}
