package logstore

import (
	"path/filepath"
	"slices"
	"sync"

	"github.com/sirupsen/logrus"
)

// LeaderEpochCheckpointFile is the name of a partition's leader epoch
// checkpoint, in the partition folder.
const LeaderEpochCheckpointFile = "leader-epoch-checkpoint"

// UndefinedEpoch and UndefinedEpochOffset are what an epoch lookup answers
// when it knows nothing (Kafka's UNDEFINED_EPOCH and
// UNDEFINED_EPOCH_OFFSET); OffsetForLeaderEpoch sends them to followers.
const (
	UndefinedEpoch       int32 = -1
	UndefinedEpochOffset int64 = -1
)

// LeaderEpochCache maps each leader epoch of a partition to the first
// offset its leader wrote (KIP-101): the history a follower compares with its
// own to find where its log diverged from the leader's, instead of
// truncating blindly to its high watermark. It is Kafka's
// LeaderEpochFileCache, persisted to leader-epoch-checkpoint on every
// change (changes are rare: one per leader election that reaches the log).
//
// Entries are kept strictly increasing in both epoch and start offset. Safe
// for concurrent use.
type LeaderEpochCache struct {
	fs   FS
	path string
	log  *logrus.Entry

	mu      sync.RWMutex
	entries []EpochEntry
}

// openLeaderEpochCache loads the checkpoint in dir. A missing file is an
// empty history; an unreadable or malformed one too, with a warning: the
// history is an optimisation of truncation's precision, and a follower
// without one falls back to the leader's answers (Kafka likewise starts
// over when the file is corrupt). Entries that break monotonicity are
// dropped as Kafka's loading does.
func openLeaderEpochCache(fsys FS, dir string, log *logrus.Entry) *LeaderEpochCache {
	c := &LeaderEpochCache{fs: fsys, path: filepath.Join(dir, LeaderEpochCheckpointFile), log: log}
	entries, err := ReadLeaderEpochCheckpoint(fsys, c.path)
	if err != nil {
		log.WithError(err).Warn("leader epoch checkpoint unreadable; starting an empty epoch history")
		return c
	}
	for _, e := range entries {
		c.assignLocked(e)
	}
	return c
}

// Assign records that the leader of epoch wrote its first record at
// startOffset. An entry for the latest epoch with an equal or later start is
// a no-op; otherwise entries the new one makes non-monotonic (a later or
// equal epoch, or a later or equal start offset) are removed first, as after
// a truncation. It reports whether the history changed (and was persisted).
func (c *LeaderEpochCache) Assign(epoch int32, startOffset int64) (bool, error) {
	if epoch < 0 || startOffset < 0 {
		return false, nil
	}
	e := EpochEntry{Epoch: epoch, StartOffset: startOffset}
	c.mu.RLock()
	needed := c.updateNeededLocked(e)
	c.mu.RUnlock()
	if !needed {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.updateNeededLocked(e) {
		return false, nil
	}
	c.assignLocked(e)
	return true, c.flushLocked()
}

func (c *LeaderEpochCache) updateNeededLocked(e EpochEntry) bool {
	if len(c.entries) == 0 {
		return true
	}
	last := c.entries[len(c.entries)-1]
	return e.Epoch != last.Epoch || e.StartOffset < last.StartOffset
}

func (c *LeaderEpochCache) assignLocked(e EpochEntry) {
	n := len(c.entries)
	for n > 0 && (c.entries[n-1].Epoch >= e.Epoch || c.entries[n-1].StartOffset >= e.StartOffset) {
		n--
	}
	if removed := c.entries[n:]; len(removed) > 1 || (len(removed) == 1 && removed[0].StartOffset != e.StartOffset) {
		c.log.WithFields(logrus.Fields{"epoch": e.Epoch, "start_offset": e.StartOffset, "removed": removed}).
			Warn("new leader epoch entry removed later entries of the history")
	}
	c.entries = append(c.entries[:n], e)
}

// LatestEpoch is the newest epoch in the history.
func (c *LeaderEpochCache) LatestEpoch() (int32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return UndefinedEpoch, false
	}
	return c.entries[len(c.entries)-1].Epoch, true
}

// EarliestEntry is the oldest entry of the history.
func (c *LeaderEpochCache) EarliestEntry() (EpochEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return EpochEntry{}, false
	}
	return c.entries[0], true
}

// Entries is a copy of the history, oldest first.
func (c *LeaderEpochCache) Entries() []EpochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.entries)
}

// EndOffsetFor answers an OffsetForLeaderEpoch question with Kafka's rules:
// for the latest epoch, the log end offset; for an older epoch, the start
// offset of the first epoch after it, together with the largest epoch at or
// below the one asked; for an epoch older than all, that epoch and the
// first start offset; for an unknown newer epoch or an empty history,
// (UndefinedEpoch, UndefinedEpochOffset).
func (c *LeaderEpochCache) EndOffsetFor(epoch int32, logEndOffset int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if epoch == UndefinedEpoch || len(c.entries) == 0 {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if c.entries[len(c.entries)-1].Epoch == epoch {
		return epoch, logEndOffset
	}
	// higher: the first entry with an epoch above the one asked.
	higher, _ := slices.BinarySearchFunc(c.entries, epoch, func(e EpochEntry, t int32) int {
		if e.Epoch <= t {
			return -1
		}
		return 1
	})
	if higher == len(c.entries) {
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if higher == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
}

// truncateFromEnd removes the entries starting at or after endOffset: the
// log was truncated to endOffset.
func (c *LeaderEpochCache) truncateFromEnd(endOffset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= endOffset {
		n--
	}
	if n == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:n]
	return c.flushLocked()
}

// truncateFromStart drops the entries wholly before startOffset, the new
// log start: the last of the entries at or below it stays, moved to start
// there, since its epoch still covers the first records of the log.
func (c *LeaderEpochCache) truncateFromStart(startOffset int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(c.entries) && c.entries[n].StartOffset <= startOffset {
		n++
	}
	if n == 0 || (n == 1 && c.entries[0].StartOffset == startOffset) {
		return nil
	}
	first := EpochEntry{Epoch: c.entries[n-1].Epoch, StartOffset: startOffset}
	c.entries = append([]EpochEntry{first}, c.entries[n:]...)
	return c.flushLocked()
}

// clear empties the history (the log restarted empty).
func (c *LeaderEpochCache) clear() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		return nil
	}
	c.entries = nil
	return c.flushLocked()
}

func (c *LeaderEpochCache) flushLocked() error {
	return WriteLeaderEpochCheckpoint(c.fs, c.path, c.entries)
}
