package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testClock is a settable clock for logs under test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// smallLogConfig rolls after a few KiB so tests see several segments.
func smallLogConfig() LogConfig {
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	cfg.MaxIndexSize = 1024
	cfg.FileDeleteDelay = 0
	return cfg
}

type testLog struct {
	*Log
	t     *testing.T
	dir   string
	clock *testClock
	fs    FS
}

func openTestLog(t *testing.T, cfg LogConfig) *testLog {
	t.Helper()
	tl := &testLog{t: t, dir: filepath.Join(t.TempDir(), "topic-0"), clock: newTestClock(), fs: OSFS{}}
	tl.reopen(cfg, Options{CleanShutdown: true})
	return tl
}

// reopen opens the log in tl.dir with opts (Dir, config, clock and FS filled
// in), replacing tl.Log. The caller closes (or abandons) the old one first.
func (tl *testLog) reopen(cfg LogConfig, opts Options) {
	tl.t.Helper()
	opts.Dir = tl.dir
	opts.TopicPartition = TopicPartition{Topic: "topic", Partition: 0}
	opts.Config = cfg
	opts.Now = tl.clock.Now
	if opts.FS == nil {
		opts.FS = tl.fs
	}
	l, err := Open(opts)
	if err != nil {
		tl.t.Fatalf("open log: %v", err)
	}
	tl.Log = l
	tl.t.Cleanup(func() { l.Close() })
}

// makeBatch builds a batch of n records with values of size bytes; value i
// holds its index so reads can be checked.
func makeBatch(t testing.TB, n, size int, opts BuildOptions) []byte {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		v := bytes.Repeat([]byte{'x'}, size)
		copy(v, fmt.Sprintf("%d:", i))
		recs[i] = Record{OffsetDelta: int32(i), Key: []byte(fmt.Sprintf("k%d", i)), Value: v}
	}
	if opts.BaseTimestamp == 0 {
		opts.BaseTimestamp = 1_700_000_000_000
	}
	if opts.ProducerID == 0 {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = NoProducerID, NoProducerEpoch, NoSequence
	}
	b, err := BuildBatch(opts, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b
}

func (tl *testLog) mustAppend(batch []byte) AppendInfo {
	tl.t.Helper()
	info, err := tl.Append(batch, AppendOptions{Origin: AppendOriginClient, LeaderEpoch: 3})
	if err != nil {
		tl.t.Fatalf("append: %v", err)
	}
	return info
}

// readAll reads every batch header from offset from to the log end.
func (tl *testLog) readAll(from int64) []BatchHeader {
	tl.t.Helper()
	var out []BatchHeader
	for from < tl.LogEndOffset() {
		r, err := tl.Read(from, 1<<20, -1, true)
		if err != nil {
			tl.t.Fatalf("read at %d: %v", from, err)
		}
		b, err := r.ReadAll()
		if err != nil {
			tl.t.Fatalf("read region: %v", err)
		}
		if len(b) == 0 {
			tl.t.Fatalf("empty read at %d below log end %d", from, tl.LogEndOffset())
		}
		for len(b) > 0 {
			h, err := CheckBatch(b)
			if err != nil {
				tl.t.Fatalf("read back a bad batch at %d: %v", from, err)
			}
			if h.LastOffset() >= from {
				out = append(out, h)
			}
			from = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return out
}

func TestAppendAssignsOffsetsAndStampsEpoch(t *testing.T) {
	tl := openTestLog(t, DefaultLogConfig())
	for i := 0; i < 5; i++ {
		info := tl.mustAppend(makeBatch(t, 3, 10, BuildOptions{}))
		if info.FirstOffset != int64(i*3) || info.LastOffset != int64(i*3+2) {
			t.Fatalf("append %d: offsets [%d, %d], want [%d, %d]", i, info.FirstOffset, info.LastOffset, i*3, i*3+2)
		}
	}
	if got := tl.LogEndOffset(); got != 15 {
		t.Fatalf("log end offset %d, want 15", got)
	}
	hs := tl.readAll(0)
	if len(hs) != 5 {
		t.Fatalf("read %d batches, want 5", len(hs))
	}
	for i, h := range hs {
		if h.BaseOffset != int64(i*3) || h.PartitionLeaderEpoch != 3 {
			t.Errorf("batch %d: base %d epoch %d", i, h.BaseOffset, h.PartitionLeaderEpoch)
		}
	}
}

func TestReadBounds(t *testing.T) {
	tl := openTestLog(t, smallLogConfig())
	for i := 0; i < 40; i++ {
		tl.mustAppend(makeBatch(t, 2, 150, BuildOptions{}))
	}
	if tl.NumberOfSegments() < 3 {
		t.Fatalf("want several segments, have %d", tl.NumberOfSegments())
	}
	leo := tl.LogEndOffset()
	tests := []struct {
		name      string
		start     int64
		maxBytes  int64
		maxOffset int64
		minOne    bool
		wantErr   error
		wantEmpty bool
		wantFirst int64
	}{
		{name: "at log end", start: leo, maxBytes: 1000, maxOffset: -1, wantEmpty: true},
		{name: "past log end", start: leo + 1, maxBytes: 1000, maxOffset: -1, wantErr: ErrOffsetOutOfRange},
		{name: "negative", start: -1, maxBytes: 1000, maxOffset: -1, wantErr: ErrOffsetOutOfRange},
		{name: "middle of a batch", start: 7, maxBytes: 1000, maxOffset: -1, wantFirst: 6},
		{name: "at the high watermark", start: 10, maxBytes: 1000, maxOffset: 10, wantEmpty: true},
		{name: "below the high watermark", start: 8, maxBytes: 100000, maxOffset: 10, wantFirst: 8},
		{name: "tiny max bytes without min one", start: 0, maxBytes: 1, maxOffset: -1, wantFirst: 0},
		{name: "tiny max bytes with min one", start: 0, maxBytes: 1, maxOffset: -1, minOne: true, wantFirst: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tl.Read(tt.start, tt.maxBytes, tt.maxOffset, tt.minOne)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantEmpty {
				if r.Size != 0 {
					t.Fatalf("got %d bytes, want none", r.Size)
				}
				return
			}
			b, err := r.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if r.Size > tt.maxBytes && !tt.minOne {
				t.Fatalf("got %d bytes, above max %d", r.Size, tt.maxBytes)
			}
			if len(b) < BatchHeaderSize {
				return // a partial batch is allowed without minOneMessage
			}
			h, err := ParseBatchHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset != tt.wantFirst {
				t.Fatalf("first batch at %d, want %d", h.BaseOffset, tt.wantFirst)
			}
			if tt.minOne {
				if _, err := CheckBatch(b); err != nil {
					t.Fatalf("min one message must give a whole batch: %v", err)
				}
			}
			if tt.maxOffset >= 0 {
				for len(b) >= BatchHeaderSize {
					h, _ := ParseBatchHeader(b)
					if h.LastOffset() >= tt.maxOffset {
						t.Fatalf("read batch ending at %d, past max offset %d", h.LastOffset(), tt.maxOffset)
					}
					if int64(len(b)) < h.Size() {
						break
					}
					b = b[h.Size():]
				}
			}
		})
	}
}

func TestRollBySizeTimeAndFullIndex(t *testing.T) {
	t.Run("size", func(t *testing.T) {
		cfg := smallLogConfig()
		tl := openTestLog(t, cfg)
		for i := 0; i < 30; i++ {
			tl.mustAppend(makeBatch(t, 1, 500, BuildOptions{}))
		}
		tl.mu.RLock()
		defer tl.mu.RUnlock()
		for _, s := range tl.segments {
			if s.size > cfg.SegmentBytes {
				t.Errorf("segment %d has %d bytes, above %d", s.baseOffset, s.size, cfg.SegmentBytes)
			}
		}
		if len(tl.segments) < 5 {
			t.Errorf("%d segments, want at least 5", len(tl.segments))
		}
	})
	t.Run("time", func(t *testing.T) {
		cfg := DefaultLogConfig()
		cfg.SegmentMs = time.Hour
		tl := openTestLog(t, cfg)
		ts := tl.clock.Now().UnixMilli()
		tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{BaseTimestamp: ts}))
		tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{BaseTimestamp: ts + 1000}))
		if n := tl.NumberOfSegments(); n != 1 {
			t.Fatalf("%d segments before segment.ms passed, want 1", n)
		}
		tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{BaseTimestamp: ts + time.Hour.Milliseconds()}))
		if n := tl.NumberOfSegments(); n != 2 {
			t.Fatalf("%d segments after segment.ms passed, want 2", n)
		}
	})
	t.Run("full index", func(t *testing.T) {
		cfg := DefaultLogConfig()
		cfg.IndexIntervalBytes = 0 // an entry for every append after the first
		cfg.MaxIndexSize = 48      // 6 offset entries, 4 time entries
		tl := openTestLog(t, cfg)
		for i := 0; i < 20; i++ {
			tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{BaseTimestamp: int64(1_700_000_000_000 + i)}))
		}
		if n := tl.NumberOfSegments(); n < 3 {
			t.Fatalf("%d segments, want a roll each time an index fills", n)
		}
		if got := len(tl.readAll(0)); got != 20 {
			t.Fatalf("read %d batches back, want 20", got)
		}
	})
}

func TestTruncateTo(t *testing.T) {
	tl := openTestLog(t, smallLogConfig())
	for i := 0; i < 20; i++ {
		tl.mustAppend(makeBatch(t, 2, 300, BuildOptions{}))
	}
	segsBefore := tl.NumberOfSegments()
	if _, err := tl.TruncateTo(13); err != nil { // inside the batch [12, 13]
		t.Fatal(err)
	}
	if got := tl.LogEndOffset(); got != 12 {
		t.Fatalf("log end offset %d after truncating to 13 inside batch [12,13], want 12", got)
	}
	if tl.NumberOfSegments() >= segsBefore {
		t.Fatalf("segments above the truncation point were not removed")
	}
	hs := tl.readAll(0)
	if len(hs) != 6 || hs[5].LastOffset() != 11 {
		t.Fatalf("after truncation read %d batches", len(hs))
	}
	info := tl.mustAppend(makeBatch(t, 2, 300, BuildOptions{}))
	if info.FirstOffset != 12 {
		t.Fatalf("append after truncation got offset %d, want 12", info.FirstOffset)
	}
	if changed, err := tl.TruncateTo(100); err != nil || changed {
		t.Fatalf("truncate above the log end: changed=%v err=%v", changed, err)
	}
	if err := tl.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if tl.LogEndOffset() != 500 || tl.LogStartOffset() != 500 || tl.NumberOfSegments() != 1 {
		t.Fatalf("after full truncation: end %d start %d segments %d", tl.LogEndOffset(), tl.LogStartOffset(), tl.NumberOfSegments())
	}
	if info := tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{})); info.FirstOffset != 500 {
		t.Fatalf("append after full truncation at offset %d, want 500", info.FirstOffset)
	}
}

func TestRetention(t *testing.T) {
	fill := func(t *testing.T, cfg LogConfig) *testLog {
		tl := openTestLog(t, cfg)
		base := tl.clock.Now().UnixMilli()
		for i := 0; i < 20; i++ {
			tl.mustAppend(makeBatch(t, 1, 500, BuildOptions{BaseTimestamp: base + int64(i)*60_000}))
		}
		tl.SetHighWatermark(tl.LogEndOffset())
		return tl
	}
	t.Run("by time", func(t *testing.T) {
		cfg := smallLogConfig()
		cfg.RetentionMs = 10 * time.Minute
		tl := fill(t, cfg)
		tl.clock.Advance(20 * time.Minute)
		n, err := tl.DeleteOldSegments()
		if err != nil || n == 0 {
			t.Fatalf("deleted %d segments, err %v", n, err)
		}
		// Every remaining segment except the one straddling the limit is
		// younger than retention.ms.
		limit := tl.clock.Now().Add(-10 * time.Minute).UnixMilli()
		tl.mu.RLock()
		first := tl.segments[0]
		tl.mu.RUnlock()
		if first.largestTimestamp() <= limit {
			t.Fatalf("segment %d with largest timestamp %d kept, limit %d", first.baseOffset, first.largestTimestamp(), limit)
		}
		if tl.LogStartOffset() != first.baseOffset {
			t.Fatalf("log start offset %d, want %d", tl.LogStartOffset(), first.baseOffset)
		}
		if _, err := tl.Read(0, 100, -1, false); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read below the new log start: %v", err)
		}
		// Deleted segments wait as *.deleted for file.delete.delay.ms (zero
		// here), then their files go.
		if deleted, _ := filepath.Glob(filepath.Join(tl.dir, "*"+DeletedFileSuffix)); len(deleted) == 0 {
			t.Fatal("deleted segments were not renamed to *.deleted")
		}
		if err := tl.DeletePendingSegments(); err != nil {
			t.Fatal(err)
		}
		if deleted, _ := filepath.Glob(filepath.Join(tl.dir, "*"+DeletedFileSuffix)); len(deleted) != 0 {
			t.Fatalf("files left after their delete delay: %v", deleted)
		}
	})
	t.Run("by size", func(t *testing.T) {
		cfg := smallLogConfig()
		cfg.RetentionMs = -1
		cfg.RetentionBytes = 5000
		tl := fill(t, cfg)
		if _, err := tl.DeleteOldSegments(); err != nil {
			t.Fatal(err)
		}
		if size := tl.Size(); size > 5000+cfg.SegmentBytes {
			t.Fatalf("size %d after retention.bytes=5000", size)
		}
		if tl.Size() < 5000-cfg.SegmentBytes {
			t.Fatalf("retention deleted too much: %d bytes left", tl.Size())
		}
	})
	t.Run("never past the high watermark", func(t *testing.T) {
		cfg := smallLogConfig()
		cfg.RetentionBytes = 0
		tl := fill(t, cfg)
		tl.SetHighWatermark(0)
		if n, _ := tl.DeleteOldSegments(); n != 0 {
			t.Fatalf("deleted %d segments above the high watermark", n)
		}
	})
	t.Run("by log start offset", func(t *testing.T) {
		cfg := smallLogConfig()
		cfg.RetentionMs = -1
		tl := fill(t, cfg)
		if err := tl.MaybeIncrementLogStartOffset(15); err != nil {
			t.Fatal(err)
		}
		if _, err := tl.DeleteOldSegments(); err != nil {
			t.Fatal(err)
		}
		bases := tl.SegmentBaseOffsets()
		if bases[0] > 15 || (len(bases) > 1 && bases[1] <= 15) {
			t.Fatalf("segments %v after log start offset 15", bases)
		}
		if err := tl.MaybeIncrementLogStartOffset(tl.LogEndOffset() + 1); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("log start past the end: %v", err)
		}
	})
	t.Run("everything, rolling a new segment", func(t *testing.T) {
		cfg := smallLogConfig()
		cfg.RetentionBytes = 0
		tl := fill(t, cfg)
		leo := tl.LogEndOffset()
		if _, err := tl.DeleteOldSegments(); err != nil {
			t.Fatal(err)
		}
		if tl.LogStartOffset() != leo || tl.Size() != 0 {
			t.Fatalf("start %d size %d, want start %d and nothing left", tl.LogStartOffset(), tl.Size(), leo)
		}
		if info := tl.mustAppend(makeBatch(t, 1, 1, BuildOptions{})); info.FirstOffset != leo {
			t.Fatalf("append after deleting everything got %d, want %d", info.FirstOffset, leo)
		}
	})
}

func TestReopenAfterCleanClose(t *testing.T) {
	cfg := smallLogConfig()
	tl := openTestLog(t, cfg)
	for i := 0; i < 30; i++ {
		tl.mustAppend(makeBatch(t, 2, 200, BuildOptions{}))
	}
	leo, segs := tl.LogEndOffset(), tl.NumberOfSegments()
	before := tl.readAll(0)
	if err := tl.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	tl.reopen(cfg, Options{CleanShutdown: true, RecoveryPoint: leo})
	if tl.LogEndOffset() != leo || tl.NumberOfSegments() != segs {
		t.Fatalf("reopened: end %d segments %d, want %d and %d", tl.LogEndOffset(), tl.NumberOfSegments(), leo, segs)
	}
	after := tl.readAll(0)
	if len(after) != len(before) {
		t.Fatalf("read %d batches after reopen, %d before", len(after), len(before))
	}
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("batch %d differs after reopen: %+v vs %+v", i, before[i], after[i])
		}
	}
	if info := tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{})); info.FirstOffset != leo {
		t.Fatalf("append after reopen at %d, want %d", info.FirstOffset, leo)
	}
}

func TestIdempotentProducer(t *testing.T) {
	tl := openTestLog(t, DefaultLogConfig())
	batch := func(seq int32, epoch int16) []byte {
		return makeBatch(t, 2, 10, BuildOptions{ProducerID: 42, ProducerEpoch: epoch, BaseSequence: seq})
	}
	first := tl.mustAppend(batch(0, 0))
	tl.mustAppend(batch(2, 0))
	dup, err := tl.Append(batch(0, 0), AppendOptions{Origin: AppendOriginClient})
	if err != nil {
		t.Fatal(err)
	}
	if !dup.Duplicate || dup.FirstOffset != first.FirstOffset || dup.LastOffset != first.LastOffset {
		t.Fatalf("duplicate answered %+v, want the original offsets %+v", dup, first)
	}
	if tl.LogEndOffset() != 4 {
		t.Fatalf("a duplicate was appended: end offset %d", tl.LogEndOffset())
	}
	if _, err := tl.Append(batch(7, 0), AppendOptions{Origin: AppendOriginClient}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap in sequence: %v", err)
	}
	tl.mustAppend(batch(0, 1))
	if _, err := tl.Append(batch(4, 0), AppendOptions{Origin: AppendOriginClient}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	// The state survives a restart through the snapshot.
	leo := tl.LogEndOffset()
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	tl.reopen(DefaultLogConfig(), Options{CleanShutdown: true, RecoveryPoint: leo})
	if _, err := tl.Append(batch(4, 0), AppendOptions{Origin: AppendOriginClient}); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after restart: %v", err)
	}
	if info := tl.mustAppend(batch(2, 1)); info.FirstOffset != leo {
		t.Fatalf("next batch after restart at %d, want %d", info.FirstOffset, leo)
	}
}

func TestProducerStateRebuiltAfterUncleanShutdown(t *testing.T) {
	cfg := smallLogConfig()
	tl := openTestLog(t, cfg)
	for seq := int32(0); seq < 40; seq += 2 {
		tl.mustAppend(makeBatch(t, 2, 200, BuildOptions{ProducerID: 7, ProducerEpoch: 0, BaseSequence: seq}))
	}
	// Abandon the log without Close: no final snapshot, no trimmed index.
	tl.reopen(cfg, Options{CleanShutdown: false, RecoveryPoint: 0})
	if _, err := tl.Append(makeBatch(t, 2, 10, BuildOptions{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 50}),
		AppendOptions{Origin: AppendOriginClient}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("sequence gap after recovery: %v", err)
	}
	dup, err := tl.Append(makeBatch(t, 2, 200, BuildOptions{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 38}),
		AppendOptions{Origin: AppendOriginClient})
	if err != nil || !dup.Duplicate || dup.FirstOffset != 38 {
		t.Fatalf("retry of the last batch after recovery: %+v, %v", dup, err)
	}
}

func TestLogAppendTime(t *testing.T) {
	cfg := DefaultLogConfig()
	cfg.TimestampType = LogAppendTime
	tl := openTestLog(t, cfg)
	info := tl.mustAppend(makeBatch(t, 3, 10, BuildOptions{BaseTimestamp: 5}))
	if info.LogAppendTime != tl.clock.Now().UnixMilli() {
		t.Fatalf("log append time %d, want %d", info.LogAppendTime, tl.clock.Now().UnixMilli())
	}
	hs := tl.readAll(0)
	if !hs[0].IsLogAppendTime() || hs[0].MaxTimestamp != info.LogAppendTime {
		t.Fatalf("stored batch: log append time %v max timestamp %d", hs[0].IsLogAppendTime(), hs[0].MaxTimestamp)
	}
}

func TestBadAppendsLeaveTheLogUnchanged(t *testing.T) {
	cfg := DefaultLogConfig()
	cfg.MaxMessageBytes = 2000
	tl := openTestLog(t, cfg)
	tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{}))
	corrupt := makeBatch(t, 2, 10, BuildOptions{})
	corrupt[len(corrupt)-1] ^= 0x40
	two := append(makeBatch(t, 1, 10, BuildOptions{}), makeBatch(t, 1, 10, BuildOptions{})...)
	tests := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"flipped bit", corrupt, ErrCorrupt},
		{"truncated", makeBatch(t, 2, 10, BuildOptions{})[:50], ErrCorrupt},
		{"too large", makeBatch(t, 3, 1000, BuildOptions{}), ErrRecordTooLarge},
		{"two batches", two, ErrInvalidRecord},
		{"control batch from a client", makeBatch(t, 1, 10, BuildOptions{Control: true, ProducerID: 1, ProducerEpoch: 0, BaseSequence: -1}), ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tl.Append(tt.batch, AppendOptions{Origin: AppendOriginClient})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if tl.LogEndOffset() != 1 {
				t.Fatalf("log end offset moved to %d", tl.LogEndOffset())
			}
		})
	}
	if info := tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{})); info.FirstOffset != 1 {
		t.Fatalf("good append after bad ones at %d", info.FirstOffset)
	}
}

func TestFullDiskIsStickyAndLosesNothing(t *testing.T) {
	cfg := smallLogConfig()
	ffs := NewFaultFS(OSFS{})
	tl := &testLog{t: t, dir: filepath.Join(t.TempDir(), "topic-0"), clock: newTestClock(), fs: ffs}
	tl.reopen(cfg, Options{CleanShutdown: true})
	for i := 0; i < 5; i++ {
		tl.mustAppend(makeBatch(t, 1, 100, BuildOptions{}))
	}
	if err := tl.Flush(); err != nil {
		t.Fatal(err)
	}
	ffs.SetInject(func(op FaultOp, name string) error {
		if op == FaultWrite && filepath.Ext(name) == LogFileSuffix {
			return syscall.ENOSPC
		}
		return nil
	})
	_, err := tl.Append(makeBatch(t, 1, 100, BuildOptions{}), AppendOptions{Origin: AppendOriginClient})
	if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	ffs.SetInject(nil)
	if _, err := tl.Append(makeBatch(t, 1, 100, BuildOptions{}), AppendOptions{Origin: AppendOriginClient}); !errors.Is(err, ErrStorage) {
		t.Fatalf("a storage error must be sticky, got %v", err)
	}
	if got := len(tl.readAll(0)); got != 5 {
		t.Fatalf("read %d batches, want the 5 acknowledged ones", got)
	}
	tl.Close()
	tl.reopen(cfg, Options{CleanShutdown: false})
	if tl.LogEndOffset() != 5 || len(tl.readAll(0)) != 5 {
		t.Fatalf("after reopen: end %d", tl.LogEndOffset())
	}
}

func TestFlushPolicy(t *testing.T) {
	cfg := DefaultLogConfig()
	cfg.FlushMessages = 4
	tl := openTestLog(t, cfg)
	tl.mustAppend(makeBatch(t, 3, 10, BuildOptions{}))
	if rp := tl.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d before flush.messages reached", rp)
	}
	tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{}))
	if rp := tl.RecoveryPoint(); rp != 4 {
		t.Fatalf("recovery point %d after flush.messages reached, want 4", rp)
	}

	cfg = DefaultLogConfig()
	cfg.FlushMs = time.Second
	tl = openTestLog(t, cfg)
	tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{}))
	if err := tl.FlushIfDue(); err != nil || tl.RecoveryPoint() != 0 {
		t.Fatalf("flushed before flush.ms: rp %d err %v", tl.RecoveryPoint(), err)
	}
	tl.clock.Advance(time.Second)
	if err := tl.FlushIfDue(); err != nil || tl.RecoveryPoint() != 1 {
		t.Fatalf("not flushed after flush.ms: rp %d err %v", tl.RecoveryPoint(), err)
	}
}

func TestFetchOffsetByTimestamp(t *testing.T) {
	tl := openTestLog(t, smallLogConfig())
	base := int64(1_700_000_000_000)
	for i := 0; i < 20; i++ {
		tl.mustAppend(makeBatch(t, 2, 300, BuildOptions{BaseTimestamp: base + int64(i)*1000}))
	}
	tests := []struct {
		ts        int64
		want      int64
		wantFound bool
	}{
		{ts: 0, want: 0, wantFound: true},
		{ts: base, want: 0, wantFound: true},
		{ts: base + 1, want: 2, wantFound: true},
		{ts: base + 5000, want: 10, wantFound: true},
		{ts: base + 19000, want: 38, wantFound: true},
		{ts: base + 20000, wantFound: false},
	}
	for _, tt := range tests {
		got, found, err := tl.FetchOffsetByTimestamp(tt.ts)
		if err != nil {
			t.Fatal(err)
		}
		if found != tt.wantFound || (found && got.Offset != tt.want) {
			t.Errorf("timestamp %d: offset %d found %v, want %d %v", tt.ts, got.Offset, found, tt.want, tt.wantFound)
		}
	}
}

func TestAppendAsFollower(t *testing.T) {
	leader := openTestLog(t, smallLogConfig())
	for i := 0; i < 10; i++ {
		leader.mustAppend(makeBatch(t, 2, 200, BuildOptions{ProducerID: 9, ProducerEpoch: 0, BaseSequence: int32(2 * i)}))
	}
	follower := openTestLog(t, smallLogConfig())
	for follower.LogEndOffset() < leader.LogEndOffset() {
		r, err := leader.Read(follower.LogEndOffset(), 700, -1, true) // cuts batches: a partial tail
		if err != nil {
			t.Fatal(err)
		}
		b, _ := r.ReadAll()
		if _, err := follower.AppendAsFollower(b); err != nil {
			t.Fatal(err)
		}
	}
	lh, fh := leader.readAll(0), follower.readAll(0)
	if len(lh) != len(fh) {
		t.Fatalf("follower has %d batches, leader %d", len(fh), len(lh))
	}
	for i := range lh {
		if lh[i] != fh[i] {
			t.Fatalf("batch %d differs", i)
		}
	}
	if e, ok := follower.LastProducerEntry(9); !ok || e.Batches[len(e.Batches)-1].LastSeq != 19 {
		t.Fatalf("follower producer state: %+v %v", e, ok)
	}
	r, _ := leader.Read(0, 1<<20, -1, true)
	b, _ := r.ReadAll()
	if _, err := follower.AppendAsFollower(b); err == nil {
		t.Fatal("a follower append below the log end offset must fail")
	}
}

func TestOpenCleansLeftovers(t *testing.T) {
	cfg := smallLogConfig()
	tl := openTestLog(t, cfg)
	for i := 0; i < 10; i++ {
		tl.mustAppend(makeBatch(t, 1, 300, BuildOptions{}))
	}
	leo := tl.LogEndOffset()
	tl.Close()
	for _, name := range []string{"00000000000000000003.log.deleted", "00000000000000000099.index", "x.tmp"} {
		if err := os.WriteFile(filepath.Join(tl.dir, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tl.reopen(cfg, Options{CleanShutdown: true, RecoveryPoint: leo})
	for _, name := range []string{"00000000000000000003.log.deleted", "00000000000000000099.index", "x.tmp"} {
		if _, err := os.Stat(filepath.Join(tl.dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s left behind: %v", name, err)
		}
	}
	if tl.LogEndOffset() != leo {
		t.Fatalf("end offset %d, want %d", tl.LogEndOffset(), leo)
	}
}

func TestExpiredProducersAreForgotten(t *testing.T) {
	cfg := DefaultLogConfig()
	cfg.ProducerIDExpiration = time.Hour
	tl := openTestLog(t, cfg)
	ts := tl.clock.Now().UnixMilli()
	tl.mustAppend(makeBatch(t, 1, 10, BuildOptions{ProducerID: 11, ProducerEpoch: 0, BaseSequence: 0, BaseTimestamp: ts}))
	tl.clock.Advance(30 * time.Minute)
	tl.RemoveExpiredProducers()
	if _, ok := tl.LastProducerEntry(11); !ok {
		t.Fatal("producer forgotten before its expiration")
	}
	tl.clock.Advance(31 * time.Minute)
	tl.RemoveExpiredProducers()
	if _, ok := tl.LastProducerEntry(11); ok {
		t.Fatal("producer kept past its expiration")
	}
}

// Producers such as sarama before 1.45 send -1 as the header's max
// timestamp; the log stores the records' real maximum, as Kafka does.
func TestAppendFixesUnsetMaxTimestamp(t *testing.T) {
	tl := openTestLog(t, DefaultLogConfig())
	b := makeBatch(t, 3, 10, BuildOptions{BaseTimestamp: 1_700_000_000_000})
	SetMaxTimestamp(b, NoTimestamp)
	tl.mustAppend(b)
	h := tl.readAll(0)[0]
	if h.MaxTimestamp != 1_700_000_000_000 {
		t.Fatalf("stored max timestamp %d, want the records' 1700000000000", h.MaxTimestamp)
	}
}

// TestConcurrentUse runs appends, reads, flushes and retention at once, for
// the race detector and for the locking between them: fsyncs run outside the
// log's lock while segments roll and are renamed away.
func TestConcurrentUse(t *testing.T) {
	cfg := smallLogConfig()
	cfg.RetentionBytes = 16 << 10
	tl := openTestLog(t, cfg)
	const appends = 400
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < appends; i++ {
			if _, err := tl.Append(makeBatch(t, 2, 100, BuildOptions{}), AppendOptions{Origin: AppendOriginClient}); err != nil {
				errs <- err
				return
			}
			tl.SetHighWatermark(tl.LogEndOffset())
		}
	}()
	background := func(task func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := task(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	background(tl.Flush)
	background(func() error {
		if _, err := tl.DeleteOldSegments(); err != nil {
			return err
		}
		return tl.DeletePendingSegments()
	})
	background(func() error {
		start := tl.LogStartOffset()
		r, err := tl.Read(start, 4096, -1, true)
		if errors.Is(err, ErrOffsetOutOfRange) {
			return nil // retention moved the start meanwhile
		}
		if err != nil {
			return err
		}
		// With file.delete.delay.ms at zero a deleted segment's file may be
		// closed under the reader; the default one-minute delay is what
		// lets a real fetch finish.
		if _, err := r.ReadAll(); err != nil && !errors.Is(err, os.ErrClosed) {
			return err
		}
		return nil
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if tl.LogEndOffset() != 2*appends {
		t.Fatalf("log end offset %d, want %d", tl.LogEndOffset(), 2*appends)
	}
}
