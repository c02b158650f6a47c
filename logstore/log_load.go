package logstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
)

// Options opens a Log.
type Options struct {
	// Dir is the partition folder, <log.dir>/<topic>-<partition>.
	Dir            string
	TopicPartition TopicPartition
	Config         LogConfig
	// FS defaults to OSFS.
	FS FS
	// RecoveryPoint is the offset below which the log was known fsynced,
	// from recovery-point-offset-checkpoint.
	RecoveryPoint int64
	// LogStartOffset is from log-start-offset-checkpoint (0 when unknown).
	LogStartOffset int64
	// HighWatermark is from replication-offset-checkpoint (0 when unknown).
	HighWatermark int64
	// CleanShutdown is true when the log directory holds the
	// .kafka_cleanshutdown marker: then only damaged indexes are rebuilt.
	// Otherwise every segment from the one holding RecoveryPoint on is
	// re-validated.
	CleanShutdown bool
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to a logger that discards.
	Logger *logrus.Entry
	// OnRoll, when set, is called (under the log's lock; it must not block
	// or call back into the log) after a new segment is rolled, so that the
	// owner can fsync the old one in the background.
	OnRoll func(*Log)
}

// Open loads a partition's log from its folder, creating the folder when it
// does not exist, and recovers it after an unclean shutdown:
//
//   - a cleaning's swap that a crash interrupted (a *.log.swap file) is
//     completed: it replaces the segments its offsets cover;
//   - leftovers of interrupted operations (*.deleted, *.tmp, *.cleaned,
//     the indexes of a *.swap segment) and indexes without a .log are
//     removed;
//   - a segment whose index is missing, of the wrong size or fails its
//     sanity check gets both indexes rebuilt from the log;
//   - after an unclean shutdown, every segment from the one holding the
//     recovery point on is re-read batch by batch (length, magic, CRC); the
//     first torn or corrupt batch and everything after it, later segments
//     included, are truncated away;
//   - producer state is loaded from the latest snapshot and rolled forward
//     by replaying the batches after it.
//
// A folder that cannot be read fails with an error wrapping ErrStorage;
// nothing here panics on the contents of the disk.
func Open(opts Options) (*Log, error) {
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = nopLogger()
	}
	cfg := opts.Config
	if cfg.MaxIndexSize < 12 || cfg.SegmentBytes <= 0 || cfg.IndexIntervalBytes < 0 {
		return nil, fmt.Errorf("logstore: invalid log config for %s: segment.bytes=%d segment.index.bytes=%d index.interval.bytes=%d",
			opts.TopicPartition, cfg.SegmentBytes, cfg.MaxIndexSize, cfg.IndexIntervalBytes)
	}
	l := &Log{
		dir:    opts.Dir,
		tp:     opts.TopicPartition,
		fs:     opts.FS,
		now:    opts.Now,
		onRoll: opts.OnRoll,
		log: opts.Logger.WithFields(logrus.Fields{
			"topic": opts.TopicPartition.Topic, "partition": opts.TopicPartition.Partition,
		}),
	}
	l.config.Store(&cfg)
	l.producers = NewProducerStateManager(opts.FS, opts.Dir, cfg.ProducerIDExpiration)
	now := opts.Now()
	l.lastFlush = now
	if err := l.load(opts, now); err != nil {
		for _, s := range l.segments {
			s.close()
		}
		return nil, fmt.Errorf("load log %s: %w", opts.TopicPartition, err)
	}
	return l, nil
}

func (l *Log) load(opts Options, now time.Time) error {
	if err := l.fs.MkdirAll(l.dir, 0o755); err != nil {
		return storageErr("create log folder", err)
	}
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return storageErr("read log folder", err)
	}
	cfg := l.config.Load()
	completed, err := l.completeSwaps(entries)
	if err != nil {
		return err
	}
	if completed {
		if entries, err = l.fs.ReadDir(l.dir); err != nil {
			return storageErr("read log folder", err)
		}
	}
	bases, err := l.cleanFolder(entries)
	if err != nil {
		return err
	}

	needsRecovery := make([]bool, len(bases))
	for i, base := range bases {
		seg, damagedIndex, err := openSegment(l.fs, l.dir, base, cfg, now)
		if err != nil {
			return err
		}
		l.segments = append(l.segments, seg)
		needsRecovery[i] = damagedIndex
		if damagedIndex {
			l.log.WithField("offset", base).Warn("segment index missing or corrupt; rebuilding it")
		}
	}
	if !opts.CleanShutdown && len(l.segments) > 0 {
		for i := l.floorSegmentLocked(opts.RecoveryPoint); i < len(needsRecovery); i++ {
			needsRecovery[i] = true
		}
	}
	l.epochs = openLeaderEpochCache(l.fs, l.dir, l.log)
	recovered, err := l.recoverSegments(needsRecovery)
	if err != nil {
		return err
	}

	if len(l.segments) == 0 {
		seg, err := createSegment(l.fs, l.dir, max(opts.LogStartOffset, 0), cfg, now)
		if err != nil {
			return err
		}
		l.segments = []*Segment{seg}
	}
	for i, seg := range l.segments[:len(l.segments)-1] {
		if i < len(needsRecovery) && needsRecovery[i] {
			if err := seg.onBecomeInactive(); err != nil {
				return err
			}
		}
	}
	active := l.activeLocked()
	if err := active.makeAppendable(cfg.MaxIndexSize); err != nil {
		return err
	}
	leo := active.nextOffset
	l.logEndOffset.Store(leo)
	l.logStartOffset = min(max(opts.LogStartOffset, l.segments[0].baseOffset), leo)
	l.highWatermark.Store(min(max(opts.HighWatermark, l.logStartOffset), leo))
	l.recoveryPoint = min(opts.RecoveryPoint, leo)
	if opts.CleanShutdown {
		l.recoveryPoint = leo
	}
	if recovered {
		// What recovery kept was read back from the files, but may sit only
		// in the page cache if just the process died: make it durable
		// before the recovery point moves past it.
		for _, seg := range l.segments[l.floorSegmentLocked(l.recoveryPoint):] {
			if err := seg.flush(); err != nil {
				return err
			}
		}
		l.recoveryPoint = leo
	}
	// The history may name epochs whose records recovery removed, or that
	// retention deleted before a crash.
	if err := l.epochs.truncateFromEnd(leo); err != nil {
		return storageErr("write leader epoch checkpoint", err)
	}
	if err := l.epochs.truncateFromStart(l.logStartOffset); err != nil {
		return storageErr("write leader epoch checkpoint", err)
	}
	if err := l.rebuildProducerStateLocked(now); err != nil {
		return err
	}
	l.log.WithFields(logrus.Fields{
		"log_start_offset": l.logStartOffset, "log_end_offset": leo, "segments": len(l.segments),
	}).Debug("loaded log")
	return nil
}

// completeSwaps finishes the cleaner's swaps that a crash interrupted, as
// Kafka's completeSwapOperations does. A <base>.log.swap file is a cleaned
// segment written and fsynced in full before it got that name, so it
// replaces every segment whose base offset lies in its offset range (at
// least the one of the same base offset; some may already be gone, renamed
// to *.deleted), and takes the name <base>.log. Its indexes are rebuilt from
// it: *.index.swap and *.timeindex.swap files are removed, as are the old
// segments' indexes. It reports whether it changed the folder.
func (l *Log) completeSwaps(entries []fs.DirEntry) (bool, error) {
	var swaps []int64
	logs := map[int64]bool{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if base, ok := parseSegmentBase(strings.TrimSuffix(name, SwapFileSuffix), LogFileSuffix); ok && strings.HasSuffix(name, SwapFileSuffix) {
			swaps = append(swaps, base)
		} else if base, ok := parseSegmentBase(name, LogFileSuffix); ok {
			logs[base] = true
		}
	}
	if len(swaps) == 0 {
		return false, nil
	}
	sort.Slice(swaps, func(i, j int) bool { return swaps[i] < swaps[j] })
	remove := func(path string) error {
		if err := l.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return storageErr("remove replaced segment file", err)
		}
		return nil
	}
	for _, base := range swaps {
		swapPath := SegmentFileName(l.dir, base, LogFileSuffix) + SwapFileSuffix
		next, err := swapNextOffset(l.fs, swapPath, base)
		if err != nil {
			return false, err
		}
		for old := range logs {
			if old < base || (old >= next && old != base) {
				continue
			}
			l.log.WithFields(logrus.Fields{"offset": old, "swap": base}).Info("removing segment replaced by an interrupted cleaning")
			for _, suffix := range []string{LogFileSuffix, IndexFileSuffix, TimeIndexFileSuffix} {
				if err := remove(SegmentFileName(l.dir, old, suffix)); err != nil {
					return false, err
				}
			}
			delete(logs, old)
		}
		for _, suffix := range []string{IndexFileSuffix, TimeIndexFileSuffix} {
			if err := remove(SegmentFileName(l.dir, base, suffix) + SwapFileSuffix); err != nil {
				return false, err
			}
		}
		if err := l.fs.Rename(swapPath, SegmentFileName(l.dir, base, LogFileSuffix)); err != nil {
			return false, storageErr("complete segment swap", err)
		}
		logs[base] = true
		l.log.WithField("offset", base).Info("completed an interrupted cleaning's segment swap")
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return false, storageErr("fsync log folder", err)
	}
	return true, nil
}

// swapNextOffset reads a swap segment's batches and returns the offset
// after its last one (base when it is empty). The file was fsynced before
// it got its name, so a damaged batch means the disk failed: it ends the
// scan, and recovery of the segment truncates it there.
func swapNextOffset(fsys FS, path string, base int64) (int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, storageErr("open swap segment", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return 0, storageErr("stat swap segment", err)
	}
	next := base
	err = ScanBatches(f, info.Size(), func(_ int64, batch []byte) bool {
		h, err := CheckBatch(batch)
		if err != nil {
			return false
		}
		next = h.NextOffset()
		return true
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return 0, err
	}
	return next, nil
}

// cleanFolder removes leftovers of interrupted operations and returns the
// base offsets of the segments, sorted.
func (l *Log) cleanFolder(entries []fs.DirEntry) ([]int64, error) {
	var bases []int64
	logs := map[int64]bool{}
	var indexes []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case strings.HasSuffix(name, DeletedFileSuffix), strings.HasSuffix(name, ".tmp"),
			strings.HasSuffix(name, CleanedFileSuffix), strings.HasSuffix(name, SwapFileSuffix):
			// completeSwaps has already finished the *.swap segments; a
			// *.swap left here is an index of one, rebuilt from its log.
			if err := l.fs.Remove(l.dir + "/" + name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, storageErr("remove leftover file", err)
			}
		case strings.HasSuffix(name, LogFileSuffix):
			if base, ok := parseSegmentBase(name, LogFileSuffix); ok {
				bases = append(bases, base)
				logs[base] = true
			}
		case strings.HasSuffix(name, IndexFileSuffix), strings.HasSuffix(name, TimeIndexFileSuffix):
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		base, ok := parseSegmentBase(name, IndexFileSuffix)
		if !ok {
			base, ok = parseSegmentBase(name, TimeIndexFileSuffix)
		}
		if ok && !logs[base] {
			if err := l.fs.Remove(l.dir + "/" + name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, storageErr("remove orphan index", err)
			}
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// recoverSegments re-validates the segments marked in need. Once one had to
// be truncated, every later segment is deleted: what follows a hole cannot
// be served. It reports whether any segment was recovered.
func (l *Log) recoverSegments(need []bool) (bool, error) {
	recovered := false
	for i := 0; i < len(l.segments); i++ {
		if !need[i] {
			continue
		}
		seg := l.segments[i]
		recovered = true
		truncated, err := seg.recover(func(h BatchHeader) {
			// As Kafka's segment recovery: a batch of a newer epoch than the
			// history knows starts that epoch (the checkpoint may lag the
			// log after a crash).
			if latest, ok := l.epochs.LatestEpoch(); h.PartitionLeaderEpoch >= 0 && (!ok || h.PartitionLeaderEpoch > latest) {
				l.epochs.assignLocked(EpochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
			}
		})
		if err != nil {
			return recovered, err
		}
		if truncated == 0 {
			continue
		}
		l.log.WithFields(logrus.Fields{"offset": seg.baseOffset, "bytes": truncated}).
			Warn("truncated corrupt or torn tail of segment during recovery")
		for _, later := range l.segments[i+1:] {
			l.log.WithField("offset", later.baseOffset).Warn("deleting segment after a corrupt one")
			if err := later.deleteFiles(); err != nil {
				return recovered, err
			}
		}
		l.segments = l.segments[:i+1]
		break
	}
	// Segments emptied by recovery after the first are dropped, so that the
	// active segment is the last one holding data.
	for len(l.segments) > 1 && l.activeLocked().size == 0 && l.activeLocked().baseOffset < l.segments[len(l.segments)-2].nextOffset {
		if err := l.activeLocked().deleteFiles(); err != nil {
			return recovered, err
		}
		l.segments = l.segments[:len(l.segments)-1]
	}
	return recovered, nil
}

// rebuildProducerStateLocked reloads producer state from the latest snapshot
// at or below the log end offset and replays the batches after it.
func (l *Log) rebuildProducerStateLocked(now time.Time) error {
	leo := l.logEndOffset.Load()
	if err := l.producers.TruncateAndReload(l.logStartOffset, leo, now); err != nil {
		return err
	}
	from := l.producers.MapEndOffset()
	for i := l.floorSegmentLocked(from); i < len(l.segments) && from < leo; i++ {
		seg := l.segments[i]
		if seg.nextOffset <= from {
			continue
		}
		start, err := seg.positionOf(from)
		if err != nil {
			return err
		}
		err = seg.scanHeaders(start, func(_ int64, h BatchHeader) bool {
			if h.HasProducerID() && h.LastOffset() >= from {
				l.producers.Update(h, AppendOriginReplication)
			}
			return true
		})
		if err != nil {
			return err
		}
	}
	l.producers.UpdateMapEndOffset(leo)
	return nil
}
