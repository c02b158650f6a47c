package logstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// CleanerOffsetCheckpointFile is the per-directory file, in the offset
// checkpoint format, holding each compacted partition's first dirty offset.
const CleanerOffsetCheckpointFile = "cleaner-offset-checkpoint"

// CleanerConfig configures the manager's log cleaner (Kafka's
// log.cleaner.* keys).
type CleanerConfig struct {
	// Enable is log.cleaner.enable.
	Enable bool
	// Threads is log.cleaner.threads: logs cleaned at the same time.
	Threads int
	// DedupeBufferSize is log.cleaner.dedupe.buffer.size, shared by the
	// threads: each cleaning's key map gets an equal share.
	DedupeBufferSize int64
	// Backoff is log.cleaner.backoff.ms: how long a thread that found
	// nothing to clean waits before looking again.
	Backoff time.Duration
}

// DefaultCleanerConfig returns Kafka 2.8's defaults.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{Enable: true, Threads: 1, DedupeBufferSize: 128 << 20, Backoff: 15 * time.Second}
}

// cleanerState is the manager's bookkeeping for the cleaner (Kafka's
// LogCleanerManager): the checkpoints, and which logs are being cleaned.
type cleanerState struct {
	mu sync.Mutex // guards the fields below; never held with Manager.mu; taken before a Log's mu
	// checkpoints holds, per log directory, the first dirty offset of each
	// partition cleaned there (cleaner-offset-checkpoint).
	checkpoints map[string]map[TopicPartition]int64
	// inProgress holds the partitions a thread is cleaning, with a channel
	// closed when it is done.
	inProgress map[TopicPartition]chan struct{}
	// uncleanable holds partitions whose cleaning failed on corrupt data:
	// they are skipped until the next start, as Kafka does.
	uncleanable map[TopicPartition]bool
	writeMu     sync.Mutex // serialises writes of the checkpoint files
}

func newCleanerState() *cleanerState {
	return &cleanerState{
		checkpoints: map[string]map[TopicPartition]int64{},
		inProgress:  map[TopicPartition]chan struct{}{},
		uncleanable: map[TopicPartition]bool{},
	}
}

// loadCleanerCheckpoint reads a directory's cleaner-offset-checkpoint.
func (m *Manager) loadCleanerCheckpoint(dir string) error {
	offsets, err := m.readCheckpoint(dir, CleanerOffsetCheckpointFile)
	if err != nil {
		return err
	}
	m.cleaner.mu.Lock()
	m.cleaner.checkpoints[dir] = offsets
	m.cleaner.mu.Unlock()
	return nil
}

// CleanerCheckpoint returns a partition's first dirty offset as last
// recorded, or -1.
func (m *Manager) CleanerCheckpoint(tp TopicPartition) int64 {
	m.mu.Lock()
	dir := m.dirOf[tp]
	m.mu.Unlock()
	m.cleaner.mu.Lock()
	defer m.cleaner.mu.Unlock()
	if off, ok := m.cleaner.checkpoints[dir][tp]; ok {
		return off
	}
	return -1
}

// runCleaner runs the cleaner threads until ctx is done.
func (m *Manager) runCleaner(ctx context.Context, wg *sync.WaitGroup) {
	cc := m.cfg.Cleaner
	if !cc.Enable || cc.Threads <= 0 {
		return
	}
	mapBytes := cc.DedupeBufferSize / int64(cc.Threads)
	for i := 0; i < cc.Threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cleaned, _ := m.CleanFilthiest(mapBytes, func() bool { return ctx.Err() != nil })
				if cleaned {
					continue
				}
				t := time.NewTimer(cc.Backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}()
	}
}

// CleanFilthiest cleans the compacted log that most needs it (see
// selectFilthiest), if any, and records its new first dirty offset in its
// directory's cleaner-offset-checkpoint. It reports whether it cleaned a
// log. stop, polled during the cleaning, abandons it. The cleaner threads
// call it in a loop; tests call it directly.
func (m *Manager) CleanFilthiest(mapBytes int64, stop func() bool) (bool, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	type cand struct {
		tp  TopicPartition
		dir string
		l   *Log
	}
	var logs []cand
	for tp, l := range m.logs {
		dir := m.dirOf[tp]
		if _, off := m.offline[dir]; off || !l.Config().Compact {
			continue
		}
		logs = append(logs, cand{tp, dir, l})
	}
	m.mu.Unlock()

	m.cleaner.mu.Lock()
	var cands []logToClean
	var dirs []string
	for _, c := range logs {
		if _, busy := m.cleaner.inProgress[c.tp]; busy || m.cleaner.uncleanable[c.tp] {
			continue
		}
		checkpoint := int64(-1)
		if off, ok := m.cleaner.checkpoints[c.dir][c.tp]; ok {
			checkpoint = off
		}
		cfg := c.l.Config()
		cl, ok := c.l.cleanable(checkpoint, cfg, now)
		if !ok {
			continue
		}
		cands = append(cands, logToClean{log: c.l, c: cl, minRatio: cfg.MinCleanableRatio})
		dirs = append(dirs, c.dir)
	}
	i := selectFilthiest(cands)
	if i < 0 {
		m.cleaner.mu.Unlock()
		return false, nil
	}
	l, dir := cands[i].log, dirs[i]
	tp := l.TopicPartition()
	done := make(chan struct{})
	m.cleaner.inProgress[tp] = done
	m.cleaner.mu.Unlock()
	defer func() {
		m.cleaner.mu.Lock()
		delete(m.cleaner.inProgress, tp)
		m.cleaner.mu.Unlock()
		close(done)
	}()

	start := time.Now()
	res, err := l.clean(cands[i].c.firstDirty, mapBytes, stop, nil)
	fields := logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}
	switch {
	case errors.Is(err, errCleaningAborted) || errors.Is(err, ErrClosed):
		return true, nil
	case err != nil && !errors.Is(err, ErrStorage):
		m.cleaner.mu.Lock()
		m.cleaner.uncleanable[tp] = true
		m.cleaner.mu.Unlock()
		m.log.WithError(err).WithFields(fields).Error("log cleaning failed; the partition is not cleaned again until restart")
		return true, err
	case err != nil:
		m.handleLogError(l, err)
		return true, err
	}
	m.log.WithFields(fields).WithFields(logrus.Fields{
		"first_dirty": res.FirstDirty, "segments": res.Segments, "bytes_read": res.BytesRead,
		"bytes_written": res.BytesWritten, "records_removed": res.RecordsRemoved, "took": time.Since(start),
	}).Info("cleaned log")
	return true, m.updateCleanerCheckpoint(dir, tp, res.FirstDirty, false)
}

// cleanable computes what of the log a cleaning may touch; false for a
// closed or failed log.
func (l *Log) cleanable(checkpoint int64, cfg *LogConfig, now time.Time) (cleanable, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed || l.err != nil {
		return cleanable{}, false
	}
	return l.cleanableLocked(checkpoint, cfg, now), true
}

// updateCleanerCheckpoint records (or, with remove, forgets) a partition's
// first dirty offset and rewrites its directory's checkpoint file.
func (m *Manager) updateCleanerCheckpoint(dir string, tp TopicPartition, offset int64, remove bool) error {
	m.cleaner.writeMu.Lock()
	defer m.cleaner.writeMu.Unlock()
	m.cleaner.mu.Lock()
	offsets := m.cleaner.checkpoints[dir]
	if offsets == nil {
		offsets = map[TopicPartition]int64{}
		m.cleaner.checkpoints[dir] = offsets
	}
	if _, ok := offsets[tp]; remove && !ok {
		m.cleaner.mu.Unlock()
		return nil
	}
	if remove {
		delete(offsets, tp)
	} else {
		offsets[tp] = offset
	}
	cp := make(map[TopicPartition]int64, len(offsets))
	for k, v := range offsets {
		cp[k] = v
	}
	m.cleaner.mu.Unlock()
	if err := WriteOffsetCheckpoint(m.fs, filepath.Join(dir, CleanerOffsetCheckpointFile), cp); err != nil {
		m.markOffline(dir, err)
		return err
	}
	return nil
}

// abortCleaning waits for a cleaning of tp to stop (the caller has closed
// the log, which makes it stop at its next batch) and forgets tp's
// checkpoint: the log is being deleted.
func (m *Manager) abortCleaning(dir string, tp TopicPartition) error {
	m.cleaner.mu.Lock()
	done := m.cleaner.inProgress[tp]
	delete(m.cleaner.uncleanable, tp)
	m.cleaner.mu.Unlock()
	if done != nil {
		<-done
	}
	return m.updateCleanerCheckpoint(dir, tp, 0, true)
}
