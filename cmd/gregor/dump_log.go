package main

// gregor dump-log is Kafka's kafka-dump-log.sh (kafka.tools.DumpLogSegments)
// for Gregor's log directories, which hold Kafka's on-disk format. The output
// follows Kafka 2.8 line for line, so that scripts and habits built on
// Kafka's tool carry over:
//
//	Dumping <file as given>
//	Starting offset: <base offset from the file name>
//	baseOffset: .. lastOffset: .. count: .. baseSequence: .. lastSequence: ..
//	    producerId: .. producerEpoch: .. partitionLeaderEpoch: ..
//	    isTransactional: .. isControl: .. position: .. CreateTime: .. size: ..
//	    magic: .. compresscodec: NONE crc: .. isvalid: ..          (one line)
//	| offset: .. isValid: true crc: null keySize: .. valueSize: ..
//	    CreateTime: .. baseOffset: .. lastOffset: .. baseSequence: ..
//	    lastSequence: .. producerEpoch: .. partitionLeaderEpoch: ..
//	    batchSize: .. magic: 2 compressType: NONE position: ..
//	    sequence: .. headerKeys: [a,b] key: .. payload: ..      (one line)
//	Found <n> invalid bytes at the end of <file name>
//
// A record line is printed for each record with --deep-iteration; 2.8 repeats
// the batch's fields on every record line (KAFKA-6181; Kafka 3.0 dropped them
// again), and "isValid: true crc: null" because magic-2 records carry no CRC
// of their own. --print-data-log adds " key: <key>" (when not null) and
// " payload: <value>" (when not null) as UTF-8 text; a control record shows
// " endTxnMarker: COMMIT coordinatorEpoch: <n>" (or " controlType:
// <TYPE>(<id>)") instead. Index files print "offset: <o> position: <p>" and
// time indexes "timestamp: <t> offset: <o>", each entry checked against the
// log; mismatches, and offsets that do not follow each other in a deep
// iteration, are summed up on stderr after the last file, as Kafka does.
//
// Where Kafka's tool throws (a file that does not exist, a name that is not
// a base offset, a batch it cannot decode, an index entry past the end of
// the log) this one says what is wrong and goes on with the next batch or
// file; it never panics on what a file holds. The exit status is 2 for a
// usage error, 1 when a file could not be dumped, and 0 otherwise,
// including when an index disagrees with its log (Kafka's tool also exits 0
// then; read stderr for the verdict).

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gregor-broker/gregor/logstore"
)

// dumpLogOptions are the kafka-dump-log flags Gregor supports. Not supported
// yet: the decoder flags (--key-decoder-class and --value-decoder-class name
// Java classes; --offsets-decoder, --transaction-log-decoder and
// --cluster-metadata-decoder parse coordinator and metadata records) and
// --skip-record-metadata.
type dumpLogOptions struct {
	files           []string
	printDataLog    bool
	deepIteration   bool
	verifyIndexOnly bool
	indexSanityOnly bool
	maxMessageSize  int
}

// runDumpLog is `gregor dump-log`. It returns the process exit status.
func runDumpLog(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dump-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: gregor dump-log --files <file1,file2,...> [flags]\n\n"+
			"Prints the batches and records of log segment files (.log) and the entries\n"+
			"of offset (.index) and time (.timeindex) index files, like Kafka's\n"+
			"kafka-dump-log.sh.\n\nflags:\n")
		fs.PrintDefaults()
	}
	var files string
	var opts dumpLogOptions
	fs.StringVar(&files, "files", "", "comma-separated list of data and index files to dump (required)")
	fs.BoolVar(&opts.printDataLog, "print-data-log", false, "print the records' keys and values (implies --deep-iteration)")
	fs.BoolVar(&opts.deepIteration, "deep-iteration", false, "print every record, not only the batch headers")
	fs.BoolVar(&opts.verifyIndexOnly, "verify-index-only", false, "check index entries against the log without printing them")
	fs.BoolVar(&opts.indexSanityOnly, "index-sanity-check", false, "only run the sanity check the broker runs on an index at start-up")
	fs.IntVar(&opts.maxMessageSize, "max-message-size", 5*1024*1024, "largest batch, in bytes, read when checking an offset index entry")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "dump-log: unexpected argument %q (separate files with commas in --files)\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	for _, f := range strings.Split(files, ",") {
		if f != "" {
			opts.files = append(opts.files, f)
		}
	}
	if len(opts.files) == 0 {
		fmt.Fprintln(stderr, "dump-log: --files is required")
		fs.Usage()
		return 2
	}
	if opts.maxMessageSize <= 0 {
		fmt.Fprintf(stderr, "dump-log: --max-message-size must be positive, not %d\n", opts.maxMessageSize)
		return 2
	}
	opts.deepIteration = opts.deepIteration || opts.printDataLog

	d := &dumper{out: bufio.NewWriter(stdout), errOut: stderr, opts: opts}
	for _, f := range opts.files {
		d.dumpFile(f)
	}
	d.printReport()
	d.out.Flush()
	return d.status
}

// dumper prints the files of one run and collects the problems Kafka's tool
// reports on stderr once every file has been dumped.
type dumper struct {
	out    *bufio.Writer // stdout, buffered: a segment can hold millions of records
	errOut io.Writer
	opts   dumpLogOptions
	status int

	indexMismatches    []fileProblems // index offset, log offset
	timestampMismatch  []fileProblems // index timestamp, log timestamp
	outOfOrderTime     []fileProblems // index timestamp, previous index timestamp
	offsetNotFound     []fileProblems // indexed offset, log offset found
	nonConsecutiveLogs []fileProblems // offset, the offset that follows it
}

// fileProblems are the problems found in one file, in the order found.
type fileProblems struct {
	path     string // absolute, as Kafka prints it
	problems []problem
}

// problem is a pair of values Kafka's summary prints, with a note when
// Gregor knows more than the pair says (why no batch was found, say).
type problem struct {
	a, b int64
	note string
}

func (p problem) suffix() string {
	if p.note == "" {
		return ""
	}
	return " (" + p.note + ")"
}

// errorf reports a failure to dump a file on stderr and makes the exit
// status 1. Stdout is flushed first so the two streams interleave in order
// on a terminal.
func (d *dumper) errorf(format string, args ...any) {
	d.out.Flush()
	fmt.Fprintf(d.errOut, "dump-log: "+format+"\n", args...)
	d.status = 1
}

// notef is errorf without the failure: a diagnostic next to a dump that
// went on.
func (d *dumper) notef(format string, args ...any) {
	d.out.Flush()
	fmt.Fprintf(d.errOut, "dump-log: "+format+"\n", args...)
}

func (d *dumper) dumpFile(path string) {
	fmt.Fprintf(d.out, "Dumping %s\n", path)
	suffix := filepath.Ext(path)
	switch suffix {
	case logstore.LogFileSuffix, logstore.IndexFileSuffix, logstore.TimeIndexFileSuffix:
	default:
		// .snapshot and .txnindex files too: Kafka dumps them, Gregor
		// does not yet.
		d.out.Flush()
		fmt.Fprintf(d.errOut, "Ignoring unknown file %s\n", path)
		return
	}
	seg, err := parseSegmentPath(path)
	if err != nil {
		d.errorf("%s: %v", path, err)
		return
	}
	switch suffix {
	case logstore.LogFileSuffix:
		err = d.dumpLog(path, seg)
	case logstore.IndexFileSuffix:
		err = d.dumpOffsetIndex(path, seg)
	case logstore.TimeIndexFileSuffix:
		err = d.dumpTimeIndex(path, seg)
	}
	if err != nil {
		d.errorf("%s: %v", path, err)
	}
}

// segmentPath names the files of the segment a dumped file belongs to.
type segmentPath struct {
	dir  string
	stem string // the file name without its suffix: the base offset's digits
	base int64
}

// parseSegmentPath reads the base offset from a segment file's name. Kafka's
// broker writes it as 20 digits; like Kafka's tool, any non-negative decimal
// is accepted, so a copy renamed to 0.log can be dumped, and the segment's
// other files are looked for under the same digits.
func parseSegmentPath(path string) (segmentPath, error) {
	name := filepath.Base(path)
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	base, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || base < 0 || strings.TrimLeft(stem, "0123456789") != "" {
		return segmentPath{}, fmt.Errorf("not a segment file: the name must be the segment's base offset, as in 00000000000000000000%s", filepath.Ext(name))
	}
	return segmentPath{dir: filepath.Dir(path), stem: stem, base: base}, nil
}

func (s segmentPath) file(suffix string) string { return filepath.Join(s.dir, s.stem+suffix) }

// absPath is the path Kafka names a file by in its stderr summaries.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// openForRead opens a file and returns its size.
func openForRead(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if info.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is a directory", path)
	}
	return f, info.Size(), nil
}

// dumpLog prints the batches of a .log file and, with --deep-iteration, their
// records. It stops at the first batch whose length field does not fit in
// the file (a torn write) and says how many bytes it left, as Kafka does; a
// batch with a bad CRC is printed with isvalid: false and the dump goes on,
// since its length was sound.
func (d *dumper) dumpLog(path string, seg segmentPath) error {
	f, size, err := openForRead(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(d.out, "Starting offset: %d\n", seg.base)
	var validBytes int64
	lastOffset := int64(-1)
	var gaps []problem
	scanErr := logstore.ScanBatches(f, size, func(pos int64, batch []byte) bool {
		validBytes = pos + int64(len(batch))
		h, err := logstore.ParseBatchHeader(batch)
		if err != nil {
			// ScanBatches has checked the length, so this is the magic.
			fmt.Fprintf(d.out, "Skipping the batch at position %d (%d bytes): magic %d, but only magic %d batches can be read\n",
				pos, len(batch), h.Magic, logstore.CurrentMagic)
			return true
		}
		d.printBatch(h, pos, logstore.ComputeCRC(batch) == h.CRC)
		if d.opts.deepIteration {
			d.printRecords(h, pos, batch, &lastOffset, &gaps)
		}
		return true
	})
	if scanErr != nil {
		if !errors.Is(scanErr, logstore.ErrCorrupt) {
			return scanErr
		}
		fmt.Fprintf(d.out, "Found %d invalid bytes at the end of %s\n", size-validBytes, filepath.Base(path))
		d.notef("%s: stopped at position %d: %v", path, validBytes, scanErr)
	}
	if len(gaps) > 0 {
		d.nonConsecutiveLogs = append(d.nonConsecutiveLogs, fileProblems{absPath(path), gaps})
	}
	return nil
}

func timestampType(h logstore.BatchHeader) string {
	if h.IsLogAppendTime() {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// compressionName is the codec as Kafka's CompressionType enum prints it.
func compressionName(c logstore.Compression) string {
	if c < logstore.CompressionNone || c > logstore.CompressionZstd {
		return fmt.Sprintf("UNKNOWN(%d)", c)
	}
	return strings.ToUpper(c.String())
}

func (d *dumper) printBatch(h logstore.BatchHeader, pos int64, valid bool) {
	fmt.Fprintf(d.out, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d "+
		"partitionLeaderEpoch: %d isTransactional: %t isControl: %t position: %d %s: %d size: %d magic: %d "+
		"compresscodec: %s crc: %d isvalid: %t\n",
		h.BaseOffset, h.LastOffset(), h.RecordCount, h.BaseSequence, h.LastSequence(), h.ProducerID, h.ProducerEpoch,
		h.PartitionLeaderEpoch, h.IsTransactional(), h.IsControl(), pos, timestampType(h), h.MaxTimestamp, h.Size(), h.Magic,
		compressionName(h.Compression()), h.CRC, valid)
}

// printRecords prints the record lines of one batch. Like Kafka it does not
// require a valid CRC first: looking inside a damaged batch is what the tool
// is for. Records that cannot be decoded end the batch with a line saying
// why, and the dump goes on with the next batch.
func (d *dumper) printRecords(h logstore.BatchHeader, pos int64, batch []byte, lastOffset *int64, gaps *[]problem) {
	it, err := logstore.NewRecordIterator(batch)
	if err != nil {
		fmt.Fprintf(d.out, "Cannot read the records of the batch at position %d: %v\n", pos, err)
		return
	}
	var keys []string
	for it.Next() {
		r := it.Record()
		offset := h.BaseOffset + int64(r.OffsetDelta)
		if *lastOffset != -1 && offset != *lastOffset+1 {
			*gaps = append(*gaps, problem{a: *lastOffset, b: offset})
		}
		*lastOffset = offset

		ts := h.BaseTimestamp + r.TimestampDelta
		if h.IsLogAppendTime() {
			ts = h.MaxTimestamp // every record of the batch, as consumers see it
		}
		seq := logstore.NoSequence
		if h.BaseSequence >= 0 {
			seq = logstore.IncrementSequence(h.BaseSequence, r.OffsetDelta)
		}
		keys = keys[:0]
		for _, hd := range r.Headers {
			keys = append(keys, hd.Key)
		}
		fmt.Fprintf(d.out, "| offset: %d isValid: true crc: null keySize: %d valueSize: %d %s: %d "+
			"baseOffset: %d lastOffset: %d baseSequence: %d lastSequence: %d producerEpoch: %d partitionLeaderEpoch: %d "+
			"batchSize: %d magic: %d compressType: %s position: %d sequence: %d headerKeys: [%s]",
			offset, nullableLen(r.Key), nullableLen(r.Value), timestampType(h), ts,
			h.BaseOffset, h.LastOffset(), h.BaseSequence, h.LastSequence(), h.ProducerEpoch, h.PartitionLeaderEpoch,
			h.Size(), h.Magic, compressionName(h.Compression()), pos, seq, strings.Join(keys, ","))
		if h.IsControl() {
			d.out.WriteString(controlRecordFields(r))
		} else if d.opts.printDataLog {
			if r.Key != nil {
				fmt.Fprintf(d.out, " key: %s", utf8Text(r.Key))
			}
			if r.Value != nil {
				fmt.Fprintf(d.out, " payload: %s", utf8Text(r.Value))
			}
		}
		d.out.WriteByte('\n')
	}
	if err := it.Err(); err != nil {
		fmt.Fprintf(d.out, "Cannot read the records of the batch at position %d: %v\n", pos, err)
	}
}

func nullableLen(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// utf8Text decodes b as UTF-8 as Kafka's StringDecoder does, each byte that
// is not part of a valid sequence becoming U+FFFD, so that the output is
// always valid UTF-8.
func utf8Text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string([]rune(string(b)))
}

// controlRecordFields describes a control record's key and value. The key is
// int16 version, int16 type (0 abort, 1 commit, 2 quorum reassignment, 3
// leader change); the value of a commit or abort marker is int16 version,
// int32 coordinator epoch. Where Kafka's parser would throw, the field says
// what is wrong instead.
func controlRecordFields(r logstore.Record) string {
	if len(r.Key) < 4 {
		return fmt.Sprintf(" controlType: INVALID(key of %d bytes, need 4)", nullableLen(r.Key))
	}
	if version := int16(beUint16(r.Key)); version < 0 {
		return fmt.Sprintf(" controlType: INVALID(key version %d)", version)
	}
	typeID := int16(beUint16(r.Key[2:]))
	var marker string
	switch typeID {
	case 0:
		marker = "ABORT"
	case 1:
		marker = "COMMIT"
	case 2:
		return " controlType: QUORUM_REASSIGNMENT(2)"
	case 3:
		return " controlType: LEADER_CHANGE(3)"
	default:
		return fmt.Sprintf(" controlType: UNKNOWN(%d)", typeID)
	}
	switch {
	case len(r.Value) < 6:
		return fmt.Sprintf(" endTxnMarker: %s coordinatorEpoch: INVALID(value of %d bytes, need 6)", marker, nullableLen(r.Value))
	case int16(beUint16(r.Value)) < 0:
		return fmt.Sprintf(" endTxnMarker: %s coordinatorEpoch: INVALID(value version %d)", marker, int16(beUint16(r.Value)))
	}
	epoch := int32(uint32(r.Value[2])<<24 | uint32(r.Value[3])<<16 | uint32(r.Value[4])<<8 | uint32(r.Value[5]))
	return fmt.Sprintf(" endTxnMarker: %s coordinatorEpoch: %d", marker, epoch)
}

func beUint16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

// printReport prints, on stderr, the problems found in all the files, in
// Kafka's wording and order. Kafka prints a file's pairs newest first (it
// prepends to a list); these are in file order.
func (d *dumper) printReport() {
	d.out.Flush()
	w := d.errOut
	for _, f := range d.indexMismatches {
		fmt.Fprintf(w, "Mismatches in :%s\n", f.path)
		for _, p := range f.problems {
			fmt.Fprintf(w, "  Index offset: %d, log offset: %d%s\n", p.a, p.b, p.suffix())
		}
	}
	for _, f := range d.timestampMismatch {
		fmt.Fprintf(w, "Found timestamp mismatch in :%s\n", f.path)
		for _, p := range f.problems {
			fmt.Fprintf(w, "  Index timestamp: %d, log timestamp: %d%s\n", p.a, p.b, p.suffix())
		}
	}
	for _, f := range d.outOfOrderTime {
		fmt.Fprintf(w, "Found out of order timestamp in :%s\n", f.path)
		for _, p := range f.problems {
			fmt.Fprintf(w, "  Index timestamp: %d, Previously indexed timestamp: %d\n", p.a, p.b)
		}
	}
	for _, f := range d.offsetNotFound {
		fmt.Fprintln(w, "The following indexed offsets are not found in the log.")
		for _, p := range f.problems {
			fmt.Fprintf(w, "Indexed offset: %d, found log offset: %d%s\n", p.a, p.b, p.suffix())
		}
	}
	for _, f := range d.nonConsecutiveLogs {
		fmt.Fprintf(w, "Non-consecutive offsets in %s\n", f.path)
		for _, p := range f.problems {
			fmt.Fprintf(w, "  %d is followed by %d\n", p.a, p.b)
		}
	}
}
