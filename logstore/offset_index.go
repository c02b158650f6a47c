package logstore

import (
	"encoding/binary"
	"fmt"
)

// OffsetPosition is an offset index entry: the batch that holds Offset starts
// at byte Position of the segment's .log file.
type OffsetPosition struct {
	Offset   int64
	Position int32
}

const offsetIndexEntrySize = 8

// Fields of an offset index entry (see index.go for the file format).
var (
	offsetIndexRelativeOffset = indexField{offset: 0, width: 4}
	offsetIndexPosition       = indexField{offset: 4, width: 4}
)

// OffsetIndex maps offsets to byte positions in one segment's .log file, the
// segment's .index file. It is sparse: the log adds an entry every
// log.index.interval.bytes of appended batches, so a lookup gives a position
// at or before the wanted batch and the reader scans forward from there.
// Offsets in it strictly increase, and so do positions.
//
// An OffsetIndex is not safe for concurrent use; the owning Log's lock
// guards it, and lookups may run concurrently with each other under its read
// lock. See index.go for the file's life and why appends use pwrite.
type OffsetIndex struct {
	indexFile
}

// OpenOffsetIndex opens the offset index at path for the segment starting at
// baseOffset. A missing file is created, preallocated to maxIndexSize rounded
// down to whole entries. An existing file is taken to hold only valid entries
// (it was trimmed when its segment rolled or closed) and is not grown: call
// Resize to append to it. A file whose size is not a whole number of entries
// gives an error matching ErrCorrupt; the log then rebuilds the index.
func OpenOffsetIndex(fsys FS, path string, baseOffset int64, maxIndexSize int) (*OffsetIndex, error) {
	ix := &OffsetIndex{}
	if err := ix.open(fsys, path, baseOffset, maxIndexSize, offsetIndexEntrySize); err != nil {
		return nil, err
	}
	return ix, nil
}

// IsFull reports whether the file has no room for another entry; the log
// rolls a new segment when it has.
func (ix *OffsetIndex) IsFull() bool { return ix.entries >= ix.maxEntries }

// LastOffset is the offset of the last entry, or the base offset when the
// index is empty.
func (ix *OffsetIndex) LastOffset() int64 {
	return ix.baseOffset + offsetIndexRelativeOffset.read(ix.lastEntry[:])
}

// Append adds an entry for the batch holding offset at byte position of the
// .log file. The offset must be at or above the base offset, within 2^31-1 of
// it, and above LastOffset when the index is not empty; the position must
// not be negative and must be above the last entry's. Otherwise the result
// is an *IndexAppendError. A full index gives ErrIndexFull and a failed
// write an error matching ErrStorage; in every failing case the index is
// unchanged.
func (ix *OffsetIndex) Append(offset int64, position int32) error {
	if ix.closed {
		return ix.closedErr("append to")
	}
	if ix.entries > 0 && offset <= ix.LastOffset() {
		return &IndexAppendError{Path: ix.path, Reason: fmt.Sprintf("offset %d is not above the last offset %d", offset, ix.LastOffset())}
	}
	if last := int32(offsetIndexPosition.read(ix.lastEntry[:])); position < 0 || (ix.entries > 0 && position <= last) {
		return &IndexAppendError{Path: ix.path, Reason: fmt.Sprintf("position %d is negative or not above the last position %d", position, last)}
	}
	relative, err := ix.relativeOffset(offset)
	if err != nil {
		return err
	}
	var entry [offsetIndexEntrySize]byte
	binary.BigEndian.PutUint32(entry[0:], uint32(relative))
	binary.BigEndian.PutUint32(entry[4:], uint32(position))
	return ix.appendEntry(entry[:])
}

// Lookup returns the entry with the largest offset at or below target, or
// {BaseOffset, 0} when there is none: the start of the segment, where a scan
// for target can always begin. It never fails; if the entries cannot be read
// it also answers the start of the segment. The first lookup maps the file.
func (ix *OffsetIndex) Lookup(target int64) OffsetPosition {
	if target < ix.baseOffset {
		return OffsetPosition{Offset: ix.baseOffset}
	}
	// Relative offsets compare as int64, so a target far above the base
	// does not overflow.
	entry := ix.lookup(offsetIndexRelativeOffset, target-ix.baseOffset)
	if entry == nil {
		return OffsetPosition{Offset: ix.baseOffset}
	}
	return ix.decode(entry)
}

// Entry returns entry n, counting from 0; it panics if n is not below
// Entries(). If the entry cannot be read (the index is closed, or a read
// failed) it returns {BaseOffset, 0}.
func (ix *OffsetIndex) Entry(n int) OffsetPosition {
	entry := ix.entry(n)
	if entry == nil {
		return OffsetPosition{Offset: ix.baseOffset}
	}
	return ix.decode(entry)
}

func (ix *OffsetIndex) decode(entry []byte) OffsetPosition {
	return OffsetPosition{
		Offset:   ix.baseOffset + offsetIndexRelativeOffset.read(entry),
		Position: int32(offsetIndexPosition.read(entry)),
	}
}

// TruncateTo removes the entries whose offset is at or above offset. An
// offset above every entry changes nothing.
func (ix *OffsetIndex) TruncateTo(offset int64) error {
	return ix.truncateToOffset(offsetIndexRelativeOffset, offset)
}

// SanityCheck does Kafka's cheap checks of a loaded index, reading at most
// three entries: the first and last offsets are not below the base offset,
// the last position is not negative, and the last two entries have strictly
// increasing offsets and positions. The last check catches an index that was
// never trimmed, whose zeroed tail reads as repeated entries. A failure
// matches ErrCorrupt, and the log rebuilds the index. There is no size
// check: OpenOffsetIndex already refuses a file that is not a whole number
// of entries.
func (ix *OffsetIndex) SanityCheck() error {
	firstEntry, previousEntry, lastEntry, err := ix.edgeEntries()
	if err != nil || firstEntry == nil {
		return err
	}
	first, last := ix.decode(firstEntry), ix.decode(lastEntry)
	switch {
	case first.Offset < ix.baseOffset:
		return Corruptf("index %s: first offset %d is below base offset %d", ix.path, first.Offset, ix.baseOffset)
	case last.Offset < ix.baseOffset:
		return Corruptf("index %s: last offset %d is below base offset %d", ix.path, last.Offset, ix.baseOffset)
	case last.Position < 0:
		return Corruptf("index %s: last position %d is negative", ix.path, last.Position)
	}
	if previousEntry == nil {
		return nil
	}
	if previous := ix.decode(previousEntry); previous.Offset >= last.Offset || previous.Position >= last.Position {
		return Corruptf("index %s: last two entries (offset %d at %d, offset %d at %d) are not increasing",
			ix.path, previous.Offset, previous.Position, last.Offset, last.Position)
	}
	return nil
}
