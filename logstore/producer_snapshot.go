package logstore

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Producer snapshot files.
//
// A snapshot is the producer state at an offset: it reflects every batch of
// the log below that offset. It lives in the partition folder as
// <offset, 20 digits zero-padded>.snapshot, like a segment's files, and the
// Log takes one at the base offset of every new segment and at the log end
// on shutdown. Recovery loads the latest snapshot and replays the log from
// its offset instead of reading the whole log.
//
// The bytes are Kafka's, so that Kafka's tools (kafka-dump-log.sh) read ours
// and a log directory moves between Kafka and Gregor: version 1 of Kafka
// 2.8's ProducerStateManager.PidSnapshotMapSchema (Kafka 3.x generates the
// same bytes from PidSnapshot.json). Integers are big-endian, signed unless
// said otherwise.
//
//	offset  size  field
//	     0     2  version            1; any other is refused
//	     2     4  crc                unsigned CRC-32C (Castagnoli) of bytes [6, end)
//	     6     4  producer_entries   count n >= 0, then n entries of 46 bytes:
//	    10    46  entry 0
//	     .     .  ...
//
//	entry offset  size  field
//	           0     8  producer_id
//	           8     2  epoch
//	          10     4  last_sequence             of the last data batch; -1 if none
//	          14     8  last_offset               of the last data batch; -1 if none
//	          22     4  offset_delta              last offset delta of that batch; 0 if none
//	          26     8  timestamp                 the producer's last timestamp (ms)
//	          34     4  coordinator_epoch         -1 if no marker was written
//	          38     8  current_txn_first_offset  -1 if no transaction is open
//
// Only a producer's last batch is stored, not the last five: after a reload
// a producer has at most one cached batch, whose timestamp is the producer's
// last timestamp (Kafka does the same). An entry with a negative last_offset
// has no cached batch, and a negative current_txn_first_offset means no open
// transaction.
//
// Where we differ from Kafka, always on the safe side:
//   - Kafka writes the file in place, so a crash can leave a torn one that
//     only its CRC catches. We write <name>.tmp, fsync it, rename it over
//     the final name and fsync the folder, so a snapshot file is either
//     whole or absent; a leftover .tmp is deleted at the next scan.
//   - Kafka ignores bytes after the last entry (the CRC covers them). A file
//     Kafka writes never has any; we refuse them as corrupt.
//   - Entries are written in producer id order (Kafka's order is its hash
//     map's), so the same state always gives the same bytes.
const (
	producerSnapshotVersion       = 1
	producerSnapshotSuffix        = ".snapshot"
	producerSnapshotDigits        = 20
	producerSnapshotCRCOffset     = 2
	producerSnapshotEntriesOffset = 6 // the CRC covers the file from here
	producerSnapshotHeaderSize    = 10
	producerSnapshotEntrySize     = 46
)

// encodeProducerSnapshot returns the snapshot file bytes for entries, in the
// order given.
func encodeProducerSnapshot(entries []ProducerStateEntry) []byte {
	b := make([]byte, producerSnapshotHeaderSize+producerSnapshotEntrySize*len(entries))
	binary.BigEndian.PutUint16(b, producerSnapshotVersion)
	binary.BigEndian.PutUint32(b[producerSnapshotEntriesOffset:], uint32(len(entries)))
	p := b[producerSnapshotHeaderSize:]
	for i := range entries {
		e := &entries[i]
		txnFirstOffset := e.CurrentTxnFirstOffset
		if txnFirstOffset < 0 {
			txnFirstOffset = -1
		}
		binary.BigEndian.PutUint64(p[0:], uint64(e.ProducerID))
		binary.BigEndian.PutUint16(p[8:], uint16(e.ProducerEpoch))
		binary.BigEndian.PutUint32(p[10:], uint32(e.LastSeq()))
		binary.BigEndian.PutUint64(p[14:], uint64(e.LastOffset()))
		binary.BigEndian.PutUint32(p[22:], uint32(e.lastOffsetDelta()))
		binary.BigEndian.PutUint64(p[26:], uint64(e.LastTimestamp))
		binary.BigEndian.PutUint32(p[34:], uint32(e.CoordinatorEpoch))
		binary.BigEndian.PutUint64(p[38:], uint64(txnFirstOffset))
		p = p[producerSnapshotEntrySize:]
	}
	crc := crc32.Checksum(b[producerSnapshotEntriesOffset:], crc32c)
	binary.BigEndian.PutUint32(b[producerSnapshotCRCOffset:], crc)
	return b
}

// decodeProducerSnapshot parses snapshot file bytes into entries, in file
// order. Any malformed input gives an error wrapping ErrCorrupt; it never
// panics and allocates no more than b's size justifies.
func decodeProducerSnapshot(b []byte) ([]ProducerStateEntry, error) {
	if len(b) < producerSnapshotHeaderSize {
		return nil, Corruptf("producer snapshot has %d bytes, less than its %d-byte header", len(b), producerSnapshotHeaderSize)
	}
	if v := int16(binary.BigEndian.Uint16(b)); v != producerSnapshotVersion {
		return nil, Corruptf("producer snapshot has version %d, want %d", v, producerSnapshotVersion)
	}
	stored := binary.BigEndian.Uint32(b[producerSnapshotCRCOffset:])
	if computed := crc32.Checksum(b[producerSnapshotEntriesOffset:], crc32c); stored != computed {
		return nil, Corruptf("producer snapshot crc is %#08x, computed %#08x", stored, computed)
	}
	n := int32(binary.BigEndian.Uint32(b[producerSnapshotEntriesOffset:]))
	if n < 0 {
		return nil, Corruptf("producer snapshot has a negative entry count %d", n)
	}
	if want := producerSnapshotHeaderSize + producerSnapshotEntrySize*int64(n); int64(len(b)) != want {
		return nil, Corruptf("producer snapshot with %d entries should have %d bytes, has %d", n, want, len(b))
	}
	entries := make([]ProducerStateEntry, n)
	p := b[producerSnapshotHeaderSize:]
	for i := range entries {
		lastSeq := int32(binary.BigEndian.Uint32(p[10:]))
		lastOffset := int64(binary.BigEndian.Uint64(p[14:]))
		offsetDelta := int32(binary.BigEndian.Uint32(p[22:]))
		timestamp := int64(binary.BigEndian.Uint64(p[26:]))
		txnFirstOffset := int64(binary.BigEndian.Uint64(p[38:]))
		if txnFirstOffset < 0 {
			txnFirstOffset = -1
		}
		e := ProducerStateEntry{
			ProducerID:            int64(binary.BigEndian.Uint64(p[0:])),
			ProducerEpoch:         int16(binary.BigEndian.Uint16(p[8:])),
			CoordinatorEpoch:      int32(binary.BigEndian.Uint32(p[34:])),
			CurrentTxnFirstOffset: txnFirstOffset,
			LastTimestamp:         timestamp,
		}
		if lastOffset >= 0 {
			e.Batches = []BatchMetadata{{
				FirstSeq:    producerFirstSeq(lastSeq, offsetDelta),
				LastSeq:     lastSeq,
				LastOffset:  lastOffset,
				OffsetDelta: offsetDelta,
				Timestamp:   timestamp,
			}}
		}
		entries[i] = e
		p = p[producerSnapshotEntrySize:]
	}
	return entries, nil
}

// producerSnapshotName is the file name of the snapshot at offset.
func producerSnapshotName(offset int64) string {
	return fmt.Sprintf("%0*d%s", producerSnapshotDigits, offset, producerSnapshotSuffix)
}

// parseProducerSnapshotName returns the offset of a file name made by
// producerSnapshotName. Other names, including other spellings of the same
// offset, are not snapshots.
func parseProducerSnapshotName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, producerSnapshotSuffix)
	if !ok || len(digits) != producerSnapshotDigits {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	offset, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, false // more than an int64 holds
	}
	return offset, true
}

func (m *ProducerStateManager) snapshotPath(offset int64) string {
	return filepath.Join(m.dir, producerSnapshotName(offset))
}

// scanSnapshots lists the snapshot files in the partition folder, replacing
// what the manager knew, and deletes leftover temporary files of snapshots
// whose writing was cut short by a crash. A missing folder has none.
func (m *ProducerStateManager) scanSnapshots() error {
	ents, err := m.fsys.ReadDir(m.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return storageErr("list producer snapshots in "+m.dir, err)
	}
	m.snapshots = m.snapshots[:0]
	for _, ent := range ents {
		if ent.IsDir() {
			continue
		}
		name := ent.Name()
		if offset, ok := parseProducerSnapshotName(name); ok {
			m.snapshots = append(m.snapshots, offset)
			continue
		}
		if base, ok := strings.CutSuffix(name, ".tmp"); ok {
			if _, ok := parseProducerSnapshotName(base); ok {
				if err := m.fsys.Remove(filepath.Join(m.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return storageErr("remove leftover producer snapshot "+name, err)
				}
			}
		}
	}
	slices.Sort(m.snapshots)
	m.listed = true
	return nil
}

func (m *ProducerStateManager) ensureScanned() error {
	if m.listed {
		return nil
	}
	return m.scanSnapshots()
}

// deleteSnapshot deletes the snapshot at offset; one already gone is fine. On
// failure the manager still counts it.
func (m *ProducerStateManager) deleteSnapshot(offset int64) error {
	if err := m.fsys.Remove(m.snapshotPath(offset)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return storageErr("remove producer snapshot "+producerSnapshotName(offset), err)
	}
	m.forgetSnapshot(offset)
	return nil
}

func (m *ProducerStateManager) forgetSnapshot(offset int64) {
	if i, ok := slices.BinarySearch(m.snapshots, offset); ok {
		m.snapshots = slices.Delete(m.snapshots, i, i+1)
	}
}

// deleteSnapshotsIf deletes every snapshot whose offset satisfies drop. It
// tries them all and returns the first error.
func (m *ProducerStateManager) deleteSnapshotsIf(drop func(offset int64) bool) (deleted bool, err error) {
	for _, offset := range slices.Clone(m.snapshots) {
		if !drop(offset) {
			continue
		}
		if derr := m.deleteSnapshot(offset); derr != nil {
			err = cmp.Or(err, derr)
			continue
		}
		deleted = true
	}
	return deleted, err
}

// readSnapshot reads and decodes the snapshot at offset. A malformed file
// gives an error wrapping ErrCorrupt, a failed read one wrapping ErrStorage.
func (m *ProducerStateManager) readSnapshot(offset int64) ([]ProducerStateEntry, error) {
	path := m.snapshotPath(offset)
	f, err := m.fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, storageErr("open producer snapshot", err)
	}
	b, err := io.ReadAll(f)
	f.Close() // read-only: closing cannot lose data
	if err != nil {
		return nil, storageErr("read producer snapshot "+path, err)
	}
	entries, err := decodeProducerSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return entries, nil
}

// TakeSnapshot writes the state to <dir>/<MapEndOffset, 20 digits>.snapshot,
// unless a snapshot at that offset exists already. The file appears whole or
// not at all: it is written under a temporary name, fsynced, renamed and the
// folder fsynced. Errors wrap ErrStorage (a full disk also matches
// syscall.ENOSPC) and leave no snapshot behind, except when only the final
// folder fsync fails: the file is then whole and counted, and the error says
// its name may not survive a crash.
func (m *ProducerStateManager) TakeSnapshot() error {
	offset := m.mapEndOffset
	if offset < 0 {
		return fmt.Errorf("logstore: producer snapshot at negative offset %d", offset)
	}
	if err := m.ensureScanned(); err != nil {
		return err
	}
	if _, ok := slices.BinarySearch(m.snapshots, offset); ok {
		return nil
	}
	entries := make([]ProducerStateEntry, 0, len(m.producers))
	for _, e := range m.producers {
		entries = append(entries, *e) // shares Batches, which encoding only reads
	}
	slices.SortFunc(entries, func(a, b ProducerStateEntry) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return m.writeSnapshot(offset, encodeProducerSnapshot(entries))
}

func (m *ProducerStateManager) writeSnapshot(offset int64, data []byte) error {
	renamed, err := writeFileAtomic(m.fsys, m.snapshotPath(offset), data)
	if renamed {
		// The file is whole under its final name, so count it even if the
		// folder fsync failed: only the rename's durability is in doubt.
		i, _ := slices.BinarySearch(m.snapshots, offset)
		m.snapshots = slices.Insert(m.snapshots, i, offset)
	}
	if err != nil {
		return fmt.Errorf("producer snapshot: %w", err)
	}
	return nil
}

// LatestSnapshotOffset is the offset of the newest snapshot file. Until
// TruncateAndReload or TruncateFullyAndStartAt has scanned the folder it
// knows only the snapshots this manager wrote.
func (m *ProducerStateManager) LatestSnapshotOffset() (int64, bool) {
	if len(m.snapshots) == 0 {
		return 0, false
	}
	return m.snapshots[len(m.snapshots)-1], true
}

// OldestSnapshotOffset is the offset of the oldest snapshot file, with the
// same caveat as LatestSnapshotOffset.
func (m *ProducerStateManager) OldestSnapshotOffset() (int64, bool) {
	if len(m.snapshots) == 0 {
		return 0, false
	}
	return m.snapshots[0], true
}

// TruncateAndReload sets the state up for a log holding
// [logStartOffset, logEndOffset): at log open, and after the log was
// truncated. It
//
//  1. scans the folder for snapshots (deleting leftover temporary files),
//  2. deletes the snapshots above logEndOffset, which describe batches no
//     longer in the log, and fsyncs the folder so that none comes back after
//     a crash to describe batches written later at the same offsets; and
//     deletes those below logStartOffset, which describe deleted segments,
//  3. unless the state already ends exactly at logEndOffset (a truncation
//     that removed nothing, as Kafka skips it too), forgets the state and
//     loads the latest snapshot left. A corrupt snapshot (ErrCorrupt) is
//     deleted and the next older one tried. Producers already expired at
//     now are not loaded.
//  4. sets MapEndOffset to the loaded snapshot's offset, or to
//     logStartOffset if no snapshot is left.
//
// The caller then replays the log's batches from MapEndOffset to
// logEndOffset through Update and UpdateMapEndOffset (Kafka also takes a
// snapshot at the base of each of the last two segments on the way and at
// logEndOffset at the end).
//
// A snapshot exactly at logStartOffset is kept (Kafka deletes it): it holds
// the producers whose batches retention removed, which KIP-360 keeps. Errors
// wrap ErrStorage; after one the state is empty and the log should go
// offline.
func (m *ProducerStateManager) TruncateAndReload(logStartOffset, logEndOffset int64, now time.Time) error {
	if err := m.scanSnapshots(); err != nil {
		return err
	}
	var truncated bool
	_, err := m.deleteSnapshotsIf(func(offset int64) bool {
		if offset > logEndOffset {
			truncated = true
			return true
		}
		return offset < logStartOffset
	})
	if err == nil && truncated {
		if serr := m.fsys.SyncDir(m.dir); serr != nil {
			err = storageErr("sync "+m.dir+" after deleting producer snapshots", serr)
		}
	}
	if err != nil {
		m.loaded = false
		clear(m.producers)
		return err
	}
	if m.loaded && m.mapEndOffset == logEndOffset {
		m.OnLogStartOffsetIncremented(logStartOffset)
		return nil
	}
	m.loaded = false
	clear(m.producers)
	for len(m.snapshots) > 0 {
		offset := m.snapshots[len(m.snapshots)-1]
		entries, err := m.readSnapshot(offset)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			m.forgetSnapshot(offset) // deleted behind our back: try the next
			continue
		case errors.Is(err, ErrCorrupt):
			// Kafka logs a warning here. This manager has no logger (its
			// constructor takes none), so the fallback is silent for now.
			if derr := m.deleteSnapshot(offset); derr != nil {
				return derr
			}
			continue
		case err != nil:
			return err
		}
		for i := range entries {
			e := &entries[i]
			if m.isExpired(e, now) {
				continue
			}
			batches := make([]BatchMetadata, len(e.Batches), maxCachedProducerBatches)
			copy(batches, e.Batches)
			e.Batches = batches
			m.producers[e.ProducerID] = e // a repeated id: the last one wins, as in Kafka
		}
		m.mapEndOffset = offset
		m.loaded = true
		return nil
	}
	m.mapEndOffset = logStartOffset
	m.loaded = true
	return nil
}

// TruncateFullyAndStartAt forgets all state and deletes every snapshot, for
// a log emptied to restart at offset (a follower too far behind the leader's
// log start); MapEndOffset becomes offset. The folder is fsynced after the
// deletions so that no old snapshot comes back after a crash to describe the
// new batches written at its offset. Errors wrap ErrStorage; the in-memory
// state is cleared regardless.
func (m *ProducerStateManager) TruncateFullyAndStartAt(offset int64) error {
	clear(m.producers)
	m.mapEndOffset = offset
	m.loaded = true
	if err := m.ensureScanned(); err != nil {
		return err
	}
	deleted, err := m.deleteSnapshotsIf(func(int64) bool { return true })
	if deleted {
		if serr := m.fsys.SyncDir(m.dir); serr != nil {
			err = cmp.Or(err, storageErr("sync "+m.dir+" after deleting producer snapshots", serr))
		}
	}
	return err
}

// DeleteSnapshotsBefore deletes the snapshots below offset, for segments that
// retention deleted (pass the new log start offset). It tries them all and
// returns the first error, which wraps ErrStorage. The deletions are not
// fsynced: a snapshot below the log start that comes back after a crash is
// deleted by the next TruncateAndReload.
func (m *ProducerStateManager) DeleteSnapshotsBefore(offset int64) error {
	if err := m.ensureScanned(); err != nil {
		return err
	}
	_, err := m.deleteSnapshotsIf(func(o int64) bool { return o < offset })
	return err
}
