package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// Tests of what the two indexes share run over both kinds in
// offset_index_test.go; these are particular to the time index.

// writeTimeIndexFile writes raw entries {timestamp, relative offset}.
func writeTimeIndexFile(t *testing.T, entries []TimestampOffset) string {
	t.Helper()
	buf := make([]byte, 0, len(entries)*timeIndexEntrySize)
	for _, e := range entries {
		buf = binary.BigEndian.AppendUint64(buf, uint64(e.Timestamp))
		buf = binary.BigEndian.AppendUint32(buf, uint32(int32(e.Offset)))
	}
	path := filepath.Join(t.TempDir(), "00000000000000001000.timeindex")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func openNewTimeIndex(t *testing.T, baseOffset int64, maxEntries int) *TimeIndex {
	t.Helper()
	ix, err := OpenTimeIndex(OSFS{}, filepath.Join(t.TempDir(), "00000000000000001000.timeindex"), baseOffset, maxEntries*timeIndexEntrySize)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

func TestTimeIndexLookup(t *testing.T) {
	const base = 1000
	// Relative offsets: the file holds them, the index answers absolute ones.
	entries := []TimestampOffset{{1000, 0}, {2000, 10}, {3000, 30}}
	none := TimestampOffset{NoTimestamp, base}
	tests := []struct {
		name   string
		target int64
		want   TimestampOffset
	}{
		{"min", math.MinInt64, none},
		{"no timestamp", NoTimestamp, none},
		{"before first", 999, none},
		{"exact first", 1000, TimestampOffset{1000, base}},
		{"between", 1500, TimestampOffset{1000, base}},
		{"exact middle", 2000, TimestampOffset{2000, base + 10}},
		{"just before last", 2999, TimestampOffset{2000, base + 10}},
		{"exact last", 3000, TimestampOffset{3000, base + 30}},
		{"after last", 3001, TimestampOffset{3000, base + 30}},
		{"max", math.MaxInt64, TimestampOffset{3000, base + 30}},
	}
	for _, fsys := range indexFileSystems {
		t.Run(fsys.name, func(t *testing.T) {
			ix, err := OpenTimeIndex(fsys.fsys, writeTimeIndexFile(t, entries), base, 1024)
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			for _, tt := range tests {
				if got := ix.Lookup(tt.target); got != tt.want {
					t.Errorf("%s: Lookup(%d) = %+v, want %+v", tt.name, tt.target, got, tt.want)
				}
			}
			if got := ix.LastEntry(); got != (TimestampOffset{3000, base + 30}) {
				t.Errorf("LastEntry() = %+v", got)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		ix := openNewTimeIndex(t, base, 10)
		for _, tt := range tests {
			if got := ix.Lookup(tt.target); got != none {
				t.Errorf("%s: Lookup(%d) in an empty index = %+v", tt.name, tt.target, got)
			}
		}
		if got := ix.LastEntry(); got != none {
			t.Errorf("LastEntry() of an empty index = %+v, want %+v", got, none)
		}
	})
}

func TestTimeIndexMaybeAppend(t *testing.T) {
	const base = 1000
	type step struct {
		timestamp, offset int64
		wantAppended      bool
		wantErr           bool // an *IndexAppendError
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first entry", []step{{100, base, true, false}}},
		{"no timestamp on an empty index is skipped", []step{{NoTimestamp, base, false, false}}},
		{"negative timestamp on an empty index is skipped", []step{{-5, base + 1, false, false}}},
		{"timestamp zero is indexed", []step{{0, base, true, false}}},
		{"larger timestamp and offset", []step{{100, base, true, false}, {200, base + 5, true, false}}},
		{"same timestamp is skipped", []step{{100, base, true, false}, {100, base + 5, false, false}}},
		{"same offset, larger timestamp", []step{{100, base + 5, true, false}, {200, base + 5, true, false}}},
		{"smaller timestamp", []step{{100, base, true, false}, {99, base + 5, false, true}}},
		{"smaller offset", []step{{100, base + 5, true, false}, {200, base + 4, false, true}}},
		{"offset below base", []step{{100, base - 1, false, true}}},
		{"offset beyond 32 bits", []step{{100, base + math.MaxInt32 + 1, false, true}}},
		{"largest relative offset", []step{{100, base + math.MaxInt32, true, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := openNewTimeIndex(t, base, 10)
			for i, s := range tt.steps {
				before := ix.Entries()
				err := ix.MaybeAppend(s.timestamp, s.offset, false)
				var appendErr *IndexAppendError
				if s.wantErr != errors.As(err, &appendErr) || (!s.wantErr && err != nil) || errors.Is(err, ErrCorrupt) {
					t.Fatalf("step %d: MaybeAppend(%d, %d) = %v, want append error %v", i, s.timestamp, s.offset, err, s.wantErr)
				}
				appended := ix.Entries() == before+1
				if appended != s.wantAppended {
					t.Fatalf("step %d: MaybeAppend(%d, %d) appended %v, want %v", i, s.timestamp, s.offset, appended, s.wantAppended)
				}
				if appended && ix.LastEntry() != (TimestampOffset{s.timestamp, s.offset}) {
					t.Fatalf("step %d: LastEntry() = %+v", i, ix.LastEntry())
				}
			}
		})
	}
}

// TestTimeIndexKeepsLastSlotForRoll checks Kafka's rule: the time index is
// full one entry early, and the slot left is for the entry the segment
// writes with skipFullCheck when it rolls or closes.
func TestTimeIndexKeepsLastSlotForRoll(t *testing.T) {
	ix := openNewTimeIndex(t, 0, 3)
	for i := range 2 {
		if ix.IsFull() {
			t.Fatalf("full after %d of 3 entries", i)
		}
		if err := ix.MaybeAppend(int64(100+i), int64(i), false); err != nil {
			t.Fatal(err)
		}
	}
	if !ix.IsFull() {
		t.Fatal("not full with 2 of 3 entries")
	}
	if err := ix.MaybeAppend(200, 5, false); !errors.Is(err, ErrIndexFull) {
		t.Fatalf("ordinary append to a full time index: %v, want ErrIndexFull", err)
	}
	if err := ix.MaybeAppend(200, 5, true); err != nil {
		t.Fatalf("roll append with skipFullCheck: %v", err)
	}
	if ix.Entries() != 3 || ix.LastEntry() != (TimestampOffset{200, 5}) {
		t.Fatalf("after the roll append: %d entries, last %+v", ix.Entries(), ix.LastEntry())
	}
	// The same entry again, as a close after a roll writes it, is no change.
	if err := ix.MaybeAppend(200, 5, true); err != nil {
		t.Fatalf("repeated roll append: %v", err)
	}
	// There is no room left at all, even with skipFullCheck.
	if err := ix.MaybeAppend(300, 6, true); !errors.Is(err, ErrIndexFull) {
		t.Fatalf("append past the reserved slot: %v, want ErrIndexFull", err)
	}
	if ix.Entries() != 3 {
		t.Fatalf("refused append changed the index: %d entries", ix.Entries())
	}
}

func TestTimeIndexTruncateTo(t *testing.T) {
	const base = 1000
	// Offsets may repeat in a time index: 1000, 1010, 1010, 1020.
	entries := []TimestampOffset{{100, 0}, {200, 10}, {300, 10}, {400, 20}}
	tests := []struct {
		offset      int64
		wantEntries int
		wantLast    TimestampOffset
	}{
		{math.MaxInt64, 4, TimestampOffset{400, base + 20}},
		{base + 21, 4, TimestampOffset{400, base + 20}},
		{base + 20, 3, TimestampOffset{300, base + 10}},
		{base + 11, 3, TimestampOffset{300, base + 10}},
		{base + 10, 1, TimestampOffset{100, base}}, // both entries at 1010 go
		{base + 1, 1, TimestampOffset{100, base}},
		{base, 0, TimestampOffset{NoTimestamp, base}},
		{math.MinInt64, 0, TimestampOffset{NoTimestamp, base}},
	}
	for _, fsys := range indexFileSystems {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", fsys.name, tt.offset), func(t *testing.T) {
				ix, err := OpenTimeIndex(fsys.fsys, writeTimeIndexFile(t, entries), base, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer ix.Close()
				ix.Lookup(0) // map it, where the file system allows
				if err := ix.TruncateTo(tt.offset); err != nil {
					t.Fatal(err)
				}
				if ix.Entries() != tt.wantEntries || ix.LastEntry() != tt.wantLast {
					t.Fatalf("TruncateTo(%d): %d entries, last %+v; want %d, %+v",
						tt.offset, ix.Entries(), ix.LastEntry(), tt.wantEntries, tt.wantLast)
				}
				if got := ix.Lookup(math.MaxInt64); got != tt.wantLast {
					t.Fatalf("after TruncateTo(%d), Lookup(max) = %+v", tt.offset, got)
				}
			})
		}
	}
}

func TestTimeIndexSanityCheck(t *testing.T) {
	const base = 1000
	tests := []struct {
		name        string
		entries     []TimestampOffset
		wantCorrupt bool
	}{
		{"empty", nil, false},
		{"one entry", []TimestampOffset{{100, 0}}, false},
		{"valid, offsets repeat", []TimestampOffset{{100, 0}, {200, 5}, {300, 5}}, false},
		{"last timestamp below first", []TimestampOffset{{500, 0}, {200, 5}}, true},
		{"last offset below base", []TimestampOffset{{100, -1}}, true},
		{"first offset below base", []TimestampOffset{{100, -1}, {200, 0}, {300, 5}}, true},
		{"repeated last timestamp", []TimestampOffset{{100, 0}, {200, 5}, {200, 6}}, true},
		{"decreasing last offset", []TimestampOffset{{100, 0}, {200, 6}, {300, 5}}, true},
		{"untrimmed, zeroed tail", []TimestampOffset{{-5, 0}, {0, 5}, {0, 0}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSanityCheck(t, indexKinds[1], writeTimeIndexFile(t, tt.entries), base, tt.wantCorrupt)
		})
	}
}
