package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

// fuzzSeedBatches are valid batches of every codec, with nulls, headers and
// a producer id, to seed the batch fuzzers.
func fuzzSeedBatches(f *testing.F) [][]byte {
	f.Helper()
	recs := []Record{
		{Key: []byte("key"), Value: []byte("value"), Headers: []RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "n"}}},
		{Key: nil, Value: nil, TimestampDelta: 7},
		{Key: []byte{}, Value: bytes.Repeat([]byte("ab"), 100), TimestampDelta: -3},
	}
	var out [][]byte
	for _, c := range allCodecs {
		opts := NewBuildOptions()
		opts.Compression, opts.BaseTimestamp = c, 1_700_000_000_000
		out = append(out, mustBuild(f, opts, recs))
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence, opts.Transactional = 5, 1, 10, true
		out = append(out, mustBuild(f, opts, recs[:1]))
	}
	return out
}

// addBatchSeeds adds the seeds common to the batch fuzzers: empty input,
// truncated headers, maximal length fields and valid batches.
func addBatchSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, LogOverhead))
	f.Add(make([]byte, BatchHeaderSize-1))
	maxed := bytes.Repeat([]byte{0xff}, BatchHeaderSize+16)
	maxed[offsetMagic] = CurrentMagic
	f.Add(maxed)
	for _, b := range fuzzSeedBatches(f) {
		f.Add(b)
		f.Add(b[:len(b)-1])                 // torn
		f.Add(b[:BatchHeaderSize])          // header only
		f.Add(append(b[:len(b):len(b)], 0)) // trailing byte
		big := append([]byte{}, b...)
		binary.BigEndian.PutUint32(big[offsetRecordCount:], 0x7fffffff)
		f.Add(big)
	}
}

// FuzzCheckBatch: never panics; an accepted batch fits in b (its size is at
// most len(b)) and the CRC over exactly that many bytes matches; checking
// b[:size] again gives the same header.
func FuzzCheckBatch(f *testing.F) {
	addBatchSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := CheckBatch(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		if h.Size() > int64(len(b)) || h.Size() < BatchHeaderSize {
			t.Fatalf("accepted a batch of %d bytes from %d", h.Size(), len(b))
		}
		if ComputeCRC(b[:h.Size()]) != h.CRC {
			t.Fatal("accepted a CRC mismatch")
		}
		h2, err := CheckBatch(b[:h.Size()])
		if err != nil || h2 != h {
			t.Fatalf("re-check: %+v, %v; first %+v", h2, err, h)
		}
	})
}

// FuzzRecordIterator: never panics; errors match ErrCorrupt,
// ErrUnsupportedCompression or ErrRecordTooLarge; an accepted batch yields
// exactly RecordCount records, which never claim more bytes than the
// records section held (re-encoding them canonically takes no more bytes
// than the input, uncompressed); decoding twice gives equal records; and
// BuildBatch of those records decodes to them again.
func FuzzRecordIterator(f *testing.F) {
	addBatchSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeRecordsLimit(b, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupportedCompression) && !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		h, _ := ParseBatchHeader(b)
		if int32(len(recs)) != h.RecordCount {
			t.Fatalf("%d records, header says %d", len(recs), h.RecordCount)
		}
		if h.Compression() == CompressionNone {
			var n int64
			for _, r := range recs {
				n += int64(len(AppendRecord(nil, r)))
			}
			if n > h.Size()-BatchHeaderSize {
				t.Fatalf("records re-encode to %d bytes, more than the %d given", n, h.Size()-BatchHeaderSize)
			}
		}
		again, err := decodeRecordsLimit(b, 1<<20)
		if err != nil || !reflect.DeepEqual(again, recs) {
			t.Fatalf("second decode differs: %v", err)
		}
		rebuilt, err := BuildBatch(BuildOptions{ProducerID: NoProducerID, LastOffsetDelta: max(h.LastOffsetDelta, 0)}, recs)
		if err != nil {
			return // deltas not increasing: not buildable as is, fine
		}
		back, err := DecodeRecords(rebuilt)
		if err != nil {
			t.Fatalf("decoding the rebuilt batch: %v", err)
		}
		want := recs
		if allZeroDeltas(recs) {
			want = numbered(recs) // BuildBatch numbers all-zero deltas
		}
		for i := range want {
			if len(want[i].Headers) == 0 {
				want[i].Headers = nil
			}
		}
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("rebuilt batch decodes differently")
		}
	})
}

func allZeroDeltas(recs []Record) bool {
	for _, r := range recs {
		if r.OffsetDelta != 0 {
			return false
		}
	}
	return true
}

// FuzzValidateBatch: never panics; never modifies its input; errors match
// one of the sentinels the server maps; an accepted batch is exactly len(b)
// bytes, passes CheckBatch with the same header, decodes to RecordCount
// records with offset deltas 0..n-1 (and keys, when required); validating
// twice gives the same BatchInfo. The fuzzer's input has its CRC fixed up
// first, or almost every mutation would stop at the CRC check.
func FuzzValidateBatch(f *testing.F) {
	addBatchSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= BatchHeaderSize {
			b = recrc(append([]byte{}, b...)) // the fuzzer's input is not ours to change
		}
		opts := ValidateOptions{RequireKeys: len(b)%2 == 0, MaxDecompressedBytes: 1 << 20}
		orig := append([]byte{}, b...)
		info, err := ValidateBatch(b, opts)
		if !bytes.Equal(orig, b) {
			t.Fatal("ValidateBatch modified its input")
		}
		if err != nil {
			for _, s := range []error{ErrCorrupt, ErrInvalidRecord, ErrRecordTooLarge, ErrInvalidTimestamp, ErrUnsupportedCompression} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("error of no known class: %v", err)
		}
		if info.Header.Size() != int64(len(b)) {
			t.Fatalf("accepted %d bytes as a batch of %d", len(b), info.Header.Size())
		}
		if h, err := CheckBatch(b); err != nil || h != info.Header {
			t.Fatalf("CheckBatch disagrees: %+v, %v", h, err)
		}
		recs, err := decodeRecordsLimit(b, 1<<20)
		if err != nil {
			t.Fatalf("DecodeRecords of a valid batch: %v", err)
		}
		if int32(len(recs)) != info.RecordCount {
			t.Fatalf("%d records, info says %d", len(recs), info.RecordCount)
		}
		for i, r := range recs {
			if r.OffsetDelta != int32(i) || (opts.RequireKeys && r.Key == nil) {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
		if info2, err := ValidateBatch(b, opts); err != nil || info2 != info {
			t.Fatalf("second validation: %+v, %v; first %+v", info2, err, info)
		}
	})
}

// fuzzDecompress: never panics; errors match ErrCorrupt or
// ErrRecordTooLarge; output is never above the limit; decompressing twice
// gives the same bytes; compressing the output and decompressing that gives
// it back.
func fuzzDecompress(f *testing.F, c Compression) {
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	for _, in := range [][]byte{[]byte("hello"), bytes.Repeat([]byte("abcdef"), 5000), make([]byte, 70000)} {
		comp, err := Compress(c, in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(comp)
		f.Add(comp[:len(comp)/2])
	}
	if c == CompressionSnappy {
		f.Add([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0xff, 0xff})
	}
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := DecompressLimit(c, b, limit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("%d bytes out, limit %d", len(out), limit)
		}
		again, err := DecompressLimit(c, b, limit)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("second decompression differs: %v", err)
		}
		comp, err := Compress(c, out)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecompressLimit(c, comp, limit)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("re-compression round trip: %v", err)
		}
	})
}

func FuzzDecompressGzip(f *testing.F)   { fuzzDecompress(f, CompressionGzip) }
func FuzzDecompressSnappy(f *testing.F) { fuzzDecompress(f, CompressionSnappy) }
func FuzzDecompressLZ4(f *testing.F)    { fuzzDecompress(f, CompressionLZ4) }
func FuzzDecompressZstd(f *testing.F)   { fuzzDecompress(f, CompressionZstd) }
