package logstore

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
)

// goldenLog writes a log of several segments, closes it cleanly and returns
// its folder and the headers of every batch in it, in order.
func goldenLog(t *testing.T, cfg LogConfig, batches int) (string, []BatchHeader) {
	t.Helper()
	tl := openTestLog(t, cfg)
	for i := 0; i < batches; i++ {
		tl.mustAppend(makeBatch(t, 1+i%3, 100+(i*37)%400, BuildOptions{ProducerID: 5, ProducerEpoch: 0, BaseSequence: int32(batchSeq(i))}))
	}
	hs := tl.readAll(0)
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	return tl.dir, hs
}

// batchSeq is the base sequence of the i-th batch goldenLog writes.
func batchSeq(i int) int {
	seq := 0
	for j := 0; j < i; j++ {
		seq += 1 + j%3
	}
	return seq
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		src, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		dst.Close()
	}
}

// segmentFiles lists the .log files of a folder by base offset.
func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*"+LogFileSuffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(matches)
	return matches
}

// batchesIn returns the (global) batch headers stored in one segment file,
// with their positions, from the golden list.
func batchesIn(golden []BatchHeader, seg string, segs []string) (first, last int) {
	// Segment files are named by base offset; a batch belongs to the last
	// segment whose base is at most its base offset.
	bases := make([]int64, len(segs))
	for i, s := range segs {
		bases[i], _ = parseSegmentBase(filepath.Base(s), LogFileSuffix)
	}
	idx := sort.SearchStrings(segs, seg)
	first, last = -1, -1
	for i, h := range golden {
		j := sort.Search(len(bases), func(k int) bool { return bases[k] > h.BaseOffset }) - 1
		if j == idx {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// checkRecovered opens the damaged copy as after a crash and checks that it
// serves exactly the first want batches of golden and can take appends.
func checkRecovered(t *testing.T, cfg LogConfig, dir string, golden []BatchHeader, want int, what string) {
	t.Helper()
	tl := &testLog{t: t, dir: dir, clock: newTestClock(), fs: OSFS{}}
	tl.reopen(cfg, Options{CleanShutdown: false, RecoveryPoint: 0})
	got := tl.readAll(0)
	if len(got) != want {
		t.Fatalf("%s: recovered %d batches, want %d", what, len(got), want)
	}
	for i := range got {
		if got[i] != golden[i] {
			t.Fatalf("%s: batch %d differs after recovery", what, i)
		}
	}
	wantEnd := int64(0)
	if want > 0 {
		wantEnd = golden[want-1].NextOffset()
	}
	if tl.LogEndOffset() != wantEnd {
		t.Fatalf("%s: log end offset %d, want %d", what, tl.LogEndOffset(), wantEnd)
	}
	info, err := tl.Append(makeBatch(t, 1, 10, BuildOptions{}), AppendOptions{Origin: AppendOriginClient})
	if err != nil || info.FirstOffset != wantEnd {
		t.Fatalf("%s: append after recovery at %d, err %v; want %d", what, info.FirstOffset, err, wantEnd)
	}
	tl.Close()
}

// TestRecoveryFromTornTail cuts the last segment at random byte positions,
// as a crash in the middle of a write would, and checks that recovery keeps
// every complete batch before the cut and nothing after it.
func TestRecoveryFromTornTail(t *testing.T) {
	cfg := smallLogConfig()
	golden, hs := goldenLog(t, cfg, 60)
	segs := segmentFiles(t, golden)
	last := segs[len(segs)-1]
	info, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	firstInLast, _ := batchesIn(hs, last, segs)
	rng := rand.New(rand.NewPCG(1, 2))
	cuts := []int64{0, 1, 11, 12, 60, 61, info.Size() - 1}
	for i := 0; i < 25; i++ {
		cuts = append(cuts, rng.Int64N(info.Size()))
	}
	for _, cut := range cuts {
		dir := filepath.Join(t.TempDir(), "topic-0")
		copyDir(t, golden, dir)
		if err := os.Truncate(filepath.Join(dir, filepath.Base(last)), cut); err != nil {
			t.Fatal(err)
		}
		// Batches of the last segment that end at or before the cut survive.
		want := firstInLast
		var pos int64
		for i := firstInLast; i < len(hs) && pos+hs[i].Size() <= cut; i++ {
			pos += hs[i].Size()
			want = i + 1
		}
		checkRecovered(t, cfg, dir, hs, want, "cut at "+itoa(cut))
	}
}

// TestRecoveryFromCorruptByte flips a random byte inside the CRC-covered part
// of a random batch in any segment, and checks that recovery serves every
// batch before the damaged one and nothing from it on. (Bytes outside the CRC
// — base offset, length, leader epoch — are not covered by Kafka's format
// either; a flipped length is caught because the batch no longer checks.)
func TestRecoveryFromCorruptByte(t *testing.T) {
	cfg := smallLogConfig()
	golden, hs := goldenLog(t, cfg, 60)
	segs := segmentFiles(t, golden)
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 30; trial++ {
		victim := rng.IntN(len(hs))
		seg := segs[0]
		for _, s := range segs {
			if base, _ := parseSegmentBase(filepath.Base(s), LogFileSuffix); base <= hs[victim].BaseOffset {
				seg = s
			}
		}
		first, _ := batchesIn(hs, seg, segs)
		var pos int64
		for i := first; i < victim; i++ {
			pos += hs[i].Size()
		}
		at := pos + offsetCRC + rng.Int64N(hs[victim].Size()-offsetCRC)
		dir := filepath.Join(t.TempDir(), "topic-0")
		copyDir(t, golden, dir)
		path := filepath.Join(dir, filepath.Base(seg))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[at] ^= byte(1 << rng.IntN(8))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		checkRecovered(t, cfg, dir, hs, victim, "flip in batch "+itoa(int64(victim)))
	}
}

func TestRecoveryRebuildsDamagedIndexes(t *testing.T) {
	cfg := smallLogConfig()
	golden, hs := goldenLog(t, cfg, 40)
	segs := segmentFiles(t, golden)
	damage := []struct {
		name string
		do   func(t *testing.T, dir string)
	}{
		{"index of the wrong size", func(t *testing.T, dir string) {
			idx := filepath.Join(dir, filepath.Base(segs[0][:len(segs[0])-len(LogFileSuffix)]+IndexFileSuffix))
			if err := os.WriteFile(idx, []byte{1, 2, 3}, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing index", func(t *testing.T, dir string) {
			idx := filepath.Join(dir, filepath.Base(segs[1][:len(segs[1])-len(LogFileSuffix)]+IndexFileSuffix))
			if err := os.Remove(idx); err != nil {
				t.Fatal(err)
			}
		}},
		{"time index of the wrong size", func(t *testing.T, dir string) {
			idx := filepath.Join(dir, filepath.Base(segs[0][:len(segs[0])-len(LogFileSuffix)]+TimeIndexFileSuffix))
			if err := os.WriteFile(idx, make([]byte, 13), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "topic-0")
			copyDir(t, golden, dir)
			d.do(t, dir)
			tl := &testLog{t: t, dir: dir, clock: newTestClock(), fs: OSFS{}}
			// A clean shutdown: only the damaged index is rebuilt.
			tl.reopen(cfg, Options{CleanShutdown: true, RecoveryPoint: hs[len(hs)-1].NextOffset()})
			got := tl.readAll(0)
			if len(got) != len(hs) {
				t.Fatalf("read %d batches, want %d", len(got), len(hs))
			}
			for _, h := range hs {
				r, err := tl.Read(h.BaseOffset, 1, -1, true)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := r.ReadAll()
				if got, _ := ParseBatchHeader(b); got.BaseOffset != h.BaseOffset {
					t.Fatalf("lookup of %d found batch %d", h.BaseOffset, got.BaseOffset)
				}
			}
		})
	}
}

func TestRecoveryOfEmptySegmentFile(t *testing.T) {
	cfg := smallLogConfig()
	golden, hs := goldenLog(t, cfg, 40)
	dir := filepath.Join(t.TempDir(), "topic-0")
	copyDir(t, golden, dir)
	next := hs[len(hs)-1].NextOffset()
	if err := os.WriteFile(SegmentFileName(dir, next, LogFileSuffix), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	checkRecovered(t, cfg, dir, hs, len(hs), "empty segment file")
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

// TestRecoveryRebuildsIndexesAsWritten: after an unclean shutdown that also
// lost the index files, the indexes recovery rebuilds are byte for byte those
// the appends wrote, over more entries than one buffered index write holds
// (indexWriteBufferBytes).
func TestRecoveryRebuildsIndexesAsWritten(t *testing.T) {
	cfg := smallLogConfig()
	cfg.SegmentBytes = 8 << 20
	cfg.IndexIntervalBytes = 0 // an entry for every batch but the first
	cfg.MaxIndexSize = 1 << 20
	tl := openTestLog(t, cfg)
	for i := range 12_000 {
		tl.mustAppend(makeBatch(t, 1, 20, BuildOptions{BaseTimestamp: 1_700_000_000_000 + int64(i)}))
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	indexes := func() map[string][]byte {
		files := map[string][]byte{}
		for _, suffix := range []string{IndexFileSuffix, TimeIndexFileSuffix} {
			b, err := os.ReadFile(SegmentFileName(tl.dir, 0, suffix))
			if err != nil {
				t.Fatal(err)
			}
			files[suffix] = b
		}
		return files
	}
	written := indexes()
	if n := len(written[IndexFileSuffix]) / offsetIndexEntrySize; n < 11_000 {
		t.Fatalf("appends wrote %d offset index entries, want an entry per batch", n)
	}
	// Without the old files, whose bytes recovery would find again, every
	// entry compared below was written by recovery.
	for suffix := range written {
		if err := os.Remove(SegmentFileName(tl.dir, 0, suffix)); err != nil {
			t.Fatal(err)
		}
	}
	tl.reopen(cfg, Options{CleanShutdown: false, RecoveryPoint: 0})
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	for suffix, b := range indexes() {
		if !bytes.Equal(b, written[suffix]) {
			t.Errorf("rebuilt %s differs from the one appends wrote (%d bytes, want %d)", suffix, len(b), len(written[suffix]))
		}
	}
}
