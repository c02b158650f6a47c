package logstore

import (
	"encoding/binary"
	"fmt"
)

// TimestampOffset is a time index entry: no batch before Offset has a
// timestamp above Timestamp, so a search for the first record at or after a
// timestamp above Timestamp can start at Offset.
type TimestampOffset struct {
	Timestamp int64
	Offset    int64
}

const timeIndexEntrySize = 12

// Fields of a time index entry (see index.go for the file format).
var (
	timeIndexTimestamp      = indexField{offset: 0, width: 8}
	timeIndexRelativeOffset = indexField{offset: 8, width: 4}
)

// TimeIndex maps timestamps to offsets in one segment, the segment's
// .timeindex file, for ListOffsets by timestamp and time-based retention. It
// is sparse, like the offset index. Its timestamps strictly increase and its
// offsets never decrease: an entry is added only when a batch raises the
// segment's largest timestamp so far.
//
// A TimeIndex is not safe for concurrent use; the owning Log's lock guards
// it, and lookups may run concurrently with each other under its read lock.
// See index.go for the file's life and why appends use pwrite.
type TimeIndex struct {
	indexFile
}

// OpenTimeIndex opens the time index at path for the segment starting at
// baseOffset, with the same rules as OpenOffsetIndex.
func OpenTimeIndex(fsys FS, path string, baseOffset int64, maxIndexSize int) (*TimeIndex, error) {
	ix := &TimeIndex{}
	if err := ix.open(fsys, path, baseOffset, maxIndexSize, timeIndexEntrySize); err != nil {
		return nil, err
	}
	return ix, nil
}

// IsFull reports whether the index has no room for another ordinary entry.
// As in Kafka, the last slot is kept for the entry the segment writes when
// it rolls or closes (MaybeAppend with skipFullCheck), so the index is full
// one entry early.
func (ix *TimeIndex) IsFull() bool { return ix.entries >= ix.maxEntries-1 }

// LastEntry is the last entry, or {NoTimestamp, BaseOffset} when the index is
// empty.
func (ix *TimeIndex) LastEntry() TimestampOffset {
	if ix.entries == 0 {
		return TimestampOffset{Timestamp: NoTimestamp, Offset: ix.baseOffset}
	}
	return ix.decode(ix.lastEntry[:])
}

// MaybeAppend adds the entry {timestamp, offset} if timestamp is above the
// last entry's (or above NoTimestamp when the index is empty), and otherwise
// does nothing, which is Kafka's rule: the segment passes its largest
// timestamp so far, which repeats while batches do not raise it.
//
// The offset must be at or above the base offset, within 2^31-1 of it, and
// not below the last entry's; the timestamp must not be below the last
// entry's. Otherwise the result is an *IndexAppendError. When IsFull it
// returns ErrIndexFull unless skipFullCheck is set, which the segment does
// for the final entry it writes when it rolls or closes; the slot kept for
// it is then used. A failed write gives an error matching ErrStorage. In
// every failing case the index is unchanged.
func (ix *TimeIndex) MaybeAppend(timestamp, offset int64, skipFullCheck bool) error {
	if ix.closed {
		return ix.closedErr("append to")
	}
	if !skipFullCheck && ix.IsFull() {
		return fmt.Errorf("append to time index %s with %d entries: %w", ix.path, ix.entries, ErrIndexFull)
	}
	last := ix.LastEntry()
	if ix.entries > 0 && offset < last.Offset {
		return &IndexAppendError{Path: ix.path, Reason: fmt.Sprintf("offset %d is below the last offset %d", offset, last.Offset)}
	}
	if ix.entries > 0 && timestamp < last.Timestamp {
		return &IndexAppendError{Path: ix.path, Reason: fmt.Sprintf("timestamp %d is below the last timestamp %d", timestamp, last.Timestamp)}
	}
	relative, err := ix.relativeOffset(offset)
	if err != nil {
		return err
	}
	if timestamp <= last.Timestamp {
		return nil
	}
	var entry [timeIndexEntrySize]byte
	binary.BigEndian.PutUint64(entry[0:], uint64(timestamp))
	binary.BigEndian.PutUint32(entry[8:], uint32(relative))
	return ix.appendEntry(entry[:])
}

// Lookup returns the entry with the largest timestamp at or below target, or
// {NoTimestamp, BaseOffset} when there is none. It never fails; if the
// entries cannot be read it also answers {NoTimestamp, BaseOffset}, from
// which a scan is always correct. The first lookup maps the file.
func (ix *TimeIndex) Lookup(target int64) TimestampOffset {
	entry := ix.lookup(timeIndexTimestamp, target)
	if entry == nil {
		return TimestampOffset{Timestamp: NoTimestamp, Offset: ix.baseOffset}
	}
	return ix.decode(entry)
}

// Entry returns entry n, counting from 0; it panics if n is not below
// Entries(). If the entry cannot be read (the index is closed, or a read
// failed) it returns {NoTimestamp, BaseOffset}.
func (ix *TimeIndex) Entry(n int) TimestampOffset {
	entry := ix.entry(n)
	if entry == nil {
		return TimestampOffset{Timestamp: NoTimestamp, Offset: ix.baseOffset}
	}
	return ix.decode(entry)
}

func (ix *TimeIndex) decode(entry []byte) TimestampOffset {
	return TimestampOffset{
		Timestamp: timeIndexTimestamp.read(entry),
		Offset:    ix.baseOffset + timeIndexRelativeOffset.read(entry),
	}
}

// TruncateTo removes the entries whose offset is at or above offset. An
// offset above every entry changes nothing.
func (ix *TimeIndex) TruncateTo(offset int64) error {
	return ix.truncateToOffset(timeIndexRelativeOffset, offset)
}

// SanityCheck does Kafka's cheap checks of a loaded time index, reading at
// most three entries: the last timestamp is not below the first, the first
// and last offsets are not below the base offset, and the last two entries
// have strictly increasing timestamps and non-decreasing offsets (which
// catches an untrimmed, zeroed tail). A failure matches ErrCorrupt, and the
// log rebuilds the index.
func (ix *TimeIndex) SanityCheck() error {
	firstEntry, previousEntry, lastEntry, err := ix.edgeEntries()
	if err != nil || firstEntry == nil {
		return err
	}
	first, last := ix.decode(firstEntry), ix.decode(lastEntry)
	switch {
	case last.Timestamp < first.Timestamp:
		return Corruptf("time index %s: last timestamp %d is below the first %d", ix.path, last.Timestamp, first.Timestamp)
	case first.Offset < ix.baseOffset:
		return Corruptf("time index %s: first offset %d is below base offset %d", ix.path, first.Offset, ix.baseOffset)
	case last.Offset < ix.baseOffset:
		return Corruptf("time index %s: last offset %d is below base offset %d", ix.path, last.Offset, ix.baseOffset)
	}
	if previousEntry == nil {
		return nil
	}
	if previous := ix.decode(previousEntry); previous.Timestamp >= last.Timestamp || previous.Offset > last.Offset {
		return Corruptf("time index %s: last two entries (%d at offset %d, %d at offset %d) are out of order",
			ix.path, previous.Timestamp, previous.Offset, last.Timestamp, last.Offset)
	}
	return nil
}
