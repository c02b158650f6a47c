package logstore

// Log compaction, as Kafka 2.8's LogCleaner does it.
//
// A compacted log (cleanup.policy containing "compact") is split by the
// cleaner's checkpoint, the first dirty offset, into a clean part (already
// compacted: each key appears once, at its latest offset as of the last
// cleaning) and a dirty part. A cleaning:
//
//  1. picks the log whose dirty part is the largest share of its cleanable
//     bytes (the "filthiest"), if that share passes
//     min.cleanable.dirty.ratio, or any log whose oldest dirty segment is
//     older than max.compaction.lag.ms;
//  2. reads the dirty part, from the first dirty offset up to the first
//     uncleanable offset (the active segment, the first segment newer than
//     min.compaction.lag.ms, and, as a departure, the high watermark), into
//     a map from key to the latest offset of that key; the map is bounded by
//     log.cleaner.dedupe.buffer.size shared by the cleaner threads, and when
//     full the cleaning stops at the last batch it mapped;
//  3. rewrites every segment from the start of the log to the end of what
//     it mapped, keeping a record when no later record has its key and,
//     for a tombstone (null value), only while delete.retention.ms has not
//     passed since its segment was last cleaned (Kafka measures this with
//     the segments' last-modified times, and so do we); records without a
//     key are dropped;
//  4. writes each group of adjacent segments that fits in one segment
//     (segment.bytes and segment.index.bytes: Kafka's groupSegmentsBySize)
//     as a new segment under temporary names (*.cleaned), renames it to
//     *.swap, then, under the log's lock, puts it in the log in place of
//     the group, renames the old segments to *.deleted (removed after
//     file.delete.delay.ms, so that fetches already sending from them
//     finish) and renames the new one to its final name;
//  5. moves the first dirty offset to the end of what it mapped and writes
//     it to cleaner-offset-checkpoint.
//
// A crash at any step leaves a valid log: *.cleaned files are removed at
// load; a *.swap segment is complete (it was fsynced before the rename), so
// load finishes the swap, removing the old segments its offsets cover and
// giving it its final name, as Kafka's completeSwapOperations does.
//
// Batches are rewritten keeping each retained record's offset, timestamp,
// attributes and headers, and the batch's base offset, last offset, leader
// epoch, producer fields and codec (a compressed batch is decompressed,
// filtered and recompressed with its codec). A batch whose records are all
// kept is copied byte for byte. A batch whose records all go disappears,
// except the last batch of an idempotent producer, which is kept as an
// empty batch (header only) so that the producer's sequence numbers survive
// a restart, as Kafka does. Control batches are copied as they are
// (transactions are not supported yet).
//
// Records are read from old segments without the log's lock: only segments
// below the active one are cleaned, and those change only by retention and
// truncation, which the swap detects (the group must still be in the log,
// unchanged) and then abandons the cleaning.

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"
)

// Suffixes of a cleaning's temporary segment files.
const (
	CleanedFileSuffix = ".cleaned"
	SwapFileSuffix    = ".swap"
)

// errCleaningAborted reports that the log changed under a cleaning
// (truncation, retention, closing): nothing was swapped in.
var errCleaningAborted = errors.New("logstore: log changed during cleaning")

// cleanable is the part of a log a cleaning may touch, and how dirty it is.
type cleanable struct {
	// firstDirty is where the dirty part starts: the cleaner checkpoint,
	// brought within [log start offset, first uncleanable offset].
	firstDirty int64
	// firstUncleanable is where cleaning must stop.
	firstUncleanable int64
	// cleanBytes are the bytes of segments from the log start to
	// firstDirty, cleanableBytes those from firstDirty to firstUncleanable.
	cleanBytes, cleanableBytes int64
	// maxCompactionDelay is how long ago max.compaction.lag.ms passed for
	// the oldest dirty segment; positive means the log must be cleaned now.
	maxCompactionDelay time.Duration
}

// ratio is the dirty ratio: cleanable bytes over all the bytes up to the
// first uncleanable offset.
func (c cleanable) ratio() float64 {
	total := c.cleanBytes + c.cleanableBytes
	if total == 0 {
		return 0
	}
	return float64(c.cleanableBytes) / float64(total)
}

// needsCleaning is Kafka's test for a log to be cleaned: a dirty ratio over
// min.cleanable.dirty.ratio, or max.compaction.lag.ms passed with
// something to clean.
func (c cleanable) needsCleaning(minRatio float64) bool {
	if c.cleanableBytes <= 0 {
		return false
	}
	return c.maxCompactionDelay > 0 || c.ratio() > minRatio
}

// cleanableLocked computes what of the log can be cleaned, given the
// cleaner checkpoint (negative when unknown). The caller holds mu.
func (l *Log) cleanableLocked(checkpoint int64, cfg *LogConfig, now time.Time) cleanable {
	leo := l.logEndOffset.Load()
	firstDirty := checkpoint
	if firstDirty < l.logStartOffset || firstDirty > leo {
		// Unknown, below the log start (retention or DeleteRecords moved
		// it) or past the end (truncation): start from the log start, as
		// Kafka does.
		firstDirty = l.logStartOffset
	}
	// The active segment is never cleaned; neither is anything at or above
	// the high watermark (Kafka 2.8 stops at the first unstable offset,
	// which without transactions bounds nothing; a record not yet
	// replicated may still be truncated, so we leave it alone).
	firstUncleanable := min(l.activeLocked().baseOffset, l.highWatermark.Load())
	active := len(l.segments) - 1
	if cfg.MinCompactionLag > 0 {
		lagBound := now.Add(-cfg.MinCompactionLag).UnixMilli()
		for _, seg := range l.segments[:active] {
			if seg.nextOffset <= firstDirty {
				continue
			}
			if seg.largestTimestamp() > lagBound {
				firstUncleanable = min(firstUncleanable, seg.baseOffset)
				break
			}
		}
	}
	firstDirty = min(firstDirty, max(firstUncleanable, l.logStartOffset))
	c := cleanable{firstDirty: firstDirty, firstUncleanable: firstUncleanable}
	for i, seg := range l.segments {
		next := leo
		if i+1 < len(l.segments) {
			next = l.segments[i+1].baseOffset
		}
		if next <= l.logStartOffset {
			continue
		}
		switch {
		case next <= firstDirty:
			c.cleanBytes += seg.size
		case seg.baseOffset < firstUncleanable && i < active:
			c.cleanableBytes += seg.size
		}
	}
	if cfg.MaxCompactionLag > 0 && cfg.MaxCompactionLag < math.MaxInt64 {
		for _, seg := range l.segments[:active] {
			if seg.nextOffset <= firstDirty || seg.size == 0 {
				continue
			}
			ts := seg.rollingBasedTimestamp
			if ts < 0 {
				ts = seg.largestTimestamp()
			}
			if ts >= 0 {
				c.maxCompactionDelay = now.Sub(time.UnixMilli(ts)) - cfg.MaxCompactionLag
			}
			break
		}
	}
	return c
}

// logToClean is a candidate of the cleaner's selection.
type logToClean struct {
	log      *Log
	c        cleanable
	minRatio float64
}

// selectFilthiest returns the index of the candidate to clean first: among
// those that need cleaning, the one with the highest dirty ratio (Kafka's
// grabFilthiestCompactedLog); -1 when none needs cleaning.
func selectFilthiest(cands []logToClean) int {
	best := -1
	for i, c := range cands {
		if !c.c.needsCleaning(c.minRatio) {
			continue
		}
		if best < 0 || c.c.ratio() > cands[best].c.ratio() {
			best = i
		}
	}
	return best
}

// cleanSegment is what a cleaning needs of a segment, captured under the
// log's lock so that it can read without it.
type cleanSegment struct {
	seg         *Segment
	truncations int64 // the log's truncation count when captured
	file        File
	base        int64
	next        int64 // the next segment's base offset, or the log end offset
	size        int64
	indexBytes  int // the larger of its two indexes' sizes
	modTime     time.Time
}

// CleanResult describes one cleaning.
type CleanResult struct {
	// FirstDirty is the new first dirty offset: the end of what the
	// cleaning mapped.
	FirstDirty int64
	// Segments is the number of old segments replaced, BytesRead and
	// BytesWritten their size and that of their replacements.
	Segments                int
	BytesRead, BytesWritten int64
	// RecordsRemoved counts the records dropped.
	RecordsRemoved int64
}

// cleanHook, when set by a test, runs at each step of a swap; an error
// stops the swap there, as a crash would.
type cleanHook func(step string) error

// Clean compacts the log once: it maps the dirty part from checkpoint (the
// first dirty offset; negative when unknown) and rewrites the segments up
// to what it mapped. mapBytes bounds the key map (each key costs its
// length plus 24 bytes). With nothing to clean it returns the checkpoint
// brought into range and Segments zero. A log that changes under the
// cleaning (truncation, retention) is left alone; the next cleaning starts
// over.
func (l *Log) Clean(checkpoint, mapBytes int64) (CleanResult, error) {
	return l.clean(checkpoint, mapBytes, nil, nil)
}

// clean is Clean with a stop function, polled between batches (the
// manager's shutdown), and a test hook.
func (l *Log) clean(checkpoint, mapBytes int64, stop func() bool, hook cleanHook) (CleanResult, error) {
	stopped := func() bool { return l.closedFlag.Load() || (stop != nil && stop()) }
	now := l.now()
	cfg := l.config.Load()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return CleanResult{}, ErrClosed
	}
	if l.err != nil {
		err := l.err
		l.mu.RUnlock()
		return CleanResult{}, err
	}
	c := l.cleanableLocked(checkpoint, cfg, now)
	var segs []cleanSegment
	leo := l.logEndOffset.Load()
	for i, seg := range l.segments[:len(l.segments)-1] {
		if seg.baseOffset >= c.firstUncleanable {
			break
		}
		next := leo
		if i+1 < len(l.segments) {
			next = l.segments[i+1].baseOffset
		}
		cs := cleanSegment{seg: seg, truncations: l.truncations, file: seg.log, base: seg.baseOffset, next: next, size: seg.size,
			indexBytes: max(seg.offsetIndex.SizeInBytes(), seg.timeIndex.SizeInBytes())}
		segs = append(segs, cs)
	}
	lastOfProducer := map[int64]int64{}
	for id, e := range l.producers.producers {
		if n := len(e.Batches); n > 0 {
			lastOfProducer[id] = e.Batches[n-1].LastOffset
		}
	}
	l.mu.RUnlock()
	res := CleanResult{FirstDirty: c.firstDirty}
	if c.firstDirty >= c.firstUncleanable || len(segs) == 0 {
		return res, nil
	}
	for i := range segs {
		info, err := segs[i].file.Stat()
		if err != nil {
			return res, l.cleaningErr("stat segment", err, segs)
		}
		segs[i].modTime = info.ModTime()
	}

	// Map the dirty part.
	keys := newOffsetMap(mapBytes)
	end, err := l.buildOffsetMap(segs, c.firstDirty, c.firstUncleanable, keys, stopped)
	if errors.Is(err, errCleaningAborted) {
		return res, err
	}
	if err != nil {
		return res, l.cleaningErr("map dirty records", err, segs)
	}
	if end <= c.firstDirty {
		return res, nil
	}
	// Tombstones go once delete.retention.ms has passed since the last
	// cleaned segment was written (Kafka's deleteHorizonMs).
	deleteHorizon := time.Time{}
	for _, s := range segs {
		if s.next <= c.firstDirty {
			deleteHorizon = s.modTime.Add(-cfg.DeleteRetention)
		}
	}
	var toClean []cleanSegment
	for _, s := range segs {
		if s.base < end {
			toClean = append(toClean, s)
		}
	}
	for _, group := range groupSegmentsBySize(toClean, cfg.SegmentBytes, cfg.MaxIndexSize) {
		g, err := l.cleanGroup(group, keys, end, deleteHorizon, lastOfProducer, cfg, now, stopped, hook)
		res.Segments += g.Segments
		res.BytesRead += g.BytesRead
		res.BytesWritten += g.BytesWritten
		res.RecordsRemoved += g.RecordsRemoved
		if err != nil {
			return res, err
		}
	}
	res.FirstDirty = end
	return res, nil
}

// cleaningErr turns a read error into errCleaningAborted when the segments
// left the log meanwhile (their files may have been closed), and into a
// storage error otherwise.
func (l *Log) cleaningErr(what string, err error, segs []cleanSegment) error {
	if !l.stillInLog(segs) {
		return errCleaningAborted
	}
	if errors.Is(err, ErrStorage) || errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("clean %s: %s: %w", l.tp, what, err)
	}
	return storageErr("clean "+l.tp.String()+": "+what, err)
}

// stillInLog reports whether segs are still adjacent segments of the log,
// unchanged since they were captured.
func (l *Log) stillInLog(segs []cleanSegment) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.findGroupLocked(segs)
	return ok && !l.closed
}

// findGroupLocked returns the index in l.segments of segs[0] when segs are
// still there, in order, inactive and of the captured sizes, and the log
// was not truncated since they were captured.
func (l *Log) findGroupLocked(segs []cleanSegment) (int, bool) {
	if len(segs) == 0 {
		return 0, false
	}
	if segs[0].truncations != l.truncations {
		return 0, false
	}
	i := l.floorSegmentLocked(segs[0].base)
	if i+len(segs) >= len(l.segments) { // the active segment is never replaced
		return 0, false
	}
	for j, s := range segs {
		cur := l.segments[i+j]
		if cur != s.seg || cur.size != s.size {
			return 0, false
		}
	}
	return i, true
}

// offsetMap maps each key of the dirty part to its latest offset (Kafka's
// SkimpyOffsetMap, which keys by MD5 hash; here the key itself is kept, so
// that a hash collision cannot remove a record).
type offsetMap struct {
	offsets    map[string]int64
	bytes, max int64
}

// offsetMapEntryOverhead is what a key costs in the map besides its bytes.
const offsetMapEntryOverhead = 24

func newOffsetMap(maxBytes int64) *offsetMap {
	return &offsetMap{offsets: map[string]int64{}, max: max(maxBytes, 1)}
}

// buildOffsetMap reads the batches of segs from firstDirty up to
// firstUncleanable into keys, and returns the offset after the last batch
// mapped. It stops before a batch whose keys do not fit, but maps at least
// one batch.
func (l *Log) buildOffsetMap(segs []cleanSegment, firstDirty, firstUncleanable int64, keys *offsetMap, stopped func() bool) (int64, error) {
	end := firstDirty
	limit := maxDecompressedBytes(l.config.Load())
	for _, s := range segs {
		if s.next <= firstDirty {
			continue
		}
		if s.base >= firstUncleanable {
			break
		}
		full := false
		var ferr error
		err := ScanBatches(s.file, s.size, func(_ int64, batch []byte) bool {
			if stopped() {
				ferr = errCleaningAborted
				return false
			}
			h, err := CheckBatch(batch)
			if err != nil {
				ferr = err
				return false
			}
			if h.LastOffset() < firstDirty {
				return true
			}
			if h.BaseOffset >= firstUncleanable {
				full = true
				return false
			}
			if h.IsControl() {
				end = h.NextOffset()
				return true
			}
			recs, err := decodeRecordsLimit(batch, limit)
			if err != nil {
				ferr = err
				return false
			}
			var need int64
			seen := map[string]bool{}
			for _, r := range recs {
				if r.Key == nil || seen[string(r.Key)] {
					continue
				}
				seen[string(r.Key)] = true
				if _, ok := keys.offsets[string(r.Key)]; !ok {
					need += int64(len(r.Key)) + offsetMapEntryOverhead
				}
			}
			if end > firstDirty && keys.bytes+need > keys.max {
				full = true
				return false
			}
			for _, r := range recs {
				if r.Key == nil {
					continue
				}
				k := string(r.Key)
				if _, ok := keys.offsets[k]; !ok {
					keys.bytes += int64(len(k)) + offsetMapEntryOverhead
				}
				keys.offsets[k] = h.BaseOffset + int64(r.OffsetDelta)
			}
			end = h.NextOffset()
			return true
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return end, err
		}
		if full {
			break
		}
	}
	return end, nil
}

// groupSegmentsBySize splits segs into runs of adjacent segments that fit in
// one segment: total size within segment.bytes, each index within
// segment.index.bytes, and offsets within an int32 of the first base offset
// (Kafka's groupSegmentsBySize). A segment is always in a group, alone if
// it is too large to share one.
func groupSegmentsBySize(segs []cleanSegment, maxSize int64, maxIndexSize int) [][]cleanSegment {
	var groups [][]cleanSegment
	for len(segs) > 0 {
		n := 1
		size, indexBytes := segs[0].size, segs[0].indexBytes
		for n < len(segs) {
			s := segs[n]
			if size+s.size > maxSize || indexBytes+s.indexBytes > maxIndexSize || s.next-1-segs[0].base > math.MaxInt32 {
				break
			}
			size += s.size
			indexBytes += s.indexBytes
			n++
		}
		groups = append(groups, segs[:n])
		segs = segs[n:]
	}
	return groups
}

// cleanGroup writes the retained records of group into a new segment with
// the group's first base offset and swaps it in.
func (l *Log) cleanGroup(group []cleanSegment, keys *offsetMap, mapEnd int64, deleteHorizon time.Time,
	lastOfProducer map[int64]int64, cfg *LogConfig, now time.Time, stopped func() bool, hook cleanHook) (CleanResult, error) {
	var res CleanResult
	base := group[0].base
	cleaned, err := createCleanedSegment(l.fs, l.dir, base, cfg, now)
	if err != nil {
		return res, err
	}
	abandon := func(err error) (CleanResult, error) {
		_ = cleaned.deleteFiles() // leftovers are removed at the next load
		return res, err
	}
	for _, s := range group {
		res.Segments++
		res.BytesRead += s.size
		// Kafka: tombstones stay while the segment's last-modified time is
		// after the delete horizon (in milliseconds).
		retainDeletes := deleteHorizon.IsZero() || s.modTime.UnixMilli() > deleteHorizon.UnixMilli()
		var werr error
		err := ScanBatches(s.file, s.size, func(_ int64, batch []byte) bool {
			if stopped() {
				werr = errCleaningAborted
				return false
			}
			h, err := CheckBatch(batch)
			if err != nil {
				werr = err
				return false
			}
			out, removed, err := filterBatch(batch, h, keys, mapEnd, retainDeletes, lastOfProducer, maxDecompressedBytes(cfg))
			if err != nil {
				werr = err
				return false
			}
			res.RecordsRemoved += removed
			if out == nil {
				return true
			}
			oh, err := ParseBatchHeader(out)
			if err != nil {
				werr = err
				return false
			}
			if err := cleaned.append(out, oh.LastOffset(), oh.MaxTimestamp, oh.LastOffset()); err != nil {
				werr = err
				return false
			}
			res.BytesWritten += int64(len(out))
			return true
		})
		if err == nil {
			err = werr
		}
		if errors.Is(err, errCleaningAborted) {
			return abandon(err)
		}
		if err != nil {
			return abandon(l.cleaningErr("rewrite segment", err, group))
		}
	}
	err = cleaned.onBecomeInactive()
	if err == nil {
		err = cleaned.flush()
	}
	if err == nil {
		// Keep the last-modified time of the group's last segment: the
		// delete horizon of later cleanings is measured from it.
		err = chtimes(l.fs, cleaned.logPath, group[len(group)-1].modTime)
	}
	if err != nil {
		return abandon(err)
	}
	if hook != nil {
		if err := hook("cleaned"); err != nil {
			_ = cleaned.close() // a crash: the files stay behind
			return res, err
		}
	}
	if err := l.swapSegments(cleaned, group, now, hook); err != nil {
		return res, err
	}
	return res, nil
}

// filterBatch returns the batch with the records a cleaning keeps, the
// batch itself when it keeps them all, or nil when the batch goes; removed
// counts the records dropped.
func filterBatch(batch []byte, h BatchHeader, keys *offsetMap, mapEnd int64, retainDeletes bool, lastOfProducer map[int64]int64, limit int) ([]byte, int64, error) {
	if h.IsControl() {
		return batch, 0, nil
	}
	recs, err := decodeRecordsLimit(batch, limit)
	if err != nil {
		return nil, 0, err
	}
	kept := recs[:0:0]
	for _, r := range recs {
		offset := h.BaseOffset + int64(r.OffsetDelta)
		if shouldRetain(r, offset, keys, mapEnd, retainDeletes) {
			kept = append(kept, r)
		}
	}
	removed := int64(len(recs) - len(kept))
	if removed == 0 {
		return batch, 0, nil
	}
	if len(kept) == 0 {
		if !h.HasProducerID() || lastOfProducer[h.ProducerID] != h.LastOffset() {
			return nil, removed, nil
		}
	}
	opts := BuildOptions{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Compression:          h.Compression(),
		BaseTimestamp:        h.BaseTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		Transactional:        h.IsTransactional(),
		LastOffsetDelta:      h.LastOffsetDelta,
	}
	out, err := BuildBatch(opts, kept)
	if err != nil {
		return nil, 0, err
	}
	if h.IsLogAppendTime() {
		SetLogAppendTime(out, h.MaxTimestamp)
	} else if len(kept) == 0 {
		// An empty batch keeps the original's timestamps.
		SetMaxTimestamp(out, h.MaxTimestamp)
	}
	return out, removed, nil
}

// decodeRecordsLimit decodes every record of a batch, bounding the
// decompressed size as the produce path did when the batch was appended.
func decodeRecordsLimit(batch []byte, limit int) ([]Record, error) {
	it, err := NewRecordIteratorLimit(batch, limit)
	if err != nil {
		return nil, err
	}
	var recs []Record
	for it.Next() {
		recs = append(recs, it.Record())
	}
	return recs, it.Err()
}

// shouldRetain is Kafka's shouldRetainRecord: a record past the map is
// kept; a record without a key goes; otherwise it is kept when it is the
// latest of its key, and, for a tombstone, while deletes are retained.
func shouldRetain(r Record, offset int64, keys *offsetMap, mapEnd int64, retainDeletes bool) bool {
	if offset >= mapEnd {
		return true
	}
	if r.Key == nil {
		return false
	}
	if latest, ok := keys.offsets[string(r.Key)]; ok && offset < latest {
		return false
	}
	return r.Value != nil || retainDeletes
}

// createCleanedSegment creates an empty segment whose three files carry the
// .cleaned suffix, replacing leftovers of an earlier attempt.
func createCleanedSegment(fsys FS, dir string, base int64, cfg *LogConfig, now time.Time) (*Segment, error) {
	for _, suffix := range []string{LogFileSuffix, IndexFileSuffix, TimeIndexFileSuffix} {
		if err := fsys.Remove(SegmentFileName(dir, base, suffix) + CleanedFileSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, storageErr("remove stale cleaned file", err)
		}
	}
	logFile, err := fsys.OpenFile(SegmentFileName(dir, base, LogFileSuffix)+CleanedFileSuffix, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, storageErr("create cleaned segment", err)
	}
	s := newSegment(fsys, dir, base, cfg, logFile, now)
	s.offsetIndex, err = OpenOffsetIndex(fsys, SegmentFileName(dir, base, IndexFileSuffix)+CleanedFileSuffix, base, cfg.MaxIndexSize)
	if err != nil {
		logFile.Close()
		return nil, err
	}
	s.timeIndex, err = OpenTimeIndex(fsys, SegmentFileName(dir, base, TimeIndexFileSuffix)+CleanedFileSuffix, base, cfg.MaxIndexSize)
	if err != nil {
		s.offsetIndex.Close()
		logFile.Close()
		return nil, err
	}
	return s, nil
}

// changeSuffix renames the segment's three files from one suffix to another
// ("" for none).
func (s *Segment) changeSuffix(from, to string) error {
	strip := func(p string) string { return p[:len(p)-len(from)] + to }
	if err := s.fs.Rename(s.logPath, strip(s.logPath)); err != nil {
		return storageErr("rename segment", err)
	}
	s.logPath = strip(s.logPath)
	if err := s.offsetIndex.RenameTo(strip(s.offsetIndex.Path())); err != nil {
		return err
	}
	return s.timeIndex.RenameTo(strip(s.timeIndex.Path()))
}

// swapSegments puts cleaned in the log in place of group, under the log's
// lock: cleaned becomes *.swap, the group's segments go to *.deleted (and
// are removed after file.delete.delay.ms), and cleaned takes its final name.
// The directory is fsynced after the first and last renames, so that a
// crash finds either the old segments or a complete *.swap.
func (l *Log) swapSegments(cleaned *Segment, group []cleanSegment, now time.Time, hook cleanHook) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := l.findGroupLocked(group)
	if !ok || l.closed || l.err != nil {
		_ = cleaned.deleteFiles()
		return errCleaningAborted
	}
	step := func(name string) error {
		if hook == nil {
			return nil
		}
		return hook(name)
	}
	fail := func(err error) error {
		// The log itself is unchanged until the segment list is updated;
		// leftovers are finished or removed at the next load.
		_ = cleaned.close()
		return err
	}
	if err := cleaned.changeSuffix(CleanedFileSuffix, SwapFileSuffix); err != nil {
		return fail(err)
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return fail(storageErr("fsync log folder", err))
	}
	if err := step("swap"); err != nil {
		return fail(err)
	}
	segs := make([]*Segment, 0, len(l.segments)-len(group)+1)
	segs = append(segs, l.segments[:i]...)
	segs = append(segs, cleaned)
	segs = append(segs, l.segments[i+len(group):]...)
	l.segments = segs
	for j, s := range group {
		l.scheduleDeleteLocked(s.seg, now)
		if err := step(fmt.Sprintf("deleted-%d", j)); err != nil {
			return err
		}
	}
	if err := cleaned.changeSuffix(SwapFileSuffix, ""); err != nil {
		l.failLocked(err)
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		err = storageErr("fsync log folder", err)
		l.failLocked(err)
		return err
	}
	return step("done")
}

// chtimesFS is implemented by file systems that can set a file's
// modification time (OSFS, and FaultFS over one). The cleaner keeps a
// cleaned segment's time so that tombstone expiry measures from the data's
// age, not from the cleaning.
type chtimesFS interface {
	Chtimes(name string, atime, mtime time.Time) error
}

// chtimes sets name's modification time when fsys can; otherwise the file
// keeps the time it was written.
func chtimes(fsys FS, name string, mtime time.Time) error {
	c, ok := fsys.(chtimesFS)
	if !ok {
		return nil
	}
	if err := c.Chtimes(name, mtime, mtime); err != nil {
		return storageErr("set modification time of "+name, err)
	}
	return nil
}

// Chtimes sets a file's access and modification times.
func (OSFS) Chtimes(name string, atime, mtime time.Time) error {
	return os.Chtimes(name, atime, mtime)
}

// Chtimes passes through to the wrapped FS when it can set times.
func (f *FaultFS) Chtimes(name string, atime, mtime time.Time) error {
	return chtimes(f.FS, name, mtime)
}
