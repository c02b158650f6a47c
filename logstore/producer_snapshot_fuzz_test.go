package logstore

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"reflect"
	"testing"
)

// FuzzReadProducerSnapshot feeds arbitrary bytes to the snapshot decoder.
// Invariants: it never panics; it either accepts or returns an error wrapping
// ErrCorrupt; what it accepts, encoded again, decodes to the same entries,
// and encoding those gives the same bytes again (encoding is canonical).
//
// Random bytes almost never carry a valid CRC, which would leave everything
// after the CRC check unexplored, so each input is also tried with its CRC
// recomputed.
func FuzzReadProducerSnapshot(f *testing.F) {
	golden, err := hex.DecodeString(goldenProducerSnapshot)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{})
	f.Add(golden[:2])                          // version only
	f.Add(golden[:producerSnapshotHeaderSize]) // header, entries missing
	f.Add(golden)
	f.Add(golden[:len(golden)-1])
	f.Add(encodeProducerSnapshot(nil))
	f.Add(encodeProducerSnapshot([]ProducerStateEntry{{
		ProducerID: 1<<63 - 1, ProducerEpoch: 1<<15 - 1,
		Batches:          []BatchMetadata{{LastSeq: 1<<31 - 1, LastOffset: 1<<63 - 1, OffsetDelta: 1<<31 - 1, Timestamp: 1<<63 - 1}},
		CoordinatorEpoch: 1<<31 - 1, CurrentTxnFirstOffset: 1<<63 - 1, LastTimestamp: 1<<63 - 1,
	}}))
	maxCount := encodeProducerSnapshot(nil)
	binary.BigEndian.PutUint32(maxCount[producerSnapshotEntriesOffset:], 1<<31-1)
	f.Add(maxCount)

	f.Fuzz(func(t *testing.T, b []byte) {
		checkProducerSnapshotDecode(t, b)
		if len(b) >= producerSnapshotEntriesOffset {
			fixed := append([]byte(nil), b...)
			crc := crc32.Checksum(fixed[producerSnapshotEntriesOffset:], crc32c)
			binary.BigEndian.PutUint32(fixed[producerSnapshotCRCOffset:], crc)
			checkProducerSnapshotDecode(t, fixed)
		}
	})
}

func checkProducerSnapshotDecode(t *testing.T, b []byte) {
	entries, err := decodeProducerSnapshot(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	re := encodeProducerSnapshot(entries)
	again, err := decodeProducerSnapshot(re)
	if err != nil {
		t.Fatalf("re-encoded snapshot does not decode: %v", err)
	}
	if !reflect.DeepEqual(entries, again) {
		t.Fatalf("round trip changed the entries:\n first  %+v\n second %+v", entries, again)
	}
	if re2 := encodeProducerSnapshot(again); string(re2) != string(re) {
		t.Fatalf("encoding is not canonical:\n %x\n %x", re, re2)
	}
}
