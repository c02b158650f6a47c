package logstore

import (
	"encoding/binary"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzOpenOffsetIndex opens an offset index over arbitrary file bytes.
// Invariants: nothing panics; a size that is not a whole number of entries
// is refused with ErrCorrupt and any other size opens; SanityCheck passes or
// reports ErrCorrupt; lookups answer an entry of the file or the segment
// start, and when the offsets in the file are sorted they answer what a
// linear scan does; TruncateTo then leaves only entries below its offset;
// appends are accepted or refused with an *IndexAppendError; trimming,
// closing and reopening keeps the entries.
func FuzzOpenOffsetIndex(f *testing.F) {
	fuzzIndex(f, indexKinds[0], func(rel int32, key int64) []byte {
		entry := binary.BigEndian.AppendUint32(nil, uint32(rel))
		return binary.BigEndian.AppendUint32(entry, uint32(key))
	})
}

// FuzzOpenTimeIndex is FuzzOpenOffsetIndex for the time index, with lookups
// by timestamp.
func FuzzOpenTimeIndex(f *testing.F) {
	fuzzIndex(f, indexKinds[1], func(rel int32, key int64) []byte {
		entry := binary.BigEndian.AppendUint64(nil, uint64(key))
		return binary.BigEndian.AppendUint32(entry, uint32(rel))
	})
}

// fuzzIndex seeds and runs an index fuzz target. entry encodes an entry of
// kind from a relative offset and a key, a position or a timestamp.
func fuzzIndex(f *testing.F, kind indexKind, entry func(rel int32, key int64) []byte) {
	addIndexFuzzSeeds(f, kind.entrySize, entry)
	f.Fuzz(func(t *testing.T, data []byte, baseOffset, target int64) {
		fuzzIndexFile(t, kind, data, baseOffset, target)
	})
}

// addIndexFuzzSeeds adds index files built by entry(relative offset, key),
// where key is a position or a timestamp.
func addIndexFuzzSeeds(f *testing.F, entrySize int, entry func(rel int32, key int64) []byte) {
	file := func(entries ...[]byte) []byte { return slices.Concat(entries...) }
	valid := file(entry(0, 0), entry(5, 100), entry(9, 250))
	f.Add([]byte{}, int64(0), int64(0))
	f.Add(valid, int64(0), int64(6))
	f.Add(valid, int64(1000), int64(1009))
	f.Add(valid, int64(math.MaxInt64-10), int64(math.MaxInt64))
	f.Add(valid, int64(-1), int64(0))
	f.Add(valid[:len(valid)-1], int64(0), int64(0))                   // torn last entry
	f.Add(valid[:entrySize-1], int64(0), int64(0))                    // less than one entry
	f.Add(file(valid, make([]byte, 2*entrySize)), int64(0), int64(5)) // untrimmed tail
	f.Add(file(entry(9, 250), entry(0, 0), entry(5, 100)), int64(0), int64(5))
	f.Add(file(entry(-1, -1), entry(math.MaxInt32, math.MaxInt64)), int64(7), int64(math.MinInt64))
	many := make([][]byte, 3000) // crosses the warm section
	for i := range many {
		many[i] = entry(int32(3*i), int64(1000*i))
	}
	f.Add(file(many...), int64(50), int64(4000))
}

// fuzzIndexFile checks the invariants listed at FuzzOpenOffsetIndex.
func fuzzIndexFile(t *testing.T, kind indexKind, data []byte, baseOffset, target int64) {
	path := filepath.Join(t.TempDir(), "fuzz"+kind.suffix)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := kind.open(OSFS{}, path, baseOffset, 1024)
	switch {
	case baseOffset < 0:
		if err == nil {
			t.Fatalf("opened with base offset %d", baseOffset)
		}
		return
	case len(data)%kind.entrySize != 0:
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("open %d bytes: %v, want ErrCorrupt", len(data), err)
		}
		return
	case err != nil:
		t.Fatalf("open %d bytes: %v", len(data), err)
	}
	defer ix.Close()
	n := len(data) / kind.entrySize
	if ix.Entries() != n || ix.MaxEntries() != n {
		t.Fatalf("%d bytes opened as %d entries of room %d", len(data), ix.Entries(), ix.MaxEntries())
	}
	if err := ix.SanityCheck(); err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("SanityCheck: %v, want nil or ErrCorrupt", err)
	}

	for _, target := range []int64{target, baseOffset, baseOffset - 1, target + 1, math.MinInt64, math.MaxInt64} {
		checkFuzzLookup(t, ix, data, target)
	}

	if err := ix.TruncateTo(target); err != nil {
		t.Fatalf("TruncateTo(%d): %v", target, err)
	}
	offsetField := map[string]indexField{"offset": offsetIndexRelativeOffset, "time": timeIndexRelativeOffset}[kind.name]
	if fieldSorted(data, kind.entrySize, offsetField) {
		for i := range ix.Entries() {
			if offset := baseOffset + offsetField.read(data[i*kind.entrySize:]); offset >= target {
				t.Fatalf("entry %d at offset %d survived TruncateTo(%d)", i, offset, target)
			}
		}
	}

	if err := ix.Resize(ix.SizeInBytes() + 4*kind.entrySize); err != nil {
		t.Fatal(err)
	}
	var appendErr *IndexAppendError
	if err := appendFuzzEntry(ix, target); err != nil && !errors.As(err, &appendErr) {
		t.Fatalf("append at offset %d: %v, want nil or an *IndexAppendError", target, err)
	}
	entries := ix.Entries()
	if err := ix.TrimToValidSize(); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, err := kind.open(OSFS{}, path, baseOffset, 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	if reopened.Entries() != entries {
		t.Fatalf("reopened with %d entries, closed with %d", reopened.Entries(), entries)
	}
}

func appendFuzzEntry(ix testIndex, target int64) error {
	switch ix := ix.(type) {
	case *OffsetIndex:
		return ix.Append(target, math.MaxInt32)
	case *TimeIndex:
		return ix.MaybeAppend(ix.LastEntry().Timestamp+1, target, false)
	}
	panic("unknown index type")
}

// checkFuzzLookup checks that a lookup answers an entry or the segment
// start, and the entry a linear scan finds when the keys are sorted.
func checkFuzzLookup(t *testing.T, ix testIndex, data []byte, target int64) {
	t.Helper()
	file := indexFileOf(ix)
	keyField, keyTarget := timeIndexTimestamp, target
	if _, ok := ix.(*OffsetIndex); ok {
		keyField, keyTarget = offsetIndexRelativeOffset, target-file.baseOffset
		if target < file.baseOffset {
			keyTarget = math.MinInt64 // below every entry
		}
	}
	want := -1 // the slot a linear scan finds
	for i := range file.entries {
		if keyField.read(data[i*file.entrySize:]) <= keyTarget {
			want = i
		}
	}
	got, start, entry := lookupAny(ix, target)
	if got != start && !slices.ContainsFunc(entriesAny(ix.Entries(), entry), func(e any) bool { return e == got }) {
		t.Fatalf("Lookup(%d) = %+v, neither an entry nor the segment start", target, got)
	}
	if !fieldSorted(data, file.entrySize, keyField) {
		return
	}
	wantEntry := start
	if want >= 0 {
		wantEntry = entry(want)
	}
	if got != wantEntry {
		t.Fatalf("Lookup(%d) = %+v, a linear scan finds %+v", target, got, wantEntry)
	}
}

// lookupAny returns, as comparable values, a lookup of target in a test
// index, the segment start a lookup answers when it finds nothing, and a
// function reading entry i.
func lookupAny(ix testIndex, target int64) (got, start any, entry func(i int) any) {
	switch ix := ix.(type) {
	case *OffsetIndex:
		return ix.Lookup(target), OffsetPosition{Offset: ix.BaseOffset()}, func(i int) any { return ix.Entry(i) }
	case *TimeIndex:
		return ix.Lookup(target), TimestampOffset{Timestamp: NoTimestamp, Offset: ix.BaseOffset()}, func(i int) any { return ix.Entry(i) }
	}
	panic("unknown index type")
}

func entriesAny(n int, entry func(i int) any) []any {
	entries := make([]any, n)
	for i := range entries {
		entries[i] = entry(i)
	}
	return entries
}

// fieldSorted reports whether field never decreases over the entries in data.
func fieldSorted(data []byte, entrySize int, field indexField) bool {
	for i := entrySize; i+entrySize <= len(data); i += entrySize {
		if field.read(data[i:]) < field.read(data[i-entrySize:]) {
			return false
		}
	}
	return true
}

// FuzzReadOffsetCheckpoint: never panics; a refused file is refused with
// ErrCorrupt; what it accepts, written back and read again, is equal, and
// writing that again gives the same bytes.
func FuzzReadOffsetCheckpoint(f *testing.F) {
	for _, seed := range []string{
		"",
		"0\n0\n",
		"0\n",
		"0\n2\norders 0 5\norders.eu_x-y 10 9223372036854775807\n",
		"0\r\n1\r\nt\t0  -1",
		"0\n1\nt 0 1\n\n",
		"0\n2147483647\nt 0 1\n",
		"1\n0\n",
		"0\n2\nt 0 1\nt 0 2\n",
		"0\n1\nt\u00a0u 0 1\n",
		"0\n1\n\xff\xfe 0 1\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheckpointFile(t, data, ReadOffsetCheckpoint, WriteOffsetCheckpoint, maps.Equal)
	})
}

// FuzzReadLeaderEpochCheckpoint: the invariants of FuzzReadOffsetCheckpoint
// for leader-epoch-checkpoint.
func FuzzReadLeaderEpochCheckpoint(f *testing.F) {
	for _, seed := range []string{
		"",
		"0\n0\n",
		"0\n3\n0 0\n1 100\n5 2000\n",
		"0\n1\n2147483647 9223372036854775807\n",
		"0\n1\n-1 -1",
		"0\n2\n0 0\n",
		"0\n1\n0 0 0\n",
		"00\n+1\n+3 -0\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCheckpointFile(t, data, ReadLeaderEpochCheckpoint, WriteLeaderEpochCheckpoint, slices.Equal)
	})
}

// fuzzCheckpointFile checks the invariants of FuzzReadOffsetCheckpoint on
// one file: read it; if it is accepted, write what was read, read that back,
// and write it again: both reads must be equal and both writes byte for
// byte the same.
func fuzzCheckpointFile[C any](t *testing.T, data []byte,
	read func(FS, string) (C, error), write func(FS, string, C) error, equal func(C, C) bool) {
	dir := t.TempDir()
	path, first, second := filepath.Join(dir, "checkpoint"), filepath.Join(dir, "first"), filepath.Join(dir, "second")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	entries, err := read(OSFS{}, path)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read: %v, want nil or ErrCorrupt", err)
		}
		return
	}
	if err := write(OSFS{}, first, entries); err != nil {
		t.Fatalf("write back what was read: %v", err)
	}
	again, err := read(OSFS{}, first)
	if err != nil {
		t.Fatalf("read back what was written: %v", err)
	}
	if !equal(entries, again) {
		t.Fatalf("read %v, wrote it and read back %v", entries, again)
	}
	if err := write(OSFS{}, second, again); err != nil {
		t.Fatal(err)
	}
	firstBytes, _ := os.ReadFile(first)
	secondBytes, _ := os.ReadFile(second)
	if string(firstBytes) != string(secondBytes) {
		t.Fatalf("writing the same entries twice gave %q and %q", firstBytes, secondBytes)
	}
}
