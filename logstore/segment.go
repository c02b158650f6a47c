package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File name suffixes inside a partition folder (DESIGN.md section 6).
const (
	LogFileSuffix       = ".log"
	IndexFileSuffix     = ".index"
	TimeIndexFileSuffix = ".timeindex"
	// DeletedFileSuffix marks segment files removed by retention or
	// truncation, kept for FileDeleteDelay so that fetches already sending
	// from them finish; leftovers are removed when the log is opened.
	DeletedFileSuffix = ".deleted"
)

// SegmentFileName is a segment file's path: the base offset as 20 zero-padded
// digits, then the suffix.
func SegmentFileName(dir string, baseOffset int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", baseOffset, suffix))
}

// parseSegmentBase returns the base offset of a segment file name with the
// given suffix ("00000000000000000123.log" → 123).
func parseSegmentBase(name, suffix string) (int64, bool) {
	if !strings.HasSuffix(name, suffix) {
		return 0, false
	}
	digits := strings.TrimSuffix(name, suffix)
	if len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

// Region is a byte range of a segment file: what a fetch sends. It stays
// readable after the segment is deleted, since deleted files are only closed
// after FileDeleteDelay. Record bytes in a region may end with a partial
// batch, as Kafka's fetch responses may; clients drop it.
type Region struct {
	File     File
	Position int64
	Size     int64
}

// ReadAll copies the region's bytes into memory (the copying fetch path and
// tests; the zero-copy path hands File, Position and Size to sendfile).
func (r Region) ReadAll() ([]byte, error) {
	if r.Size == 0 {
		return nil, nil
	}
	b := make([]byte, r.Size)
	n, err := r.File.ReadAt(b, r.Position)
	if n == len(b) {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return b[:n], fmt.Errorf("read %s at %d: %w", r.File.Name(), r.Position, err)
}

// Segment is one file of a partition's log and its two sparse indexes.
//
// Not safe for concurrent use: the owning Log's lock protects it. Methods
// that only read (read, translateOffset, findOffsetByTimestamp) run under
// the Log's read lock and may run concurrently with each other.
type Segment struct {
	baseOffset         int64 // immutable
	dir                string
	fs                 FS
	indexIntervalBytes int
	maxIndexSize       int

	log File
	// logPath is the .log file's current name: renameWithSuffix changes it,
	// while log.Name() keeps the name the file was opened with.
	logPath     string
	offsetIndex *OffsetIndex
	timeIndex   *TimeIndex

	// size is the number of valid bytes in the .log file.
	size int64
	// nextOffset is the offset after the last batch in the segment, or the
	// base offset when the segment is empty.
	nextOffset int64
	// bytesSinceLastIndexEntry counts log bytes appended since the last
	// sparse index entry; an entry is added once it passes
	// indexIntervalBytes.
	bytesSinceLastIndexEntry int
	// maxTimestampSoFar and offsetOfMaxTimestampSoFar track the largest
	// batch max timestamp in the segment and that batch's last offset: the
	// time index's next entry, and what retention by time reads.
	maxTimestampSoFar         int64
	offsetOfMaxTimestampSoFar int64
	// rollingBasedTimestamp is the max timestamp of the segment's first
	// batch (NoTimestamp until there is one): segment.ms counts from it.
	rollingBasedTimestamp int64
	// created is when this process created or opened the segment, the
	// fallback for roll by time when batches carry no timestamps.
	created time.Time
	// rollJitter is subtracted from segment.ms for this segment.
	rollJitter time.Duration
}

// createSegment makes a new, empty segment, replacing any files of the same
// base offset left behind (a log truncated fully and restarted there).
func createSegment(fsys FS, dir string, baseOffset int64, cfg *LogConfig, now time.Time) (*Segment, error) {
	for _, suffix := range []string{IndexFileSuffix, TimeIndexFileSuffix} {
		if err := fsys.Remove(SegmentFileName(dir, baseOffset, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, storageErr("remove stale index", err)
		}
	}
	logFile, err := fsys.OpenFile(SegmentFileName(dir, baseOffset, LogFileSuffix), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, storageErr("create segment", err)
	}
	s := newSegment(fsys, dir, baseOffset, cfg, logFile, now)
	if err := s.openIndexes(cfg.MaxIndexSize); err != nil {
		logFile.Close()
		return nil, err
	}
	return s, nil
}

func newSegment(fsys FS, dir string, baseOffset int64, cfg *LogConfig, logFile File, now time.Time) *Segment {
	return &Segment{
		baseOffset:                baseOffset,
		dir:                       dir,
		fs:                        fsys,
		indexIntervalBytes:        cfg.IndexIntervalBytes,
		maxIndexSize:              cfg.MaxIndexSize,
		log:                       logFile,
		logPath:                   logFile.Name(),
		nextOffset:                baseOffset,
		maxTimestampSoFar:         NoTimestamp,
		offsetOfMaxTimestampSoFar: baseOffset,
		rollingBasedTimestamp:     NoTimestamp,
		created:                   now,
	}
}

func (s *Segment) openIndexes(maxIndexSize int) error {
	var err error
	s.offsetIndex, err = OpenOffsetIndex(s.fs, SegmentFileName(s.dir, s.baseOffset, IndexFileSuffix), s.baseOffset, maxIndexSize)
	if err != nil {
		return fmt.Errorf("open offset index of segment %d: %w", s.baseOffset, err)
	}
	s.timeIndex, err = OpenTimeIndex(s.fs, SegmentFileName(s.dir, s.baseOffset, TimeIndexFileSuffix), s.baseOffset, maxIndexSize)
	if err != nil {
		s.offsetIndex.Close()
		return fmt.Errorf("open time index of segment %d: %w", s.baseOffset, err)
	}
	return nil
}

// openSegment opens an existing segment. When an index file is missing, has
// the wrong size or fails its sanity check, both indexes are recreated empty
// and needsRecovery is true: the caller must run recover, which rebuilds them
// from the log. Otherwise the tail of the log after the last index entry is
// scanned to find the next offset and the largest timestamp.
func openSegment(fsys FS, dir string, baseOffset int64, cfg *LogConfig, now time.Time) (s *Segment, needsRecovery bool, err error) {
	logFile, err := fsys.OpenFile(SegmentFileName(dir, baseOffset, LogFileSuffix), os.O_RDWR, 0o644)
	if err != nil {
		return nil, false, storageErr("open segment", err)
	}
	info, err := logFile.Stat()
	if err != nil {
		logFile.Close()
		return nil, false, storageErr("stat segment", err)
	}
	s = newSegment(fsys, dir, baseOffset, cfg, logFile, now)
	s.size = info.Size()

	indexesOK := true
	for _, suffix := range []string{IndexFileSuffix, TimeIndexFileSuffix} {
		if _, err := fsys.Stat(SegmentFileName(dir, baseOffset, suffix)); err != nil {
			indexesOK = false
		}
	}
	if indexesOK {
		err = s.openIndexes(cfg.MaxIndexSize)
		if err == nil {
			err = errors.Join(s.offsetIndex.SanityCheck(), s.timeIndex.SanityCheck())
			if err != nil {
				s.offsetIndex.Close()
				s.timeIndex.Close()
			}
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			logFile.Close()
			return nil, false, err
		}
		indexesOK = err == nil
	}
	if !indexesOK {
		for _, suffix := range []string{IndexFileSuffix, TimeIndexFileSuffix} {
			if err := fsys.Remove(SegmentFileName(dir, baseOffset, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				logFile.Close()
				return nil, false, storageErr("remove corrupt index", err)
			}
		}
		if err := s.openIndexes(cfg.MaxIndexSize); err != nil {
			logFile.Close()
			return nil, false, err
		}
		return s, true, nil
	}
	if err := s.loadTail(); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return s, true, nil
		}
		s.close()
		return nil, false, err
	}
	return s, false, nil
}

// loadTail scans the batches after the last index entries to learn the
// segment's next offset and largest timestamp, and reads the first batch for
// the roll-by-time clock. Batches are not checksummed here: a segment whose
// tail is damaged is found by recovery, which runs on every segment after the
// recovery point.
func (s *Segment) loadTail() error {
	lastTime := s.timeIndex.LastEntry()
	if lastTime.Timestamp != NoTimestamp {
		s.maxTimestampSoFar = lastTime.Timestamp
		s.offsetOfMaxTimestampSoFar = lastTime.Offset
	}
	start := s.offsetIndex.Lookup(lastTime.Offset).Position
	if s.offsetIndex.Entries() > 0 && lastTime.Timestamp == NoTimestamp {
		start = 0
	}
	if s.size > 0 {
		first, err := s.readHeaderAt(0)
		if err != nil {
			return err
		}
		s.rollingBasedTimestamp = first.MaxTimestamp
	}
	return s.scanHeaders(int64(start), func(pos int64, h BatchHeader) bool {
		s.nextOffset = h.NextOffset()
		s.observeTimestamp(h)
		return true
	})
}

func (s *Segment) observeTimestamp(h BatchHeader) {
	if h.MaxTimestamp > s.maxTimestampSoFar {
		s.maxTimestampSoFar = h.MaxTimestamp
		s.offsetOfMaxTimestampSoFar = h.LastOffset()
	}
}

// readHeaderAt decodes the header of the batch at pos, checking that the
// whole batch lies inside the segment's valid bytes.
func (s *Segment) readHeaderAt(pos int64) (BatchHeader, error) {
	var buf [BatchHeaderSize]byte
	if pos+BatchHeaderSize > s.size {
		return BatchHeader{}, Corruptf("%s: batch header at position %d runs past the end (%d bytes)", s.log.Name(), pos, s.size)
	}
	if _, err := s.log.ReadAt(buf[:], pos); err != nil {
		return BatchHeader{}, storageErr("read batch header", err)
	}
	h, err := ParseBatchHeader(buf[:])
	if err != nil {
		return h, Corruptf("%s at position %d: %w", s.log.Name(), pos, err)
	}
	if pos+h.Size() > s.size {
		return h, Corruptf("%s: batch at position %d has length %d, past the end (%d bytes)", s.log.Name(), pos, h.BatchLength, s.size)
	}
	return h, nil
}

// scanHeaders calls fn with each batch header from position start to the end
// of the segment, until fn returns false.
func (s *Segment) scanHeaders(start int64, fn func(pos int64, h BatchHeader) bool) error {
	for pos := start; pos < s.size; {
		h, err := s.readHeaderAt(pos)
		if err != nil {
			return err
		}
		if !fn(pos, h) {
			return nil
		}
		pos += h.Size()
	}
	return nil
}

// BaseOffset is the offset of the segment's first possible record.
func (s *Segment) BaseOffset() int64 { return s.baseOffset }

// Size is the number of bytes in the segment's .log file.
func (s *Segment) Size() int64 { return s.size }

// largestTimestamp is what retention by time compares: the largest batch
// timestamp, or the file's modification time when no batch has one.
func (s *Segment) largestTimestamp() int64 {
	if s.maxTimestampSoFar >= 0 {
		return s.maxTimestampSoFar
	}
	if info, err := s.log.Stat(); err == nil {
		return info.ModTime().UnixMilli()
	}
	return NoTimestamp
}

// canConvertToRelativeOffset reports whether offset fits the 4-byte
// relative offsets of this segment's indexes.
func (s *Segment) canConvertToRelativeOffset(offset int64) bool {
	delta := offset - s.baseOffset
	return delta >= 0 && delta <= math.MaxInt32
}

// append writes already-validated batches holding offsets
// [firstOffset, lastOffset] at the end of the segment and adds index
// entries. maxTimestamp and offsetOfMaxTimestamp describe the batches.
func (s *Segment) append(batches []byte, lastOffset, maxTimestamp, offsetOfMaxTimestamp int64) error {
	if err := s.writeAt(batches, s.size, 0); err != nil {
		return err
	}
	return s.appended(int64(len(batches)), lastOffset, maxTimestamp, offsetOfMaxTimestamp)
}

// writeAt writes b[from:] at pos+from, past the segment's end: nothing of
// it is part of the segment until appended counts it. A failed write is
// cut back off the file (best effort: recovery truncates a torn tail too).
func (s *Segment) writeAt(b []byte, pos int64, from int) error {
	if pos+int64(len(b)) > math.MaxInt32 {
		return fmt.Errorf("logstore: segment %d would pass 2 GiB", s.baseOffset)
	}
	if n, err := s.log.WriteAt(b[from:], pos+int64(from)); err != nil {
		if n > 0 {
			_ = s.log.Truncate(pos)
		}
		return storageErr("append to segment", err)
	}
	return nil
}

// appended makes the n bytes written at the segment's end part of it:
// size, next offset, timestamps and the sparse indexes.
func (s *Segment) appended(n, lastOffset, maxTimestamp, offsetOfMaxTimestamp int64) error {
	pos := s.size
	s.size += n
	s.nextOffset = lastOffset + 1
	if s.rollingBasedTimestamp == NoTimestamp {
		s.rollingBasedTimestamp = maxTimestamp
	}
	if maxTimestamp > s.maxTimestampSoFar {
		s.maxTimestampSoFar = maxTimestamp
		s.offsetOfMaxTimestampSoFar = offsetOfMaxTimestamp
	}
	if s.bytesSinceLastIndexEntry > s.indexIntervalBytes {
		if err := s.offsetIndex.Append(lastOffset, int32(pos)); err != nil {
			return fmt.Errorf("index segment %d: %w", s.baseOffset, err)
		}
		if err := s.timeIndex.MaybeAppend(s.maxTimestampSoFar, s.offsetOfMaxTimestampSoFar, false); err != nil {
			return fmt.Errorf("time index segment %d: %w", s.baseOffset, err)
		}
		s.bytesSinceLastIndexEntry = 0
	}
	s.bytesSinceLastIndexEntry += int(n)
	return nil
}

// translateOffset finds the first batch whose last offset is at least
// offset, starting the scan at the sparse index's entry below it. found is
// false when every batch in the segment ends before offset.
func (s *Segment) translateOffset(offset int64) (pos int64, h BatchHeader, found bool, err error) {
	start := int64(s.offsetIndex.Lookup(offset).Position)
	err = s.scanHeaders(start, func(p int64, bh BatchHeader) bool {
		if bh.LastOffset() >= offset {
			pos, h, found = p, bh, true
			return false
		}
		return true
	})
	return pos, h, found, err
}

// read returns the region holding the batch that contains startOffset and
// the batches after it, up to maxSize bytes and never past maxPosition. With
// minOneMessage the first batch is returned whole even if it is larger than
// maxSize, so that a consumer can always make progress. found is false when
// the segment has no batch at or after startOffset.
func (s *Segment) read(startOffset int64, maxSize int64, maxPosition int64, minOneMessage bool) (r Region, firstBatch BatchHeader, found bool, err error) {
	pos, h, found, err := s.translateOffset(startOffset)
	if err != nil || !found {
		return Region{}, h, false, err
	}
	if maxPosition > s.size {
		maxPosition = s.size
	}
	if pos >= maxPosition {
		return Region{File: s.log, Position: pos}, h, true, nil
	}
	adjusted := maxSize
	if minOneMessage && h.Size() > adjusted {
		adjusted = h.Size()
	}
	size := min(maxPosition-pos, adjusted)
	return Region{File: s.log, Position: pos, Size: size}, h, true, nil
}

// positionOf returns the file position at which offset starts: the position
// of the batch containing it, or the segment's size when no batch in the
// segment reaches it. The high watermark is turned into a read bound this way.
func (s *Segment) positionOf(offset int64) (int64, error) {
	pos, _, found, err := s.translateOffset(offset)
	if err != nil {
		return 0, err
	}
	if !found {
		return s.size, nil
	}
	return pos, nil
}

// findOffsetByTimestamp returns the first record at or after startingOffset
// whose timestamp is at least ts. found is false when none is in the segment.
func (s *Segment) findOffsetByTimestamp(ts, startingOffset int64) (TimestampOffset, bool, error) {
	entry := s.timeIndex.Lookup(ts)
	from := max(entry.Offset, startingOffset)
	start := int64(s.offsetIndex.Lookup(from).Position)
	var (
		result TimestampOffset
		found  bool
		rerr   error
	)
	err := s.scanHeaders(start, func(pos int64, h BatchHeader) bool {
		if h.MaxTimestamp < ts || h.LastOffset() < startingOffset {
			return true
		}
		batch := make([]byte, h.Size())
		if _, err := s.log.ReadAt(batch, pos); err != nil {
			rerr = storageErr("read batch", err)
			return false
		}
		it, err := NewRecordIterator(batch)
		if err != nil {
			rerr = err
			return false
		}
		for it.Next() {
			rec := it.Record()
			offset := h.BaseOffset + int64(rec.OffsetDelta)
			timestamp := h.BaseTimestamp + rec.TimestampDelta
			if h.IsLogAppendTime() {
				timestamp = h.MaxTimestamp
			}
			if timestamp >= ts && offset >= startingOffset {
				result, found = TimestampOffset{Timestamp: timestamp, Offset: offset}, true
				return false
			}
		}
		if err := it.Err(); err != nil {
			rerr = err
			return false
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	return result, found, err
}

// recover re-reads the whole segment batch by batch, checking each batch's
// length, magic and CRC, rebuilds both indexes, and truncates the file at the
// first batch that is torn or corrupt. onBatch sees every valid batch (the
// log rebuilds producer state with it). It returns the number of bytes
// truncated. The indexes are left at their preallocated size; the log trims
// them when the segment is not the active one.
//
// Should the rebuilt indexes not fit (segment.index.bytes was lowered since
// the segment was written), later entries are left out: a sparser index only
// makes lookups scan further, it never makes them wrong.
//
// The index entries are buffered and written in a few large writes rather
// than one pwrite each (see index.go), all of them before recover returns.
func (s *Segment) recover(onBatch func(BatchHeader)) (truncated int64, err error) {
	indexes := []*indexFile{&s.offsetIndex.indexFile, &s.timeIndex.indexFile}
	for _, idx := range indexes {
		if err := idx.Reset(); err != nil {
			return 0, err
		}
		if err := idx.Resize(s.maxIndexSize); err != nil {
			return 0, err
		}
	}
	for _, idx := range indexes {
		idx.bufferAppends()
	}
	defer func() {
		err = errors.Join(err, s.offsetIndex.endBufferedAppends(), s.timeIndex.endBufferedAppends())
	}()
	s.nextOffset = s.baseOffset
	s.maxTimestampSoFar = NoTimestamp
	s.offsetOfMaxTimestampSoFar = s.baseOffset
	s.rollingBasedTimestamp = NoTimestamp
	s.bytesSinceLastIndexEntry = 0

	r := newBatchReader(s.log, s.size)
	var pos int64
	for pos < s.size {
		batch, err := r.next(pos)
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				break
			}
			return 0, err
		}
		h, err := CheckBatch(batch)
		if err != nil || h.BaseOffset < s.nextOffset || !s.canConvertToRelativeOffset(h.LastOffset()) {
			break
		}
		if s.rollingBasedTimestamp == NoTimestamp {
			s.rollingBasedTimestamp = h.MaxTimestamp
		}
		s.observeTimestamp(h)
		if s.bytesSinceLastIndexEntry > s.indexIntervalBytes && !s.offsetIndex.IsFull() && !s.timeIndex.IsFull() {
			if err := s.offsetIndex.Append(h.LastOffset(), int32(pos)); err != nil {
				return 0, fmt.Errorf("rebuild offset index of segment %d: %w", s.baseOffset, err)
			}
			if err := s.timeIndex.MaybeAppend(s.maxTimestampSoFar, s.offsetOfMaxTimestampSoFar, false); err != nil {
				return 0, fmt.Errorf("rebuild time index of segment %d: %w", s.baseOffset, err)
			}
			s.bytesSinceLastIndexEntry = 0
		}
		s.bytesSinceLastIndexEntry += len(batch)
		s.nextOffset = h.NextOffset()
		if onBatch != nil {
			onBatch(h)
		}
		pos += int64(len(batch))
	}
	truncated = s.size - pos
	if truncated > 0 {
		if err := s.log.Truncate(pos); err != nil {
			return 0, storageErr("truncate corrupt tail", err)
		}
		s.size = pos
	}
	return truncated, nil
}

// truncateTo removes every batch whose last offset is at least offset: the
// batch containing offset goes whole, so the segment ends on a batch
// boundary. It returns the number of bytes removed.
func (s *Segment) truncateTo(offset int64) (int64, error) {
	pos, _, found, err := s.translateOffset(offset)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, nil
	}
	if err := s.offsetIndex.TruncateTo(offset); err != nil {
		return 0, err
	}
	if err := s.timeIndex.TruncateTo(offset); err != nil {
		return 0, err
	}
	if err := s.log.Truncate(pos); err != nil {
		return 0, storageErr("truncate segment", err)
	}
	removed := s.size - pos
	s.size = pos
	s.bytesSinceLastIndexEntry = 0
	s.nextOffset = s.baseOffset
	s.maxTimestampSoFar = NoTimestamp
	s.offsetOfMaxTimestampSoFar = s.baseOffset
	if s.size == 0 {
		s.rollingBasedTimestamp = NoTimestamp
	}
	// Re-learn the next offset and largest timestamp from what is left.
	if err := s.loadTail(); err != nil {
		return removed, err
	}
	return removed, nil
}

// onBecomeInactive runs when a newer segment takes over appends: the time
// index gets its final entry (the segment's largest timestamp, which
// retention by time reads back after a restart) and both index files are
// trimmed to their entries.
func (s *Segment) onBecomeInactive() error {
	if s.maxTimestampSoFar != NoTimestamp {
		if err := s.timeIndex.MaybeAppend(s.maxTimestampSoFar, s.offsetOfMaxTimestampSoFar, true); err != nil {
			return err
		}
	}
	if err := s.offsetIndex.TrimToValidSize(); err != nil {
		return err
	}
	return s.timeIndex.TrimToValidSize()
}

// makeAppendable grows the indexes back to their preallocated size: the
// segment becomes the active one again after a restart or a truncation. An
// index holding more entries than maxIndexSize has room for
// (segment.index.bytes was lowered since they were written) keeps them all,
// and the time index keeps the slot for the entry written when the segment
// rolls; both are then full, so the next append rolls a new segment.
func (s *Segment) makeAppendable(maxIndexSize int) error {
	if err := s.offsetIndex.Resize(max(maxIndexSize, s.offsetIndex.SizeInBytes())); err != nil {
		return err
	}
	return s.timeIndex.Resize(max(maxIndexSize, s.timeIndex.SizeInBytes()+timeIndexEntrySize))
}

// flush fsyncs the log file and both indexes.
func (s *Segment) flush() error {
	if err := s.log.Sync(); err != nil {
		return storageErr("fsync segment", err)
	}
	if err := s.offsetIndex.Flush(); err != nil {
		return err
	}
	return s.timeIndex.Flush()
}

// renameWithSuffix renames the segment's three files, appending suffix
// (".deleted") to each.
func (s *Segment) renameWithSuffix(suffix string) error {
	if err := s.fs.Rename(s.logPath, s.logPath+suffix); err != nil {
		return storageErr("rename segment", err)
	}
	s.logPath += suffix
	if err := s.offsetIndex.RenameTo(s.offsetIndex.Path() + suffix); err != nil {
		return err
	}
	return s.timeIndex.RenameTo(s.timeIndex.Path() + suffix)
}

// close closes the files. Calling it twice is harmless.
func (s *Segment) close() error {
	var errs []error
	if s.log != nil {
		errs = append(errs, s.log.Close())
		s.log = closedFile{name: s.log.Name()}
	}
	if s.offsetIndex != nil {
		errs = append(errs, s.offsetIndex.Close())
	}
	if s.timeIndex != nil {
		errs = append(errs, s.timeIndex.Close())
	}
	return errors.Join(errs...)
}

// deleteFiles closes the segment and removes its files, whatever their
// current names (plain or with the .deleted suffix).
func (s *Segment) deleteFiles() error {
	paths := []string{s.logPath, s.offsetIndex.Path(), s.timeIndex.Path()}
	err := s.close()
	for _, p := range paths {
		if rerr := s.fs.Remove(p); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, storageErr("remove segment file", rerr))
		}
	}
	return err
}

// closedFile stands in for a closed segment file so that a late reader gets
// ErrClosed rather than a nil dereference.
type closedFile struct{ name string }

func (c closedFile) ReadAt([]byte, int64) (int, error)  { return 0, ErrClosed }
func (c closedFile) WriteAt([]byte, int64) (int, error) { return 0, ErrClosed }
func (c closedFile) Write([]byte) (int, error)          { return 0, ErrClosed }
func (c closedFile) Read([]byte) (int, error)           { return 0, ErrClosed }
func (c closedFile) Close() error                       { return nil }
func (c closedFile) Truncate(int64) error               { return ErrClosed }
func (c closedFile) Sync() error                        { return ErrClosed }
func (c closedFile) Stat() (fs.FileInfo, error)         { return nil, ErrClosed }
func (c closedFile) Fd() uintptr                        { return ^uintptr(0) }
func (c closedFile) Name() string                       { return c.name }
