package logstore

import (
	"errors"
	"fmt"
	"time"
)

// TruncateTo removes every record at or above offset (a follower truncating
// to the leader's log after a leader change). The batch containing offset is
// removed whole, so the log end offset afterwards is the end of the last
// batch below offset. It reports whether anything was removed.
func (l *Log) TruncateTo(offset int64) (bool, error) {
	if offset < 0 {
		return false, fmt.Errorf("logstore: cannot truncate %s to negative offset %d", l.tp, offset)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return false, err
	}
	if offset >= l.logEndOffset.Load() {
		return false, nil
	}
	now := l.now()
	if offset < l.segments[0].baseOffset {
		return true, l.truncateFullyAndStartAtLocked(offset, now)
	}
	keep := l.floorSegmentLocked(offset) + 1
	for _, seg := range l.segments[keep:] {
		l.scheduleDeleteLocked(seg, now)
	}
	l.segments = l.segments[:keep]
	active := l.activeLocked()
	if _, err := active.truncateTo(offset); err != nil {
		l.failLocked(err)
		return true, err
	}
	if err := active.makeAppendable(l.config.Load().MaxIndexSize); err != nil {
		l.failLocked(err)
		return true, err
	}
	leo := active.nextOffset
	l.logEndOffset.Store(leo)
	l.truncations++
	l.recoveryPoint = min(l.recoveryPoint, leo)
	l.logStartOffset = min(l.logStartOffset, leo)
	if l.highWatermark.Load() > leo {
		l.highWatermark.Store(leo)
	}
	if err := l.epochs.truncateFromEnd(leo); err != nil {
		err = storageErr("write leader epoch checkpoint", err)
		l.failLocked(err)
		return true, err
	}
	if err := l.rebuildProducerStateLocked(now); err != nil {
		l.failLocked(err)
		return true, err
	}
	l.log.WithField("offset", leo).Info("truncated log")
	return true, nil
}

// TruncateFullyAndStartAt removes every segment and restarts the log empty at
// offset (a follower whose log is entirely below the leader's start).
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return err
	}
	return l.truncateFullyAndStartAtLocked(offset, l.now())
}

func (l *Log) truncateFullyAndStartAtLocked(offset int64, now time.Time) error {
	for _, seg := range l.segments {
		l.scheduleDeleteLocked(seg, now)
	}
	l.segments = nil
	seg, err := createSegment(l.fs, l.dir, offset, l.config.Load(), now)
	if err != nil {
		l.failLocked(err)
		return err
	}
	l.segments = []*Segment{seg}
	l.logEndOffset.Store(offset)
	l.truncations++
	l.highWatermark.Store(offset)
	l.logStartOffset = offset
	l.recoveryPoint = offset
	if err := l.epochs.clear(); err != nil {
		err = storageErr("write leader epoch checkpoint", err)
		l.failLocked(err)
		return err
	}
	if err := l.producers.TruncateFullyAndStartAt(offset); err != nil {
		l.failLocked(err)
		return err
	}
	l.log.WithField("offset", offset).Info("truncated log fully")
	return nil
}

// scheduleDeleteLocked renames a segment that has left the log to *.deleted
// and queues it for removal after file.delete.delay.ms: a fetch may still be
// sending from its file.
func (l *Log) scheduleDeleteLocked(seg *Segment, now time.Time) {
	if err := seg.renameWithSuffix(DeletedFileSuffix); err != nil {
		l.log.WithError(err).WithField("offset", seg.baseOffset).Warn("rename deleted segment failed")
	}
	l.pendingDeletes = append(l.pendingDeletes, pendingDelete{segment: seg, due: now.Add(l.config.Load().FileDeleteDelay)})
}

// DeletePendingSegments removes the files of segments that left the log at
// least file.delete.delay.ms ago. The manager calls it periodically.
func (l *Log) DeletePendingSegments() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	now := l.now()
	l.mu.Lock()
	var due []*Segment
	kept := l.pendingDeletes[:0]
	for _, p := range l.pendingDeletes {
		if now.Before(p.due) {
			kept = append(kept, p)
		} else {
			due = append(due, p.segment)
		}
	}
	l.pendingDeletes = kept
	l.mu.Unlock()
	var errs []error
	for _, seg := range due {
		errs = append(errs, seg.deleteFiles())
	}
	return errors.Join(errs...)
}

// MaybeIncrementLogStartOffset advances the log start offset (DeleteRecords,
// or a follower following its leader's). Segments wholly below it are
// removed by the next retention pass. An offset beyond the log end offset is
// out of range; one at or below the current start is ignored.
func (l *Log) MaybeIncrementLogStartOffset(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	leo := l.logEndOffset.Load()
	if offset > leo {
		return &OffsetOutOfRangeError{Requested: offset, LogStartOffset: l.logStartOffset, LogEndOffset: leo}
	}
	if offset <= l.logStartOffset {
		return nil
	}
	l.logStartOffset = offset
	l.producers.OnLogStartOffsetIncremented(offset)
	if err := l.epochs.truncateFromStart(offset); err != nil {
		err = storageErr("write leader epoch checkpoint", err)
		l.failLocked(err)
		return err
	}
	return nil
}

// DeleteOldSegments applies retention: segments wholly below the log start
// offset always go; with cleanup.policy=delete, so do the oldest segments
// whose largest timestamp is older than retention.ms, and the oldest while
// the log is over retention.bytes. Only a prefix of the log is deleted, and
// never a segment holding offsets at or above the high watermark. When every
// segment goes, a new empty one is rolled first. It returns the number of
// segments deleted.
func (l *Log) DeleteOldSegments() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkWritableLocked(); err != nil {
		return 0, err
	}
	cfg := l.config.Load()
	now := l.now()
	deleted := 0
	logStart := l.logStartOffset
	n, err := l.deleteSegmentsLocked(func(seg, next *Segment) bool {
		return next != nil && next.baseOffset <= logStart
	}, now, "log start offset")
	deleted += n
	if err != nil || !cfg.Delete {
		return deleted, err
	}
	if cfg.RetentionMs >= 0 {
		n, err = l.deleteSegmentsLocked(func(seg, _ *Segment) bool {
			return now.UnixMilli()-seg.largestTimestamp() > cfg.RetentionMs.Milliseconds()
		}, now, "retention.ms")
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	if cfg.RetentionBytes >= 0 {
		var total int64
		for _, s := range l.segments {
			total += s.size
		}
		over := total - cfg.RetentionBytes
		n, err = l.deleteSegmentsLocked(func(seg, _ *Segment) bool {
			if over-seg.size < 0 {
				return false
			}
			over -= seg.size
			return true
		}, now, "retention.bytes")
		deleted += n
	}
	return deleted, err
}

// deleteSegmentsLocked deletes the longest prefix of segments for which
// pred holds, each wholly below the high watermark; an empty active segment
// is never deleted.
func (l *Log) deleteSegmentsLocked(pred func(seg, next *Segment) bool, now time.Time, reason string) (int, error) {
	hw := l.highWatermark.Load()
	leo := l.logEndOffset.Load()
	n := 0
	for i, seg := range l.segments {
		var next *Segment
		upper := leo
		if i+1 < len(l.segments) {
			next = l.segments[i+1]
			upper = next.baseOffset
		} else if seg.size == 0 {
			break
		}
		if hw < upper || !pred(seg, next) {
			break
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if n == len(l.segments) {
		if _, err := l.rollLocked(leo, now); err != nil {
			return 0, err
		}
	}
	for _, seg := range l.segments[:n] {
		l.scheduleDeleteLocked(seg, now)
		l.log.WithFields(map[string]any{"offset": seg.baseOffset, "reason": reason}).Info("deleting log segment")
	}
	l.segments = append(l.segments[:0:0], l.segments[n:]...)
	l.logStartOffset = max(l.logStartOffset, l.segments[0].baseOffset)
	l.producers.OnLogStartOffsetIncremented(l.logStartOffset)
	if err := l.epochs.truncateFromStart(l.logStartOffset); err != nil {
		err = storageErr("write leader epoch checkpoint", err)
		l.failLocked(err)
		return n, err
	}
	if err := l.producers.DeleteSnapshotsBefore(l.segments[0].baseOffset); err != nil {
		l.failLocked(err)
		return n, err
	}
	return n, nil
}

// Flush fsyncs the log up to its end offset and advances the recovery point.
func (l *Log) Flush() error { return l.FlushTo(l.logEndOffset.Load()) }

// FlushTo fsyncs every segment holding offsets between the recovery point
// and offset, then advances the recovery point to offset. The fsyncs run
// outside the log's lock, so appends and reads continue meanwhile.
func (l *Log) FlushTo(offset int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	offset = min(offset, l.logEndOffset.Load())
	var segs []*Segment
	if offset > l.recoveryPoint {
		for i := l.floorSegmentLocked(l.recoveryPoint); i < len(l.segments) && l.segments[i].baseOffset < offset; i++ {
			segs = append(segs, l.segments[i])
		}
	}
	l.mu.RUnlock()
	for _, seg := range segs {
		if err := seg.flush(); err != nil {
			l.mu.Lock()
			l.failLocked(err)
			l.mu.Unlock()
			return err
		}
	}
	l.mu.Lock()
	if offset > l.recoveryPoint {
		l.recoveryPoint = offset
	}
	l.unflushed = 0
	l.lastFlush = l.now()
	l.mu.Unlock()
	return nil
}

// FlushIfDue flushes when flush.ms has passed since the last flush.
func (l *Log) FlushIfDue() error {
	cfg := l.config.Load()
	if cfg.FlushMs <= 0 {
		return nil
	}
	l.mu.RLock()
	due := l.now().Sub(l.lastFlush) >= cfg.FlushMs && l.recoveryPoint < l.logEndOffset.Load()
	l.mu.RUnlock()
	if !due {
		return nil
	}
	return l.Flush()
}

// Close writes the final time index entry and a producer state snapshot,
// trims the active segment's indexes and closes every file. It does not
// fsync the log: the manager flushes before it closes on a clean shutdown.
// Closing twice is harmless.
func (l *Log) Close() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.closedFlag.Store(true)
	var errs []error
	if l.err == nil {
		errs = append(errs, l.activeLocked().onBecomeInactive())
		l.producers.UpdateMapEndOffset(l.logEndOffset.Load())
		errs = append(errs, l.producers.TakeSnapshot())
	}
	for _, seg := range l.segments {
		errs = append(errs, seg.close())
	}
	for _, p := range l.pendingDeletes {
		errs = append(errs, p.segment.deleteFiles())
	}
	l.pendingDeletes = nil
	return errors.Join(errs...)
}

// Delete closes the log and removes its folder (topic deletion, or a replica
// moved away).
func (l *Log) Delete() error {
	err := l.Close()
	if rerr := l.fs.RemoveAll(l.dir); rerr != nil {
		err = errors.Join(err, storageErr("remove log folder", rerr))
	}
	return err
}
