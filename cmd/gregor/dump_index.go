package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/gregor-broker/gregor/logstore"
)

// dumpOffsetIndex prints the entries of a .index file ("offset: <o>
// position: <p>", unless --verify-index-only) and checks each against the
// segment's .log: the batch at the entry's position must end at the entry's
// offset. Disagreements go to the stderr summary ("Mismatches in :<file>").
func (d *dumper) dumpOffsetIndex(path string, seg segmentPath) error {
	if err := checkRegularFile(path); err != nil {
		return err
	}
	idx, err := logstore.OpenOffsetIndex(readOnlyFS{}, path, seg.base, 0)
	if err != nil {
		return err
	}
	defer idx.Close()
	if idx.Entries() == 0 {
		fmt.Fprintf(d.out, "%s is empty.\n", path)
		return nil
	}
	if d.opts.indexSanityOnly {
		return d.sanityCheck(path, idx.SanityCheck())
	}
	n := validEntries(idx.Entries(), func(i int) bool {
		e := idx.Entry(i)
		return e.Offset == seg.base && e.Position == 0
	}, func(i int) bool { return idx.Entry(i).Offset == seg.base })
	if n == 0 {
		fmt.Fprintf(d.out, "%s is empty.\n", path)
		return nil
	}
	logFile, logSize, err := openForRead(seg.file(logstore.LogFileSuffix))
	if err != nil {
		return fmt.Errorf("open the segment's log to check the index against: %w", err)
	}
	defer logFile.Close()

	var mismatches []problem
	for i := 0; i < n; i++ {
		e := idx.Entry(i)
		h, err := readBatchHeader(logFile, logSize, int64(e.Position))
		if err == nil && h.Size() > int64(d.opts.maxMessageSize) {
			err = fmt.Errorf("the batch at position %d is %d bytes, more than --max-message-size %d", e.Position, h.Size(), d.opts.maxMessageSize)
		}
		switch {
		case err != nil:
			mismatches = append(mismatches, problem{a: e.Offset, b: -1, note: err.Error()})
		case h.LastOffset() != e.Offset:
			mismatches = append(mismatches, problem{a: e.Offset, b: h.LastOffset()})
		}
		if !d.opts.verifyIndexOnly {
			fmt.Fprintf(d.out, "offset: %d position: %d\n", e.Offset, e.Position)
		}
	}
	if len(mismatches) > 0 {
		d.indexMismatches = append(d.indexMismatches, fileProblems{absPath(path), mismatches})
	}
	return nil
}

// dumpTimeIndex prints the entries of a .timeindex file ("timestamp: <t>
// offset: <o>", unless --verify-index-only) and checks each against the log,
// as Kafka does: some batch must end at the entry's offset, the largest
// record timestamp of that batch must be the entry's timestamp, and
// timestamps must increase from entry to entry.
//
// Kafka finds the batch by way of the segment's offset index; this scans the
// log instead (once, for entries in offset order), so that a damaged offset
// index does not show up as errors in the time index.
func (d *dumper) dumpTimeIndex(path string, seg segmentPath) error {
	if err := checkRegularFile(path); err != nil {
		return err
	}
	idx, err := logstore.OpenTimeIndex(readOnlyFS{}, path, seg.base, 0)
	if err != nil {
		return err
	}
	defer idx.Close()
	if d.opts.indexSanityOnly {
		return d.sanityCheck(path, idx.SanityCheck())
	}
	n := validEntries(idx.Entries(), func(i int) bool {
		return idx.Entry(i) == logstore.TimestampOffset{Timestamp: 0, Offset: seg.base}
	}, func(i int) bool { return idx.Entry(i).Offset == seg.base })
	if n == 0 {
		return nil // Kafka prints nothing for an empty time index
	}
	logFile, logSize, err := openForRead(seg.file(logstore.LogFileSuffix))
	if err != nil {
		return fmt.Errorf("open the segment's log to check the index against: %w", err)
	}
	defer logFile.Close()

	cursor := batchCursor{f: logFile, size: logSize}
	var mismatches, outOfOrder, notFound []problem
	prev := logstore.NoTimestamp
	for i := 0; i < n; i++ {
		e := idx.Entry(i)
		pos, h, found, err := cursor.find(e.Offset)
		switch {
		case err != nil:
			notFound = append(notFound, problem{a: e.Offset, b: -1, note: err.Error()})
		case !found:
			notFound = append(notFound, problem{a: e.Offset, b: -1})
		case h.LastOffset() != e.Offset:
			notFound = append(notFound, problem{a: e.Offset, b: h.LastOffset()})
		default:
			maxTimestamp, err := maxRecordTimestamp(logFile, pos, h)
			if err != nil {
				mismatches = append(mismatches, problem{a: e.Timestamp, b: logstore.NoTimestamp, note: err.Error()})
			} else if maxTimestamp != e.Timestamp {
				mismatches = append(mismatches, problem{a: e.Timestamp, b: maxTimestamp})
			}
			if prev >= e.Timestamp {
				outOfOrder = append(outOfOrder, problem{a: e.Timestamp, b: prev})
			}
		}
		if !d.opts.verifyIndexOnly {
			fmt.Fprintf(d.out, "timestamp: %d offset: %d\n", e.Timestamp, e.Offset)
		}
		prev = e.Timestamp
	}
	abs := absPath(path)
	if len(mismatches) > 0 {
		d.timestampMismatch = append(d.timestampMismatch, fileProblems{abs, mismatches})
	}
	if len(outOfOrder) > 0 {
		d.outOfOrderTime = append(d.outOfOrderTime, fileProblems{abs, outOfOrder})
	}
	if len(notFound) > 0 {
		d.offsetNotFound = append(d.offsetNotFound, fileProblems{abs, notFound})
	}
	return nil
}

// sanityCheck reports the result of --index-sanity-check. A failure is a
// failure to dump the file (exit status 1), as Kafka's tool throws.
func (d *dumper) sanityCheck(path string, err error) error {
	if err != nil {
		return fmt.Errorf("failed the sanity check: %w", err)
	}
	fmt.Fprintf(d.out, "%s passed sanity check.\n", path)
	return nil
}

// validEntries is the number of entries before the zero-filled tail of an
// index that was never trimmed: the active segment's index is preallocated
// (10 MiB by default) and only trimmed when the segment rolls or the broker
// shuts down cleanly, so after a crash it is read back with its unwritten,
// zeroed entries. As in Kafka's tool, an entry after the first whose offset
// is the base offset starts the tail: no real entry repeats the offset of
// the segment's first batch. Kafka prints a zeroed first entry as if it were
// real; here it also starts the tail when the second entry is zeroed too
// (zeroAt), which no real index has.
func validEntries(entries int, zeroAt, baseOffsetAt func(i int) bool) int {
	if entries >= 2 && zeroAt(0) && zeroAt(1) {
		return 0
	}
	for i := 1; i < entries; i++ {
		if baseOffsetAt(i) {
			return i
		}
	}
	return entries
}

// checkRegularFile gives the error for an index path that is missing or not
// a file before logstore sees it: logstore would create a missing index.
func checkRegularFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

// readBatchHeader decodes the header of the batch at pos of a log file of
// size bytes, checking that it is a magic-2 batch that fits in the file. The
// errors describe what is at pos for a person reading the dump.
func readBatchHeader(f io.ReaderAt, size, pos int64) (logstore.BatchHeader, error) {
	if pos < 0 || pos >= size {
		return logstore.BatchHeader{}, fmt.Errorf("position %d is outside the log (%d bytes)", pos, size)
	}
	if pos+logstore.BatchHeaderSize > size {
		return logstore.BatchHeader{}, fmt.Errorf("%d bytes at position %d, fewer than a batch header", size-pos, pos)
	}
	var buf [logstore.BatchHeaderSize]byte
	if _, err := f.ReadAt(buf[:], pos); err != nil {
		return logstore.BatchHeader{}, fmt.Errorf("read the log at position %d: %w", pos, err)
	}
	h, err := logstore.ParseBatchHeader(buf[:])
	switch {
	case err != nil && h.Magic != logstore.CurrentMagic:
		return h, fmt.Errorf("no batch at position %d: magic %d", pos, h.Magic)
	case err != nil:
		return h, fmt.Errorf("no batch at position %d: length %d", pos, h.BatchLength)
	case pos+h.Size() > size:
		return h, fmt.Errorf("the batch at position %d (%d bytes) runs past the end of the log (%d bytes)", pos, h.Size(), size)
	}
	return h, nil
}

// batchCursor finds, for an offset, the first batch of a log whose last
// offset is at or above it, reading batch headers forward from where the
// previous search stopped. Searches for increasing offsets therefore read
// the log once; a smaller offset than the previous one starts again at the
// beginning.
type batchCursor struct {
	f    io.ReaderAt
	size int64

	target int64 // the previous search's offset
	next   int64 // position of the first batch not read yet
	cur    logstore.BatchHeader
	curPos int64
	have   bool // cur holds the last batch read
}

func (c *batchCursor) find(offset int64) (pos int64, h logstore.BatchHeader, found bool, err error) {
	if offset < c.target {
		c.next, c.have = 0, false
	}
	c.target = offset
	// Every batch before cur ends below an earlier, smaller target.
	if c.have && c.cur.LastOffset() >= offset {
		return c.curPos, c.cur, true, nil
	}
	for c.next < c.size {
		h, err := readBatchHeader(c.f, c.size, c.next)
		if err != nil {
			return 0, h, false, err
		}
		c.cur, c.curPos, c.have = h, c.next, true
		c.next += h.Size()
		if h.LastOffset() >= offset {
			return c.curPos, h, true, nil
		}
	}
	return 0, logstore.BatchHeader{}, false, nil
}

// maxRecordTimestamp is the largest timestamp among the records of the batch
// at pos, which readBatchHeader has checked fits in the file: what the time
// index entry for the batch must hold. Under LogAppendTime every record has
// the batch's max timestamp.
func maxRecordTimestamp(f io.ReaderAt, pos int64, h logstore.BatchHeader) (int64, error) {
	batch := make([]byte, h.Size())
	if _, err := f.ReadAt(batch, pos); err != nil {
		return 0, fmt.Errorf("read the batch at position %d: %w", pos, err)
	}
	it, err := logstore.NewRecordIterator(batch)
	if err != nil {
		return 0, fmt.Errorf("records of the batch at position %d: %w", pos, err)
	}
	maxTimestamp := logstore.NoTimestamp
	for it.Next() {
		ts := h.BaseTimestamp + it.Record().TimestampDelta
		if h.IsLogAppendTime() {
			ts = h.MaxTimestamp
		}
		maxTimestamp = max(maxTimestamp, ts)
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("records of the batch at position %d: %w", pos, err)
	}
	return maxTimestamp, nil
}

// readOnlyFS lets logstore's index code open an index without any way to
// change it: a dump must never create, grow or write an index, must work on
// files it may not write, and must not disturb a broker using them.
// logstore opens an index with O_CREATE|O_EXCL first and reopens it after
// EEXIST; here the first open reports EEXIST for an existing file and the
// second is read-only.
type readOnlyFS struct{ logstore.OSFS }

var errReadOnly = errors.New("dump-log opens files read-only")

func (readOnlyFS) OpenFile(name string, flag int, perm fs.FileMode) (logstore.File, error) {
	if flag&os.O_CREATE != 0 {
		if _, err := os.Stat(name); err != nil {
			return nil, err
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err // a typed-nil *os.File must not become a non-nil File
	}
	return f, nil
}

func (readOnlyFS) Remove(string) error                { return errReadOnly }
func (readOnlyFS) RemoveAll(string) error             { return errReadOnly }
func (readOnlyFS) Rename(string, string) error        { return errReadOnly }
func (readOnlyFS) MkdirAll(string, fs.FileMode) error { return errReadOnly }
func (readOnlyFS) SyncDir(string) error               { return errReadOnly }
