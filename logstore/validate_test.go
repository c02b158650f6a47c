package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// recrc recomputes a batch's CRC after a test edited a field inside it.
func recrc(b []byte) []byte {
	binary.BigEndian.PutUint32(b[offsetCRC:], ComputeCRC(b))
	return b
}

func TestCheckBatch(t *testing.T) {
	good := mustBuild(t, NewBuildOptions(), []Record{{Key: []byte("k"), Value: []byte("v")}})
	for _, tt := range []struct {
		name  string
		b     []byte
		wants []error // nil: valid
	}{
		{"valid", good, nil},
		{"valid with bytes after it", append(append([]byte{}, good...), 1, 2, 3), nil},
		{"empty", nil, []error{ErrCorrupt}},
		{"header truncated", good[:BatchHeaderSize-1], []error{ErrCorrupt}},
		{"batch truncated", good[:len(good)-1], []error{ErrCorrupt}},
		{"magic 1", edit(good, func(b []byte) { b[offsetMagic] = 1 }), []error{ErrCorrupt, ErrUnsupportedMagic}},
		{"length below a header", edit(good, func(b []byte) { binary.BigEndian.PutUint32(b[offsetBatchLength:], 10) }), []error{ErrCorrupt}},
		{"negative length", edit(good, func(b []byte) { binary.BigEndian.PutUint32(b[offsetBatchLength:], 0xffffffff) }), []error{ErrCorrupt}},
		{"crc mismatch", edit(good, func(b []byte) { b[len(b)-1] ^= 1 }), []error{ErrCorrupt}},
		{"crc field flipped", edit(good, func(b []byte) { b[offsetCRC] ^= 1 }), []error{ErrCorrupt}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := CheckBatch(tt.b)
			if tt.wants == nil {
				if err != nil {
					t.Fatalf("CheckBatch: %v", err)
				}
				if h.Size() != int64(len(good)) {
					t.Fatalf("size %d, want %d", h.Size(), len(good))
				}
				return
			}
			for _, want := range tt.wants {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

// edit returns a copy of b changed by f. Edits of fields inside the CRC call
// recrc themselves.
func edit(b []byte, f func([]byte)) []byte {
	c := append([]byte{}, b...)
	f(c)
	return c
}

func TestTimestampTypeString(t *testing.T) {
	for tt, want := range map[TimestampType]string{CreateTime: "CreateTime", LogAppendTime: "LogAppendTime", 7: "TimestampType(7)"} {
		if got := tt.String(); got != want {
			t.Fatalf("%d.String() = %q, want %q", int8(tt), got, want)
		}
	}
	if int8(LogAppendTime) != attrLogAppendTime>>3 {
		t.Fatal("LogAppendTime is not the attribute bit")
	}
}

// TestValidateBatch has one case per rule of ValidateBatch, each asserting
// the sentinel the server maps to a Kafka error code.
func TestValidateBatch(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	nowMs := now.UnixMilli()
	threeRecords := []Record{
		{TimestampDelta: 0, Key: []byte("a"), Value: []byte("1")},
		{TimestampDelta: 20, Key: []byte("b"), Value: []byte("2")},
		{TimestampDelta: 10, Key: []byte("c"), Value: []byte("3")},
	}
	build := func(f func(*BuildOptions), recs []Record) []byte {
		opts := NewBuildOptions()
		opts.BaseTimestamp = nowMs
		if f != nil {
			f(&opts)
		}
		return mustBuild(t, opts, recs)
	}
	good := build(nil, threeRecords)
	setU16 := func(off int, v uint16) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint16(b[off:], v); recrc(b) }
	}
	setU32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint32(b[off:], v); recrc(b) }
	}
	setU64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.BigEndian.PutUint64(b[off:], v); recrc(b) }
	}
	neg := func(v int64) uint64 { return uint64(v) }
	zeros := []Record{{Key: []byte("k"), Value: make([]byte, 1<<20)}}
	// Offset deltas 0, 1, 5 under a header that says 0..2.
	gapped := func(c Compression) []byte {
		b := build(func(o *BuildOptions) { o.Compression = c }, []Record{{OffsetDelta: 0}, {OffsetDelta: 1}, {OffsetDelta: 5}})
		return edit(b, setU32(offsetLastOffsetDelta, 2))
	}

	for _, tt := range []struct {
		name string
		b    []byte
		opts func(*ValidateOptions)
		want error  // nil: valid
		msg  string // in the error message
	}{
		{name: "valid", b: good},
		{name: "valid at exactly max.message.bytes", b: good, opts: func(o *ValidateOptions) { o.MaxBatchBytes = len(good) }},
		{name: "valid control batch from the coordinator", b: build(func(o *BuildOptions) {
			o.Control, o.Transactional, o.ProducerID, o.ProducerEpoch, o.BaseSequence = true, true, 7, 0, NoSequence+1
		}, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 5}}}), opts: func(o *ValidateOptions) { o.AllowControl = true }},
		{name: "valid idempotent batch", b: build(func(o *BuildOptions) { o.ProducerID, o.ProducerEpoch, o.BaseSequence = 1, 0, 0 }, threeRecords)},
		{name: "valid records without timestamps skip the difference check",
			b:    build(func(o *BuildOptions) { o.BaseTimestamp = NoTimestamp }, []Record{{}, {}}),
			opts: func(o *ValidateOptions) { o.MaxTimestampDifference = time.Second }},
		{name: "valid old timestamp on a LogAppendTime topic", b: good,
			opts: func(o *ValidateOptions) {
				o.TimestampType, o.MaxTimestampDifference, o.Now = LogAppendTime, time.Millisecond, now.Add(time.Hour)
			}},

		{name: "header truncated", b: good[:30], want: ErrCorrupt},
		{name: "magic 0", b: edit(good, func(b []byte) { b[offsetMagic] = 0 }), want: ErrUnsupportedMagic},
		{name: "batch truncated", b: good[:len(good)-3], want: ErrCorrupt},
		{name: "bytes after the batch", b: append(append([]byte{}, good...), good...), want: ErrInvalidRecord, msg: "exactly one batch"},
		{name: "larger than max.message.bytes", b: good, opts: func(o *ValidateOptions) { o.MaxBatchBytes = len(good) - 1 }, want: ErrRecordTooLarge},
		{name: "crc mismatch", b: edit(good, func(b []byte) { b[len(b)-2] ^= 0x40 }), want: ErrCorrupt, msg: "crc"},
		{name: "unknown codec 6", b: edit(good, setU16(offsetAttributes, 6)), want: ErrUnsupportedCompression},
		{name: "LogAppendTime set by a client", b: edit(good, setU16(offsetAttributes, attrLogAppendTime)), want: ErrInvalidTimestamp},
		{name: "negative last offset delta", b: edit(good, setU32(offsetLastOffsetDelta, 0xffffffff)), want: ErrInvalidRecord},
		{name: "record count zero", b: build(func(o *BuildOptions) { o.LastOffsetDelta = 0 }, nil), want: ErrInvalidRecord},
		{name: "record count and last offset delta disagree", b: edit(good, setU32(offsetLastOffsetDelta, 5)), want: ErrInvalidRecord},
		{name: "producer id below -1", b: edit(good, setU64(offsetProducerID, neg(-2))), want: ErrInvalidRecord},
		{name: "producer id with negative epoch", b: build(func(o *BuildOptions) { o.ProducerID, o.ProducerEpoch, o.BaseSequence = 1, -1, 0 }, threeRecords), want: ErrInvalidRecord},
		{name: "producer id with negative base sequence", b: build(func(o *BuildOptions) { o.ProducerID, o.ProducerEpoch, o.BaseSequence = 1, 0, -1 }, threeRecords), want: ErrInvalidRecord},
		{name: "transactional without producer id", b: build(func(o *BuildOptions) { o.Transactional = true }, threeRecords), want: ErrInvalidRecord},
		{name: "control batch from a client", b: build(func(o *BuildOptions) { o.Control = true }, threeRecords), want: ErrInvalidRecord},
		{name: "record count above the records", b: edit(edit(good, setU32(offsetRecordCount, 4)), setU32(offsetLastOffsetDelta, 3)), want: ErrCorrupt, msg: "records end after 3"},
		{name: "record count below the records", b: edit(edit(good, setU32(offsetRecordCount, 2)), setU32(offsetLastOffsetDelta, 1)), want: ErrCorrupt, msg: "follow its last record"},
		{name: "malformed record", b: edit(good, func(b []byte) { b[BatchHeaderSize] = 0x7f; recrc(b) }), want: ErrCorrupt, msg: "record 0"},
		{name: "offset deltas not 0..n-1", b: gapped(CompressionNone), want: ErrInvalidRecord, msg: "record 2 has offset delta 5"},
		{name: "offset deltas not 0..n-1, compressed", b: gapped(CompressionLZ4), want: ErrInvalidRecord, msg: "record 2 has offset delta 5"},
		{name: "null key on a compacted topic",
			b:    build(nil, []Record{{Key: []byte("a")}, {Key: nil, Value: []byte("x")}}),
			opts: func(o *ValidateOptions) { o.RequireKeys = true }, want: ErrInvalidRecord, msg: "record 1 (offset delta 1) has a null key"},
		{name: "timestamp too old",
			b:    build(func(o *BuildOptions) { o.BaseTimestamp = nowMs - 2*3600_000 }, threeRecords),
			opts: func(o *ValidateOptions) { o.MaxTimestampDifference = time.Hour }, want: ErrInvalidTimestamp, msg: "record 0"},
		{name: "timestamp too new",
			b:    build(nil, []Record{{}, {TimestampDelta: 3600_001}}),
			opts: func(o *ValidateOptions) { o.MaxTimestampDifference = time.Hour }, want: ErrInvalidTimestamp, msg: "record 1 (offset delta 1) has timestamp"},
		{name: "valid max timestamp -1, as sarama before 1.45 sends", b: edit(good, setU64(offsetMaxTimestamp, neg(NoTimestamp)))},
		{name: "valid max timestamp below the records'", b: edit(good, setU64(offsetMaxTimestamp, uint64(nowMs+19)))},
		{name: "decompresses past MaxDecompressedBytes",
			b:    build(func(o *BuildOptions) { o.Compression = CompressionZstd }, zeros),
			opts: func(o *ValidateOptions) { o.MaxDecompressedBytes = 64 << 10 }, want: ErrRecordTooLarge},
		{name: "corrupt compressed records",
			b:    edit(build(func(o *BuildOptions) { o.Compression = CompressionGzip }, threeRecords), func(b []byte) { b[BatchHeaderSize] ^= 0xff; recrc(b) }),
			want: ErrCorrupt, msg: "gzip"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := ValidateOptions{Now: now, TimestampType: CreateTime}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			orig := append([]byte{}, tt.b...)
			info, err := ValidateBatch(tt.b, opts)
			if !bytes.Equal(orig, tt.b) {
				t.Fatal("ValidateBatch modified the batch")
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("ValidateBatch: %v", err)
				}
				if info.RecordCount <= 0 || info.Header.Size() != int64(len(tt.b)) {
					t.Fatalf("info %+v", info)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want it to say %q", err, tt.msg)
			}
		})
	}
}

// TestSetMaxTimestamp is the produce path for a batch whose max timestamp
// the client left unset: validate, then stamp the records' max.
func TestSetMaxTimestamp(t *testing.T) {
	opts := NewBuildOptions()
	opts.BaseTimestamp = 5000
	b := mustBuild(t, opts, []Record{{TimestampDelta: 3}, {TimestampDelta: 8}})
	want := append([]byte{}, b...)
	binary.BigEndian.PutUint64(b[offsetMaxTimestamp:], math.MaxUint64) // -1
	recrc(b)
	info, err := ValidateBatch(b, ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Header.MaxTimestamp != NoTimestamp || info.MaxTimestamp != 5008 {
		t.Fatalf("info %+v", info)
	}
	SetMaxTimestamp(b, info.MaxTimestamp)
	if !bytes.Equal(b, want) {
		t.Fatal("stamped batch differs from one built with the right max timestamp")
	}
	if _, err := CheckBatch(b); err != nil {
		t.Fatal(err)
	}
	SetMaxTimestamp(b, 5008) // already right: a no-op
	if !bytes.Equal(b, want) {
		t.Fatal("no-op SetMaxTimestamp changed the batch")
	}
}

func TestValidateBatchInfo(t *testing.T) {
	recs := []Record{{TimestampDelta: 5}, {TimestampDelta: 9}, {TimestampDelta: 2}, {TimestampDelta: 9}}
	for _, c := range allCodecs {
		opts := NewBuildOptions()
		opts.BaseTimestamp, opts.Compression = 1000, c
		b := mustBuild(t, opts, recs)
		info, err := ValidateBatch(b, ValidateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		h, _ := CheckBatch(b)
		want := BatchInfo{Header: h, MaxTimestamp: 1009, OffsetDeltaOfMaxTimestamp: 1, RecordCount: 4}
		if info != want {
			t.Fatalf("%s: info\ngot  %+v\nwant %+v", c, info, want)
		}
	}
	b := mustBuild(t, BuildOptions{ProducerID: NoProducerID, BaseTimestamp: NoTimestamp}, []Record{{}})
	info, err := ValidateBatch(b, ValidateOptions{})
	if err != nil || info.MaxTimestamp != NoTimestamp || info.OffsetDeltaOfMaxTimestamp != -1 {
		t.Fatalf("no timestamps: info %+v, %v", info, err)
	}
}

// TestValidateBatchAllocs pins that validating an uncompressed batch
// allocates nothing, headers or not.
func TestValidateBatchAllocs(t *testing.T) {
	recs := make([]Record, 50)
	for i := range recs {
		recs[i] = Record{Key: []byte("key"), Value: bytes.Repeat([]byte("v"), 100), Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}}
	}
	for _, c := range allCodecs {
		opts := NewBuildOptions()
		opts.Compression = c
		b := mustBuild(t, opts, recs)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := ValidateBatch(b, ValidateOptions{}); err != nil {
				t.Fatal(err)
			}
		})
		if c != CompressionNone {
			// Pooled coders and buffers: a handful of allocations,
			// more under the race detector, whose sync.Pool drops
			// items on purpose. Not pinned.
			t.Logf("%s: %v allocations per ValidateBatch", c, allocs)
			continue
		}
		if allocs != 0 {
			t.Errorf("%s: ValidateBatch allocated %v times, want 0", c, allocs)
		}
	}
}
