package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// compactLogConfig is a compacted log's config with small segments.
func compactLogConfig() LogConfig {
	cfg := smallLogConfig()
	cfg.Compact, cfg.Delete = true, false
	cfg.SegmentBytes = 1024
	cfg.IndexIntervalBytes = 128
	return cfg
}

// modelRecord is one record as it was appended.
type modelRecord struct {
	key, value []byte // value nil for a tombstone
	timestamp  int64
	headers    []RecordHeader
	codec      Compression
}

// compactModel holds every record appended, by offset.
type compactModel struct {
	records map[int64]modelRecord
}

func newCompactModel() *compactModel { return &compactModel{records: map[int64]modelRecord{}} }

// latest returns, for records below end, each key's latest offset.
func (m *compactModel) latest(end int64) map[string]int64 {
	out := map[string]int64{}
	for off, r := range m.records {
		if off >= end {
			continue
		}
		if cur, ok := out[string(r.key)]; !ok || off > cur {
			out[string(r.key)] = off
		}
	}
	return out
}

// appendKeyed builds a batch of the given records and appends it, recording
// them in the model.
func appendKeyed(t *testing.T, l *Log, m *compactModel, codec Compression, ts int64, recs []Record) AppendInfo {
	t.Helper()
	opts := NewBuildOptions()
	opts.Compression = codec
	opts.BaseTimestamp = ts
	b, err := BuildBatch(opts, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	info, err := l.Append(b, AppendOptions{Origin: AppendOriginClient, LeaderEpoch: 1})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	if m != nil {
		for i, r := range recs {
			m.records[info.FirstOffset+int64(i)] = modelRecord{key: r.Key, value: r.Value, timestamp: ts + r.TimestampDelta, headers: r.Headers, codec: codec}
		}
	}
	return info
}

// readRecord is a record read back from a log.
type readRecord struct {
	offset    int64
	key       []byte
	value     []byte
	timestamp int64
	headers   []RecordHeader
	codec     Compression
}

// readLogRecords reads every record of l, checking each batch's CRC and that
// offsets strictly increase.
func readLogRecords(t *testing.T, l *Log) ([]readRecord, []BatchHeader) {
	t.Helper()
	var out []readRecord
	var headers []BatchHeader
	from := l.LogStartOffset()
	last := int64(-1)
	for from < l.LogEndOffset() {
		r, err := l.Read(from, 1<<20, -1, true)
		if err != nil {
			t.Fatalf("read at %d: %v", from, err)
		}
		b, err := r.ReadAll()
		if err != nil {
			t.Fatalf("read region at %d: %v", from, err)
		}
		if len(b) == 0 {
			t.Fatalf("empty read at %d below the log end %d", from, l.LogEndOffset())
		}
		for len(b) >= LogOverhead {
			h, err := CheckBatch(b)
			if err != nil {
				if int64(len(b)) < LogOverhead+int64(int32(beUint32(b[offsetBatchLength:]))) {
					break // partial trailing batch
				}
				t.Fatalf("bad batch read back at %d: %v", from, err)
			}
			recs, err := DecodeRecords(b[:h.Size()])
			if err != nil {
				t.Fatalf("decode batch at %d: %v", h.BaseOffset, err)
			}
			if h.LastOffset() >= from {
				headers = append(headers, h)
				for _, rec := range recs {
					off := h.BaseOffset + int64(rec.OffsetDelta)
					if off > h.LastOffset() {
						t.Fatalf("record at %d past its batch's last offset %d", off, h.LastOffset())
					}
					if off < from {
						continue
					}
					if off <= last {
						t.Fatalf("offset %d after %d: offsets must strictly increase", off, last)
					}
					last = off
					ts := h.BaseTimestamp + rec.TimestampDelta
					out = append(out, readRecord{offset: off, key: slices.Clone(rec.Key), value: cloneOrNil(rec.Value),
						timestamp: ts, headers: rec.Headers, codec: h.Compression()})
				}
			}
			from = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out, headers
}

func cloneOrNil(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// checkCompacted checks the log against the model after cleanings that
// reached cleanedTo: every record is the one appended at its offset; below
// cleanedTo each key appears at most once, at its latest offset below
// cleanedTo, and must appear unless that latest record is a tombstone (which
// may have expired); at and after cleanedTo every record appended is there.
func checkCompacted(t *testing.T, l *Log, m *compactModel, cleanedTo int64) {
	t.Helper()
	recs, _ := readLogRecords(t, l)
	latestClean := m.latest(cleanedTo)
	seen := map[string]bool{}
	present := map[int64]bool{}
	for _, r := range recs {
		want, ok := m.records[r.offset]
		if !ok {
			t.Fatalf("record at offset %d was never appended", r.offset)
		}
		if !bytes.Equal(r.key, want.key) || !bytes.Equal(r.value, want.value) || (r.value == nil) != (want.value == nil) ||
			r.timestamp != want.timestamp || r.codec != want.codec || !headersEqual(r.headers, want.headers) {
			t.Fatalf("record at offset %d is %q=%q ts %d %v %v, appended %q=%q ts %d %v %v", r.offset,
				r.key, r.value, r.timestamp, r.codec, r.headers, want.key, want.value, want.timestamp, want.codec, want.headers)
		}
		present[r.offset] = true
		if r.offset < cleanedTo {
			k := string(r.key)
			if seen[k] {
				t.Fatalf("key %q appears twice in the cleaned part (below %d)", k, cleanedTo)
			}
			seen[k] = true
			if latestClean[k] != r.offset {
				t.Fatalf("key %q kept at offset %d in the cleaned part, its latest there is %d", k, r.offset, latestClean[k])
			}
		}
	}
	for k, off := range latestClean {
		if off < l.LogStartOffset() {
			continue
		}
		if !present[off] && m.records[off].value != nil {
			t.Fatalf("key %q: its latest value below %d, at offset %d, is gone", k, cleanedTo, off)
		}
	}
	for off := range m.records {
		if off >= cleanedTo && !present[off] {
			t.Fatalf("record at offset %d, in the dirty part (from %d), is gone", off, cleanedTo)
		}
	}
}

func headersEqual(a, b []RecordHeader) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) || (a[i].Value == nil) != (b[i].Value == nil) {
			return false
		}
	}
	return true
}

// randomRecords returns 1 to 5 records with keys from a small set, some
// tombstones and some headers.
func randomRecords(rng *rand.Rand, keys int) []Record {
	recs := make([]Record, 1+rng.IntN(5))
	for i := range recs {
		r := Record{Key: fmt.Appendf(nil, "key-%d", rng.IntN(keys)), TimestampDelta: int64(rng.IntN(50))}
		if rng.IntN(5) > 0 {
			r.Value = fmt.Appendf(nil, "value-%d-%s", rng.Uint32(), strings.Repeat("v", rng.IntN(60)))
		}
		if rng.IntN(4) == 0 {
			r.Headers = []RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", rng.IntN(10))}, {Key: "null"}}
		}
		recs[i] = r
	}
	return recs
}

// TestCleanerModel runs random workloads (random keys, values, tombstones,
// codecs and key-map sizes, several segments, cleanings and reopenings)
// and checks the log against a map model after every cleaning.
func TestCleanerModel(t *testing.T) {
	codecs := []Compression{CompressionNone, CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}
	for seed := uint64(1); seed <= 12; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			cfg := compactLogConfig()
			cfg.SegmentBytes = int64(512 + rng.IntN(2048))
			cfg.DeleteRetention = time.Duration(rng.IntN(2)) * time.Hour // 0: tombstones expire at the second cleaning
			tl := openTestLog(t, cfg)
			m := newCompactModel()
			keys := 3 + rng.IntN(30)
			checkpoint := int64(-1)
			cleanedTo := int64(0)
			cleanings := 0
			for step := 0; step < 400; step++ {
				switch op := rng.IntN(20); {
				case op < 16:
					appendKeyed(t, tl.Log, m, codecs[rng.IntN(len(codecs))], tl.clock.Now().UnixMilli(), randomRecords(rng, keys))
					tl.clock.Advance(time.Millisecond)
				case op == 16:
					if err := tl.Roll(); err != nil {
						t.Fatal(err)
					}
				case op < 19:
					tl.SetHighWatermark(tl.LogEndOffset())
					mapBytes := int64(1 << 20)
					if rng.IntN(3) == 0 {
						mapBytes = int64(rng.IntN(400)) // a small map: partial cleanings
					}
					res, err := tl.Clean(checkpoint, mapBytes)
					if err != nil {
						t.Fatalf("step %d: clean: %v", step, err)
					}
					if res.FirstDirty < max(checkpoint, 0) {
						t.Fatalf("first dirty offset went back from %d to %d", checkpoint, res.FirstDirty)
					}
					if err := tl.DeletePendingSegments(); err != nil {
						t.Fatal(err)
					}
					checkpoint = res.FirstDirty
					cleanedTo = max(cleanedTo, res.FirstDirty)
					if res.Segments > 0 {
						cleanings++
					}
					checkCompacted(t, tl.Log, m, cleanedTo)
				default:
					if err := tl.Close(); err != nil {
						t.Fatal(err)
					}
					tl.reopen(cfg, Options{CleanShutdown: rng.IntN(2) == 0})
					checkCompacted(t, tl.Log, m, cleanedTo)
				}
			}
			if cleanings < 3 {
				t.Fatalf("only %d cleanings did something", cleanings)
			}
			// A last full cleaning: reading back gives the model's latest
			// value of every key.
			if err := tl.Roll(); err != nil {
				t.Fatal(err)
			}
			tl.SetHighWatermark(tl.LogEndOffset())
			for {
				res, err := tl.Clean(checkpoint, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				if res.FirstDirty == checkpoint {
					break
				}
				checkpoint = res.FirstDirty
			}
			if checkpoint != tl.LogEndOffset() {
				t.Fatalf("full cleaning stopped at %d, log end %d", checkpoint, tl.LogEndOffset())
			}
			checkCompacted(t, tl.Log, m, checkpoint)
			recs, _ := readLogRecords(t, tl.Log)
			got := map[string]string{}
			for _, r := range recs {
				if r.value != nil {
					got[string(r.key)] = string(r.value)
				}
			}
			want := map[string]string{}
			for k, off := range m.latest(tl.LogEndOffset()) {
				if v := m.records[off].value; v != nil {
					want[k] = string(v)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("latest values read back:\n%v\nmodel:\n%v", got, want)
			}
		})
	}
}

// TestCleanerNeverTouchesTheActiveSegmentOrPastTheHighWatermark checks the
// bounds of a cleaning.
func TestCleanerNeverTouchesTheActiveSegmentOrPastTheHighWatermark(t *testing.T) {
	tl := openTestLog(t, compactLogConfig())
	m := newCompactModel()
	for i := 0; i < 6; i++ {
		appendKeyed(t, tl.Log, m, CompressionNone, 1000, []Record{{Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i)}})
		if i == 2 || i == 4 {
			if err := tl.Roll(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Segments: [0..2], [3..4], active [5]. High watermark at 3.
	tl.SetHighWatermark(3)
	res, err := tl.Clean(-1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstDirty != 3 || res.Segments != 1 {
		t.Fatalf("cleaned to %d over %d segments, want to 3 over 1", res.FirstDirty, res.Segments)
	}
	recs, _ := readLogRecords(t, tl.Log)
	if got := offsetsOf(recs); !slices.Equal(got, []int64{2, 3, 4, 5}) {
		t.Fatalf("offsets after cleaning below the high watermark: %v", got)
	}
	tl.SetHighWatermark(tl.LogEndOffset())
	res, err = tl.Clean(res.FirstDirty, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstDirty != 5 {
		t.Fatalf("cleaned to %d, want the active segment's base 5", res.FirstDirty)
	}
	recs, _ = readLogRecords(t, tl.Log)
	if got := offsetsOf(recs); !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("offsets after the second cleaning: %v (the active segment's record 5 must stay)", got)
	}
	// Nothing left to clean: the active segment is never cleaned.
	res, err = tl.Clean(res.FirstDirty, 1<<20)
	if err != nil || res.Segments != 0 || res.FirstDirty != 5 {
		t.Fatalf("third cleaning: %+v, %v; want nothing done", res, err)
	}
}

func offsetsOf(recs []readRecord) []int64 {
	var out []int64
	for _, r := range recs {
		out = append(out, r.offset)
	}
	return out
}

// segmentModTime sets the last-modified time of a segment's .log file.
func setSegmentModTime(t *testing.T, dir string, base int64, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(SegmentFileName(dir, base, LogFileSuffix), mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// TestCleanerTombstonesExpire checks Kafka's delete horizon: a tombstone
// survives the cleaning of its segment, and goes at a later cleaning once
// its segment's last-modified time is delete.retention.ms older than the
// last cleaned segment's.
func TestCleanerTombstonesExpire(t *testing.T) {
	for _, tc := range []struct {
		name     string
		age      time.Duration // of the tombstone's segment, relative to the last cleaned one
		wantKept bool
	}{
		{"older than delete.retention.ms", 2 * time.Hour, false},
		{"younger than delete.retention.ms", 30 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := compactLogConfig()
			cfg.DeleteRetention = time.Hour
			cfg.SegmentBytes = 300 // no two segments fit together: no merging
			tl := openTestLog(t, cfg)
			m := newCompactModel()
			pad := bytes.Repeat([]byte("p"), 150)
			appendKeyed(t, tl.Log, m, CompressionNone, 1000, []Record{{Key: []byte("gone"), Value: pad}})
			appendKeyed(t, tl.Log, m, CompressionNone, 1000, []Record{{Key: []byte("gone")}}) // tombstone at 1
			if err := tl.Roll(); err != nil {
				t.Fatal(err)
			}
			appendKeyed(t, tl.Log, m, CompressionNone, 1000, []Record{{Key: []byte("other"), Value: pad}}) // 2
			if err := tl.Roll(); err != nil {
				t.Fatal(err)
			}
			tl.SetHighWatermark(tl.LogEndOffset())
			res, err := tl.Clean(-1, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			recs, _ := readLogRecords(t, tl.Log)
			if got := offsetsOf(recs); !slices.Equal(got, []int64{1, 2}) {
				t.Fatalf("first cleaning kept %v, want the tombstone and the other key [1 2]", got)
			}
			bases := tl.SegmentBaseOffsets()
			if len(bases) != 3 {
				t.Fatalf("segments %v, want 3 (no merging)", bases)
			}
			now := time.Now()
			setSegmentModTime(t, tl.dir, bases[0], now.Add(-tc.age))
			setSegmentModTime(t, tl.dir, bases[1], now)
			appendKeyed(t, tl.Log, m, CompressionNone, 1000, []Record{{Key: []byte("new"), Value: []byte("v")}})
			if err := tl.Roll(); err != nil {
				t.Fatal(err)
			}
			tl.SetHighWatermark(tl.LogEndOffset())
			if _, err := tl.Clean(res.FirstDirty, 1<<20); err != nil {
				t.Fatal(err)
			}
			recs, _ = readLogRecords(t, tl.Log)
			kept := slices.Contains(offsetsOf(recs), 1)
			if kept != tc.wantKept {
				t.Fatalf("tombstone kept=%v, want %v (records %v)", kept, tc.wantKept, offsetsOf(recs))
			}
			if !slices.Contains(offsetsOf(recs), 2) || !slices.Contains(offsetsOf(recs), 3) {
				t.Fatalf("live records lost: %v", offsetsOf(recs))
			}
		})
	}
}

// TestCleanerBatchRewriting checks what becomes of batches: kept whole when
// nothing goes, rewritten with the original base and last offsets, leader
// epoch, producer fields and codec, gone when emptied, except a producer's
// last batch, kept as an empty batch.
func TestCleanerBatchRewriting(t *testing.T) {
	tl := openTestLog(t, compactLogConfig())
	build := func(pid int64, seq int32, codec Compression, recs ...Record) []byte {
		opts := NewBuildOptions()
		opts.Compression = codec
		opts.BaseTimestamp = 5000
		if pid >= 0 {
			opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = pid, 0, seq
		}
		b, err := BuildBatch(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kv := func(k, v string) Record { return Record{Key: []byte(k), Value: []byte(v)} }
	// 0-2: producer 7's first batch, all superseded later.
	tl.mustAppend(build(7, 0, CompressionZstd, kv("a", "1"), kv("b", "1"), kv("c", "1")))
	// 3-5: producer 7's last batch, all superseded later: kept empty.
	tl.mustAppend(build(7, 3, CompressionGzip, kv("a", "2"), kv("b", "2"), kv("c", "2")))
	// 6-8: a batch half superseded, compressed.
	tl.mustAppend(build(-1, 0, CompressionLZ4, kv("a", "3"), kv("d", "3"), kv("c", "3")))
	// 9-10: nothing superseded: copied as is.
	untouched := build(-1, 0, CompressionNone, kv("e", "4"), kv("f", "4"))
	tl.mustAppend(untouched)
	// 11-12: supersedes a and c.
	tl.mustAppend(build(-1, 0, CompressionNone, kv("a", "5"), kv("c", "5"), kv("b", "5")))
	if err := tl.Roll(); err != nil {
		t.Fatal(err)
	}
	tl.SetHighWatermark(tl.LogEndOffset())
	if _, err := tl.Clean(-1, 1<<20); err != nil {
		t.Fatal(err)
	}
	recs, headers := readLogRecords(t, tl.Log)
	if got := offsetsOf(recs); !slices.Equal(got, []int64{7, 9, 10, 11, 12, 13}) {
		t.Fatalf("offsets kept %v", got)
	}
	if len(headers) != 4 {
		t.Fatalf("%d batches after cleaning, want 4 (producer 7's last emptied, the half one, the untouched one, the last)", len(headers))
	}
	empty := headers[0]
	if empty.BaseOffset != 3 || empty.LastOffset() != 5 || empty.RecordCount != 0 || empty.ProducerID != 7 ||
		empty.BaseSequence != 3 || empty.LastSequence() != 5 || empty.PartitionLeaderEpoch != 3 || empty.MaxTimestamp != 5000 {
		t.Fatalf("producer 7's last batch kept as %+v, want an empty batch 3..5 with its producer fields", empty)
	}
	half := headers[1]
	if half.BaseOffset != 6 || half.LastOffset() != 8 || half.RecordCount != 1 || half.Compression() != CompressionLZ4 || half.PartitionLeaderEpoch != 3 {
		t.Fatalf("rewritten batch %+v, want base 6, last 8, one record, lz4, epoch 3", half)
	}
	r, err := tl.Read(9, 1<<20, 11, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	SetBaseOffset(untouched, 9)
	SetPartitionLeaderEpoch(untouched, 3)
	if !bytes.Equal(b, untouched) {
		t.Fatal("a batch the cleaning keeps whole was rewritten")
	}
	// Producer state survives a reopen from the files alone.
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	for _, e := range mustReadDir(t, tl.dir) {
		if strings.HasSuffix(e, ".snapshot") {
			os.Remove(filepath.Join(tl.dir, e))
		}
	}
	tl.reopen(compactLogConfig(), Options{})
	e, ok := tl.LastProducerEntry(7)
	if !ok || len(e.Batches) == 0 || e.Batches[len(e.Batches)-1].LastSeq != 5 {
		t.Fatalf("producer 7 after a reopen without snapshots: %+v %v, want last sequence 5", e, ok)
	}
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestCompactedTopicsRefuseRecordsWithoutKeys checks Kafka's produce-time
// rule: a compacted log takes no null key (INVALID_RECORD), and nothing of
// the batch is appended.
func TestCompactedTopicsRefuseRecordsWithoutKeys(t *testing.T) {
	for _, tc := range []struct {
		name            string
		compact, delete bool
		wantErr         error
	}{
		{"compact", true, false, ErrInvalidRecord},
		{"compact,delete", true, true, ErrInvalidRecord},
		{"delete", false, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallLogConfig()
			cfg.Compact, cfg.Delete = tc.compact, tc.delete
			tl := openTestLog(t, cfg)
			opts := NewBuildOptions()
			b, err := BuildBatch(opts, []Record{{Key: []byte("k"), Value: []byte("v")}, {Value: []byte("no key")}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = tl.Append(b, AppendOptions{Origin: AppendOriginClient})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("append of a keyless record: %v, want %v", err, tc.wantErr)
			}
			if want := map[bool]int64{true: 0, false: 2}[tc.wantErr != nil]; tl.LogEndOffset() != want {
				t.Fatalf("log end offset %d, want %d", tl.LogEndOffset(), want)
			}
		})
	}
}

// TestCompactDeleteAppliesRetention checks cleanup.policy=compact,delete:
// retention deletes old segments as with delete alone; compact alone keeps
// them.
func TestCompactDeleteAppliesRetention(t *testing.T) {
	for _, tc := range []struct {
		name    string
		delete  bool
		deleted int
	}{{"compact,delete", true, 2}, {"compact", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := compactLogConfig()
			cfg.Delete = tc.delete
			cfg.RetentionMs = time.Hour
			tl := openTestLog(t, cfg)
			old := tl.clock.Now().Add(-2 * time.Hour).UnixMilli()
			for i := 0; i < 2; i++ {
				appendKeyed(t, tl.Log, nil, CompressionNone, old, []Record{{Key: []byte("k"), Value: []byte("v")}})
				if err := tl.Roll(); err != nil {
					t.Fatal(err)
				}
			}
			appendKeyed(t, tl.Log, nil, CompressionNone, tl.clock.Now().UnixMilli(), []Record{{Key: []byte("k"), Value: []byte("v")}})
			tl.SetHighWatermark(tl.LogEndOffset())
			n, err := tl.DeleteOldSegments()
			if err != nil || n != tc.deleted {
				t.Fatalf("retention deleted %d segments (%v), want %d", n, err, tc.deleted)
			}
		})
	}
}

// errCrash stands for the process dying at a step of a cleaning.
var errCrash = errors.New("crash")

// latestValues is the latest non-null value of each key in recs.
func latestValues(recs []readRecord) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if r.value != nil {
			out[string(r.key)] = string(r.value)
		} else {
			delete(out, string(r.key))
		}
	}
	return out
}

// modelLatestValues is the model's latest non-null value of each key.
func (m *compactModel) latestValues(end int64) map[string]string {
	out := map[string]string{}
	for k, off := range m.latest(end) {
		if v := m.records[off].value; v != nil {
			out[k] = string(v)
		}
	}
	return out
}

// checkMatchesModel checks that every record of l is the one appended at
// its offset, and that the latest value of each key is the model's.
func checkMatchesModel(t *testing.T, l *Log, m *compactModel) []readRecord {
	t.Helper()
	recs, _ := readLogRecords(t, l)
	for _, r := range recs {
		want, ok := m.records[r.offset]
		if !ok || !bytes.Equal(r.key, want.key) || !bytes.Equal(r.value, want.value) || r.timestamp != want.timestamp {
			t.Fatalf("record at offset %d is %q=%q, appended %q=%q", r.offset, r.key, r.value, want.key, want.value)
		}
	}
	if got, want := latestValues(recs), m.latestValues(l.LogEndOffset()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("latest values:\n%v\nmodel:\n%v", got, want)
	}
	return recs
}

// TestCleanerCrashAtEachSwapStep crashes a cleaning at each step of its
// first swap (after writing the .cleaned files, after renaming them to
// .swap, after each old segment is renamed to .deleted, after the final
// rename) and halfway through the renames of a segment's three files, then
// reopens the log as after a crash: it must be valid, hold the same logical
// content, keep no temporary files, and have the swap done exactly when the
// .log.swap file existed.
func TestCleanerCrashAtEachSwapStep(t *testing.T) {
	type crashCase struct {
		name      string
		step      string // hook step to crash at, or ""
		faultName string // a rename of a file with this suffix fails, or ""
		completed bool   // whether the reopened log has the swap done
	}
	cases := []crashCase{
		{name: "after writing .cleaned", step: "cleaned"},
		{name: "between renames to .swap", faultName: IndexFileSuffix + CleanedFileSuffix, completed: true},
		{name: "after renaming to .swap", step: "swap", completed: true},
		{name: "after the first old segment went to .deleted", step: "deleted-0", completed: true},
		{name: "after the second old segment went to .deleted", step: "deleted-1", completed: true},
		{name: "between final renames", faultName: TimeIndexFileSuffix + SwapFileSuffix, completed: true},
		{name: "after the final rename", step: "done", completed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := compactLogConfig()
			cfg.SegmentBytes = 2048
			ffs := NewFaultFS(OSFS{})
			tl := &testLog{t: t, dir: filepath.Join(t.TempDir(), "topic-0"), clock: newTestClock(), fs: ffs}
			tl.reopen(cfg, Options{CleanShutdown: true})
			m := newCompactModel()
			rng := rand.New(rand.NewPCG(7, 7))
			// Keys a-* are written first and once, so that they stay in the
			// first segment through the first cleaning, then overwritten;
			// keys b-* stay there for good.
			for i := 0; i < 5; i++ {
				appendKeyed(t, tl.Log, m, CompressionNone, 800+int64(i), []Record{{Key: fmt.Appendf(nil, "b-%d", i), Value: []byte("only")}})
			}
			for i := 0; i < 10; i++ {
				appendKeyed(t, tl.Log, m, CompressionNone, 900+int64(i), []Record{{Key: fmt.Appendf(nil, "a-%d", i), Value: []byte("first")}})
			}
			for i := 0; i < 120; i++ {
				appendKeyed(t, tl.Log, m, CompressionNone, 1000+int64(i), randomRecords(rng, 15))
			}
			tl.SetHighWatermark(tl.LogEndOffset())
			first, err := tl.Clean(-1, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if err := tl.DeletePendingSegments(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 60; i++ {
				recs := randomRecords(rng, 15)
				if i < 10 {
					recs = append(recs, Record{Key: fmt.Appendf(nil, "a-%d", i), Value: []byte("second"), OffsetDelta: int32(len(recs))})
					for j := range recs {
						recs[j].OffsetDelta = int32(j)
					}
				}
				appendKeyed(t, tl.Log, m, CompressionSnappy, 2000+int64(i), recs)
			}
			if err := tl.Roll(); err != nil {
				t.Fatal(err)
			}
			tl.SetHighWatermark(tl.LogEndOffset())
			before := checkMatchesModel(t, tl.Log, m)
			// The first old segment, [0, bases[1]), is where the crash
			// happens: what the swap puts there is the latest record of
			// each key (tombstones included: delete.retention.ms has not
			// passed).
			bases := tl.SegmentBaseOffsets()
			firstEnd := bases[1]
			end := bases[len(bases)-1]
			latest := m.latest(end)
			inFirst := func(recs []readRecord) []int64 {
				var out []int64
				for _, r := range recs {
					if r.offset < firstEnd {
						out = append(out, r.offset)
					}
				}
				return out
			}
			var cleanedFirst []int64
			for _, off := range inFirst(before) {
				if latest[string(m.records[off].key)] == off {
					cleanedFirst = append(cleanedFirst, off)
				}
			}
			if len(cleanedFirst) == 0 || slices.Equal(cleanedFirst, inFirst(before)) {
				t.Fatalf("the cleaning removes nothing from the first segment %v: the test would not see a swap", inFirst(before))
			}

			steps := map[string]bool{}
			hook := func(step string) error {
				if steps[step] {
					return nil
				}
				steps[step] = true
				if step == tc.step {
					return errCrash
				}
				return nil
			}
			if tc.faultName != "" {
				ffs.SetInject(func(op FaultOp, name string) error {
					if op == FaultRename && strings.HasSuffix(name, tc.faultName) {
						return errCrash
					}
					return nil
				})
			}
			_, err = tl.clean(first.FirstDirty, 1<<20, nil, hook)
			if !errors.Is(err, errCrash) {
				t.Fatalf("clean: %v, want the injected crash (steps seen %v)", err, steps)
			}
			ffs.SetInject(nil)
			crashed := tl.Log
			t.Cleanup(func() { crashed.Close() })
			tl.reopen(cfg, Options{RecoveryPoint: 0})

			for _, name := range mustReadDir(t, tl.dir) {
				if strings.HasSuffix(name, CleanedFileSuffix) || strings.HasSuffix(name, SwapFileSuffix) || strings.HasSuffix(name, DeletedFileSuffix) {
					t.Fatalf("%s left in the log folder after reopening", name)
				}
			}
			after := checkMatchesModel(t, tl.Log, m)
			if got := inFirst(after); tc.completed && !slices.Equal(got, cleanedFirst) {
				t.Fatalf("first segment holds %v after reopening, want the swapped-in %v", got, cleanedFirst)
			}
			if got := inFirst(after); !tc.completed && !slices.Equal(got, inFirst(before)) {
				t.Fatalf("first segment holds %v after reopening, want it unchanged %v", got, inFirst(before))
			}
			if !tc.completed && len(after) != len(before) {
				t.Fatalf("%d records after reopening, %d before: an unfinished cleaning changed the log", len(after), len(before))
			}
			// The log cleans on from there to the model's content.
			tl.SetHighWatermark(tl.LogEndOffset())
			res, err := tl.Clean(first.FirstDirty, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			checkCompacted(t, tl.Log, m, res.FirstDirty)
		})
	}
}

// TestCleanerLeavesControlBatches checks that control batches (transaction
// markers, which only a follower or a coordinator appends) are copied as
// they are: Gregor does not support transactions yet.
func TestCleanerLeavesControlBatches(t *testing.T) {
	tl := openTestLog(t, compactLogConfig())
	appendKeyed(t, tl.Log, nil, CompressionNone, 1000, []Record{{Key: []byte("k"), Value: []byte("1")}, {Key: []byte("k"), Value: []byte("2")}})
	opts := NewBuildOptions()
	opts.BaseOffset, opts.PartitionLeaderEpoch, opts.BaseTimestamp = 2, 1, 1000
	opts.Control, opts.Transactional = true, true
	opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = 5, 0, -1
	control, err := BuildBatch(opts, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tl.AppendAsFollower(append([]byte{}, control...)); err != nil {
		t.Fatal(err)
	}
	appendKeyed(t, tl.Log, nil, CompressionNone, 1000, []Record{{Key: []byte("k"), Value: []byte("3")}})
	if err := tl.Roll(); err != nil {
		t.Fatal(err)
	}
	tl.SetHighWatermark(tl.LogEndOffset())
	if _, err := tl.Clean(-1, 1<<20); err != nil {
		t.Fatal(err)
	}
	headers := tl.readAll(0)
	if len(headers) != 2 || !headers[0].IsControl() || headers[1].BaseOffset != 3 {
		t.Fatalf("batches after cleaning %+v, want the control batch at 2 and the last value at 3", headers)
	}
	r, err := tl.Read(2, 1<<20, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := r.ReadAll(); err != nil || !bytes.Equal(b, control) {
		t.Fatalf("control batch read back changed (%v)", err)
	}
}
