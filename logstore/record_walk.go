package logstore

// The produce path's record check. ValidateBatch must look at every record
// of a batch (Kafka's LogValidator does: each record's framing, its offset
// delta, its key on a compacted topic, its timestamp), but it needs none of
// the decoded values except the timestamp delta and whether the key is
// null. walkRecords checks exactly what decodeRecord checks, field by
// field, without filling a Record, and reads the one- and two-byte varints
// that make up almost every length and delta in place.
//
// Why bother, with numbers: on 1 MiB batches of 1 KiB records (the append
// figures of docs/BENCHMARKS.md) decoding every record through
// recordReader cost about 30 ns a record, 30-45 µs per MiB, as much as the
// CRC-32C of the whole batch; the append then reached only 0.70 of a raw
// pwrite of the same bytes. The walk costs about 10 ns a record, 10 µs
// per MiB (BenchmarkWalkRecords).
//
// walkRecords only says yes or no. On no, ValidateBatch runs the decoding
// loop (validateDecodedRecords) to find and describe the first error, so
// the error a client sees is the one it always was. The two must agree on
// every input; FuzzWalkRecords checks that they do.

import (
	"encoding/binary"
	"math"
)

// recordChecks are the per-record rules of ValidateBatch beyond framing.
type recordChecks struct {
	requireKeys   bool  // a null key is invalid (compacted topics)
	checkDiff     bool  // timestamps must lie within maxDiff of now
	now, maxDiff  int64 // ms
	baseTimestamp int64 // the batch's base timestamp
}

// walkResult is what a successful walk learnt: the largest record
// timestamp (NoTimestamp if none is above it) and the offset delta of the
// first record that has it (-1 if none).
type walkResult struct {
	maxTimestamp              int64
	offsetDeltaOfMaxTimestamp int32
}

// walkRecords reports whether the records section b holds exactly count
// well-formed records (as decodeRecord defines them, with no bytes left
// over), record i has offset delta i, and every record passes c. It
// accepts exactly what validateDecodedRecords accepts, and on acceptance
// returns the same maximum timestamp.
func walkRecords(b []byte, count int32, c *recordChecks) (walkResult, bool) {
	res := walkResult{maxTimestamp: NoTimestamp, offsetDeltaOfMaxTimestamp: -1}
	for i := int32(0); i < count; i++ {
		length, n := readShortVarint(b)
		if n == 0 {
			length, n = readVarintSlow(b)
		}
		if n <= 0 || length < 0 || int(length) > len(b)-n {
			return res, false
		}
		body := b[n : n+int(length)]
		b = b[n+int(length):]
		// attributes
		if len(body) < 1 {
			return res, false
		}
		p := 1
		// timestamp delta, a varlong
		// (one or two bytes read as a varint give the same value)
		var tsDelta int64
		if v, n := readShortVarintAt(body, p); n > 0 {
			tsDelta = int64(v)
			p += n
		} else {
			v, n := binary.Varint(body[p:])
			if n <= 0 {
				return res, false
			}
			tsDelta = v
			p += n
		}
		// offset delta
		offDelta, n := readShortVarintAt(body, p)
		if n == 0 {
			offDelta, n = readVarintSlow(body[p:])
		}
		if n <= 0 || offDelta != i {
			return res, false
		}
		p += n
		// key
		kl, n := readShortVarintAt(body, p)
		if n == 0 {
			kl, n = readVarintSlow(body[p:])
		}
		if n <= 0 {
			return res, false
		}
		p += n
		if kl >= 0 {
			if int(kl) > len(body)-p {
				return res, false
			}
			p += int(kl)
		} else if c.requireKeys {
			return res, false
		}
		// value
		vl, n := readShortVarintAt(body, p)
		if n == 0 {
			vl, n = readVarintSlow(body[p:])
		}
		if n <= 0 || (vl >= 0 && int(vl) > len(body)-p-n) {
			return res, false
		}
		p += n + int(max(vl, 0))
		// headers
		hc, n := readShortVarintAt(body, p)
		if n == 0 {
			hc, n = readVarintSlow(body[p:])
		}
		if n <= 0 {
			return res, false
		}
		p += n
		if hc < 0 || int(hc) > (len(body)-p)/2 {
			return res, false
		}
		for range hc {
			kl, n := readShortVarintAt(body, p)
			if n == 0 {
				kl, n = readVarintSlow(body[p:])
			}
			if n <= 0 {
				return res, false
			}
			p += n
			if kl < 0 || int(kl) > len(body)-p {
				return res, false
			}
			p += int(kl)
			vl, n := readShortVarintAt(body, p)
			if n == 0 {
				vl, n = readVarintSlow(body[p:])
			}
			if n <= 0 || (vl >= 0 && int(vl) > len(body)-p-n) {
				return res, false
			}
			p += n + int(max(vl, 0))
		}
		if p != len(body) {
			return res, false
		}
		ts := c.baseTimestamp + tsDelta
		if c.checkDiff && ts != NoTimestamp && absDiff(ts, c.now) > c.maxDiff {
			return res, false
		}
		if ts > res.maxTimestamp {
			res.maxTimestamp = ts
			res.offsetDeltaOfMaxTimestamp = i
		}
	}
	return res, len(b) == 0
}

// readVarint decodes a zigzag varint of at most 32 bits from the start of
// b. n is the number of bytes read, or <= 0 if b is too short or the value
// overflows 32 bits (including a sixth byte).
func readVarint(b []byte) (int32, int) {
	if v, n := readShortVarint(b); n > 0 {
		return v, n
	}
	return readVarintSlow(b)
}

// readShortVarint is readVarint for the varints of one or two bytes that
// make up almost every length and delta (a 1 KiB value's length takes
// two); n is 0 for any other. It is small enough to be inlined, which
// readVarint is not: the walk calls it (or readShortVarintAt) directly and
// readVarintSlow only when n is 0. Inlining it and reading at an index
// rather than through a new slice took the walk from about 16 to about
// 10 ns a record on 1 KiB records.
func readShortVarint(b []byte) (v int32, n int) {
	var u uint32
	if len(b) > 0 && b[0] < 0x80 {
		u, n = uint32(b[0]), 1
	} else if len(b) > 1 && b[1] < 0x80 {
		u, n = uint32(b[0]&0x7f)|uint32(b[1])<<7, 2
	}
	return int32(u>>1) ^ -int32(u&1), n
}

// readShortVarintAt is readShortVarint(b[p:]) for 0 <= p <= len(b),
// without making the slice.
func readShortVarintAt(b []byte, p int) (v int32, n int) {
	var u uint32
	if uint(p) < uint(len(b)) && b[p] < 0x80 {
		u, n = uint32(b[p]), 1
	} else if uint(p+1) < uint(len(b)) && b[p+1] < 0x80 {
		u, n = uint32(b[p]&0x7f)|uint32(b[p+1])<<7, 2
	}
	return int32(u>>1) ^ -int32(u&1), n
}

func readVarintSlow(b []byte) (int32, int) {
	u, n := binary.Uvarint(b)
	if n <= 0 || n > 5 || u > math.MaxUint32 {
		return 0, -1
	}
	return int32(uint32(u)>>1) ^ -int32(u&1), n
}
