package logstore

import (
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestOffsetCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recovery-point-offset-checkpoint")
	offsets := map[TopicPartition]int64{
		{"orders", 1}:              42,
		{"orders", 0}:              7,
		{"orders.eu", 10}:          0,
		{"orders.eu", 2}:           math.MaxInt64,
		{"__consumer_offsets", 49}: 123456789,
		{"a_b-c.d", 0}:             -1,
		{"Orders", 0}:              5,
	}
	if err := WriteOffsetCheckpoint(OSFS{}, path, offsets); err != nil {
		t.Fatal(err)
	}
	// Sorted by topic (byte order), then partition number.
	want := "0\n7\n" +
		"Orders 0 5\n" +
		"__consumer_offsets 49 123456789\n" +
		"a_b-c.d 0 -1\n" +
		"orders 0 7\n" +
		"orders 1 42\n" +
		"orders.eu 2 9223372036854775807\n" +
		"orders.eu 10 0\n"
	if got, err := os.ReadFile(path); err != nil || string(got) != want {
		t.Fatalf("file holds %q (%v), want %q", got, err, want)
	}
	got, err := ReadOffsetCheckpoint(OSFS{}, path)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, offsets) {
		t.Fatalf("read back %v, want %v", got, offsets)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

func TestLeaderEpochCheckpointRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "leader-epoch-checkpoint")
	// Written in the order given, not sorted.
	entries := []EpochEntry{{0, 0}, {3, 120}, {2, 100}, {math.MaxInt32, math.MaxInt64}}
	if err := WriteLeaderEpochCheckpoint(OSFS{}, path, entries); err != nil {
		t.Fatal(err)
	}
	want := "0\n4\n0 0\n3 120\n2 100\n2147483647 9223372036854775807\n"
	if got, err := os.ReadFile(path); err != nil || string(got) != want {
		t.Fatalf("file holds %q (%v), want %q", got, err, want)
	}
	got, err := ReadLeaderEpochCheckpoint(OSFS{}, path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, entries) {
		t.Fatalf("read back %v, want %v", got, entries)
	}
}

func TestCheckpointEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content *string // nil: no file
	}{
		{"missing", nil},
		{"empty file", new("")},
		{"no entries", new("0\n0\n")},
		{"no entries, no final newline", new("0\n0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if tt.content != nil {
				if err := os.WriteFile(path, []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			offsets, err := ReadOffsetCheckpoint(OSFS{}, path)
			if err != nil || offsets == nil || len(offsets) != 0 {
				t.Fatalf("ReadOffsetCheckpoint = %v, %v; want an empty map", offsets, err)
			}
			epochs, err := ReadLeaderEpochCheckpoint(OSFS{}, path)
			if err != nil || len(epochs) != 0 {
				t.Fatalf("ReadLeaderEpochCheckpoint = %v, %v; want no entries", epochs, err)
			}
		})
	}
	t.Run("written empty", func(t *testing.T) {
		path := filepath.Join(dir, "written-empty")
		if err := WriteOffsetCheckpoint(OSFS{}, path, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != "0\n0\n" {
			t.Fatalf("empty checkpoint written as %q", got)
		}
	})
}

func TestCheckpointLenientInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replication-offset-checkpoint")
	// CRLF line ends, runs of spaces and tabs, no final newline.
	content := "0\r\n2\r\norders  0\t5\r\norders 1 6"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOffsetCheckpoint(OSFS{}, path)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[TopicPartition]int64{{"orders", 0}: 5, {"orders", 1}: 6}; !maps.Equal(got, want) {
		t.Fatalf("read %v, want %v", got, want)
	}
}

func TestReadOffsetCheckpointMalformed(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantLine string // the line the error names
	}{
		{"only a newline", "\n", "line 1"},
		{"version only", "0\n", "line 2"},
		{"unknown version", "1\n0\n", "line 1"},
		{"version not a number", "v0\n0\n", "line 1"},
		{"empty version line", "\n0\n", "line 1"},
		{"count not a number", "0\nx\n", "line 2"},
		{"negative count", "0\n-1\n", "line 2"},
		{"count beyond 32 bits", "0\n4294967296\n", "line 2"},
		{"fewer entries than the count", "0\n2\nt 0 1\n", "line 3"},
		{"more entries than the count", "0\n1\nt 0 1\nt 1 1\n", "line 4"},
		{"two fields", "0\n1\nt 0\n", "line 3"},
		{"four fields", "0\n1\nt 0 1 2\n", "line 3"},
		{"blank entry line", "0\n2\nt 0 1\n\n", "line 4"},
		{"blank line at the end", "0\n1\nt 0 1\n\n", "line 4"},
		{"partition not a number", "0\n1\nt p 1\n", "line 3"},
		{"negative partition", "0\n1\nt -1 1\n", "line 3"},
		{"partition beyond 32 bits", "0\n1\nt 2147483648 1\n", "line 3"},
		{"offset not a number", "0\n1\nt 0 x\n", "line 3"},
		{"offset beyond 64 bits", "0\n1\nt 0 9223372036854775808\n", "line 3"},
		{"duplicate partition", "0\n3\nt 0 1\nu 0 1\nt 0 2\n", "line 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log-start-offset-checkpoint")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadOffsetCheckpoint(OSFS{}, path)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read %q: %v, %v; want ErrCorrupt", tt.content, got, err)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, tt.wantLine+":") {
				t.Fatalf("error %q does not name the file and %s", msg, tt.wantLine)
			}
		})
	}
}

func TestReadLeaderEpochCheckpointMalformed(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"unknown version", "2\n0\n"},
		{"count mismatch", "0\n2\n0 0\n"},
		{"one field", "0\n1\n0\n"},
		{"three fields", "0\n1\n0 0 0\n"},
		{"epoch not a number", "0\n1\ne 0\n"},
		{"epoch beyond 32 bits", "0\n1\n2147483648 0\n"},
		{"offset not a number", "0\n1\n0 o\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "leader-epoch-checkpoint")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			if got, err := ReadLeaderEpochCheckpoint(OSFS{}, path); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read %q: %v, %v; want ErrCorrupt", tt.content, got, err)
			}
		})
	}
}

func TestWriteOffsetCheckpointRefusesUnreadableEntries(t *testing.T) {
	for _, tp := range []TopicPartition{{"", 0}, {"has space", 0}, {"tab\there", 0}, {"t", -1}} {
		path := filepath.Join(t.TempDir(), "cleaner-offset-checkpoint")
		err := WriteOffsetCheckpoint(OSFS{}, path, map[TopicPartition]int64{tp: 1})
		if err == nil || errors.Is(err, ErrStorage) {
			t.Fatalf("write %+v: %v, want a plain error", tp, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("refused write created the file: %v", err)
		}
	}
}

// TestWriteCheckpointIsAtomic checks that a failure at each step before the
// rename leaves the old checkpoint in place and no temporary file behind.
func TestWriteCheckpointIsAtomic(t *testing.T) {
	old := map[TopicPartition]int64{{"orders", 0}: 1}
	tests := []struct {
		name string
		op   FaultOp
	}{
		{"create", FaultOpen},
		{"write", FaultWrite},
		{"fsync", FaultSync},
		{"rename", FaultRename},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "replication-offset-checkpoint")
			fsys := NewFaultFS(OSFS{})
			if err := WriteOffsetCheckpoint(fsys, path, old); err != nil {
				t.Fatal(err)
			}
			fsys.SetInject(func(op FaultOp, name string) error {
				if op == tt.op {
					return syscall.ENOSPC
				}
				return nil
			})
			err := WriteOffsetCheckpoint(fsys, path, map[TopicPartition]int64{{"orders", 0}: 2})
			if !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("failed %s: %v, want ErrStorage and ENOSPC", tt.name, err)
			}
			fsys.SetInject(nil)
			got, err := ReadOffsetCheckpoint(fsys, path)
			if err != nil || !maps.Equal(got, old) {
				t.Fatalf("after a failed %s the checkpoint reads %v, %v; want the old %v", tt.name, got, err, old)
			}
			if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("temporary file left behind: %v", err)
			}
		})
	}
}

func TestWriteCheckpointDirectoryFsyncFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "leader-epoch-checkpoint")
	fsys := NewFaultFS(OSFS{})
	fsys.SetInject(func(op FaultOp, name string) error {
		if op == FaultSync && name == dir {
			return syscall.EIO
		}
		return nil
	})
	entries := []EpochEntry{{1, 10}}
	if err := WriteLeaderEpochCheckpoint(fsys, path, entries); !errors.Is(err, ErrStorage) {
		t.Fatalf("write with a failing directory fsync: %v, want ErrStorage", err)
	}
	// The rename was done: the new file is in place, only its durability is
	// in doubt.
	if got, err := ReadLeaderEpochCheckpoint(OSFS{}, path); err != nil || !slices.Equal(got, entries) {
		t.Fatalf("read %v, %v; want %v", got, err, entries)
	}
}

func TestWriteCheckpointReplacesStaleTemporaryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "recovery-point-offset-checkpoint")
	// A crash during an earlier write left a longer temporary file behind.
	if err := os.WriteFile(path+".tmp", []byte(strings.Repeat("garbage\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[TopicPartition]int64{{"t", 0}: 3}
	if err := WriteOffsetCheckpoint(OSFS{}, path, want); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadOffsetCheckpoint(OSFS{}, path); err != nil || !maps.Equal(got, want) {
		t.Fatalf("read %v, %v; want %v", got, err, want)
	}
}

func TestReadCheckpointStorageError(t *testing.T) {
	dir := t.TempDir()
	// Reading a directory fails with EISDIR: not corruption, a storage error.
	if _, err := ReadOffsetCheckpoint(OSFS{}, dir); !errors.Is(err, ErrStorage) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("read a directory: %v, want ErrStorage", err)
	}
}
