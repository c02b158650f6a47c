package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/logstore"
)

// multiSegmentLog writes a log of several segments with sparse indexes, whose
// timestamps go back now and then, so that the time index skips batches.
func multiSegmentLog(t *testing.T) string {
	t.Helper()
	cfg := testLogConfig()
	cfg.SegmentBytes = 2048
	cfg.IndexIntervalBytes = 200
	tl := openTestLog(t, cfg)
	for i := range 60 {
		delta := int64(i * 10)
		if i%7 == 3 {
			delta -= 100
		}
		records := make([]logstore.Record, 1+i%4)
		for j := range records {
			records[j] = rec("key", strings.Repeat("v", 10+i%13), int64(j))
		}
		opts := createTimeOptions(delta)
		if i%5 == 0 {
			opts.Compression = logstore.CompressionGzip
		}
		tl.append(opts, records...)
	}
	if n := tl.log.NumberOfSegments(); n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	tl.close(0)
	return tl.dir
}

func segmentFileList(t *testing.T, dir, suffix string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s files in %s: %v", suffix, dir, err)
	}
	return files
}

var (
	batchLineRE = regexp.MustCompile(`(?m)^baseOffset: \d+ lastOffset: (\d+) .* position: (\d+) CreateTime: `)
	indexLineRE = regexp.MustCompile(`(?m)^offset: (\d+) position: (\d+)$`)
)

// TestDumpIndexMatchesLog checks every index entry of a real log twice: the
// tool finds no mismatch, and each entry names the position of a batch
// that, in the dump of the log, ends at the entry's offset.
func TestDumpIndexMatchesLog(t *testing.T) {
	dir := multiSegmentLog(t)
	indexes := segmentFileList(t, dir, logstore.IndexFileSuffix)
	timeIndexes := segmentFileList(t, dir, logstore.TimeIndexFileSuffix)
	all := strings.Join(append(indexes, timeIndexes...), ",")

	want := ""
	for _, f := range append(indexes, timeIndexes...) {
		want += "Dumping " + f + "\n"
	}
	if got := mustDump(t, "--files", all, "--verify-index-only"); got != want {
		t.Errorf("--verify-index-only printed:\n%s\nwant only:\n%s", got, want)
	}
	mustDump(t, "--files", all) // no mismatches on stderr either

	entries := 0
	for _, index := range indexes {
		logFile := strings.TrimSuffix(index, logstore.IndexFileSuffix) + logstore.LogFileSuffix
		lastOffsetAt := map[string]string{}
		for _, m := range batchLineRE.FindAllStringSubmatch(mustDump(t, "--files", logFile), -1) {
			lastOffsetAt[m[2]] = m[1]
		}
		for _, m := range indexLineRE.FindAllStringSubmatch(mustDump(t, "--files", index), -1) {
			entries++
			if got := lastOffsetAt[m[2]]; got != m[1] {
				t.Errorf("%s: entry offset %s position %s, but the batch there ends at %q", index, m[1], m[2], got)
			}
		}
	}
	if entries < 5 {
		t.Errorf("only %d index entries checked", entries)
	}
}

func TestDumpIndexMismatch(t *testing.T) {
	golden := goldenLog(t)
	// goldenIndex: entry 1 is offset 4 at position 174, a batch of one
	// record. An entry is a 4-byte relative offset and a 4-byte position.
	tests := []struct {
		name  string
		off   int64
		patch []byte
		want  string
	}{
		{"offset not the batch's last", 8, be32(3), "  Index offset: 3, log offset: 4\n"},
		{"position of another batch", 12, be32(93), "  Index offset: 4, log offset: 3\n"},
		{"position past the end", 12, be32(100000), "  Index offset: 4, log offset: -1 (position 100000 is outside the log (324 bytes))\n"},
		{"position not at a batch", 12, be32(1), "  Index offset: 4, log offset: -1 (no batch at position 1: magic -24)\n"},
		{"position in the last header", 12, be32(300), "  Index offset: 4, log offset: -1 (24 bytes at position 300, fewer than a batch header)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := copySegment(t, golden)
			patchFile(t, f.index, tt.off, tt.patch)
			for _, verifyOnly := range []bool{false, true} {
				args := []string{"--files", f.index}
				if verifyOnly {
					args = append(args, "--verify-index-only")
				}
				code, stdout, stderr := dump(t, args...)
				if code != 0 {
					t.Errorf("exit %d, want 0 (Kafka's tool reports mismatches and exits 0)", code)
				}
				if want := "Mismatches in :" + f.index + "\n" + tt.want; stderr != want {
					t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
				}
				if lines := strings.Count(stdout, "\n"); verifyOnly && lines != 1 || !verifyOnly && lines != 4 {
					t.Errorf("verify-index-only=%t: stdout:\n%s", verifyOnly, stdout)
				}
			}
		})
	}
}

func TestDumpTimeIndexMismatch(t *testing.T) {
	golden := goldenLog(t)
	// goldenTimeIndex: (1600000000011, 3), (1600000000020, 4), (1600000000100, 5).
	// An entry is an 8-byte timestamp and a 4-byte relative offset.
	tests := []struct {
		name    string
		patches map[int64][]byte
		want    string
	}{
		{
			"timestamp not the batch's", map[int64][]byte{12: be64(1600000000019)},
			"Found timestamp mismatch in :PATH\n  Index timestamp: 1600000000019, log timestamp: 1600000000020\n",
		},
		{
			"timestamps out of order", map[int64][]byte{12: be64(1600000000011)},
			"Found timestamp mismatch in :PATH\n  Index timestamp: 1600000000011, log timestamp: 1600000000020\n" +
				"Found out of order timestamp in :PATH\n  Index timestamp: 1600000000011, Previously indexed timestamp: 1600000000011\n",
		},
		{
			"offset inside a batch", map[int64][]byte{8: be32(2)},
			"The following indexed offsets are not found in the log.\nIndexed offset: 2, found log offset: 3\n",
		},
		{
			"offset past the log", map[int64][]byte{32: be32(50)},
			"The following indexed offsets are not found in the log.\nIndexed offset: 50, found log offset: -1\n",
		},
		{
			// Offsets that go back make the search start over.
			"offsets out of order", map[int64][]byte{8: be32(4), 20: be32(3), 32: be32(5)},
			"Found timestamp mismatch in :PATH\n" +
				"  Index timestamp: 1600000000011, log timestamp: 1600000000020\n" +
				"  Index timestamp: 1600000000020, log timestamp: 1600000000011\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := copySegment(t, golden)
			for off, b := range tt.patches {
				patchFile(t, f.timeIndex, off, b)
			}
			code, stdout, stderr := dump(t, "--files", f.timeIndex, "--verify-index-only")
			if code != 0 || stdout != "Dumping "+f.timeIndex+"\n" {
				t.Errorf("exit %d, stdout:\n%s", code, stdout)
			}
			if want := strings.ReplaceAll(tt.want, "PATH", f.timeIndex); stderr != want {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
			}
		})
	}
}

// TestDumpIndexZeroTail dumps the indexes of a segment after a crash: never
// trimmed, so their preallocated tails are still zeros.
func TestDumpIndexZeroTail(t *testing.T) {
	f := copySegment(t, goldenLog(t))
	// Preallocated as logstore does: MaxIndexSize (1024) rounded down to
	// whole entries.
	for p, size := range map[string]int64{f.index: 1016, f.timeIndex: 1020} {
		if err := os.Truncate(p, size); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := mustDump(t, "--files", f.index), strings.ReplaceAll(goldenIndex, "PATH", f.index); got != want {
		t.Errorf("untrimmed index:\n%s\nwant:\n%s", got, want)
	}
	if got, want := mustDump(t, "--files", f.timeIndex), strings.ReplaceAll(goldenTimeIndex, "PATH", f.timeIndex); got != want {
		t.Errorf("untrimmed time index:\n%s\nwant:\n%s", got, want)
	}
	// The broker's sanity check rejects an untrimmed index, and so it
	// would rebuild it.
	for _, p := range []string{f.index, f.timeIndex} {
		code, stdout, stderr := dump(t, "--files", p, "--index-sanity-check")
		if code != 1 || stdout != "Dumping "+p+"\n" || !strings.HasPrefix(stderr, "dump-log: "+p+": failed the sanity check: ") {
			t.Errorf("sanity check of untrimmed %s: exit %d, stdout:\n%s\nstderr:\n%s", p, code, stdout, stderr)
		}
	}

	// An index that got no entry before the crash is all zeros.
	for _, p := range []string{f.index, f.timeIndex} {
		if err := os.WriteFile(p, make([]byte, 240), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := mustDump(t, "--files", f.index), "Dumping "+f.index+"\n"+f.index+" is empty.\n"; got != want {
		t.Errorf("zeroed index:\n%s\nwant:\n%s", got, want)
	}
	if got, want := mustDump(t, "--files", f.timeIndex), "Dumping "+f.timeIndex+"\n"; got != want {
		t.Errorf("zeroed time index:\n%s\nwant:\n%s", got, want)
	}
}

func TestDumpIndexEmpty(t *testing.T) {
	f := copySegment(t, goldenLog(t))
	for _, p := range []string{f.index, f.timeIndex} {
		if err := os.Truncate(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	want := "Dumping " + f.index + "\n" + f.index + " is empty.\n" + "Dumping " + f.timeIndex + "\n"
	if got := mustDump(t, "--files", f.index+","+f.timeIndex); got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
}

// TestDumpLeavesIndexesAlone checks that dumping an index changes nothing on
// disk: logstore's index code, left to itself, would create a missing index
// and open an existing one for writing.
func TestDumpLeavesIndexesAlone(t *testing.T) {
	f := copySegment(t, goldenLog(t))
	before, err := os.ReadFile(f.index)
	if err != nil {
		t.Fatal(err)
	}
	// Files logstore opens for writing are opened read-only (this holds even
	// for root, whom file modes do not stop).
	file, err := readOnlyFS{}.OpenFile(f.index, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.WriteAt([]byte{1}, 0); err == nil {
		t.Error("a file from readOnlyFS.OpenFile(O_RDWR) took a write")
	}
	file.Close()
	if _, err := (readOnlyFS{}).OpenFile(f.index, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive create of an existing file: %v, want fs.ErrExist, on which logstore reopens it", err)
	}
	if err := os.Chmod(f.index, 0o444); err != nil {
		t.Fatal(err)
	}
	mustDump(t, "--files", f.index)
	if after, err := os.ReadFile(f.index); err != nil || !bytes.Equal(after, before) {
		t.Errorf("index changed by a dump: %v", err)
	}
	if err := os.Remove(f.timeIndex); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := dump(t, "--files", f.timeIndex); code != 1 {
		t.Errorf("dump of a missing time index: exit %d, want 1", code)
	}
	if _, err := os.Stat(f.timeIndex); !os.IsNotExist(err) {
		t.Errorf("dump created the missing time index: %v", err)
	}
}

func TestMaxMessageSize(t *testing.T) {
	f := goldenLog(t)
	code, _, stderr := dump(t, "--files", f.index, "--max-message-size", "80")
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	// The entries point at batches of 81, 72 and 78 bytes: only the first
	// is too large to check.
	want := "Mismatches in :" + f.index + "\n  Index offset: 3, log offset: -1 (the batch at position 93 is 81 bytes, more than --max-message-size 80)\n"
	if stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
}
