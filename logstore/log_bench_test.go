package logstore

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// The storage engine's figures (docs/BENCHMARKS.md): append and read
// throughput, offset lookups and recovery, each next to a raw file baseline
// doing the same I/O. figures_test.go runs the same bench* functions in one
// process and prints the ratios; `make bench` runs both.
//
// What is fair, and why:
//
//   - Appends roll 256 MiB segments, a quarter of Kafka's default, so every
//     run includes several rolls (a 1 GiB segment would give a one-second
//     run none or one). The raw baseline starts a new file at the same size,
//     so both sides pay for creating and extending files, and the log also
//     pays what a roll really costs it (index preallocation and trimming, a
//     producer snapshot). Rolling four times as often only counts against
//     the log.
//   - Once a segment is full, the one before it is deleted with the timer
//     stopped, on both sides, as retention would in the background. Without
//     that, a run writes gigabytes and passes vm.dirty_background_ratio:
//     both sides then wait for the disk, the ratio tends to 1 whatever the
//     log's own cost, and the figure depends on what ran before.
//   - Both sides write the same bytes with the same pwrite sizes into the
//     page cache of the same file system, and neither fsyncs: appends are
//     not fsynced by default (flush.messages and flush.ms are off).
//   - The batch is reused: Append only patches its base offset and leader
//     epoch, outside the CRC. Its timestamps therefore never grow, so the
//     time index gets no entries after the first. A real producer's do grow,
//     but in milliseconds: at the rates measured here that is at most one
//     12-byte pwrite per millisecond of appends, which is noise.

const (
	// benchSegmentBytes is segment.bytes for appends (see above).
	benchSegmentBytes = 256 << 20
	// benchRecordSize is the size of a record as a producer sends it.
	benchRecordSize = 1024
	// benchLogBytes is the size of the logs that reads and recovery go
	// through: large enough for a steady rate, small enough that building
	// it takes well under a second.
	benchLogBytes = 256 << 20
	// benchFetchBytes is a consumer's max.partition.fetch.bytes (Kafka's
	// default); the raw read baseline reads with the same size.
	benchFetchBytes = 1 << 20
)

// appendBatchSizes are the producer batch sizes appends are measured with:
// the Java producer's default batch.size, and batches as large as
// max.message.bytes allows.
var appendBatchSizes = []struct {
	name  string
	bytes int
}{
	{"16KiB", 16 << 10},
	{"1MiB", 1 << 20},
}

// producerBatch is an uncompressed batch of 1 KiB records (benchRecords), as
// many as fit in size bytes, as a producer closes a batch before it passes
// batch.size.
func producerBatch(tb testing.TB, size int) []byte {
	tb.Helper()
	opts := NewBuildOptions()
	opts.BaseTimestamp = time.Now().UnixMilli()
	recs := benchRecords(size, benchRecordSize)
	for {
		batch := mustBuild(tb, opts, recs)
		if len(batch) <= size {
			return batch
		}
		recs = recs[:len(recs)-1]
	}
}

// openBenchLog opens (creating it) a log in folder dir, as the broker would
// after a clean shutdown. openTestLog needs a *testing.T.
func openBenchLog(tb testing.TB, dir string, cfg LogConfig) *Log {
	tb.Helper()
	l, err := Open(Options{Dir: dir, TopicPartition: TopicPartition{Topic: "bench", Partition: 0}, Config: cfg, CleanShutdown: true})
	if err != nil {
		tb.Fatalf("open log: %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func benchAppend(tb testing.TB, l *Log, batch []byte) {
	if _, err := l.Append(batch, AppendOptions{Origin: AppendOriginClient, LeaderEpoch: 1}); err != nil {
		tb.Fatalf("append: %v", err)
	}
}

// forEachAppendSize runs fn as a sub-benchmark for each producer batch size.
func forEachAppendSize(b *testing.B, fn func(*testing.B, []byte)) {
	for _, s := range appendBatchSizes {
		batch := producerBatch(b, s.bytes)
		b.Run(s.name, func(b *testing.B) { fn(b, batch) })
	}
}

// BenchmarkLogAppend is a producer's append: validation, offset assignment,
// the write and its index entries.
func BenchmarkLogAppend(b *testing.B) { forEachAppendSize(b, benchLogAppend) }

// BenchmarkRawWrite is the baseline for BenchmarkLogAppend: the same bytes
// written sequentially with pwrite, a new file every segment.bytes.
func BenchmarkRawWrite(b *testing.B) { forEachAppendSize(b, benchRawWrite) }

func benchLogAppend(b *testing.B, batch []byte) {
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = benchSegmentBytes
	cfg.FileDeleteDelay = 0
	l := openBenchLog(b, filepath.Join(b.TempDir(), "bench-0"), cfg)
	perSegment := benchSegmentBytes / len(batch)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for i := 0; b.Loop(); i++ {
		benchAppend(b, l, batch)
		if i > 0 && i%perSegment == 0 { // this append rolled
			b.StopTimer()
			deleteInactiveSegments(b, l)
			b.StartTimer()
		}
	}
}

// deleteInactiveSegments removes every segment but the active one, through
// retention by log start offset.
func deleteInactiveSegments(tb testing.TB, l *Log) {
	bases := l.SegmentBaseOffsets()
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.MaybeIncrementLogStartOffset(bases[len(bases)-1]); err != nil {
		tb.Fatal(err)
	}
	if _, err := l.DeleteOldSegments(); err != nil {
		tb.Fatal(err)
	}
	if err := l.DeletePendingSegments(); err != nil {
		tb.Fatal(err)
	}
	// DeletePendingSegments leaves the .log.deleted file behind: deleteFiles
	// removes s.log.Name(), which is still the name before the rename. Until
	// that is fixed the files stay (and their pages dirty) until the log is
	// next opened, so remove them here.
	leftovers, err := filepath.Glob(filepath.Join(l.Dir(), "*"+LogFileSuffix+DeletedFileSuffix))
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range leftovers {
		if err := os.Remove(p); err != nil {
			tb.Fatal(err)
		}
	}
}

func benchRawWrite(b *testing.B, batch []byte) {
	dir := b.TempDir()
	perSegment := benchSegmentBytes / len(batch)
	var f File
	var pos int64
	b.Cleanup(func() {
		if f != nil {
			f.Close()
		}
	})
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for i := 0; b.Loop(); i++ {
		if i%perSegment == 0 { // roll
			if f != nil {
				b.StopTimer()
				f.Close()
				if err := os.Remove(f.Name()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			var err error
			f, err = OSFS{}.OpenFile(SegmentFileName(dir, int64(i), LogFileSuffix), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			pos = 0
		}
		if _, err := f.WriteAt(batch, pos); err != nil {
			b.Fatal(err)
		}
		pos += int64(len(batch))
	}
}

// writeBenchLog appends 16 KiB producer batches to a new log until it holds
// size bytes, and returns it open. Each batch is a millisecond younger than
// the one before, so the time index grows as it does in a real log.
func writeBenchLog(tb testing.TB, size int64) *Log {
	tb.Helper()
	l := openBenchLog(tb, filepath.Join(tb.TempDir(), "bench-0"), DefaultLogConfig())
	batch := producerBatch(tb, appendBatchSizes[0].bytes)
	for l.Size() < size {
		benchAppend(tb, l, batch)
		advanceTimestamps(batch, 1)
	}
	return l
}

// advanceTimestamps moves a batch's timestamps ms milliseconds on and
// recomputes its CRC.
func advanceTimestamps(batch []byte, ms int64) {
	be := binary.BigEndian
	for _, at := range []int{offsetBaseTimestamp, offsetMaxTimestamp} {
		be.PutUint64(batch[at:], uint64(int64(be.Uint64(batch[at:]))+ms))
	}
	be.PutUint32(batch[offsetCRC:], ComputeCRC(batch))
}

// segmentPaths lists the log's .log files in order.
func segmentPaths(l *Log) []string {
	var paths []string
	for _, base := range l.SegmentBaseOffsets() {
		paths = append(paths, SegmentFileName(l.Dir(), base, LogFileSuffix))
	}
	return paths
}

// BenchmarkLogRead is a consumer reading the whole log from the start in
// 1 MiB fetches through Log.Read, against raw ReadAt calls of the same size
// over the same files. The log is in the page cache, as it is for consumers
// that keep up. ReadAll is the copying fetch path, which allocates each
// fetch; reused-buffer reads each Region into one buffer instead, which
// leaves only the log's own cost (finding each fetch's start) over raw.
func BenchmarkLogRead(b *testing.B) {
	l := writeBenchLog(b, benchLogBytes)
	b.Run("ReadAll", func(b *testing.B) { benchLogRead(b, l, false) })
	b.Run("reused-buffer", func(b *testing.B) { benchLogRead(b, l, true) })
	b.Run("raw", func(b *testing.B) { benchRawRead(b, segmentPaths(l)) })
}

// benchLogRead reads the whole log per op. Each fetch resumes after the last
// whole batch it got, as a consumer does, so the partial batch at the end of
// a fetch is read again by the next one.
func benchLogRead(b *testing.B, l *Log, reuseBuffer bool) {
	var buf []byte
	read := func(r Region) ([]byte, error) {
		if !reuseBuffer {
			return r.ReadAll()
		}
		if int64(cap(buf)) < r.Size {
			buf = make([]byte, r.Size)
		}
		n, err := r.File.ReadAt(buf[:r.Size], r.Position)
		if int64(n) == r.Size {
			err = nil
		}
		return buf[:n], err
	}
	b.ReportAllocs()
	b.SetBytes(l.Size())
	for b.Loop() {
		for offset := l.LogStartOffset(); offset < l.LogEndOffset(); {
			r, err := l.Read(offset, benchFetchBytes, -1, true)
			if err != nil {
				b.Fatal(err)
			}
			data, err := read(r)
			if err != nil {
				b.Fatal(err)
			}
			for len(data) >= BatchHeaderSize {
				h, err := ParseBatchHeader(data)
				if err != nil {
					b.Fatal(err)
				}
				if h.Size() > int64(len(data)) {
					break
				}
				offset, data = h.NextOffset(), data[h.Size():]
			}
		}
	}
}

// benchRawRead reads the files from start to end per op, with
// benchFetchBytes ReadAt calls into one buffer.
func benchRawRead(b *testing.B, paths []string) {
	var files []*os.File
	var total int64
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		info, err := f.Stat()
		if err != nil {
			b.Fatal(err)
		}
		files, total = append(files, f), total+info.Size()
	}
	buf := make([]byte, benchFetchBytes)
	b.ReportAllocs()
	b.SetBytes(total)
	for b.Loop() {
		for _, f := range files {
			for pos := int64(0); ; {
				n, err := f.ReadAt(buf, pos)
				pos += int64(n)
				if err != nil || n < len(buf) {
					break
				}
			}
		}
	}
}

// BenchmarkRecovery is Open after an unclean shutdown with no recovery
// point: every batch is re-read and checksummed, both indexes rebuilt and
// fsynced, as after a crash. The log is in the page cache (the broker
// process died, not the machine); seconds per GiB is 2^30 bytes over MB/s.
func BenchmarkRecovery(b *testing.B) {
	dir, _ := closedBenchLog(b, benchLogBytes)
	benchRecovery(b, dir)
}

// closedBenchLog writes a log of size bytes, fsyncs and closes it, and
// returns its folder and .log files. The fsync keeps the writeback of the
// setup out of the timed recoveries.
func closedBenchLog(tb testing.TB, size int64) (dir string, paths []string) {
	tb.Helper()
	l := writeBenchLog(tb, size)
	if err := l.Flush(); err != nil {
		tb.Fatal(err)
	}
	paths = segmentPaths(l)
	if err := l.Close(); err != nil {
		tb.Fatal(err)
	}
	return l.Dir(), paths
}

func benchRecovery(b *testing.B, dir string) {
	opts := Options{Dir: dir, TopicPartition: TopicPartition{Topic: "bench", Partition: 0}, Config: DefaultLogConfig()}
	recoverOnce := func() int64 {
		l, err := Open(opts)
		if err != nil {
			b.Fatal(err)
		}
		size := l.Size()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		return size
	}
	b.ReportAllocs()
	b.SetBytes(recoverOnce()) // and a warm-up
	for b.Loop() {
		recoverOnce()
	}
}

// lookupShape is a log for BenchmarkOffsetLookup: segments segments of
// entries offset index entries each.
type lookupShape struct{ segments, entries int }

func (s lookupShape) String() string {
	return fmt.Sprintf("segments=%d/entries=%d", s.segments, s.entries)
}

// Lookups are measured in logs of two series, each against its first log.
// lookupsBySegments spread the same 102,400 entries over 1, 10 and 100
// segments, so that only the segment count changes: a lookup in a larger
// log touches more memory and costs more for that alone (see
// lookupsByEntries). lookupsByEntries put 2^10, 2^15 and 2^20 entries in
// one segment (a full 10 MiB index holds 1,310,720).
var (
	lookupsBySegments = []lookupShape{{1, 102_400}, {10, 10_240}, {100, 1_024}}
	lookupsByEntries  = []lookupShape{{1, 1 << 10}, {1, 1 << 15}, {1, 1 << 20}}
)

// BenchmarkOffsetLookup is the offset to file position translation a fetch
// starts with: Log.Read at a random offset, down to a Region (no data is
// copied). It finds the segment by binary search over the segments, the
// index entry by binary search in its offset index, then reads the batch
// header there.
func BenchmarkOffsetLookup(b *testing.B) {
	for _, shape := range slices.Concat(lookupsBySegments, lookupsByEntries) {
		b.Run(shape.String(), func(b *testing.B) { benchOffsetLookup(b, lookupLog(b, shape)) })
	}
}

// lookupLog builds a log of the given shape from one-record batches of
// about 80 bytes with an index entry for every batch but each segment's
// first (index.interval.bytes 0). That is how dense the index of a log of
// 16 KiB producer batches is, where every batch passes the 4 KiB interval,
// without writing the 16 GiB such a log would need for 2^20 entries.
func lookupLog(tb testing.TB, shape lookupShape) *Log {
	tb.Helper()
	cfg := DefaultLogConfig()
	cfg.IndexIntervalBytes = 0
	l := openBenchLog(tb, filepath.Join(tb.TempDir(), "bench-0"), cfg)
	batch := makeBatch(tb, 1, 16, NewBuildOptions())
	for s := 0; s < shape.segments; s++ {
		if err := l.Roll(); err != nil {
			tb.Fatal(err)
		}
		for range shape.entries + 1 {
			benchAppend(tb, l, batch)
		}
	}
	return l
}

func benchOffsetLookup(b *testing.B, l *Log) {
	rnd := rand.New(rand.NewPCG(1, 2))
	targets := make([]int64, 4096)
	for i := range targets {
		targets[i] = rnd.Int64N(l.LogEndOffset())
	}
	read := func(target int64) {
		if r, err := l.Read(target, benchFetchBytes, -1, true); err != nil || r.Size == 0 {
			b.Fatalf("read at %d: %v (%d bytes)", target, err, r.Size)
		}
	}
	for _, target := range targets { // map the indexes before timing
		read(target)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		read(targets[i%len(targets)])
	}
}
