package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/logstore"
)

// Fixed clocks, so that the dumps are byte for byte the same on every run.
const (
	recordTime  int64 = 1_600_000_000_000 // CreateTime base timestamp of the test batches
	leaderEpoch int32 = 7
)

var brokerTime = time.UnixMilli(1_700_000_000_000) // the log's clock, stamped under LogAppendTime

// testLogConfig keeps a test log in one segment and indexes every batch but
// the first (an entry is added once more than IndexIntervalBytes were
// appended since the last one).
func testLogConfig() logstore.LogConfig {
	cfg := logstore.DefaultLogConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 0
	cfg.MaxIndexSize = 1024
	cfg.FileDeleteDelay = 0
	return cfg
}

// testLog is a partition log under construction in a temporary folder.
type testLog struct {
	t   testing.TB
	dir string
	log *logstore.Log
}

func openTestLog(t testing.TB, cfg logstore.LogConfig) *testLog {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "topic-0")
	l, err := logstore.Open(logstore.Options{
		Dir:            dir,
		TopicPartition: logstore.TopicPartition{Topic: "topic", Partition: 0},
		Config:         cfg,
		CleanShutdown:  true,
		Now:            func() time.Time { return brokerTime },
	})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return &testLog{t: t, dir: dir, log: l}
}

// append builds a batch and appends it as the leader would.
func (tl *testLog) append(opts logstore.BuildOptions, records ...logstore.Record) {
	tl.t.Helper()
	batch := buildBatch(tl.t, opts, records...)
	if _, err := tl.log.Append(batch, logstore.AppendOptions{LeaderEpoch: leaderEpoch}); err != nil {
		tl.t.Fatalf("append: %v", err)
	}
}

// appendAsFollower appends a batch with the offsets it was built with, which
// is how a transaction marker with no sequence (as Kafka's coordinator
// writes it) or a gap in the offsets gets into a test log.
func (tl *testLog) appendAsFollower(opts logstore.BuildOptions, records ...logstore.Record) {
	tl.t.Helper()
	if _, err := tl.log.AppendAsFollower(buildBatch(tl.t, opts, records...)); err != nil {
		tl.t.Fatalf("append as follower: %v", err)
	}
}

// close closes the log, trimming its indexes, and returns the paths of the
// files of its segment at base.
func (tl *testLog) close(base int64) segmentFiles {
	tl.t.Helper()
	if err := tl.log.Close(); err != nil {
		tl.t.Fatalf("close log: %v", err)
	}
	return segmentFilesIn(tl.dir, base)
}

type segmentFiles struct{ log, index, timeIndex string }

func segmentFilesIn(dir string, base int64) segmentFiles {
	return segmentFiles{
		log:       logstore.SegmentFileName(dir, base, logstore.LogFileSuffix),
		index:     logstore.SegmentFileName(dir, base, logstore.IndexFileSuffix),
		timeIndex: logstore.SegmentFileName(dir, base, logstore.TimeIndexFileSuffix),
	}
}

func buildBatch(t testing.TB, opts logstore.BuildOptions, records ...logstore.Record) []byte {
	t.Helper()
	b, err := logstore.BuildBatch(opts, records)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b
}

// createTimeOptions are the options of a plain producer's batch.
func createTimeOptions(delta int64) logstore.BuildOptions {
	o := logstore.NewBuildOptions()
	o.BaseTimestamp = recordTime + delta
	return o
}

func rec(key, value string, timestampDelta int64, headers ...logstore.RecordHeader) logstore.Record {
	r := logstore.Record{TimestampDelta: timestampDelta, Headers: headers}
	if key != "" {
		r.Key = []byte(key)
	}
	if value != "" {
		r.Value = []byte(value)
	}
	return r
}

// commitMarker is a transaction's COMMIT control batch at offset, as Kafka's
// coordinator writes it: no sequence numbers, key {version 0, type 1},
// value {version 0, coordinator epoch}.
func commitMarker(offset, producerID int64, epoch int16, coordinatorEpoch int32) (logstore.BuildOptions, logstore.Record) {
	o := logstore.NewBuildOptions()
	o.BaseOffset = offset
	o.PartitionLeaderEpoch = leaderEpoch
	o.BaseTimestamp = recordTime + 100
	o.ProducerID, o.ProducerEpoch = producerID, epoch
	o.Transactional, o.Control = true, true
	key := []byte{0, 0, 0, 1}
	value := binary.BigEndian.AppendUint32([]byte{0, 0}, uint32(coordinatorEpoch))
	return o, logstore.Record{Key: key, Value: value}
}

// goldenLog writes a small log with fixed timestamps: a plain batch with
// headers and a null key, an idempotent batch with a null value, a
// transactional batch and its commit marker.
func goldenLog(t testing.TB) segmentFiles {
	t.Helper()
	tl := openTestLog(t, testLogConfig())
	tl.append(createTimeOptions(0),
		rec("k0", "v0", 0, logstore.RecordHeader{Key: "h1", Value: []byte("x")}),
		rec("", "v1", 5, logstore.RecordHeader{Key: "a"}, logstore.RecordHeader{Key: "b", Value: []byte("y")}))
	idempotent := createTimeOptions(10)
	idempotent.ProducerID, idempotent.ProducerEpoch, idempotent.BaseSequence = 1000, 3, 0
	tl.append(idempotent, rec("k2", "v2", 0), rec("k3", "", 1))
	transactional := createTimeOptions(20)
	transactional.ProducerID, transactional.ProducerEpoch, transactional.BaseSequence = 2000, 0, 0
	transactional.Transactional = true
	tl.append(transactional, rec("k4", "v4", 0))
	tl.appendAsFollower(commitMarker(5, 2000, 0, 42))
	return tl.close(0)
}

// dump runs gregor dump-log with args and returns its exit status, stdout
// and stderr.
func dump(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runDumpLog(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// mustDump is dump for a run that must succeed with nothing on stderr.
func mustDump(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := dump(t, args...)
	if code != 0 || stderr != "" {
		t.Fatalf("dump-log %s: exit %d, stderr:\n%s\nstdout:\n%s", strings.Join(args, " "), code, stderr, stdout)
	}
	return stdout
}

// The golden dumps of goldenLog, checked against Kafka 2.8's DumpLogSegments
// field by field. PATH stands for the file dumped.
const (
	goldenBatches = `Dumping PATH
Starting offset: 0
baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 7 isTransactional: false isControl: false position: 0 CreateTime: 1600000000005 size: 93 magic: 2 compresscodec: NONE crc: 3901960684 isvalid: true
baseOffset: 2 lastOffset: 3 count: 2 baseSequence: 0 lastSequence: 1 producerId: 1000 producerEpoch: 3 partitionLeaderEpoch: 7 isTransactional: false isControl: false position: 93 CreateTime: 1600000000011 size: 81 magic: 2 compresscodec: NONE crc: 2092746302 isvalid: true
baseOffset: 4 lastOffset: 4 count: 1 baseSequence: 0 lastSequence: 0 producerId: 2000 producerEpoch: 0 partitionLeaderEpoch: 7 isTransactional: true isControl: false position: 174 CreateTime: 1600000000020 size: 72 magic: 2 compresscodec: NONE crc: 2932878827 isvalid: true
baseOffset: 5 lastOffset: 5 count: 1 baseSequence: -1 lastSequence: -1 producerId: 2000 producerEpoch: 0 partitionLeaderEpoch: 7 isTransactional: true isControl: true position: 246 CreateTime: 1600000000100 size: 78 magic: 2 compresscodec: NONE crc: 1007789464 isvalid: true
`
	goldenDeep = `Dumping PATH
Starting offset: 0
baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 7 isTransactional: false isControl: false position: 0 CreateTime: 1600000000005 size: 93 magic: 2 compresscodec: NONE crc: 3901960684 isvalid: true
| offset: 0 isValid: true crc: null keySize: 2 valueSize: 2 CreateTime: 1600000000000 baseOffset: 0 lastOffset: 1 baseSequence: -1 lastSequence: -1 producerEpoch: -1 partitionLeaderEpoch: 7 batchSize: 93 magic: 2 compressType: NONE position: 0 sequence: -1 headerKeys: [h1]
| offset: 1 isValid: true crc: null keySize: -1 valueSize: 2 CreateTime: 1600000000005 baseOffset: 0 lastOffset: 1 baseSequence: -1 lastSequence: -1 producerEpoch: -1 partitionLeaderEpoch: 7 batchSize: 93 magic: 2 compressType: NONE position: 0 sequence: -1 headerKeys: [a,b]
baseOffset: 2 lastOffset: 3 count: 2 baseSequence: 0 lastSequence: 1 producerId: 1000 producerEpoch: 3 partitionLeaderEpoch: 7 isTransactional: false isControl: false position: 93 CreateTime: 1600000000011 size: 81 magic: 2 compresscodec: NONE crc: 2092746302 isvalid: true
| offset: 2 isValid: true crc: null keySize: 2 valueSize: 2 CreateTime: 1600000000010 baseOffset: 2 lastOffset: 3 baseSequence: 0 lastSequence: 1 producerEpoch: 3 partitionLeaderEpoch: 7 batchSize: 81 magic: 2 compressType: NONE position: 93 sequence: 0 headerKeys: []
| offset: 3 isValid: true crc: null keySize: 2 valueSize: -1 CreateTime: 1600000000011 baseOffset: 2 lastOffset: 3 baseSequence: 0 lastSequence: 1 producerEpoch: 3 partitionLeaderEpoch: 7 batchSize: 81 magic: 2 compressType: NONE position: 93 sequence: 1 headerKeys: []
baseOffset: 4 lastOffset: 4 count: 1 baseSequence: 0 lastSequence: 0 producerId: 2000 producerEpoch: 0 partitionLeaderEpoch: 7 isTransactional: true isControl: false position: 174 CreateTime: 1600000000020 size: 72 magic: 2 compresscodec: NONE crc: 2932878827 isvalid: true
| offset: 4 isValid: true crc: null keySize: 2 valueSize: 2 CreateTime: 1600000000020 baseOffset: 4 lastOffset: 4 baseSequence: 0 lastSequence: 0 producerEpoch: 0 partitionLeaderEpoch: 7 batchSize: 72 magic: 2 compressType: NONE position: 174 sequence: 0 headerKeys: []
baseOffset: 5 lastOffset: 5 count: 1 baseSequence: -1 lastSequence: -1 producerId: 2000 producerEpoch: 0 partitionLeaderEpoch: 7 isTransactional: true isControl: true position: 246 CreateTime: 1600000000100 size: 78 magic: 2 compresscodec: NONE crc: 1007789464 isvalid: true
| offset: 5 isValid: true crc: null keySize: 4 valueSize: 6 CreateTime: 1600000000100 baseOffset: 5 lastOffset: 5 baseSequence: -1 lastSequence: -1 producerEpoch: 0 partitionLeaderEpoch: 7 batchSize: 78 magic: 2 compressType: NONE position: 246 sequence: -1 headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 42
`
	goldenIndex = `Dumping PATH
offset: 3 position: 93
offset: 4 position: 174
offset: 5 position: 246
`
	goldenTimeIndex = `Dumping PATH
timestamp: 1600000000011 offset: 3
timestamp: 1600000000020 offset: 4
timestamp: 1600000000100 offset: 5
`
)

// goldenWithData is goldenDeep with --print-data-log's additions: the key
// unless null, the payload unless null, nothing for a control record.
var goldenWithData = func() string {
	s := goldenDeep
	for _, r := range []struct{ line, data string }{
		{"headerKeys: [h1]\n", " key: k0 payload: v0"},
		{"headerKeys: [a,b]\n", " payload: v1"},
		{"position: 93 sequence: 0 headerKeys: []\n", " key: k2 payload: v2"},
		{"position: 93 sequence: 1 headerKeys: []\n", " key: k3"},
		{"position: 174 sequence: 0 headerKeys: []\n", " key: k4 payload: v4"},
	} {
		s = strings.Replace(s, r.line, strings.TrimSuffix(r.line, "\n")+r.data+"\n", 1)
	}
	return s
}()

func TestDumpLogGolden(t *testing.T) {
	f := goldenLog(t)
	tests := []struct {
		name string
		file string
		args []string
		want string
	}{
		{"batches", f.log, nil, goldenBatches},
		{"deep iteration", f.log, []string{"--deep-iteration"}, goldenDeep},
		{"print data log", f.log, []string{"--print-data-log"}, goldenWithData},
		{"print data log and deep iteration", f.log, []string{"--print-data-log", "--deep-iteration"}, goldenWithData},
		{"offset index", f.index, nil, goldenIndex},
		{"time index", f.timeIndex, nil, goldenTimeIndex},
		{"verify offset index", f.index, []string{"--verify-index-only"}, "Dumping PATH\n"},
		{"verify time index", f.timeIndex, []string{"--verify-index-only"}, "Dumping PATH\n"},
		{"verify-index-only does not change a log dump", f.log, []string{"--verify-index-only"}, goldenBatches},
		{"offset index sanity", f.index, []string{"--index-sanity-check"}, "Dumping PATH\nPATH passed sanity check.\n"},
		{"time index sanity", f.timeIndex, []string{"--index-sanity-check"}, "Dumping PATH\nPATH passed sanity check.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustDump(t, append([]string{"--files", tt.file}, tt.args...)...)
			if want := strings.ReplaceAll(tt.want, "PATH", tt.file); got != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestDumpLogSeveralFiles(t *testing.T) {
	f := goldenLog(t)
	got := mustDump(t, "--files", f.log+","+f.index+","+f.timeIndex+",")
	want := strings.ReplaceAll(goldenBatches, "PATH", f.log) +
		strings.ReplaceAll(goldenIndex, "PATH", f.index) +
		strings.ReplaceAll(goldenTimeIndex, "PATH", f.timeIndex)
	if got != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", got, want)
	}
}

// recordLines returns the lines of a dump that describe records.
func recordLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "| ") {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestDumpLogCompressedLogAppendTime(t *testing.T) {
	cfg := testLogConfig()
	cfg.TimestampType = logstore.LogAppendTime
	tl := openTestLog(t, cfg)
	gzip := createTimeOptions(0)
	gzip.Compression = logstore.CompressionGzip
	tl.append(gzip, rec("k0", "v0", 0), rec("k1", "v1", 1), rec("k2", "v2", 2))
	tl.append(gzip, rec("k3", "v3", 0, logstore.RecordHeader{Key: "trace", Value: []byte("t")}))
	f := tl.close(0)

	out := mustDump(t, "--files", f.log, "--print-data-log")
	batch := regexp.MustCompile(`(?m)^baseOffset: 0 lastOffset: 2 count: 3 .* position: 0 LogAppendTime: 1700000000000 size: \d+ magic: 2 compresscodec: GZIP crc: \d+ isvalid: true$`)
	if !batch.MatchString(out) {
		t.Errorf("no gzip LogAppendTime batch line for offsets 0-2 in:\n%s", out)
	}
	records := recordLines(out)
	if len(records) != 4 {
		t.Fatalf("%d record lines, want 4:\n%s", len(records), out)
	}
	for i, l := range records {
		// Under LogAppendTime every record shows the broker's time, not
		// recordTime plus its delta.
		for _, want := range []string{" LogAppendTime: 1700000000000 ", " compressType: GZIP ", " key: k" + strconv.Itoa(i) + " payload: v" + strconv.Itoa(i)} {
			if !strings.Contains(l, want) {
				t.Errorf("record line %d lacks %q: %s", i, want, l)
			}
		}
	}
	if !strings.Contains(records[3], " headerKeys: [trace] ") {
		t.Errorf("record 3 lacks its header key: %s", records[3])
	}
	// The time index entry is the broker's time, at the first batch, which
	// set it.
	if got, want := mustDump(t, "--files", f.timeIndex), "Dumping "+f.timeIndex+"\ntimestamp: 1700000000000 offset: 2\n"; got != want {
		t.Errorf("time index dump:\n%s\nwant:\n%s", got, want)
	}
}

func TestDumpLogNonConsecutiveOffsets(t *testing.T) {
	tl := openTestLog(t, testLogConfig())
	tl.append(createTimeOptions(0), rec("a", "1", 0), rec("b", "2", 1))
	gap := createTimeOptions(10)
	gap.BaseOffset = 5
	tl.appendAsFollower(gap, rec("c", "3", 0))
	f := tl.close(0)

	code, stdout, stderr := dump(t, "--files", f.log, "--deep-iteration")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if n := len(recordLines(stdout)); n != 3 {
		t.Errorf("%d record lines, want 3:\n%s", n, stdout)
	}
	if want := "Non-consecutive offsets in " + f.log + "\n  1 is followed by 5\n"; stderr != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, want)
	}
	// Without --deep-iteration records are not looked at, as in Kafka.
	mustDump(t, "--files", f.log)
}

// copySegment copies a segment's three files into a new folder, for tests
// that damage them.
func copySegment(t *testing.T, f segmentFiles) segmentFiles {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{f.log, f.index, f.timeIndex} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return segmentFilesIn(dir, 0)
}

// patchFile overwrites bytes of a file at off.
func patchFile(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func be32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func be64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func TestDumpLogCorruptBatch(t *testing.T) {
	f := copySegment(t, goldenLog(t))
	// The value of the first record of the batch at position 93: "v2"
	// becomes "w2", which the CRC catches but the framing does not.
	b, err := os.ReadFile(f.log)
	if err != nil {
		t.Fatal(err)
	}
	at := int64(bytes.Index(b, []byte("v2")))
	if at < 93+logstore.BatchHeaderSize || at >= 174 {
		t.Fatalf("value v2 at %d, not in the second batch", at)
	}
	patchFile(t, f.log, at, []byte("w"))

	out := mustDump(t, "--files", f.log, "--print-data-log")
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "baseOffset: ") {
			continue
		}
		wantValid := !strings.Contains(l, " position: 93 ")
		if valid := strings.HasSuffix(l, "isvalid: true"); valid != wantValid {
			t.Errorf("want isvalid: %t: %s", wantValid, l)
		}
	}
	// The records of the damaged batch are still shown, as Kafka does.
	if !strings.Contains(out, " key: k2 payload: w2\n") {
		t.Errorf("records of the damaged batch not shown:\n%s", out)
	}
	if n := len(recordLines(out)); n != 6 {
		t.Errorf("%d record lines, want 6", n)
	}
}

func TestDumpLogUndecodableRecords(t *testing.T) {
	f := copySegment(t, goldenLog(t))
	// The first record's length varint in the batch at position 174: make it
	// claim more bytes than the batch holds.
	patchFile(t, f.log, 174+logstore.BatchHeaderSize, []byte{0x7e})
	code, stdout, stderr := dump(t, "--files", f.log, "--deep-iteration")
	// The record at offset 4 is not printed, so the offsets jump.
	if want := "Non-consecutive offsets in " + f.log + "\n  3 is followed by 5\n"; code != 0 || stderr != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	if !strings.Contains(stdout, "\nCannot read the records of the batch at position 174: ") {
		t.Errorf("no line about the undecodable records:\n%s", stdout)
	}
	if !strings.Contains(stdout, "| offset: 5 ") {
		t.Errorf("the dump did not go on after the damaged batch:\n%s", stdout)
	}
}

// TestDumpLogTruncated cuts the log at every length, as a crash during a
// write can, and checks that the whole batches before the cut are printed,
// followed by Kafka's line about the bytes left.
func TestDumpLogTruncated(t *testing.T) {
	golden := goldenLog(t)
	full, err := os.ReadFile(golden.log)
	if err != nil {
		t.Fatal(err)
	}
	boundaries := []int{0, 93, 174, 246, 324}
	deep := strings.Split(strings.ReplaceAll(goldenDeep, "PATH", "X"), "\n")
	dir := t.TempDir()
	path := filepath.Join(dir, "00000000000000000000.log")
	for cut := 0; cut <= len(full); cut++ {
		if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := dump(t, "--files", path, "--deep-iteration")
		if code != 0 {
			t.Fatalf("cut at %d: exit %d, stderr:\n%s", cut, code, stderr)
		}
		whole := 0 // batches before the cut
		for whole+1 < len(boundaries) && boundaries[whole+1] <= cut {
			whole++
		}
		valid := boundaries[whole]
		// The lines of the golden dump up to the cut batch: two of header,
		// then each batch's line and its record lines.
		wantLines := 2
		for batches := 0; wantLines < len(deep) && batches <= whole; wantLines++ {
			if strings.HasPrefix(deep[wantLines], "baseOffset: ") {
				batches++
			}
		}
		want := strings.Join(deep[:wantLines-1], "\n") + "\n"
		want = strings.Replace(want, "Dumping X", "Dumping "+path, 1)
		if cut == valid {
			if stdout != want || stderr != "" {
				t.Errorf("cut at batch boundary %d: stdout:\n%s\nwant:\n%s\nstderr:\n%s", cut, stdout, want, stderr)
			}
			continue
		}
		want += "Found " + strconv.Itoa(cut-valid) + " invalid bytes at the end of 00000000000000000000.log\n"
		if stdout != want {
			t.Errorf("cut at %d: stdout:\n%s\nwant:\n%s", cut, stdout, want)
		}
		if prefix := "dump-log: " + path + ": stopped at position " + strconv.Itoa(valid) + ": "; !strings.HasPrefix(stderr, prefix) {
			t.Errorf("cut at %d: stderr %q, want it to start %q", cut, stderr, prefix)
		}
	}
}

func TestDumpLogFileErrors(t *testing.T) {
	f := goldenLog(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := filepath.Join(dir, "00000000000000000000.log")
	notSegment := write("abc.log", nil)
	unknown := write("notes.txt", []byte("hello"))
	orphanIndex := write("00000000000000000042.index", append(be32(3), be32(93)...))
	badSize := write("00000000000000000007.timeindex", make([]byte, 13))
	dirLog := filepath.Join(dir, "00000000000000000009.log")
	if err := os.Mkdir(dirLog, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		files      string
		wantCode   int
		wantStdout string
		wantStderr string // a prefix
	}{
		{"missing file", missing, 1, "Dumping MISSING\n", "dump-log: MISSING: open MISSING: no such file or directory\n"},
		{"not a segment name", notSegment, 1, "Dumping " + notSegment + "\n", "dump-log: " + notSegment + ": not a segment file: "},
		{"unknown suffix", unknown, 0, "Dumping " + unknown + "\n", "Ignoring unknown file " + unknown + "\n"},
		{"index without its log", orphanIndex, 1, "Dumping " + orphanIndex + "\n", "dump-log: " + orphanIndex + ": open the segment's log to check the index against: "},
		{"index size not whole entries", badSize, 1, "Dumping " + badSize + "\n", "dump-log: " + badSize + ": logstore: corrupt data: "},
		{"directory", dirLog, 1, "Dumping " + dirLog + "\n", "dump-log: " + dirLog + ": " + dirLog + " is a directory\n"},
		{
			"good files dumped around a missing one", f.index + "," + missing + "," + f.timeIndex, 1,
			strings.ReplaceAll(goldenIndex, "PATH", f.index) + "Dumping MISSING\n" + strings.ReplaceAll(goldenTimeIndex, "PATH", f.timeIndex),
			"dump-log: MISSING: open MISSING: no such file or directory\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := dump(t, "--files", tt.files)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			if want := strings.ReplaceAll(tt.wantStdout, "MISSING", missing); stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
			}
			if want := strings.ReplaceAll(tt.wantStderr, "MISSING", missing); !strings.HasPrefix(stderr, want) {
				t.Errorf("stderr:\n%s\nwant it to start:\n%s", stderr, want)
			}
		})
	}
}

func TestDumpLogFlags(t *testing.T) {
	f := goldenLog(t)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"no flags", nil, 2, "dump-log: --files is required\n"},
		{"empty files", []string{"--files", ","}, 2, "dump-log: --files is required\n"},
		{"unknown flag", []string{"--files", f.log, "--print-everything"}, 2, "flag provided but not defined: -print-everything\n"},
		{"files without a value", []string{"--files"}, 2, "flag needs an argument: -files\n"},
		{"stray argument", []string{"--files", f.log, f.index}, 2, "dump-log: unexpected argument \"" + f.index + "\""},
		{"max message size not a number", []string{"--files", f.log, "--max-message-size", "big"}, 2, "invalid value \"big\" for flag -max-message-size"},
		{"max message size zero", []string{"--files", f.log, "--max-message-size", "0"}, 2, "dump-log: --max-message-size must be positive, not 0\n"},
		{"help", []string{"--help"}, 0, "usage: gregor dump-log --files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := dump(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			if stdout != "" {
				t.Errorf("stdout:\n%s", stdout)
			}
			if !strings.HasPrefix(stderr, tt.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to start:\n%s", stderr, tt.wantStderr)
			}
		})
	}
}

func TestControlRecordFields(t *testing.T) {
	key := func(version, typ int16) []byte {
		return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, uint16(version)), uint16(typ))
	}
	value := func(version int16, epoch int32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, uint16(version)), uint32(epoch))
	}
	tests := []struct {
		name       string
		key, value []byte
		want       string
	}{
		{"commit", key(0, 1), value(0, 42), " endTxnMarker: COMMIT coordinatorEpoch: 42"},
		{"abort", key(0, 0), value(0, 7), " endTxnMarker: ABORT coordinatorEpoch: 7"},
		{"newer versions parse as version 0", append(key(1, 1), 9), append(value(3, 5), 9), " endTxnMarker: COMMIT coordinatorEpoch: 5"},
		{"quorum reassignment", key(0, 2), nil, " controlType: QUORUM_REASSIGNMENT(2)"},
		{"leader change", key(0, 3), []byte{1}, " controlType: LEADER_CHANGE(3)"},
		{"unknown type", key(0, 17), nil, " controlType: UNKNOWN(17)"},
		{"null key", nil, value(0, 1), " controlType: INVALID(key of -1 bytes, need 4)"},
		{"short key", []byte{0, 0, 1}, value(0, 1), " controlType: INVALID(key of 3 bytes, need 4)"},
		{"negative key version", key(-1, 1), value(0, 1), " controlType: INVALID(key version -1)"},
		{"short value", key(0, 1), []byte{0, 0, 0}, " endTxnMarker: COMMIT coordinatorEpoch: INVALID(value of 3 bytes, need 6)"},
		{"null value", key(0, 0), nil, " endTxnMarker: ABORT coordinatorEpoch: INVALID(value of -1 bytes, need 6)"},
		{"negative value version", key(0, 1), value(-2, 1), " endTxnMarker: COMMIT coordinatorEpoch: INVALID(value version -2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := controlRecordFields(logstore.Record{Key: tt.key, Value: tt.value}); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseSegmentPath(t *testing.T) {
	tests := []struct {
		path     string
		wantBase int64
		wantErr  bool
	}{
		{"/d/00000000000000000000.log", 0, false},
		{"/d/00000000000000001234.index", 1234, false},
		{"00000000000000001234.timeindex", 1234, false},
		{"/d/0.log", 0, false},
		{"/d/9223372036854775807.log", 1<<63 - 1, false},
		{"/d/9223372036854775808.log", 0, true},
		{"/d/abc.log", 0, true},
		{"/d/.log", 0, true},
		{"/d/-1.log", 0, true},
		{"/d/+1.log", 0, true},
		{"/d/00000000000000000000.log.log", 0, true},
	}
	for _, tt := range tests {
		seg, err := parseSegmentPath(tt.path)
		if (err != nil) != tt.wantErr || err == nil && seg.base != tt.wantBase {
			t.Errorf("parseSegmentPath(%q) = %d, %v; want %d, error %t", tt.path, seg.base, err, tt.wantBase, tt.wantErr)
		}
	}
	seg, _ := parseSegmentPath("/d/0.index")
	if got := seg.file(logstore.LogFileSuffix); got != "/d/0.log" {
		t.Errorf("log of /d/0.index is %s, want /d/0.log", got)
	}
}

func TestUTF8Text(t *testing.T) {
	for in, want := range map[string]string{
		"":             "",
		"plain":        "plain",
		"caf\u00e9":    "caf\u00e9",
		"a\xffb":       "a\ufffdb",
		"\xc3\x28\xff": "\ufffd(\ufffd",
	} {
		if got := utf8Text([]byte(in)); got != want {
			t.Errorf("utf8Text(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzDumpLogFiles: whatever a segment's files hold, dump-log never panics,
// exits 0 or 1, and says on stderr why when it exits 1.
func FuzzDumpLogFiles(f *testing.F) {
	golden := goldenLog(f)
	var seed [3][]byte
	for i, p := range []string{golden.log, golden.index, golden.timeIndex} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seed[i] = b
	}
	f.Add(seed[0], seed[1], seed[2])
	f.Add(seed[0][:200], append(seed[1], make([]byte, 800)...), append(seed[2], make([]byte, 960)...))
	f.Add(seed[0][93:], seed[2], seed[1])
	f.Add([]byte{}, []byte{}, []byte{})
	f.Add(make([]byte, 100), make([]byte, 80), make([]byte, 120))
	f.Fuzz(func(t *testing.T, log, index, timeIndex []byte) {
		files := segmentFilesIn(t.TempDir(), 0)
		for p, b := range map[string][]byte{files.log: log, files.index: index, files.timeIndex: timeIndex} {
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		all := files.log + "," + files.index + "," + files.timeIndex
		for _, args := range [][]string{{"--print-data-log"}, {"--index-sanity-check"}, {"--verify-index-only"}} {
			code, _, stderr := dump(t, append([]string{"--files", all}, args...)...)
			if code != 0 && code != 1 || code == 1 && stderr == "" {
				t.Fatalf("dump-log %v: exit %d, stderr %q", args, code, stderr)
			}
		}
	})
}
