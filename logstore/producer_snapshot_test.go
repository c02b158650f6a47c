package logstore

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// goldenProducerSnapshot is a version 1 snapshot with two entries, assembled
// by hand from Kafka 2.8's PidSnapshotMapSchema, its CRC-32C computed with an
// independent bitwise implementation:
//
//	producer 7:  epoch 2, last sequence 9, last offset 109, offset delta 9,
//	             timestamp 1700000000000, coordinator epoch -1, no transaction
//	producer 42: epoch 0, no batch (sequence -1, offset -1, delta 0),
//	             timestamp 1600000000000, coordinator epoch 3, transaction from 120
const goldenProducerSnapshot = "0001" + "ba56e7f3" + "00000002" +
	"0000000000000007" + "0002" + "00000009" + "000000000000006d" + "00000009" +
	"0000018bcfe56800" + "ffffffff" + "ffffffffffffffff" +
	"000000000000002a" + "0000" + "ffffffff" + "ffffffffffffffff" + "00000000" +
	"00000174876e8000" + "00000003" + "0000000000000078"

func goldenProducerEntries() []ProducerStateEntry {
	return []ProducerStateEntry{
		{
			ProducerID: 7, ProducerEpoch: 2,
			Batches: []BatchMetadata{{
				FirstSeq: 0, LastSeq: 9, LastOffset: 109, OffsetDelta: 9, Timestamp: 1700000000000,
			}},
			CoordinatorEpoch: -1, CurrentTxnFirstOffset: -1, LastTimestamp: 1700000000000,
		},
		{
			ProducerID: 42, ProducerEpoch: 0,
			CoordinatorEpoch: 3, CurrentTxnFirstOffset: 120, LastTimestamp: 1600000000000,
		},
	}
}

func TestProducerSnapshotGolden(t *testing.T) {
	golden, err := hex.DecodeString(goldenProducerSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeProducerSnapshot(goldenProducerEntries()); !bytes.Equal(got, golden) {
		t.Errorf("encode:\n got  %x\n want %x", got, golden)
	}
	got, err := decodeProducerSnapshot(golden)
	if err != nil {
		t.Fatal(err)
	}
	if want := goldenProducerEntries(); !reflect.DeepEqual(got, want) {
		t.Errorf("decode:\n got  %+v\n want %+v", got, want)
	}
}

func TestProducerSnapshotName(t *testing.T) {
	if got, want := producerSnapshotName(1234), "00000000000000001234.snapshot"; got != want {
		t.Errorf("producerSnapshotName(1234) = %q, want %q", got, want)
	}
	for name, want := range map[string]int64{
		"00000000000000001234.snapshot": 1234,
		"09223372036854775807.snapshot": 1<<63 - 1,
	} {
		if got, ok := parseProducerSnapshotName(name); !ok || got != want {
			t.Errorf("parseProducerSnapshotName(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
	for _, name := range []string{
		"1234.snapshot", "00000000000000001234.log", "0000000000000000123x.snapshot",
		"-0000000000000001234.snapshot", "99999999999999999999.snapshot",
		"00000000000000001234.snapshot.tmp", ".snapshot",
	} {
		if got, ok := parseProducerSnapshotName(name); ok {
			t.Errorf("parseProducerSnapshotName(%q) = %d, true; want not a snapshot", name, got)
		}
	}
}

// psmSnapshotFiles lists the names in dir that look like snapshots or their
// temporary files.
func psmSnapshotFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".snapshot") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestProducerSnapshotRoundTrip: state written by TakeSnapshot and loaded by
// TruncateAndReload in a new manager is the same, except that only each
// producer's last batch survives, stamped with its last timestamp.
func TestProducerSnapshotRoundTrip(t *testing.T) {
	dir := t.TempDir()
	now := time.UnixMilli(5_000_000)
	ts := now.UnixMilli()
	m := NewProducerStateManager(OSFS{}, dir, time.Hour)
	if err := m.TruncateAndReload(0, 0, now); err != nil {
		t.Fatal(err)
	}
	for i := range int32(7) { // producer 1: more batches than are cached
		psmAppend(t, m, psmBatch(1, 3, 4*i, -1, 4, ts+int64(i)), AppendOriginClient)
	}
	psmAppend(t, m, psmBatch(2, 0, math.MaxInt32-1, -1, 5, ts), AppendOriginClient) // wraps
	txn := psmBatch(3, 1, 0, -1, 2, ts)
	txn.Attributes = attrTransactional
	txnHeader := psmAppend(t, m, txn, AppendOriginClient)
	psmAppend(t, m, psmBatch(4, 0, 0, -1, 1, ts), AppendOriginClient)
	psmAppend(t, m, psmMarker(4, 1, -1, ts+50), AppendOriginCoordinator) // epoch only, no batch cached

	if err := m.TakeSnapshot(); err != nil {
		t.Fatal(err)
	}
	end := m.MapEndOffset()
	if got := psmSnapshotFiles(t, dir); !slices.Equal(got, []string{producerSnapshotName(end)}) {
		t.Fatalf("files = %v, want only %s", got, producerSnapshotName(end))
	}

	r := NewProducerStateManager(OSFS{}, dir, time.Hour)
	if err := r.TruncateAndReload(0, end, now); err != nil {
		t.Fatal(err)
	}
	if r.MapEndOffset() != end || r.Producers() != 4 {
		t.Fatalf("reloaded MapEndOffset %d with %d producers, want %d with 4", r.MapEndOffset(), r.Producers(), end)
	}
	for pid := int64(1); pid <= 4; pid++ {
		want, _ := m.LastEntry(pid)
		if n := len(want.Batches); n > 0 {
			last := want.Batches[n-1]
			last.Timestamp = want.LastTimestamp
			want.Batches = []BatchMetadata{last}
		}
		got, ok := r.LastEntry(pid)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("producer %d reloaded as %+v, want %+v", pid, got, want)
		}
	}
	if e, _ := r.LastEntry(3); e.CurrentTxnFirstOffset != txnHeader.BaseOffset {
		t.Errorf("open transaction first offset = %d, want %d", e.CurrentTxnFirstOffset, txnHeader.BaseOffset)
	}

	// The reloaded state goes on validating: the next sequence is accepted,
	// a retry of the last batch is a duplicate.
	if _, err := r.CheckBatch(psmBatch(1, 3, 28, -1, 1, ts), AppendOriginClient); err != nil {
		t.Errorf("next batch after reload: %v", err)
	}
	if dup, err := r.CheckBatch(psmBatch(1, 3, 24, -1, 4, ts), AppendOriginClient); err != nil || dup == nil {
		t.Errorf("retry of the last batch after reload = %v, %v; want a duplicate", dup, err)
	}
}

func TestProducerTakeSnapshotExistingIsNoop(t *testing.T) {
	dir := t.TempDir()
	m := NewProducerStateManager(OSFS{}, dir, time.Hour)
	psmAppend(t, m, psmBatch(1, 0, 0, -1, 3, 1), AppendOriginClient)
	if err := m.TakeSnapshot(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, producerSnapshotName(m.MapEndOffset()))
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Update(psmBatch(2, 0, 0, m.MapEndOffset(), 1, 1), AppendOriginReplication) // state changes, offset does not
	if err := m.TakeSnapshot(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("second TakeSnapshot at the same offset rewrote the file")
	}
}

// psmSnapshotsAt writes snapshots at each offset, after one batch of producer
// 1 per offset (batch i at offset i-1, sequence i-1), and returns the dir.
func psmSnapshotsAt(t *testing.T, offsets ...int64) string {
	t.Helper()
	dir := t.TempDir()
	m := NewProducerStateManager(OSFS{}, dir, time.Hour)
	for _, off := range offsets {
		for m.MapEndOffset() < off {
			psmAppend(t, m, psmBatch(1, 0, int32(m.MapEndOffset()), -1, 1, 1), AppendOriginClient)
		}
		if err := m.TakeSnapshot(); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func psmSnapshotOffsets(m *ProducerStateManager) (oldest, latest int64) {
	oldest, ok1 := m.OldestSnapshotOffset()
	latest, ok2 := m.LatestSnapshotOffset()
	if !ok1 || !ok2 {
		return -1, -1
	}
	return oldest, latest
}

func TestProducerTruncateAndReload(t *testing.T) {
	t.Run("deletes snapshots above the log end and below the log start", func(t *testing.T) {
		dir := psmSnapshotsAt(t, 1, 2, 3, 4, 5)
		m := NewProducerStateManager(OSFS{}, dir, time.Hour)
		if err := m.TruncateAndReload(2, 3, time.UnixMilli(1)); err != nil {
			t.Fatal(err)
		}
		if o, l := psmSnapshotOffsets(m); o != 2 || l != 3 {
			t.Errorf("snapshots [%d, %d], want [2, 3]", o, l)
		}
		want := []string{producerSnapshotName(2), producerSnapshotName(3)}
		if got := psmSnapshotFiles(t, dir); !slices.Equal(got, want) {
			t.Errorf("files = %v, want %v", got, want)
		}
		e, ok := m.LastEntry(1)
		if m.MapEndOffset() != 3 || !ok || e.LastOffset() != 2 {
			t.Errorf("loaded MapEndOffset %d, producer 1 %+v; want 3 with last offset 2", m.MapEndOffset(), e)
		}
	})

	t.Run("no snapshot left starts at the log start", func(t *testing.T) {
		dir := psmSnapshotsAt(t, 4, 5)
		m := NewProducerStateManager(OSFS{}, dir, time.Hour)
		if err := m.TruncateAndReload(1, 3, time.UnixMilli(1)); err != nil {
			t.Fatal(err)
		}
		if m.MapEndOffset() != 1 || m.Producers() != 0 || len(psmSnapshotFiles(t, dir)) != 0 {
			t.Errorf("MapEndOffset %d, %d producers, files %v; want 1, 0, none",
				m.MapEndOffset(), m.Producers(), psmSnapshotFiles(t, dir))
		}
	})

	t.Run("truncation below the state reloads", func(t *testing.T) {
		dir := t.TempDir()
		m := NewProducerStateManager(OSFS{}, dir, time.Hour)
		if err := m.TruncateAndReload(0, 0, time.UnixMilli(1)); err != nil {
			t.Fatal(err)
		}
		psmAppend(t, m, psmBatch(1, 0, 0, -1, 2, 1), AppendOriginClient)
		if err := m.TakeSnapshot(); err != nil {
			t.Fatal(err)
		}
		psmAppend(t, m, psmBatch(1, 0, 2, -1, 2, 1), AppendOriginClient)
		psmAppend(t, m, psmBatch(2, 0, 0, -1, 2, 1), AppendOriginClient)
		if err := m.TruncateAndReload(0, 3, time.UnixMilli(1)); err != nil {
			t.Fatal(err)
		}
		e, _ := m.LastEntry(1)
		if m.MapEndOffset() != 2 || m.Producers() != 1 || e.LastOffset() != 1 {
			t.Errorf("MapEndOffset %d, %d producers, producer 1 %+v; want the snapshot at 2", m.MapEndOffset(), m.Producers(), e)
		}
	})

	t.Run("no truncation keeps the state in memory", func(t *testing.T) {
		m := newTestPSM(t)
		if err := m.TruncateAndReload(0, 0, time.UnixMilli(1)); err != nil {
			t.Fatal(err)
		}
		for i := range int32(3) {
			psmAppend(t, m, psmBatch(1, 0, i, -1, 1, 1), AppendOriginClient)
		}
		if err := m.TruncateAndReload(0, 3, time.UnixMilli(1)); err != nil {
			t.Fatal(err)
		}
		if e, _ := m.LastEntry(1); len(e.Batches) != 3 || m.MapEndOffset() != 3 {
			t.Errorf("entry %+v at MapEndOffset %d; want the 3 batches kept", e, m.MapEndOffset())
		}
	})

	t.Run("expired producers are not loaded", func(t *testing.T) {
		dir := t.TempDir()
		m := NewProducerStateManager(OSFS{}, dir, time.Hour)
		psmAppend(t, m, psmBatch(1, 0, 0, -1, 1, 0), AppendOriginClient)
		psmAppend(t, m, psmBatch(2, 0, 0, -1, 1, time.Hour.Milliseconds()), AppendOriginClient)
		if err := m.TakeSnapshot(); err != nil {
			t.Fatal(err)
		}
		r := NewProducerStateManager(OSFS{}, dir, time.Hour)
		if err := r.TruncateAndReload(0, 2, time.UnixMilli(time.Hour.Milliseconds()+1)); err != nil {
			t.Fatal(err)
		}
		_, ok1 := r.LastEntry(1)
		_, ok2 := r.LastEntry(2)
		if ok1 || !ok2 {
			t.Errorf("loaded producer 1: %v, producer 2: %v; want only 2", ok1, ok2)
		}
	})

	t.Run("other files and leftover temporary snapshots", func(t *testing.T) {
		dir := psmSnapshotsAt(t, 2)
		for _, name := range []string{"00000000000000000000.log", "7.snapshot", producerSnapshotName(9) + ".tmp"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		m := NewProducerStateManager(OSFS{}, dir, time.Hour)
		if err := m.TruncateAndReload(0, 20, time.UnixMilli(1)); err != nil {
			t.Fatal(err)
		}
		if m.MapEndOffset() != 2 {
			t.Errorf("MapEndOffset = %d, want 2", m.MapEndOffset())
		}
		want := []string{producerSnapshotName(2), "7.snapshot"}
		if got := psmSnapshotFiles(t, dir); !slices.Equal(got, want) {
			t.Errorf("files = %v, want %v (the leftover .tmp deleted, foreign names left alone)", got, want)
		}
	})
}

// TestProducerCorruptSnapshot: a snapshot that fails to decode is refused with
// ErrCorrupt, and TruncateAndReload deletes it and loads the older one.
func TestProducerCorruptSnapshot(t *testing.T) {
	fixCRC := func(b []byte) {
		binary.BigEndian.PutUint32(b[producerSnapshotCRCOffset:], crc32.Checksum(b[producerSnapshotEntriesOffset:], crc32c))
	}
	tests := []struct {
		name    string
		corrupt func([]byte) []byte
	}{
		{"flipped byte in an entry", func(b []byte) []byte { b[len(b)-3] ^= 0x10; return b }},
		{"flipped byte in the crc", func(b []byte) []byte { b[3] ^= 0x01; return b }},
		{"truncated entry", func(b []byte) []byte { return b[:len(b)-1] }},
		{"truncated header", func(b []byte) []byte { return b[:7] }},
		{"empty", func(b []byte) []byte { return b[:0] }},
		{"wrong version", func(b []byte) []byte { b[1] = 2; return b }},
		{"trailing bytes", func(b []byte) []byte { b = append(b, 0, 0); fixCRC(b); return b }},
		{"count beyond the file", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[producerSnapshotEntriesOffset:], 3)
			fixCRC(b)
			return b
		}},
		{"negative count", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[producerSnapshotEntriesOffset:], 0xffffffff)
			fixCRC(b)
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := psmSnapshotsAt(t, 1, 2)
			path := filepath.Join(dir, producerSnapshotName(2))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b = tt.corrupt(b)
			if _, err := decodeProducerSnapshot(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode = %v, want ErrCorrupt", err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}

			m := NewProducerStateManager(OSFS{}, dir, time.Hour)
			if err := m.TruncateAndReload(0, 20, time.UnixMilli(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("corrupt snapshot still there: %v", err)
			}
			e, ok := m.LastEntry(1)
			if m.MapEndOffset() != 1 || !ok || e.LastOffset() != 0 {
				t.Errorf("MapEndOffset %d, producer 1 %+v; want the state of the snapshot at 1", m.MapEndOffset(), e)
			}
			if l, _ := m.LatestSnapshotOffset(); l != 1 {
				t.Errorf("LatestSnapshotOffset = %d, want 1", l)
			}
		})
	}
}

// TestProducerSnapshotReadErrorKeepsFile: a snapshot that cannot be read
// (rather than one that is corrupt) is an ErrStorage, and is not deleted.
func TestProducerSnapshotReadErrorKeepsFile(t *testing.T) {
	dir := psmSnapshotsAt(t, 1)
	ffs := NewFaultFS(OSFS{})
	ffs.SetInject(func(op FaultOp, name string) error {
		if op == FaultOpen {
			return syscall.EIO
		}
		return nil
	})
	m := NewProducerStateManager(ffs, dir, time.Hour)
	if err := m.TruncateAndReload(0, 20, time.UnixMilli(1)); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("TruncateAndReload = %v, want ErrStorage wrapping EIO", err)
	}
	if got := psmSnapshotFiles(t, dir); len(got) != 1 {
		t.Errorf("files = %v, want the snapshot kept", got)
	}
}

func TestProducerTruncateFullyAndStartAt(t *testing.T) {
	dir := psmSnapshotsAt(t, 1, 2, 3)
	m := NewProducerStateManager(OSFS{}, dir, time.Hour)
	if err := m.TruncateAndReload(0, 3, time.UnixMilli(1)); err != nil {
		t.Fatal(err)
	}
	if err := m.TruncateFullyAndStartAt(50); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.LatestSnapshotOffset(); ok || m.Producers() != 0 || m.MapEndOffset() != 50 {
		t.Errorf("after TruncateFullyAndStartAt(50): %d producers, MapEndOffset %d, snapshots %v",
			m.Producers(), m.MapEndOffset(), m.snapshots)
	}
	if got := psmSnapshotFiles(t, dir); len(got) != 0 {
		t.Errorf("files = %v, want none", got)
	}
}

func TestProducerDeleteSnapshotsBefore(t *testing.T) {
	dir := psmSnapshotsAt(t, 1, 2, 3)
	m := NewProducerStateManager(OSFS{}, dir, time.Hour)
	if err := m.DeleteSnapshotsBefore(3); err != nil {
		t.Fatal(err)
	}
	if o, l := psmSnapshotOffsets(m); o != 3 || l != 3 {
		t.Errorf("snapshots [%d, %d], want [3, 3]", o, l)
	}
	if got := psmSnapshotFiles(t, dir); !slices.Equal(got, []string{producerSnapshotName(3)}) {
		t.Errorf("files = %v, want only the snapshot at 3", got)
	}
}

// TestProducerTakeSnapshotFaults: a full disk or a failing fsync or rename
// while writing a snapshot gives an ErrStorage that still matches the cause,
// and leaves no snapshot file, whole or partial, behind; once the fault is
// gone the snapshot can be taken.
func TestProducerTakeSnapshotFaults(t *testing.T) {
	tests := []struct {
		name  string
		op    FaultOp
		cause error
	}{
		{"full disk", FaultWrite, syscall.ENOSPC},
		{"fsync fails", FaultSync, syscall.EIO},
		{"rename fails", FaultRename, syscall.EIO},
		{"create fails", FaultOpen, syscall.EACCES},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := NewFaultFS(OSFS{})
			m := NewProducerStateManager(ffs, dir, time.Hour)
			psmAppend(t, m, psmBatch(1, 0, 0, -1, 3, 1), AppendOriginClient)
			ffs.SetInject(func(op FaultOp, name string) error {
				if op == tt.op && strings.HasSuffix(name, ".snapshot.tmp") {
					return tt.cause
				}
				return nil
			})
			err := m.TakeSnapshot()
			if !errors.Is(err, ErrStorage) || !errors.Is(err, tt.cause) {
				t.Fatalf("TakeSnapshot = %v, want ErrStorage wrapping %v", err, tt.cause)
			}
			if got := psmSnapshotFiles(t, dir); len(got) != 0 {
				t.Errorf("files = %v, want none", got)
			}
			if _, ok := m.LatestSnapshotOffset(); ok {
				t.Errorf("failed snapshot counted")
			}

			ffs.SetInject(nil)
			if err := m.TakeSnapshot(); err != nil {
				t.Fatalf("TakeSnapshot after the fault: %v", err)
			}
			if got := psmSnapshotFiles(t, dir); !slices.Equal(got, []string{producerSnapshotName(3)}) {
				t.Errorf("files = %v, want the snapshot at 3", got)
			}
		})
	}

	t.Run("folder fsync fails after the rename", func(t *testing.T) {
		dir := t.TempDir()
		ffs := NewFaultFS(OSFS{})
		m := NewProducerStateManager(ffs, dir, time.Hour)
		psmAppend(t, m, psmBatch(1, 0, 0, -1, 3, 1), AppendOriginClient)
		ffs.SetInject(func(op FaultOp, name string) error {
			if op == FaultSync && name == dir {
				return syscall.EIO
			}
			return nil
		})
		if err := m.TakeSnapshot(); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("TakeSnapshot = %v, want ErrStorage wrapping EIO", err)
		}
		// The file is whole; only its name's durability is in doubt.
		b, err := os.ReadFile(filepath.Join(dir, producerSnapshotName(3)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeProducerSnapshot(b); err != nil {
			t.Errorf("snapshot left after the failed folder fsync does not decode: %v", err)
		}
	})
}
