package logstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Names of the files the manager keeps in each log directory (DESIGN.md
// section 6), in Kafka's formats.
const (
	RecoveryPointCheckpointFile  = "recovery-point-offset-checkpoint"
	ReplicationCheckpointFile    = "replication-offset-checkpoint"
	LogStartOffsetCheckpointFile = "log-start-offset-checkpoint"
	CleanShutdownFile            = ".kafka_cleanshutdown"
	MetaPropertiesFile           = "meta.properties"
	// deleteDirSuffix marks a partition folder being removed (topic
	// deletion); leftovers are removed at the next start.
	deleteDirSuffix = "-delete"
)

// ManagerConfig configures a Manager. Durations of zero disable the
// corresponding background task.
type ManagerConfig struct {
	// Dirs are the log directories (log.dirs).
	Dirs []string
	// FS defaults to OSFS.
	FS FS
	// DefaultLogConfig is used for topics ConfigFor does not know.
	DefaultLogConfig LogConfig
	// ConfigFor, when set, returns a topic's log config (broker defaults
	// with the topic's overrides) for logs loaded at start-up.
	ConfigFor func(topic string) LogConfig
	// RecoveryThreadsPerDir is num.recovery.threads.per.data.dir.
	RecoveryThreadsPerDir int
	// RetentionCheckInterval is log.retention.check.interval.ms.
	RetentionCheckInterval time.Duration
	// FlushCheckInterval is log.flush.scheduler.interval.ms: how often
	// flush.ms is checked.
	FlushCheckInterval time.Duration
	// RecoveryPointCheckpointInterval is
	// log.flush.offset.checkpoint.interval.ms.
	RecoveryPointCheckpointInterval time.Duration
	// LogStartOffsetCheckpointInterval is
	// log.flush.start.offset.checkpoint.interval.ms.
	LogStartOffsetCheckpointInterval time.Duration
	// HighWatermarkCheckpointInterval is
	// replica.high.watermark.checkpoint.interval.ms.
	HighWatermarkCheckpointInterval time.Duration
	// ProducerIDExpirationCheckInterval is how often idle producer ids are
	// forgotten (ten minutes in Kafka 2.8, not configurable there).
	ProducerIDExpirationCheckInterval time.Duration
	// Cleaner configures log compaction for logs whose LogConfig has
	// Compact; its zero value runs no cleaner.
	Cleaner CleanerConfig
	Now     func() time.Time
	Logger  *logrus.Entry
}

// Manager owns every log on the broker: it loads them from the log
// directories at start-up, creates and deletes them, runs retention and
// flushing in the background, keeps the checkpoint files, and writes the
// clean-shutdown marker.
//
// Safe for concurrent use. Load, then Run in a goroutine of the owner's,
// then Shutdown after Run has returned.
type Manager struct {
	cfg ManagerConfig
	fs  FS
	log *logrus.Entry

	// rolled receives logs that rolled a segment, so that the old segment
	// is fsynced in the background; capacity one per log is not needed:
	// the flusher drains it and flushes each log once per wake-up.
	rolled chan *Log

	cleaner *cleanerState

	mu    sync.Mutex // guards the fields below; never held while a log's files are opened
	logs  map[TopicPartition]*Log
	dirOf map[TopicPartition]string
	// hosted counts the logs of each directory, in dirOf or being created:
	// where GetOrCreateLog puts the next one.
	hosted map[string]int
	// creating holds the logs GetOrCreateLog is creating, so that a second
	// caller for the same partition waits for the first one's log.
	creating map[TopicPartition]*logCreation
	offline  map[string]error // log directories taken offline, and why
}

// logCreation is one log being created by GetOrCreateLog; done is closed
// once l or err is set.
type logCreation struct {
	done chan struct{}
	l    *Log
	err  error
}

// NewManager validates the configuration; it does no I/O.
func NewManager(cfg ManagerConfig) (*Manager, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("logstore: no log directories")
	}
	seen := map[string]bool{}
	for _, d := range cfg.Dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("logstore: log directory %q: %w", d, err)
		}
		if seen[abs] {
			return nil, fmt.Errorf("logstore: log directory %q listed twice", d)
		}
		seen[abs] = true
	}
	if cfg.FS == nil {
		cfg.FS = OSFS{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = nopLogger()
	}
	if cfg.RecoveryThreadsPerDir < 1 {
		cfg.RecoveryThreadsPerDir = 1
	}
	return &Manager{
		cfg:      cfg,
		fs:       cfg.FS,
		log:      cfg.Logger.WithField("component", "log_manager"),
		rolled:   make(chan *Log, 1024),
		cleaner:  newCleanerState(),
		logs:     map[TopicPartition]*Log{},
		dirOf:    map[TopicPartition]string{},
		hosted:   map[string]int{},
		creating: map[TopicPartition]*logCreation{},
		offline:  map[string]error{},
	}, nil
}

func (m *Manager) configFor(topic string) LogConfig {
	if m.cfg.ConfigFor != nil {
		return m.cfg.ConfigFor(topic)
	}
	return m.cfg.DefaultLogConfig
}

// Load opens every log in every directory, in parallel. A directory that
// cannot be read is taken offline and reported in the log, not fatal, unless
// every directory is offline. The clean-shutdown marker is read and then
// removed, so that a crash from now on is seen as unclean at the next start.
func (m *Manager) Load(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(m.cfg.Dirs))
	for i, dir := range m.cfg.Dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.loadDir(ctx, dir)
		}()
	}
	wg.Wait()
	online := 0
	for i, err := range errs {
		if err != nil {
			m.markOffline(m.cfg.Dirs[i], err)
			continue
		}
		online++
	}
	if online == 0 {
		return fmt.Errorf("logstore: every log directory is offline: %w", errors.Join(errs...))
	}
	return ctx.Err()
}

func (m *Manager) loadDir(ctx context.Context, dir string) error {
	if err := m.fs.MkdirAll(dir, 0o755); err != nil {
		return storageErr("create log directory "+dir, err)
	}
	entries, err := m.fs.ReadDir(dir)
	if err != nil {
		return storageErr("read log directory "+dir, err)
	}
	clean := false
	if _, err := m.fs.Stat(filepath.Join(dir, CleanShutdownFile)); err == nil {
		clean = true
	}
	recovery, err := m.readCheckpoint(dir, RecoveryPointCheckpointFile)
	if err != nil {
		return err
	}
	starts, err := m.readCheckpoint(dir, LogStartOffsetCheckpointFile)
	if err != nil {
		return err
	}
	hws, err := m.readCheckpoint(dir, ReplicationCheckpointFile)
	if err != nil {
		return err
	}
	if err := m.loadCleanerCheckpoint(dir); err != nil {
		return err
	}

	var tps []TopicPartition
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, deleteDirSuffix) {
			if err := m.fs.RemoveAll(filepath.Join(dir, name)); err != nil {
				m.log.WithError(err).WithField("dir", name).Warn("removing deleted log folder failed")
			}
			continue
		}
		tp, err := ParseTopicPartitionDir(name)
		if err != nil {
			m.log.WithField("dir", filepath.Join(dir, name)).Warn("ignoring folder that is not a partition log")
			continue
		}
		tps = append(tps, tp)
	}
	for tp := range recovery {
		if !containsTP(tps, tp) {
			m.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "dir": dir}).
				Warn("checkpoint names a partition whose folder is gone; ignoring it")
		}
	}

	sem := make(chan struct{}, m.cfg.RecoveryThreadsPerDir)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var loadErrs []error
	for _, tp := range tps {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			l, err := Open(Options{
				Dir:            filepath.Join(dir, tp.DirName()),
				TopicPartition: tp,
				Config:         m.configFor(tp.Topic),
				FS:             m.fs,
				RecoveryPoint:  recovery[tp],
				LogStartOffset: starts[tp],
				HighWatermark:  hws[tp],
				CleanShutdown:  clean,
				Now:            m.cfg.Now,
				Logger:         m.cfg.Logger,
				OnRoll:         m.onRoll,
			})
			if err != nil {
				errMu.Lock()
				loadErrs = append(loadErrs, err)
				errMu.Unlock()
				return
			}
			m.mu.Lock()
			if other, dup := m.dirOf[tp]; dup {
				m.mu.Unlock()
				l.Close()
				errMu.Lock()
				loadErrs = append(loadErrs, fmt.Errorf("logstore: partition %s is in both %s and %s", tp, other, dir))
				errMu.Unlock()
				return
			}
			m.logs[tp] = l
			m.dirOf[tp] = dir
			m.hosted[dir]++
			m.mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(loadErrs...); err != nil {
		m.closeLogsIn(dir)
		return err
	}
	if clean {
		if err := m.fs.Remove(filepath.Join(dir, CleanShutdownFile)); err != nil {
			return storageErr("remove clean shutdown marker", err)
		}
	}
	m.log.WithFields(logrus.Fields{"dir": dir, "logs": len(tps), "clean_shutdown": clean}).Info("loaded log directory")
	return nil
}

func containsTP(tps []TopicPartition, tp TopicPartition) bool {
	for _, t := range tps {
		if t == tp {
			return true
		}
	}
	return false
}

// readCheckpoint reads one of the offset checkpoint files. A corrupt one is
// logged and treated as missing, as Kafka does: the worst outcome is a
// longer recovery (recovery points at zero), never lost data.
func (m *Manager) readCheckpoint(dir, name string) (map[TopicPartition]int64, error) {
	offsets, err := ReadOffsetCheckpoint(m.fs, filepath.Join(dir, name))
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			m.log.WithError(err).WithField("dir", dir).Warn("ignoring corrupt checkpoint file")
			return map[TopicPartition]int64{}, nil
		}
		return nil, err
	}
	return offsets, nil
}

func (m *Manager) closeLogsIn(dir string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for tp, d := range m.dirOf {
		if d == dir {
			m.logs[tp].Close()
			delete(m.logs, tp)
			delete(m.dirOf, tp)
			m.hosted[dir]--
		}
	}
}

func (m *Manager) markOffline(dir string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.offline[dir]; ok {
		return
	}
	m.offline[dir] = err
	m.log.WithError(err).WithField("dir", dir).Error("log directory is offline")
}

// OfflineDirs returns the log directories taken offline and why.
func (m *Manager) OfflineDirs() map[string]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]error, len(m.offline))
	for d, err := range m.offline {
		out[d] = err
	}
	return out
}

// onRoll is each log's OnRoll hook: it must not block.
func (m *Manager) onRoll(l *Log) {
	select {
	case m.rolled <- l:
	default: // the flusher is behind; the next periodic flush catches up
	}
}

// GetLog returns a loaded log.
func (m *Manager) GetLog(tp TopicPartition) (*Log, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.logs[tp]
	return l, ok
}

// Logs returns every loaded log.
func (m *Manager) Logs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	return out
}

// GetOrCreateLog returns the partition's log, creating it empty in the online
// directory holding the fewest partitions when it does not exist.
//
// Logs of different partitions are created concurrently: the manager's lock
// is not held while a log's files are made (a LeaderAndIsr creating
// thousands of replicas applies them in parallel). A second caller for a
// partition being created waits for the first one's outcome.
func (m *Manager) GetOrCreateLog(tp TopicPartition, cfg LogConfig) (*Log, error) {
	m.mu.Lock()
	if l, ok := m.logs[tp]; ok {
		m.mu.Unlock()
		return l, nil
	}
	if c, ok := m.creating[tp]; ok {
		m.mu.Unlock()
		<-c.done
		return c.l, c.err
	}
	var dir string
	for _, d := range m.cfg.Dirs {
		if _, off := m.offline[d]; off {
			continue
		}
		if dir == "" || m.hosted[d] < m.hosted[dir] {
			dir = d
		}
	}
	if dir == "" {
		m.mu.Unlock()
		return nil, fmt.Errorf("logstore: no online log directory for %s: %w", tp, ErrStorage)
	}
	c := &logCreation{done: make(chan struct{})}
	m.creating[tp] = c
	m.hosted[dir]++ // counted now, so that concurrent creations spread
	m.mu.Unlock()

	l, err := Open(Options{
		Dir:            filepath.Join(dir, tp.DirName()),
		TopicPartition: tp,
		Config:         cfg,
		FS:             m.fs,
		CleanShutdown:  true, // a new folder holds nothing to recover
		Now:            m.cfg.Now,
		Logger:         m.cfg.Logger,
		OnRoll:         m.onRoll,
	})

	m.mu.Lock()
	delete(m.creating, tp)
	if err == nil {
		if off, ok := m.offline[dir]; ok {
			// The directory went offline while the log was made:
			// closeLogsIn did not see it, so it is dropped here.
			l.Close()
			l, err = nil, fmt.Errorf("logstore: log directory %s went offline while creating %s: %w: %w", dir, tp, ErrStorage, off)
		}
	}
	if err != nil {
		m.hosted[dir]--
	} else {
		m.logs[tp] = l
		m.dirOf[tp] = dir
	}
	m.mu.Unlock()
	c.l, c.err = l, err
	close(c.done)
	if err != nil {
		return nil, err
	}
	m.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "dir": dir}).Info("created log")
	return l, nil
}

// DeleteLog removes a partition's log: its folder is renamed with a -delete
// suffix first, so that a crash halfway leaves a folder the next start
// removes rather than a half-deleted log it would load.
func (m *Manager) DeleteLog(tp TopicPartition) error {
	m.mu.Lock()
	for {
		// A log being created is deleted once it exists.
		c, ok := m.creating[tp]
		if !ok {
			break
		}
		m.mu.Unlock()
		<-c.done
		m.mu.Lock()
	}
	l, ok := m.logs[tp]
	dir := m.dirOf[tp]
	delete(m.logs, tp)
	delete(m.dirOf, tp)
	if ok {
		m.hosted[dir]--
	}
	m.mu.Unlock()
	if !ok {
		return nil
	}
	err := l.Close()
	if cerr := m.abortCleaning(dir, tp); cerr != nil {
		err = errors.Join(err, cerr)
	}
	var suffix [8]byte
	_, _ = rand.Read(suffix[:])
	doomed := filepath.Join(dir, tp.DirName()+"."+hex.EncodeToString(suffix[:])+deleteDirSuffix)
	if rerr := m.fs.Rename(l.Dir(), doomed); rerr != nil {
		return errors.Join(err, storageErr("rename deleted log", rerr))
	}
	if rerr := m.fs.RemoveAll(doomed); rerr != nil {
		return errors.Join(err, storageErr("remove deleted log", rerr))
	}
	m.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Info("deleted log")
	return err
}

// Run runs the background tasks until ctx is done: retention, the log
// cleaner's threads, the flush.ms check, fsyncs of rolled segments, and the
// periodic checkpoints. It returns
// after every goroutine it started has stopped.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	every := func(interval time.Duration, task func()) {
		if interval <= 0 {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(interval)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					task()
				}
			}
		}()
	}
	every(m.cfg.RetentionCheckInterval, m.runRetention)
	m.runCleaner(ctx, &wg)
	every(m.cfg.FlushCheckInterval, m.flushDue)
	every(m.cfg.ProducerIDExpirationCheckInterval, func() {
		for _, l := range m.Logs() {
			l.RemoveExpiredProducers()
		}
	})
	every(m.cfg.RecoveryPointCheckpointInterval, func() { m.logCheckpointError(m.CheckpointRecoveryPoints()) })
	every(m.cfg.LogStartOffsetCheckpointInterval, func() { m.logCheckpointError(m.CheckpointLogStartOffsets()) })
	every(m.cfg.HighWatermarkCheckpointInterval, func() { m.logCheckpointError(m.CheckpointHighWatermarks()) })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case l := <-m.rolled:
				// Flush up to the active segment's base: the rolled
				// segment and anything older still unflushed.
				bases := l.SegmentBaseOffsets()
				m.handleLogError(l, l.FlushTo(bases[len(bases)-1]))
			}
		}
	}()
	wg.Wait()
	return nil
}

func (m *Manager) runRetention() {
	for _, l := range m.Logs() {
		if _, err := l.DeleteOldSegments(); err != nil {
			m.handleLogError(l, err)
		}
		m.handleLogError(l, l.DeletePendingSegments())
	}
}

func (m *Manager) flushDue() {
	for _, l := range m.Logs() {
		m.handleLogError(l, l.FlushIfDue())
	}
}

// handleLogError takes a log's directory offline on a storage error.
func (m *Manager) handleLogError(l *Log, err error) {
	if err == nil || errors.Is(err, ErrClosed) {
		return
	}
	if errors.Is(err, ErrStorage) {
		m.mu.Lock()
		dir := m.dirOf[l.tp]
		m.mu.Unlock()
		if dir != "" {
			m.markOffline(dir, err)
		}
		return
	}
	m.log.WithError(err).WithFields(logrus.Fields{"topic": l.tp.Topic, "partition": l.tp.Partition}).Warn("log maintenance failed")
}

func (m *Manager) logCheckpointError(err error) {
	if err != nil {
		m.log.WithError(err).Warn("writing checkpoint failed")
	}
}

// CheckpointRecoveryPoints writes recovery-point-offset-checkpoint in every
// online directory.
func (m *Manager) CheckpointRecoveryPoints() error {
	return m.checkpoint(RecoveryPointCheckpointFile, (*Log).RecoveryPoint)
}

// CheckpointLogStartOffsets writes log-start-offset-checkpoint.
func (m *Manager) CheckpointLogStartOffsets() error {
	return m.checkpoint(LogStartOffsetCheckpointFile, (*Log).LogStartOffset)
}

// CheckpointHighWatermarks writes replication-offset-checkpoint with the
// high watermarks last given to each log.
func (m *Manager) CheckpointHighWatermarks() error {
	return m.checkpoint(ReplicationCheckpointFile, (*Log).HighWatermark)
}

func (m *Manager) checkpoint(name string, offset func(*Log) int64) error {
	m.mu.Lock()
	byDir := map[string]map[TopicPartition]int64{}
	for _, d := range m.cfg.Dirs {
		if _, off := m.offline[d]; !off {
			byDir[d] = map[TopicPartition]int64{}
		}
	}
	logs := make(map[TopicPartition]*Log, len(m.logs))
	for tp, l := range m.logs {
		logs[tp] = l
	}
	dirOf := make(map[TopicPartition]string, len(m.dirOf))
	for tp, d := range m.dirOf {
		dirOf[tp] = d
	}
	m.mu.Unlock()
	for tp, l := range logs {
		if offsets, ok := byDir[dirOf[tp]]; ok {
			offsets[tp] = offset(l)
		}
	}
	var errs []error
	for dir, offsets := range byDir {
		if err := WriteOffsetCheckpoint(m.fs, filepath.Join(dir, name), offsets); err != nil {
			m.markOffline(dir, err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shutdown flushes and closes every log, writes the checkpoints, and marks
// each directory whose logs all closed cleanly with the clean-shutdown
// marker, so the next start skips recovery there. Call it after Run has
// returned.
func (m *Manager) Shutdown() error {
	logs := m.Logs()
	failedDirs := map[string]bool{}
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(4, len(m.cfg.Dirs)*m.cfg.RecoveryThreadsPerDir))
	for _, l := range logs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := errors.Join(l.Flush(), l.Close())
			if err != nil {
				m.mu.Lock()
				dir := m.dirOf[l.tp]
				m.mu.Unlock()
				mu.Lock()
				failedDirs[dir] = true
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	errs = append(errs, m.CheckpointRecoveryPoints(), m.CheckpointLogStartOffsets(), m.CheckpointHighWatermarks())
	for _, dir := range m.cfg.Dirs {
		m.mu.Lock()
		_, off := m.offline[dir]
		m.mu.Unlock()
		if off || failedDirs[dir] {
			continue
		}
		if err := m.writeCleanShutdownMarker(dir); err != nil {
			errs = append(errs, err)
		}
	}
	m.log.Info("log manager shut down")
	return errors.Join(errs...)
}

func (m *Manager) writeCleanShutdownMarker(dir string) error {
	f, err := m.fs.OpenFile(filepath.Join(dir, CleanShutdownFile), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return storageErr("write clean shutdown marker", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return storageErr("write clean shutdown marker", err)
	}
	return storageErr("sync log directory", m.fs.SyncDir(dir))
}
