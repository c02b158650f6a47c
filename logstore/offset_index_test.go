package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The tests of the machinery both indexes share (index.go) are in this file
// and run over both index kinds; time_index_test.go has only what is
// particular to the time index.

// testIndex is what OffsetIndex and TimeIndex have in common.
type testIndex interface {
	Entries() int
	MaxEntries() int
	IsFull() bool
	SizeInBytes() int
	BaseOffset() int64
	Path() string
	Reset() error
	TruncateTo(offset int64) error
	TrimToValidSize() error
	Resize(maxIndexSize int) error
	RenameTo(path string) error
	SanityCheck() error
	Flush() error
	Close() error
}

// indexKind opens one kind of index and appends and finds entries in it, so
// that a test of the shared machinery can run over both kinds. Entry i of
// every test index is the batch at offset base+10i, at position 100i, with
// timestamp 1,000,000+10i.
type indexKind struct {
	name      string
	suffix    string
	entrySize int
	open      func(fsys FS, path string, baseOffset int64, maxIndexSize int) (testIndex, error)
}

var indexKinds = []indexKind{
	{
		name: "offset", suffix: ".index", entrySize: offsetIndexEntrySize,
		open: func(fsys FS, path string, baseOffset int64, maxIndexSize int) (testIndex, error) {
			ix, err := OpenOffsetIndex(fsys, path, baseOffset, maxIndexSize)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return ix, nil
		},
	},
	{
		name: "time", suffix: ".timeindex", entrySize: timeIndexEntrySize,
		open: func(fsys FS, path string, baseOffset int64, maxIndexSize int) (testIndex, error) {
			ix, err := OpenTimeIndex(fsys, path, baseOffset, maxIndexSize)
			if err != nil {
				return nil, err
			}
			return ix, nil
		},
	},
}

func testEntryOffset(ix testIndex, i int) int64 { return ix.BaseOffset() + 10*int64(i) }
func testEntryTimestamp(i int) int64            { return 1_000_000 + 10*int64(i) }

// appendTestEntry appends entry i (see indexKind).
func appendTestEntry(ix testIndex, i int) error {
	switch ix := ix.(type) {
	case *OffsetIndex:
		return ix.Append(testEntryOffset(ix, i), int32(100*i))
	case *TimeIndex:
		return ix.MaybeAppend(testEntryTimestamp(i), testEntryOffset(ix, i), false)
	}
	panic("unknown index type")
}

// findsTestEntry reports whether a lookup of entry i's key, and of one past
// it, both answer entry i.
func findsTestEntry(ix testIndex, i int) bool {
	switch ix := ix.(type) {
	case *OffsetIndex:
		want := OffsetPosition{Offset: testEntryOffset(ix, i), Position: int32(100 * i)}
		return ix.Lookup(want.Offset) == want && ix.Lookup(want.Offset+1) == want && ix.Entry(i) == want
	case *TimeIndex:
		want := TimestampOffset{Timestamp: testEntryTimestamp(i), Offset: testEntryOffset(ix, i)}
		return ix.Lookup(want.Timestamp) == want && ix.Lookup(want.Timestamp+1) == want && ix.Entry(i) == want
	}
	panic("unknown index type")
}

// lookupFindsNothing reports whether a lookup below every entry answers the
// start of the segment.
func lookupFindsNothing(ix testIndex) bool {
	switch ix := ix.(type) {
	case *OffsetIndex:
		return ix.Lookup(ix.BaseOffset()) == OffsetPosition{Offset: ix.BaseOffset()}
	case *TimeIndex:
		return ix.Lookup(testEntryTimestamp(0)-1) == TimestampOffset{Timestamp: NoTimestamp, Offset: ix.BaseOffset()}
	}
	panic("unknown index type")
}

// openTestIndex opens a new index of kind in a temporary directory with room
// for maxEntries entries and appends the first n test entries. It closes the
// index when the test ends.
func openTestIndex(t *testing.T, fsys FS, kind indexKind, maxEntries, n int) testIndex {
	t.Helper()
	path := filepath.Join(t.TempDir(), "00000000000000000100"+kind.suffix)
	ix, err := kind.open(fsys, path, 100, maxEntries*kind.entrySize)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { ix.Close() })
	for i := range n {
		if err := appendTestEntry(ix, i); err != nil {
			t.Fatalf("append entry %d: %v", i, err)
		}
	}
	return ix
}

// checkTestEntries fails the test unless ix holds exactly test entries 0..n-1.
func checkTestEntries(t *testing.T, ix testIndex, n int) {
	t.Helper()
	if got := ix.Entries(); got != n {
		t.Fatalf("Entries() = %d, want %d", got, n)
	}
	if got, want := ix.SizeInBytes(), n*indexFileOf(ix).entrySize; got != want {
		t.Fatalf("SizeInBytes() = %d, want %d", got, want)
	}
	for i := range n {
		if !findsTestEntry(ix, i) {
			t.Fatalf("entry %d not found", i)
		}
	}
	if !lookupFindsNothing(ix) {
		t.Fatalf("lookup below every entry did not answer the segment start")
	}
}

// indexFileOf reaches the shared machinery of a test index.
func indexFileOf(ix testIndex) *indexFile {
	switch ix := ix.(type) {
	case *OffsetIndex:
		return &ix.indexFile
	case *TimeIndex:
		return &ix.indexFile
	}
	panic("unknown index type")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// noMmapFS hands out files whose descriptor cannot be mapped, to exercise
// the ReadAt fallback of lookups.
type noMmapFS struct{ FS }

type noMmapFile struct{ File }

func (f noMmapFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noMmapFile{file}, nil
}

func (noMmapFile) Fd() uintptr { return ^uintptr(0) } // -1: mmap fails with EBADF

// indexFileSystems are the ways lookups read: through the mapping, and with
// ReadAt when the file cannot be mapped.
var indexFileSystems = []struct {
	name string
	fsys FS
}{
	{"mmap", OSFS{}},
	{"read_at", noMmapFS{OSFS{}}},
}

func TestIndexAppendAndFind(t *testing.T) {
	for _, kind := range indexKinds {
		for _, fsys := range indexFileSystems {
			t.Run(kind.name+"/"+fsys.name, func(t *testing.T) {
				ix := openTestIndex(t, fsys.fsys, kind, 3000, 0)
				checkTestEntries(t, ix, 0)
				// 2,500 entries cross the warm section (1,024 or 682 entries).
				for i := range 2500 {
					if err := appendTestEntry(ix, i); err != nil {
						t.Fatalf("append entry %d: %v", i, err)
					}
				}
				checkTestEntries(t, ix, 2500)
			})
		}
	}
}

func TestIndexTrimThenReopen(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			ix := openTestIndex(t, OSFS{}, kind, 100, 7)
			path := ix.Path()
			if err := ix.TrimToValidSize(); err != nil {
				t.Fatal(err)
			}
			if got, want := fileSize(t, path), int64(7*kind.entrySize); got != want {
				t.Fatalf("trimmed file has %d bytes, want %d", got, want)
			}
			checkTestEntries(t, ix, 7) // still readable after the trim unmapped it
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}

			reopened, err := kind.open(OSFS{}, path, 100, 100*kind.entrySize)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { reopened.Close() })
			checkTestEntries(t, reopened, 7)
			if reopened.MaxEntries() != 7 || !reopened.IsFull() {
				t.Fatalf("reopened trimmed index: MaxEntries() = %d, IsFull() = %v; want 7, true", reopened.MaxEntries(), reopened.IsFull())
			}
			if err := appendTestEntry(reopened, 7); !errors.Is(err, ErrIndexFull) {
				t.Fatalf("append to reopened trimmed index: %v, want ErrIndexFull", err)
			}
			if err := reopened.SanityCheck(); err != nil {
				t.Fatal(err)
			}
			// Resize makes it appendable again, as for a segment that becomes
			// active once more.
			if err := reopened.Resize(100 * kind.entrySize); err != nil {
				t.Fatal(err)
			}
			if err := appendTestEntry(reopened, 7); err != nil {
				t.Fatal(err)
			}
			checkTestEntries(t, reopened, 8)
		})
	}
}

func TestIndexResize(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			ix := openTestIndex(t, OSFS{}, kind, 10, 5)
			tests := []struct {
				name           string
				maxIndexSize   int
				wantMaxEntries int
				wantErr        bool
			}{
				{"grow", 20 * kind.entrySize, 20, false},
				{"grow, rounded down", 30*kind.entrySize + kind.entrySize - 1, 30, false},
				{"same size", 30 * kind.entrySize, 30, false},
				{"shrink", 6 * kind.entrySize, 6, false},
				{"shrink to the entries", 5 * kind.entrySize, 5, false},
				{"below the entries", 5*kind.entrySize - 1, 5, true},
				{"negative", -1, 5, true},
				{"grow again", 10 * kind.entrySize, 10, false},
			}
			for _, tt := range tests {
				err := ix.Resize(tt.maxIndexSize)
				if (err != nil) != tt.wantErr {
					t.Fatalf("%s: Resize(%d) = %v, want error %v", tt.name, tt.maxIndexSize, err, tt.wantErr)
				}
				if got := ix.MaxEntries(); got != tt.wantMaxEntries {
					t.Fatalf("%s: MaxEntries() = %d, want %d", tt.name, got, tt.wantMaxEntries)
				}
				if got, want := fileSize(t, ix.Path()), int64(tt.wantMaxEntries*kind.entrySize); got != want {
					t.Fatalf("%s: file has %d bytes, want %d", tt.name, got, want)
				}
				checkTestEntries(t, ix, 5)
			}
		})
	}
}

func TestIndexReset(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			ix := openTestIndex(t, OSFS{}, kind, 10, 6)
			if err := ix.Reset(); err != nil {
				t.Fatal(err)
			}
			checkTestEntries(t, ix, 0)
			if ix.MaxEntries() != 10 || fileSize(t, ix.Path()) != int64(10*kind.entrySize) {
				t.Fatalf("Reset changed the file: MaxEntries() = %d, size %d", ix.MaxEntries(), fileSize(t, ix.Path()))
			}
			for i := range 3 {
				if err := appendTestEntry(ix, i); err != nil {
					t.Fatal(err)
				}
			}
			checkTestEntries(t, ix, 3)

			// A trimmed index gets its room back, as when a segment's index
			// is rebuilt during recovery.
			if err := ix.TrimToValidSize(); err != nil {
				t.Fatal(err)
			}
			if err := ix.Reset(); err != nil {
				t.Fatal(err)
			}
			checkTestEntries(t, ix, 0)
			if ix.MaxEntries() != 10 || fileSize(t, ix.Path()) != int64(10*kind.entrySize) {
				t.Fatalf("Reset of a trimmed index: MaxEntries() = %d, size %d; want 10 entries", ix.MaxEntries(), fileSize(t, ix.Path()))
			}
		})
	}
}

func TestIndexOpenRefusesWrongSize(t *testing.T) {
	for _, kind := range indexKinds {
		for _, size := range []int{1, kind.entrySize - 1, kind.entrySize + 1, 3*kind.entrySize + 5} {
			t.Run(fmt.Sprintf("%s/%d_bytes", kind.name, size), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "00000000000000000000"+kind.suffix)
				if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
					t.Fatal(err)
				}
				ix, err := kind.open(OSFS{}, path, 0, 1024)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("open a %d-byte index: %v, want ErrCorrupt", size, err)
				}
				if ix != nil {
					t.Fatal("open returned an index with its error")
				}
			})
		}
	}
}

func TestIndexOpenRefusesBadArguments(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "00000000000000000000"+kind.suffix)
			if _, err := kind.open(OSFS{}, path, 0, kind.entrySize-1); err == nil {
				t.Fatal("open with a max index size below one entry succeeded")
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed open left the file behind: %v", err)
			}
			if _, err := kind.open(OSFS{}, path, -1, 1024); err == nil {
				t.Fatal("open with a negative base offset succeeded")
			}
			if _, err := kind.open(OSFS{}, filepath.Join(dir, "missing", "x"+kind.suffix), 0, 1024); !errors.Is(err, ErrStorage) {
				t.Fatalf("open in a missing directory: %v, want ErrStorage", err)
			}
		})
	}
}

func TestIndexPreallocatesSparseFile(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			const maxIndexSize = 10 << 20
			ix := openTestIndex(t, OSFS{}, kind, maxIndexSize/kind.entrySize, 3)
			info, err := os.Stat(ix.Path())
			if err != nil {
				t.Fatal(err)
			}
			if info.Size() != int64(maxIndexSize/kind.entrySize*kind.entrySize) {
				t.Fatalf("preallocated %d bytes, want %d", info.Size(), maxIndexSize)
			}
			if allocated := info.Sys().(*syscall.Stat_t).Blocks * 512; allocated > 1<<20 {
				t.Fatalf("preallocation allocated %d bytes of disk; it must be sparse", allocated)
			}
		})
	}
}

func TestIndexRenameKeepsWorking(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			fsys := NewFaultFS(OSFS{})
			ix := openTestIndex(t, fsys, kind, 100, 4)
			checkTestEntries(t, ix, 4) // map it before the rename
			oldPath := ix.Path()
			newPath := oldPath + ".deleted"

			fsys.SetInject(func(op FaultOp, name string) error {
				if op == FaultRename {
					return syscall.EIO
				}
				return nil
			})
			if err := ix.RenameTo(newPath); !errors.Is(err, ErrStorage) || ix.Path() != oldPath {
				t.Fatalf("failed rename: %v, path %s; want ErrStorage and the old path", err, ix.Path())
			}
			fsys.SetInject(nil)

			if err := ix.RenameTo(newPath); err != nil {
				t.Fatal(err)
			}
			if ix.Path() != newPath {
				t.Fatalf("Path() = %s after rename to %s", ix.Path(), newPath)
			}
			if _, err := os.Stat(oldPath); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("old file still there: %v", err)
			}
			if err := appendTestEntry(ix, 4); err != nil {
				t.Fatal(err)
			}
			checkTestEntries(t, ix, 5)
			if err := ix.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := ix.TrimToValidSize(); err != nil {
				t.Fatal(err)
			}
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			reopened, err := kind.open(OSFS{}, newPath, 100, 1024)
			if err != nil {
				t.Fatal(err)
			}
			defer reopened.Close()
			checkTestEntries(t, reopened, 5)
		})
	}
}

// TestIndexFullDisk checks that an append on a full disk is an error, not a
// SIGBUS, that it matches both ErrStorage and ENOSPC, and that the index is
// unchanged and still usable.
func TestIndexFullDisk(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			fsys := NewFaultFS(OSFS{})
			ix := openTestIndex(t, fsys, kind, 100, 3)
			checkTestEntries(t, ix, 3) // with the mapping in place
			fsys.SetInject(func(op FaultOp, name string) error {
				if op == FaultWrite && name == ix.Path() {
					return syscall.ENOSPC
				}
				return nil
			})
			err := appendTestEntry(ix, 3)
			if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("append on a full disk: %v, want ErrStorage and ENOSPC", err)
			}
			checkTestEntries(t, ix, 3)
			if err := ix.SanityCheck(); err != nil {
				t.Fatal(err)
			}

			fsys.SetInject(nil)
			if err := appendTestEntry(ix, 3); err != nil {
				t.Fatal(err)
			}
			checkTestEntries(t, ix, 4)
		})
	}
}

func TestIndexStorageFailures(t *testing.T) {
	for _, kind := range indexKinds {
		tests := []struct {
			name string
			op   FaultOp
			call func(testIndex) error
		}{
			{"flush", FaultSync, func(ix testIndex) error { return ix.Flush() }},
			{"resize", FaultTruncate, func(ix testIndex) error { return ix.Resize(50 * kind.entrySize) }},
			{"trim", FaultTruncate, func(ix testIndex) error { return ix.TrimToValidSize() }},
		}
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				fsys := NewFaultFS(OSFS{})
				ix := openTestIndex(t, fsys, kind, 100, 3)
				fsys.SetInject(func(op FaultOp, name string) error {
					if op == tt.op {
						return syscall.EIO
					}
					return nil
				})
				if err := tt.call(ix); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
					t.Fatalf("%s: %v, want ErrStorage and EIO", tt.name, err)
				}
				fsys.SetInject(nil)
				if ix.MaxEntries() != 100 {
					t.Fatalf("MaxEntries() = %d after a failed %s", ix.MaxEntries(), tt.name)
				}
				checkTestEntries(t, ix, 3)
			})
		}
	}
}

func TestIndexClose(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			ix := openTestIndex(t, OSFS{}, kind, 100, 3)
			checkTestEntries(t, ix, 3)
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ix.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			for name, call := range map[string]func() error{
				"append":   func() error { return appendTestEntry(ix, 3) },
				"truncate": func() error { return ix.TruncateTo(100) },
				"reset":    ix.Reset,
				"resize":   func() error { return ix.Resize(1024) },
				"trim":     ix.TrimToValidSize,
				"flush":    ix.Flush,
				"check":    ix.SanityCheck,
			} {
				if err := call(); !errors.Is(err, ErrClosed) {
					t.Errorf("%s after Close: %v, want ErrClosed", name, err)
				}
			}
			if !lookupFindsNothing(ix) {
				t.Error("lookup on a closed index did not answer the segment start")
			}
		})
	}
}

func TestIndexMapsLazily(t *testing.T) {
	mapped := func(ix testIndex) bool { return indexFileOf(ix).mapping.Load() != nil }
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			ix := openTestIndex(t, OSFS{}, kind, 100, 5)
			if err := ix.SanityCheck(); err != nil {
				t.Fatal(err)
			}
			if err := ix.TruncateTo(testEntryOffset(ix, 4)); err != nil {
				t.Fatal(err)
			}
			if mapped(ix) {
				t.Fatal("open, append, check and truncate mapped the index")
			}
			checkTestEntries(t, ix, 4)
			if !mapped(ix) {
				t.Fatal("lookups did not map the index")
			}
			if err := ix.Resize(200 * kind.entrySize); err != nil {
				t.Fatal(err)
			}
			if mapped(ix) {
				t.Fatal("resize kept the old mapping")
			}
			checkTestEntries(t, ix, 4)
			if err := ix.Close(); err != nil {
				t.Fatal(err)
			}
			if mapped(ix) {
				t.Fatal("close kept the mapping")
			}
		})
	}
}

// TestIndexConcurrentLookups runs lookups concurrently on an index not yet
// mapped, as the Log's read lock allows, for the race detector.
func TestIndexConcurrentLookups(t *testing.T) {
	for _, kind := range indexKinds {
		t.Run(kind.name, func(t *testing.T) {
			ix := openTestIndex(t, OSFS{}, kind, 3000, 2000)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Go(func() {
					for i := g; i < 2000; i += 8 {
						if !findsTestEntry(ix, i) {
							errs <- fmt.Errorf("goroutine %d: entry %d not found", g, i)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestIndexEntryOutOfRangePanics(t *testing.T) {
	ix := openTestIndex(t, OSFS{}, indexKinds[0], 10, 2).(*OffsetIndex)
	for _, n := range []int{-1, 2, 10} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Entry(%d) of 2 entries did not panic", n)
				}
			}()
			ix.Entry(n)
		}()
	}
}

// writeOffsetIndexFile writes raw entries {relative offset, position}.
func writeOffsetIndexFile(t *testing.T, entries [][2]int32) string {
	t.Helper()
	buf := make([]byte, 0, len(entries)*offsetIndexEntrySize)
	for _, e := range entries {
		buf = binary.BigEndian.AppendUint32(buf, uint32(e[0]))
		buf = binary.BigEndian.AppendUint32(buf, uint32(e[1]))
	}
	path := filepath.Join(t.TempDir(), "00000000000000001000.index")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOffsetIndexLookup(t *testing.T) {
	const base = 1000
	entries := [][2]int32{{5, 100}, {10, 200}, {20, 300}}
	tests := []struct {
		name   string
		target int64
		want   OffsetPosition
	}{
		{"far below base", math.MinInt64, OffsetPosition{base, 0}},
		{"below base", base - 1, OffsetPosition{base, 0}},
		{"base, before first", base, OffsetPosition{base, 0}},
		{"just before first", base + 4, OffsetPosition{base, 0}},
		{"exact first", base + 5, OffsetPosition{base + 5, 100}},
		{"between", base + 7, OffsetPosition{base + 5, 100}},
		{"exact middle", base + 10, OffsetPosition{base + 10, 200}},
		{"just before last", base + 19, OffsetPosition{base + 10, 200}},
		{"exact last", base + 20, OffsetPosition{base + 20, 300}},
		{"after last", base + 21, OffsetPosition{base + 20, 300}},
		{"beyond 32 bits", base + math.MaxInt32 + 10, OffsetPosition{base + 20, 300}},
		{"max", math.MaxInt64, OffsetPosition{base + 20, 300}},
	}
	for _, fsys := range indexFileSystems {
		t.Run(fsys.name, func(t *testing.T) {
			ix, err := OpenOffsetIndex(fsys.fsys, writeOffsetIndexFile(t, entries), base, 1024)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			for _, tt := range tests {
				if got := ix.Lookup(tt.target); got != tt.want {
					t.Errorf("%s: Lookup(%d) = %+v, want %+v", tt.name, tt.target, got, tt.want)
				}
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		ix, err := OpenOffsetIndex(OSFS{}, writeOffsetIndexFile(t, nil), base, 1024)
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		for _, tt := range tests {
			if got := ix.Lookup(tt.target); got != (OffsetPosition{base, 0}) {
				t.Errorf("%s: Lookup(%d) in an empty index = %+v", tt.name, tt.target, got)
			}
		}
		if ix.LastOffset() != base {
			t.Errorf("LastOffset() of an empty index = %d, want %d", ix.LastOffset(), base)
		}
	})
}

func TestOffsetIndexAppendRejects(t *testing.T) {
	const base = 1000
	// The index holds offsets base and base+20 at positions 0 and 200.
	tests := []struct {
		name     string
		offset   int64
		position int32
	}{
		{"the last offset again", base + 20, 1000},
		{"below the last offset", base + 15, 1000},
		{"below the base offset", base - 1, 1000},
		{"beyond a 32-bit relative offset", base + math.MaxInt32 + 1, 1000},
		{"the last position again", base + 30, 200},
		{"below the last position", base + 30, 100},
		{"negative position", base + 30, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix, err := OpenOffsetIndex(OSFS{}, filepath.Join(t.TempDir(), "00000000000000001000.index"), base, 1024)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			for _, offset := range []int64{base, base + 20} {
				if err := ix.Append(offset, int32(offset-base)*10); err != nil {
					t.Fatal(err)
				}
			}
			err = ix.Append(tt.offset, tt.position)
			var appendErr *IndexAppendError
			if !errors.As(err, &appendErr) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("Append(%d, %d) = %v, want an *IndexAppendError not matching ErrCorrupt", tt.offset, tt.position, err)
			}
			if ix.Entries() != 2 || ix.LastOffset() != base+20 {
				t.Fatalf("rejected append changed the index: %d entries, last offset %d", ix.Entries(), ix.LastOffset())
			}
		})
	}
	t.Run("the largest relative offset", func(t *testing.T) {
		ix, err := OpenOffsetIndex(OSFS{}, filepath.Join(t.TempDir(), "00000000000000001000.index"), base, 1024)
		if err != nil {
			t.Fatal(err)
		}
		defer ix.Close()
		if err := ix.Append(base+math.MaxInt32, 7); err != nil {
			t.Fatal(err)
		}
		if got := ix.Lookup(math.MaxInt64); got != (OffsetPosition{base + math.MaxInt32, 7}) {
			t.Fatalf("Lookup = %+v", got)
		}
	})
}

func TestOffsetIndexFull(t *testing.T) {
	// 4 entries and a few bytes: rounded down to 4 entries.
	ix, err := OpenOffsetIndex(OSFS{}, filepath.Join(t.TempDir(), "00000000000000000000.index"), 0, 4*offsetIndexEntrySize+5)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if ix.MaxEntries() != 4 {
		t.Fatalf("MaxEntries() = %d, want 4", ix.MaxEntries())
	}
	for i := range 4 {
		if ix.IsFull() {
			t.Fatalf("full after %d entries", i)
		}
		if err := ix.Append(int64(i*10), int32(i*100)); err != nil {
			t.Fatal(err)
		}
	}
	if !ix.IsFull() {
		t.Fatal("not full after 4 entries")
	}
	if err := ix.Append(100, 1000); !errors.Is(err, ErrIndexFull) {
		t.Fatalf("append to a full index: %v, want ErrIndexFull", err)
	}
	if ix.Entries() != 4 || ix.LastOffset() != 30 {
		t.Fatalf("refused append changed the index: %d entries, last offset %d", ix.Entries(), ix.LastOffset())
	}
}

func TestOffsetIndexTruncateTo(t *testing.T) {
	const base = 1000
	// Entries at offsets 1010, 1020, 1030, 1040.
	tests := []struct {
		offset      int64
		wantEntries int
		wantLast    int64
	}{
		{math.MaxInt64, 4, base + 40},
		{base + 41, 4, base + 40},
		{base + 40, 3, base + 30},
		{base + 35, 3, base + 30},
		{base + 31, 3, base + 30},
		{base + 30, 2, base + 20},
		{base + 11, 1, base + 10},
		{base + 10, 0, base},
		{base, 0, base},
		{math.MinInt64, 0, base},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.offset), func(t *testing.T) {
			ix, err := OpenOffsetIndex(OSFS{}, writeOffsetIndexFile(t, [][2]int32{{10, 1}, {20, 2}, {30, 3}, {40, 4}}), base, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			if err := ix.TruncateTo(tt.offset); err != nil {
				t.Fatal(err)
			}
			if ix.Entries() != tt.wantEntries || ix.LastOffset() != tt.wantLast {
				t.Fatalf("TruncateTo(%d): %d entries, last offset %d; want %d, %d",
					tt.offset, ix.Entries(), ix.LastOffset(), tt.wantEntries, tt.wantLast)
			}
			if got := ix.Lookup(math.MaxInt64); got.Offset != tt.wantLast {
				t.Fatalf("after TruncateTo(%d), Lookup(max) = %+v", tt.offset, got)
			}
			// Appends continue after the new last entry.
			if err := ix.Resize(1024); err != nil {
				t.Fatal(err)
			}
			next := OffsetPosition{tt.wantLast + 5, 99}
			if err := ix.Append(next.Offset, next.Position); err != nil {
				t.Fatal(err)
			}
			if got := ix.Lookup(math.MaxInt64); got != next {
				t.Fatalf("after an append, Lookup(max) = %+v, want %+v", got, next)
			}
		})
	}
}

func TestOffsetIndexSanityCheck(t *testing.T) {
	const base = 1000
	tests := []struct {
		name        string
		entries     [][2]int32
		wantCorrupt bool
	}{
		{"empty", nil, false},
		{"one entry at the base", [][2]int32{{0, 0}}, false},
		{"valid", [][2]int32{{0, 0}, {5, 100}, {9, 200}}, false},
		{"last offset below base", [][2]int32{{-1, 0}}, true},
		{"first offset below base", [][2]int32{{-3, 0}, {5, 100}, {9, 200}}, true},
		{"repeated last offset", [][2]int32{{0, 0}, {5, 100}, {5, 200}}, true},
		{"decreasing last offset", [][2]int32{{0, 0}, {9, 100}, {5, 200}}, true},
		{"repeated last position", [][2]int32{{0, 0}, {5, 100}, {9, 100}}, true},
		{"negative last position", [][2]int32{{0, 0}, {5, -100}}, true},
		{"untrimmed, zeroed tail", [][2]int32{{3, 10}, {5, 100}, {0, 0}, {0, 0}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSanityCheck(t, indexKinds[0], writeOffsetIndexFile(t, tt.entries), base, tt.wantCorrupt)
		})
	}
}

// checkSanityCheck opens the index file at path and checks that SanityCheck
// fails, with ErrCorrupt, exactly when wantCorrupt.
func checkSanityCheck(t *testing.T, kind indexKind, path string, baseOffset int64, wantCorrupt bool) {
	t.Helper()
	ix, err := kind.open(OSFS{}, path, baseOffset, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	err = ix.SanityCheck()
	if wantCorrupt != errors.Is(err, ErrCorrupt) || (!wantCorrupt && err != nil) {
		t.Fatalf("SanityCheck() = %v, want corrupt %v", err, wantCorrupt)
	}
}
