package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// recordSets are the record shapes every codec round-trips.
func recordSets() map[string][]Record {
	many := make([]Record, 2000)
	for i := range many {
		many[i] = Record{
			TimestampDelta: int64(i * 3),
			Key:            fmt.Appendf(nil, "key-%d", i),
			Value:          bytes.Repeat([]byte{byte(i)}, i%300),
		}
	}
	return map[string][]Record{
		"one": {{Key: []byte("k"), Value: []byte("v")}},
		"nulls": {
			{Key: nil, Value: nil},
			{Key: []byte{}, Value: []byte{}},
			{Key: nil, Value: []byte("only value")},
			{Key: []byte("only key"), Value: nil},
		},
		"headers": {
			{Key: []byte("a"), Value: []byte("1"), Headers: []RecordHeader{{Key: "h1", Value: []byte("x")}, {Key: "", Value: nil}, {Key: "h3", Value: []byte{}}}},
			{Key: []byte("b"), Value: []byte("2"), Headers: []RecordHeader{{Key: "ünïcødé", Value: bytes.Repeat([]byte("z"), 1000)}}},
		},
		"timestamps": {
			{TimestampDelta: 0},
			{TimestampDelta: -5},
			{TimestampDelta: math.MaxInt32 + 10},
			{TimestampDelta: 1 << 40, Attributes: 0},
		},
		"large value": {{Key: []byte("big"), Value: bytes.Repeat([]byte("0123456789abcdef"), 1<<16)}},
		"many":        many,
	}
}

// numbered returns a copy of recs with OffsetDelta set to the index, which
// is what BuildBatch writes for records whose deltas are all zero.
func numbered(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		out[i] = r
	}
	return out
}

func equalRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// Headers: nil and empty are the same thing on the wire.
		if len(g.Headers) == 0 && len(w.Headers) == 0 {
			g.Headers, w.Headers = nil, nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("record %d:\ngot  %+v\nwant %+v", i, g, w)
		}
	}
}

func mustBuild(t testing.TB, opts BuildOptions, recs []Record) []byte {
	t.Helper()
	b, err := BuildBatch(opts, recs)
	if err != nil {
		t.Fatalf("BuildBatch: %v", err)
	}
	return b
}

func TestBuildDecodeRoundTrip(t *testing.T) {
	for name, recs := range recordSets() {
		for _, c := range allCodecs {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				opts := NewBuildOptions()
				opts.Compression = c
				opts.BaseOffset = 1000
				opts.BaseTimestamp = 1_700_000_000_000
				b := mustBuild(t, opts, recs)

				h, err := CheckBatch(b)
				if err != nil {
					t.Fatalf("CheckBatch: %v", err)
				}
				if h.Size() != int64(len(b)) || h.Compression() != c || h.RecordCount != int32(len(recs)) ||
					h.LastOffsetDelta != int32(len(recs)-1) || h.BaseOffset != 1000 || h.HasProducerID() {
					t.Fatalf("header %+v", h)
				}
				got, err := DecodeRecords(b)
				if err != nil {
					t.Fatalf("DecodeRecords: %v", err)
				}
				equalRecords(t, got, numbered(recs))

				info, err := ValidateBatch(b, ValidateOptions{})
				if err != nil {
					t.Fatalf("ValidateBatch: %v", err)
				}
				if info.RecordCount != int32(len(recs)) || info.MaxTimestamp != h.MaxTimestamp {
					t.Fatalf("info %+v, header max timestamp %d", info, h.MaxTimestamp)
				}
			})
		}
	}
}

func TestBuildBatchOffsetDeltas(t *testing.T) {
	t.Run("sparse deltas kept, last offset delta overridden", func(t *testing.T) {
		opts := NewBuildOptions()
		opts.LastOffsetDelta = 9
		recs := []Record{{OffsetDelta: 0, Key: []byte("a")}, {OffsetDelta: 3, Key: []byte("b")}, {OffsetDelta: 7}}
		b := mustBuild(t, opts, recs)
		h, err := CheckBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.LastOffsetDelta != 9 || h.RecordCount != 3 {
			t.Fatalf("header %+v", h)
		}
		got, err := DecodeRecords(b)
		if err != nil {
			t.Fatal(err)
		}
		equalRecords(t, got, recs)
	})
	t.Run("empty batch", func(t *testing.T) {
		opts := NewBuildOptions()
		opts.LastOffsetDelta = 4
		b := mustBuild(t, opts, nil)
		h, err := CheckBatch(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.RecordCount != 0 || h.LastOffsetDelta != 4 || h.MaxTimestamp != NoTimestamp {
			t.Fatalf("header %+v", h)
		}
		if recs, err := DecodeRecords(b); err != nil || len(recs) != 0 {
			t.Fatalf("DecodeRecords = %v, %v", recs, err)
		}
	})
	for _, tt := range []struct {
		name string
		opts func(*BuildOptions)
		recs []Record
	}{
		{"decreasing deltas", nil, []Record{{OffsetDelta: 2}, {OffsetDelta: 1}}},
		{"repeated deltas", nil, []Record{{OffsetDelta: 0}, {OffsetDelta: 1}, {OffsetDelta: 1}}},
		{"negative delta", nil, []Record{{OffsetDelta: -1}}},
		{"last offset delta below records", func(o *BuildOptions) { o.LastOffsetDelta = 1 }, []Record{{}, {}, {}}},
		{"unknown codec", func(o *BuildOptions) { o.Compression = 5 }, []Record{{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := NewBuildOptions()
			if tt.opts != nil {
				tt.opts(&opts)
			}
			if _, err := BuildBatch(opts, tt.recs); err == nil {
				t.Fatal("BuildBatch succeeded")
			}
		})
	}
}

func TestBuildBatchHeaderFields(t *testing.T) {
	opts := BuildOptions{
		BaseOffset: 42, PartitionLeaderEpoch: 7, Compression: CompressionLZ4, BaseTimestamp: 1000,
		ProducerID: 99, ProducerEpoch: 3, BaseSequence: 17, Transactional: true,
	}
	b := mustBuild(t, opts, []Record{{TimestampDelta: 5}, {TimestampDelta: 50}, {TimestampDelta: 20}})
	h, err := CheckBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{
		BaseOffset: 42, BatchLength: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 7, Magic: 2, CRC: h.CRC,
		Attributes: int16(CompressionLZ4) | attrTransactional, LastOffsetDelta: 2, BaseTimestamp: 1000,
		MaxTimestamp: 1050, ProducerID: 99, ProducerEpoch: 3, BaseSequence: 17, RecordCount: 3,
	}
	if h != want {
		t.Fatalf("header\ngot  %+v\nwant %+v", h, want)
	}

	// NoProducerID forces the epoch and sequence to -1; LogAppendTime
	// makes the base timestamp the max.
	opts = BuildOptions{ProducerID: NoProducerID, ProducerEpoch: 5, BaseSequence: 5, LogAppendTime: true, BaseTimestamp: 777, Control: true}
	h, err = CheckBatch(mustBuild(t, opts, []Record{{TimestampDelta: 5000}}))
	if err != nil {
		t.Fatal(err)
	}
	if h.ProducerEpoch != NoProducerEpoch || h.BaseSequence != NoSequence || !h.IsLogAppendTime() ||
		!h.IsControl() || h.MaxTimestamp != 777 {
		t.Fatalf("header %+v", h)
	}
}

// kmsgRecords encodes records with franz-go's kmsg, an encoder written
// independently of ours.
func kmsgRecords(recs []Record) []byte {
	var raw []byte
	for i, r := range recs {
		kr := kmsg.Record{
			Attributes:       r.Attributes,
			TimestampDelta64: r.TimestampDelta,
			OffsetDelta:      int32(i),
			Key:              r.Key,
			Value:            r.Value,
		}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
		}
		// kmsg writes Length as given: compute it from a first encoding.
		body := kr.AppendTo(nil)
		_, n := binary.Varint(body)
		kr.Length = int32(len(body) - n)
		raw = kr.AppendTo(raw)
	}
	return raw
}

// kmsgBatch wraps records (already compressed with c) in a batch header
// written by kmsg, computing the length and CRC as a producer does.
func kmsgBatch(c Compression, records []byte, n int, baseTimestamp, maxTimestamp int64) []byte {
	rb := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(c),
		LastOffsetDelta: int32(n - 1), FirstTimestamp: baseTimestamp, MaxTimestamp: maxTimestamp,
		ProducerID: 12345, ProducerEpoch: 1, FirstSequence: 100, NumRecords: int32(n), Records: records,
	}
	b := rb.AppendTo(nil)
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// TestKmsgBatchesAccepted builds batches with kmsg and independent
// compressors (what franz-go, sarama and the Java client write) and checks
// that CheckBatch, ValidateBatch and DecodeRecords accept them and see the
// same records.
func TestKmsgBatchesAccepted(t *testing.T) {
	for name, recs := range recordSets() {
		raw := kmsgRecords(recs)
		for cname, compress := range independentCompressors(t) {
			t.Run(name+"/"+cname, func(t *testing.T) {
				c, data := compress(raw)
				base := int64(1_700_000_000_000)
				maxTS := NoTimestamp
				for _, r := range recs {
					maxTS = max(maxTS, base+r.TimestampDelta)
				}
				b := kmsgBatch(c, data, len(recs), base, maxTS)
				if _, err := CheckBatch(b); err != nil {
					t.Fatalf("CheckBatch: %v", err)
				}
				info, err := ValidateBatch(b, ValidateOptions{})
				if err != nil {
					t.Fatalf("ValidateBatch: %v", err)
				}
				if info.RecordCount != int32(len(recs)) || info.MaxTimestamp != maxTS {
					t.Fatalf("info %+v", info)
				}
				got, err := DecodeRecords(b)
				if err != nil {
					t.Fatalf("DecodeRecords: %v", err)
				}
				equalRecords(t, got, numbered(recs))
			})
		}
	}
}

// TestBuildBatchReadByKmsg decodes BuildBatch's output with kmsg and
// independent decompressors.
func TestBuildBatchReadByKmsg(t *testing.T) {
	for name, recs := range recordSets() {
		for _, c := range allCodecs {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				opts := NewBuildOptions()
				opts.Compression = c
				opts.BaseTimestamp = 5000
				b := mustBuild(t, opts, recs)

				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(b); err != nil {
					t.Fatalf("kmsg RecordBatch.ReadFrom: %v", err)
				}
				if rb.NumRecords != int32(len(recs)) || rb.Length != int32(len(b)-12) ||
					uint32(rb.CRC) != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)) {
					t.Fatalf("kmsg header %+v", rb)
				}
				raw := independentDecompress(t, c, rb.Records)
				var got []Record
				for len(raw) > 0 {
					length, n := binary.Varint(raw)
					if n <= 0 || int(length) > len(raw)-n {
						t.Fatalf("bad record length at record %d", len(got))
					}
					var kr kmsg.Record
					if err := kr.ReadFrom(raw[:n+int(length)]); err != nil {
						t.Fatalf("kmsg Record.ReadFrom: %v", err)
					}
					raw = raw[n+int(length):]
					r := Record{Attributes: kr.Attributes, TimestampDelta: kr.TimestampDelta64, OffsetDelta: kr.OffsetDelta, Key: kr.Key, Value: kr.Value}
					for _, h := range kr.Headers {
						r.Headers = append(r.Headers, RecordHeader{Key: h.Key, Value: h.Value})
					}
					got = append(got, r)
				}
				equalRecords(t, got, numbered(recs))
			})
		}
	}
}

func TestRecordIteratorAliasesUncompressedBatch(t *testing.T) {
	b := mustBuild(t, NewBuildOptions(), []Record{{Key: []byte("key"), Value: []byte("value")}})
	it, err := NewRecordIterator(b)
	if err != nil {
		t.Fatal(err)
	}
	if !it.Next() {
		t.Fatal(it.Err())
	}
	r := it.Record()
	if !bytes.Contains(b, r.Value) || &r.Value[0] != &b[bytes.Index(b, []byte("value"))] {
		t.Fatal("value does not alias the batch")
	}
	// Appending to a key must not overwrite the value that follows it.
	_ = append(r.Key, "XXXXXXXX"...)
	if string(r.Value) != "value" {
		t.Fatalf("append to key clobbered value: %q", r.Value)
	}
	if it.Next() || it.Err() != nil {
		t.Fatalf("Next after last = true or err %v", it.Err())
	}
	if it.Header().RecordCount != 1 {
		t.Fatalf("Header() = %+v", it.Header())
	}
}

// rawBatch wraps hand-made record bytes in an uncompressed batch header
// with a valid CRC.
func rawBatch(count int32, records []byte) []byte {
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(records))
	b = append(b, records...)
	binary.BigEndian.PutUint32(b[offsetBatchLength:], uint32(len(b)-LogOverhead))
	b[offsetMagic] = 2
	binary.BigEndian.PutUint32(b[offsetLastOffsetDelta:], uint32(count-1))
	binary.BigEndian.PutUint64(b[offsetProducerID:], math.MaxUint64)
	binary.BigEndian.PutUint16(b[offsetProducerEpoch:], math.MaxUint16)
	binary.BigEndian.PutUint32(b[offsetBaseSequence:], math.MaxUint32)
	binary.BigEndian.PutUint64(b[offsetMaxTimestamp:], math.MaxUint64)
	binary.BigEndian.PutUint32(b[offsetRecordCount:], uint32(count))
	binary.BigEndian.PutUint32(b[offsetCRC:], ComputeCRC(b))
	return b
}

func TestDecodeRecordsMalformed(t *testing.T) {
	good := AppendRecord(nil, Record{Key: []byte("k"), Value: []byte("v")})
	for _, tt := range []struct {
		name    string
		count   int32
		records []byte
		want    string // in the error message
	}{
		{"no records for count 1", 1, nil, "records end after 0"},
		{"fewer records than count", 2, good, "records end after 1"},
		{"bytes after the last record", 1, append(append([]byte{}, good...), 0), "1 bytes follow its last record"},
		{"negative record count", -1, nil, "record count -1"},
		{"length varint truncated", 1, []byte{0x80}, "malformed length varint"},
		{"length varint over 32 bits", 1, []byte{0xff, 0xff, 0xff, 0xff, 0x7f}, "malformed length varint"},
		{"length varint six bytes", 1, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, "malformed length varint"},
		{"negative record length", 1, []byte{0x01}, "record length -1"},
		{"record length past the end", 1, []byte{0x20, 0, 0}, "record length 16 exceeds the 2 bytes left"},
		{"empty record body", 1, []byte{0x00}, "no attributes byte"},
		{"timestamp varlong truncated", 1, []byte{0x04, 0x00, 0x80}, "malformed timestamp delta"},
		{"key length past the record", 1, []byte{0x0c, 0, 0, 0, 0x10, 0, 0, 0}, "key length 8 exceeds"},
		{"value length past the record", 1, []byte{0x0c, 0, 0, 0, 0x01, 0x10, 0, 0}, "value length 8 exceeds"},
		{"header count negative", 1, []byte{0x0c, 0, 0, 0, 0x01, 0x01, 0x01}, "header count -1"},
		{"header count larger than the bytes", 1, []byte{0x0c, 0, 0, 0, 0x01, 0x01, 0x7e, 0}, "header count 63"},
		{"header key length negative", 1, []byte{0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x00}, "header 0: key length -1"},
		{"header value length past the record", 1, []byte{0x10, 0, 0, 0, 0x01, 0x01, 0x02, 0x00, 0x10}, "header 0: value length 8 exceeds"},
		{"record length longer than its fields", 1, []byte{0x0e, 0, 0, 0, 0x01, 0x01, 0x00, 0x00, 0x00}, "leaves 1 bytes after the headers"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := rawBatch(tt.count, tt.records)
			_, err := DecodeRecords(b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecords err = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeRecords err = %v, want it to say %q", err, tt.want)
			}
			if _, err := ValidateBatch(b, ValidateOptions{}); err == nil {
				t.Fatal("ValidateBatch accepted it")
			}
		})
	}
	t.Run("batch truncated", func(t *testing.T) {
		b := mustBuild(t, NewBuildOptions(), []Record{{Value: []byte("hello")}})
		if _, err := NewRecordIterator(b[:len(b)-1]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
	})
	t.Run("null lengths below -1 read as null, like Java", func(t *testing.T) {
		// key length -2 (zigzag 3), value length -7 (zigzag 13), no headers
		recs, err := DecodeRecords(rawBatch(1, []byte{0x0c, 0, 0, 0, 0x03, 0x0d, 0x00}))
		if err != nil || len(recs) != 1 || recs[0].Key != nil || recs[0].Value != nil {
			t.Fatalf("DecodeRecords = %+v, %v", recs, err)
		}
	})
}

func TestVarint(t *testing.T) {
	for _, v := range []int32{0, 1, -1, 63, -64, 64, -65, 8191, -8192, 1 << 20, math.MaxInt32, math.MinInt32} {
		b := appendVarint(nil, v)
		if len(b) != varintSize(v) {
			t.Fatalf("varintSize(%d) = %d, encoded %d bytes", v, varintSize(v), len(b))
		}
		// Kafka's zigzag varint is protobuf's sint32: check against Go's
		// 64-bit zigzag, which agrees for values in int32 range.
		if want := binary.AppendVarint(nil, int64(v)); !bytes.Equal(b, want) {
			t.Fatalf("appendVarint(%d) = %x, want %x", v, b, want)
		}
		got, n := readVarint(b)
		if got != v || n != len(b) {
			t.Fatalf("readVarint(%x) = %d, %d; want %d, %d", b, got, n, v, len(b))
		}
	}
	for _, v := range []int64{0, -1, math.MaxInt64, math.MinInt64, 1 << 40} {
		if got := len(binary.AppendVarint(nil, v)); got != varlongSize(v) {
			t.Fatalf("varlongSize(%d) = %d, want %d", v, varlongSize(v), got)
		}
	}
	for _, b := range [][]byte{nil, {0x80}, {0x80, 0x80, 0x80, 0x80, 0x10}, {0x80, 0x80, 0x80, 0x80, 0x80, 0x01}} {
		if _, n := readVarint(b); n > 0 {
			t.Fatalf("readVarint(%x) accepted", b)
		}
	}
}

// TestRecordIteratorZeroAllocs pins the claim in RecordIterator's comment.
func TestRecordIteratorZeroAllocs(t *testing.T) {
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = Record{Key: []byte("key"), Value: bytes.Repeat([]byte("v"), 100)}
	}
	b := mustBuild(t, NewBuildOptions(), recs)
	var n int
	allocs := testing.AllocsPerRun(10, func() {
		it, err := NewRecordIterator(b)
		if err != nil {
			t.Fatal(err)
		}
		for n = 0; it.Next(); n++ {
			_ = it.Record()
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
	})
	if n != 100 {
		t.Fatalf("iterated %d records", n)
	}
	if allocs > 1 { // the iterator itself
		t.Fatalf("iterating 100 records allocated %v times", allocs)
	}
}
