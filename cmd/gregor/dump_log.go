package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gregor-broker/gregor/logstore"
)

// dumpLogOptions are kafka-dump-log's flags that Gregor supports.
type dumpLogOptions struct {
	files           []string
	printDataLog    bool
	deepIteration   bool
	verifyIndexOnly bool
	indexSanity     bool
	maxMessageSize  int
}

// runDumpLog is `gregor dump-log`: it prints the batches (and, deep, the
// records) of .log files and the entries of .index and .timeindex files, in
// the format of Kafka's DumpLogSegments, and checks each index entry against
// the log.
func runDumpLog(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dump-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files string
	var opts dumpLogOptions
	fs.StringVar(&files, "files", "", "comma-separated list of data and index files to dump (required)")
	fs.BoolVar(&opts.printDataLog, "print-data-log", false, "print the records' keys and values (implies --deep-iteration)")
	fs.BoolVar(&opts.deepIteration, "deep-iteration", false, "print every record, not only batch headers")
	fs.BoolVar(&opts.verifyIndexOnly, "verify-index-only", false, "only check index entries against the log; print mismatches")
	fs.BoolVar(&opts.indexSanity, "index-sanity-check", false, "only run the index sanity check")
	fs.IntVar(&opts.maxMessageSize, "max-message-size", 5*1024*1024, "largest batch read when checking an index entry")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if files == "" {
		fmt.Fprintln(stderr, "dump-log: --files is required")
		fs.Usage()
		return 2
	}
	opts.files = strings.Split(files, ",")
	if opts.printDataLog {
		opts.deepIteration = true
	}
	status := 0
	for _, f := range opts.files {
		if err := dumpFile(stdout, f, opts); err != nil {
			fmt.Fprintf(stderr, "dump-log: %s: %v\n", f, err)
			status = 1
		}
	}
	return status
}

func dumpFile(w io.Writer, path string, opts dumpLogOptions) error {
	fmt.Fprintf(w, "Dumping %s\n", path)
	base, err := baseOffsetOf(path)
	if err != nil {
		return err
	}
	switch filepath.Ext(path) {
	case logstore.LogFileSuffix:
		return dumpLogFile(w, path, base, opts)
	case logstore.IndexFileSuffix:
		return dumpOffsetIndex(w, path, base, opts)
	case logstore.TimeIndexFileSuffix:
		return dumpTimeIndex(w, path, base, opts)
	}
	return fmt.Errorf("unknown file type %q (want .log, .index or .timeindex)", filepath.Ext(path))
}

func baseOffsetOf(path string) (int64, error) {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	base, err := strconv.ParseInt(name, 10, 64)
	if err != nil || len(name) != 20 {
		return 0, fmt.Errorf("file name is not a 20-digit base offset")
	}
	return base, nil
}

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
	return f, info.Size(), nil
}

func dumpLogFile(w io.Writer, path string, base int64, opts dumpLogOptions) error {
	f, size, err := openForRead(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(w, "Starting offset: %d\n", base)
	var recordErr error
	err = logstore.ScanBatches(f, size, func(pos int64, batch []byte) bool {
		h, err := logstore.ParseBatchHeader(batch)
		if err != nil {
			recordErr = fmt.Errorf("position %d: %w", pos, err)
			return false
		}
		_, crcErr := logstore.CheckBatch(batch)
		printBatchHeader(w, h, pos, crcErr == nil)
		if opts.deepIteration && crcErr == nil {
			if err := printRecords(w, h, batch, opts.printDataLog); err != nil {
				fmt.Fprintf(w, "| error reading records: %v\n", err)
			}
		}
		return true
	})
	if err == nil {
		err = recordErr
	}
	if errors.Is(err, logstore.ErrCorrupt) {
		fmt.Fprintf(w, "Found %s\n", err)
		return nil
	}
	return err
}

func timestampLabel(h logstore.BatchHeader) string {
	if h.IsLogAppendTime() {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func printBatchHeader(w io.Writer, h logstore.BatchHeader, pos int64, valid bool) {
	fmt.Fprintf(w, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d "+
		"partitionLeaderEpoch: %d isTransactional: %t isControl: %t position: %d %s: %d size: %d magic: %d compresscodec: %s crc: %d isvalid: %t\n",
		h.BaseOffset, h.LastOffset(), h.RecordCount, h.BaseSequence, h.LastSequence(), h.ProducerID, h.ProducerEpoch,
		h.PartitionLeaderEpoch, h.IsTransactional(), h.IsControl(), pos, timestampLabel(h), h.MaxTimestamp, h.Size(), h.Magic,
		strings.ToUpper(h.Compression().String()), h.CRC, valid)
}

func printRecords(w io.Writer, h logstore.BatchHeader, batch []byte, printData bool) error {
	it, err := logstore.NewRecordIterator(batch)
	if err != nil {
		return err
	}
	for it.Next() {
		r := it.Record()
		ts := h.BaseTimestamp + r.TimestampDelta
		if h.IsLogAppendTime() {
			ts = h.MaxTimestamp
		}
		seq := int32(-1)
		if h.BaseSequence >= 0 {
			seq = logstore.IncrementSequence(h.BaseSequence, r.OffsetDelta)
		}
		keys := make([]string, len(r.Headers))
		for i, hd := range r.Headers {
			keys[i] = hd.Key
		}
		fmt.Fprintf(w, "| offset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [%s]",
			h.BaseOffset+int64(r.OffsetDelta), timestampLabel(h), ts, nullableLen(r.Key), nullableLen(r.Value), seq, strings.Join(keys, ","))
		if h.IsControl() {
			fmt.Fprintf(w, " controlType: %s", controlType(r.Key))
		} else if printData {
			if r.Key != nil {
				fmt.Fprintf(w, " key: %s", r.Key)
			}
			fmt.Fprintf(w, " payload: %s", r.Value)
		}
		fmt.Fprintln(w)
	}
	return it.Err()
}

func nullableLen(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// controlType decodes a control record's key: int16 version, int16 type
// (0 abort, 1 commit).
func controlType(key []byte) string {
	if len(key) < 4 {
		return "UNKNOWN"
	}
	switch int16(key[2])<<8 | int16(key[3]) {
	case 0:
		return "ABORT"
	case 1:
		return "COMMIT"
	}
	return "UNKNOWN"
}

// batchAt reads the batch at a log position, for checking index entries.
func batchAt(logFile *os.File, logSize int64, pos int64, maxSize int) (logstore.BatchHeader, error) {
	if pos < 0 || pos >= logSize {
		return logstore.BatchHeader{}, fmt.Errorf("position %d is outside the log (%d bytes)", pos, logSize)
	}
	buf := make([]byte, min(int64(logstore.BatchHeaderSize), logSize-pos))
	if _, err := logFile.ReadAt(buf, pos); err != nil {
		return logstore.BatchHeader{}, err
	}
	h, err := logstore.ParseBatchHeader(buf)
	if err != nil {
		return h, err
	}
	if h.Size() > int64(maxSize) {
		return h, fmt.Errorf("batch at position %d is %d bytes, above --max-message-size", pos, h.Size())
	}
	return h, nil
}

func openSegmentLog(indexPath string, base int64) (*os.File, int64, error) {
	return openForRead(logstore.SegmentFileName(filepath.Dir(indexPath), base, logstore.LogFileSuffix))
}

func dumpOffsetIndex(w io.Writer, path string, base int64, opts dumpLogOptions) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	idx, err := logstore.OpenOffsetIndex(logstore.OSFS{}, path, base, int(info.Size()))
	if err != nil {
		return err
	}
	defer idx.Close()
	if opts.indexSanity {
		if err := idx.SanityCheck(); err != nil {
			fmt.Fprintf(w, "%s failed sanity check: %v\n", path, err)
		} else {
			fmt.Fprintf(w, "%s passed sanity check.\n", path)
		}
		return nil
	}
	logFile, logSize, err := openSegmentLog(path, base)
	if err != nil {
		return fmt.Errorf("open the segment's log: %w", err)
	}
	defer logFile.Close()
	var mismatches []string
	for i := 0; i < idx.Entries(); i++ {
		e := idx.Entry(i)
		if e.Offset == base && i > 0 {
			break // the zeroed tail of a preallocated, untrimmed index
		}
		h, err := batchAt(logFile, logSize, int64(e.Position), opts.maxMessageSize)
		switch {
		case err != nil:
			mismatches = append(mismatches, fmt.Sprintf("  Index offset: %d, position: %d: %v", e.Offset, e.Position, err))
		case h.LastOffset() != e.Offset:
			mismatches = append(mismatches, fmt.Sprintf("  Index offset: %d, log offset: %d", e.Offset, h.LastOffset()))
		}
		if !opts.verifyIndexOnly {
			fmt.Fprintf(w, "offset: %d position: %d\n", e.Offset, e.Position)
		}
	}
	printMismatches(w, path, mismatches)
	return nil
}

func dumpTimeIndex(w io.Writer, path string, base int64, opts dumpLogOptions) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	idx, err := logstore.OpenTimeIndex(logstore.OSFS{}, path, base, int(info.Size()))
	if err != nil {
		return err
	}
	defer idx.Close()
	if opts.indexSanity {
		if err := idx.SanityCheck(); err != nil {
			fmt.Fprintf(w, "%s failed sanity check: %v\n", path, err)
		} else {
			fmt.Fprintf(w, "%s passed sanity check.\n", path)
		}
		return nil
	}
	var mismatches []string
	var last int64 = logstore.NoTimestamp
	for i := 0; i < idx.Entries(); i++ {
		e := idx.Entry(i)
		if e.Timestamp == 0 && e.Offset == base && i > 0 {
			break
		}
		if e.Timestamp <= last {
			mismatches = append(mismatches, fmt.Sprintf("  Timestamp %d at offset %d is not above the previous entry's %d", e.Timestamp, e.Offset, last))
		}
		last = e.Timestamp
		if !opts.verifyIndexOnly {
			fmt.Fprintf(w, "timestamp: %d offset: %d\n", e.Timestamp, e.Offset)
		}
	}
	printMismatches(w, path, mismatches)
	return nil
}

func printMismatches(w io.Writer, path string, mismatches []string) {
	if len(mismatches) == 0 {
		return
	}
	fmt.Fprintf(w, "Mismatches in :%s\n", path)
	for _, m := range mismatches {
		fmt.Fprintln(w, m)
	}
}
