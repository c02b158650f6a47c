package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// Raw record encoding for tests that need malformed records: zz is a zigzag
// varint or varlong, uv an unsigned varint as given, rawRecord prefixes the
// fields with their total length.
func zz(v int64) []byte  { return binary.AppendVarint(nil, v) }
func uv(u uint64) []byte { return binary.AppendUvarint(nil, u) }

func rawRecord(fields ...[]byte) []byte {
	body := bytes.Join(fields, nil)
	return append(zz(int64(len(body))), body...)
}

// goodFields are the fields of a valid record with offset delta 0: no
// timestamp delta, key "k", value "v", one header h=x.
func goodFields(offsetDelta int64) [][]byte {
	return [][]byte{{0}, zz(0), zz(offsetDelta), zz(1), []byte("k"), zz(1), []byte("v"), zz(1), zz(1), []byte("h"), zz(1), []byte("x")}
}

func withField(fields [][]byte, i int, f []byte) [][]byte {
	out := append([][]byte{}, fields...)
	out[i] = f
	return out
}

// TestWalkRecords has one case per rule of the walk. Each runs the walk and
// the decoding loop and asserts that both give the expected verdict, and
// that the decoder's error is of the expected class.
func TestWalkRecords(t *testing.T) {
	good := goodFields(0)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	overlong := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00} // six bytes: too long for a varint
	above32 := uv(math.MaxUint32 + 1)                      // five bytes, 33 bits
	const baseTs = 1_700_000_000_000
	for _, tt := range []struct {
		name   string
		b      []byte
		count  int32
		checks recordChecks
		want   error // nil: accepted
	}{
		{name: "valid", b: rawRecord(good...), count: 1},
		{name: "valid, two records", b: cat(rawRecord(good...), rawRecord(goodFields(1)...)), count: 2},
		{name: "valid null key and value, no headers", b: rawRecord([]byte{0}, zz(0), zz(0), zz(-1), zz(-1), zz(0)), count: 1},
		// Kafka's DefaultRecord.readFrom takes any negative length as
		// null, and so does decodeRecord.
		{name: "valid key length -2 is null", b: rawRecord([]byte{0}, zz(0), zz(0), zz(-2), zz(-7), zz(0)), count: 1},
		{name: "valid null header value", b: rawRecord(withField(withField(good, 10, zz(-1)), 11, nil)...), count: 1},
		{name: "valid non-minimal varint", b: rawRecord(withField(good, 2, []byte{0x80, 0x00})...), count: 1},
		{name: "valid five-byte varints", b: rawRecord(withField(good, 1, uv(math.MaxUint32))...), count: 1},
		{name: "valid large timestamp delta", b: rawRecord(withField(good, 1, zz(-1<<40))...), count: 1},
		{name: "valid timestamp within the difference", b: rawRecord(withField(good, 1, zz(3600_000))...), count: 1,
			checks: recordChecks{checkDiff: true, now: baseTs, maxDiff: 3600_000, baseTimestamp: baseTs}},

		{name: "no records for a count of 1", b: nil, count: 1, want: ErrCorrupt},
		{name: "fewer records than the count", b: rawRecord(good...), count: 2, want: ErrCorrupt},
		{name: "trailing bytes after the last record", b: cat(rawRecord(good...), []byte{0}), count: 1, want: ErrCorrupt},
		{name: "truncated length varint", b: []byte{0x80}, count: 1, want: ErrCorrupt},
		{name: "overlong length varint", b: overlong, count: 1, want: ErrCorrupt},
		{name: "length varint above 32 bits", b: cat(above32, rawRecord(good...)), count: 1, want: ErrCorrupt},
		{name: "negative record length", b: cat(zz(-1), rawRecord(good...)), count: 1, want: ErrCorrupt},
		{name: "record length beyond the bytes", b: rawRecord(good...)[:8], count: 1, want: ErrCorrupt},
		{name: "empty record", b: zz(0), count: 1, want: ErrCorrupt},
		{name: "truncated timestamp varlong", b: rawRecord([]byte{0}, []byte{0xff}), count: 1, want: ErrCorrupt},
		{name: "overlong timestamp varlong", b: rawRecord(withField(good, 1, bytes.Repeat([]byte{0xff}, 11))...), count: 1, want: ErrCorrupt},
		{name: "truncated offset delta varint", b: rawRecord([]byte{0}, zz(0), []byte{0x80}), count: 1, want: ErrCorrupt},
		{name: "overlong offset delta varint", b: rawRecord(withField(good, 2, overlong)...), count: 1, want: ErrCorrupt},
		{name: "offset delta above 32 bits", b: rawRecord(withField(good, 2, above32)...), count: 1, want: ErrCorrupt},
		{name: "offset delta mismatch", b: rawRecord(goodFields(1)...), count: 1, want: ErrInvalidRecord},
		{name: "second record's offset delta mismatch", b: cat(rawRecord(good...), rawRecord(good...)), count: 2, want: ErrInvalidRecord},
		{name: "overlong key length", b: rawRecord(withField(good, 3, overlong)...), count: 1, want: ErrCorrupt},
		{name: "key length beyond the record", b: rawRecord(withField(good, 3, zz(100))...), count: 1, want: ErrCorrupt},
		{name: "truncated value length", b: rawRecord([]byte{0}, zz(0), zz(0), zz(-1), []byte{0x80}), count: 1, want: ErrCorrupt},
		{name: "value length beyond the record", b: rawRecord(withField(good, 5, zz(100))...), count: 1, want: ErrCorrupt},
		{name: "value length one past the record", b: rawRecord([]byte{0}, zz(0), zz(0), zz(-1), zz(2), []byte("v"), zz(0)), count: 1, want: ErrCorrupt},
		{name: "missing header count", b: rawRecord([]byte{0}, zz(0), zz(0), zz(-1), zz(-1)), count: 1, want: ErrCorrupt},
		{name: "negative header count", b: rawRecord(withField(good, 7, zz(-1))...), count: 1, want: ErrCorrupt},
		{name: "negative header count, nothing after it", b: rawRecord([]byte{0}, zz(0), zz(0), zz(-1), zz(-1), zz(-1)), count: 1, want: ErrCorrupt},
		{name: "header count beyond the record", b: rawRecord(withField(good, 7, zz(2))...), count: 1, want: ErrCorrupt},
		{name: "header count above what the bytes hold", b: rawRecord(withField(good, 7, zz(1<<20))...), count: 1, want: ErrCorrupt},
		{name: "negative header key length", b: rawRecord(withField(good, 8, zz(-1))...), count: 1, want: ErrCorrupt},
		{name: "header key length beyond the record", b: rawRecord(withField(good, 8, zz(9))...), count: 1, want: ErrCorrupt},
		{name: "overlong header value length", b: rawRecord(withField(good, 10, overlong)...), count: 1, want: ErrCorrupt},
		{name: "header value length beyond the record", b: rawRecord(withField(good, 10, zz(2))...), count: 1, want: ErrCorrupt},
		{name: "trailing bytes inside the record", b: rawRecord(append(good, []byte{0})...), count: 1, want: ErrCorrupt},
		{name: "null key with keys required", b: rawRecord(withField(withField(good, 3, zz(-1)), 4, nil)...), count: 1,
			checks: recordChecks{requireKeys: true}, want: ErrInvalidRecord},
		{name: "timestamp beyond the difference", b: rawRecord(withField(good, 1, zz(3600_001))...), count: 1,
			checks: recordChecks{checkDiff: true, now: baseTs, maxDiff: 3600_000, baseTimestamp: baseTs}, want: ErrInvalidTimestamp},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := walkRecords(tt.b, tt.count, &tt.checks)
			h := BatchHeader{RecordCount: tt.count, LastOffsetDelta: tt.count - 1}
			err := validateDecodedRecords(&h, tt.b, &tt.checks)
			if tt.want == nil {
				if !ok || err != nil {
					t.Fatalf("walk ok %v, decoder %v; want both to accept", ok, err)
				}
				return
			}
			if ok {
				t.Fatal("the walk accepted")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("decoder: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestWalkRecordsMaxTimestamp pins the walk's timestamps: the largest, and
// the offset delta of the first record that has it.
func TestWalkRecordsMaxTimestamp(t *testing.T) {
	var b []byte
	for i, d := range []int64{5, 9, 2, 9} {
		b = append(b, rawRecord(withField(goodFields(int64(i)), 1, zz(d))...)...)
	}
	res, ok := walkRecords(b, 4, &recordChecks{baseTimestamp: 1000})
	if !ok || res != (walkResult{maxTimestamp: 1009, offsetDeltaOfMaxTimestamp: 1}) {
		t.Fatalf("walk: %+v, %v", res, ok)
	}
	res, ok = walkRecords(rawRecord(goodFields(0)...), 1, &recordChecks{baseTimestamp: NoTimestamp})
	if !ok || res != (walkResult{maxTimestamp: NoTimestamp, offsetDeltaOfMaxTimestamp: -1}) {
		t.Fatalf("no timestamps: %+v, %v", res, ok)
	}
}

// TestReadVarint compares readVarint's fast paths with the general decoder
// on every value of one and two bytes, and on the edges of the longer ones.
func TestReadVarint(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		v, n := readVarint(b)
		wv, wn := readVarintSlow(b)
		if v != wv || n != wn {
			t.Fatalf("readVarint(%x) = %d, %d; want %d, %d", b, v, n, wv, wn)
		}
		sv, sn := readShortVarint(b)
		if sn != 0 && (sn > 2 || sv != wv || sn != wn) {
			t.Fatalf("readShortVarint(%x) = %d, %d; want %d, %d", b, sv, sn, wv, wn)
		}
		if sn == 0 && wn > 0 && wn <= 2 {
			t.Fatalf("readShortVarint(%x) missed a short varint", b)
		}
		// The same bytes behind a prefix, read at their index.
		if av, an := readShortVarintAt(append([]byte{0x80, 0x80}, b...), 2); av != sv || an != sn {
			t.Fatalf("readShortVarintAt(%x) = %d, %d; want %d, %d", b, av, an, sv, sn)
		}
	}
	for x := range 1 << 16 {
		b := []byte{byte(x), byte(x >> 8)}
		check(b)
		check(b[:1])
		check(append(b, 0x01))
	}
	for _, u := range []uint64{1 << 14, 1<<21 - 1, 1 << 28, math.MaxUint32, math.MaxUint32 + 1, math.MaxUint64} {
		b := uv(u)
		check(b)
		check(b[:len(b)-1])
	}
	check(nil)
}

// FuzzWalkRecords is the differential test of the walk: on any records
// section, count and checks, walkRecords accepts exactly when the decoding
// loop does, and then reports the maximum timestamp the decoded records
// have.
func FuzzWalkRecords(f *testing.F) {
	for _, b := range fuzzSeedBatches(f) {
		h, _ := ParseBatchHeader(b)
		if h.Compression() == CompressionNone {
			recs := b[BatchHeaderSize:]
			f.Add(recs, uint16(h.RecordCount), false, int64(1_700_000_000_000), int64(0))
			f.Add(recs, uint16(h.RecordCount), true, int64(1_700_000_000_000), int64(5))
			f.Add(recs[:len(recs)-1], uint16(h.RecordCount), false, int64(0), int64(0))
		}
	}
	f.Add(rawRecord(goodFields(0)...), uint16(1), false, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, count uint16, requireKeys bool, baseTs, maxDiff int64) {
		c := recordChecks{requireKeys: requireKeys, checkDiff: maxDiff > 0, now: 1_700_000_000_000, maxDiff: maxDiff, baseTimestamp: baseTs}
		h := BatchHeader{RecordCount: int32(count), LastOffsetDelta: int32(count) - 1}
		res, ok := walkRecords(b, int32(count), &c)
		err := validateDecodedRecords(&h, b, &c)
		if ok != (err == nil) {
			t.Fatalf("walk ok %v, decoder %v", ok, err)
		}
		if !ok {
			return
		}
		want := walkResult{maxTimestamp: NoTimestamp, offsetDeltaOfMaxTimestamp: -1}
		rr := recordReader{count: h.RecordCount, b: b, left: h.RecordCount}
		var rec Record
		for {
			more, err := rr.next(&rec, true)
			if err != nil {
				t.Fatalf("decoding accepted records: %v", err)
			}
			if !more {
				break
			}
			if ts := baseTs + rec.TimestampDelta; ts > want.maxTimestamp {
				want = walkResult{maxTimestamp: ts, offsetDeltaOfMaxTimestamp: rec.OffsetDelta}
			}
		}
		if res != want {
			t.Fatalf("walk: %+v, decoded records: %+v", res, want)
		}
	})
}
