package logstore

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

// psmBatch is the header of a data batch of records records from producer
// pid, with base offset base (-1 before the log assigns it) and max
// timestamp ts.
func psmBatch(pid int64, epoch int16, baseSeq int32, base int64, records int32, ts int64) BatchHeader {
	return BatchHeader{
		BaseOffset:      base,
		BatchLength:     BatchHeaderSize - LogOverhead,
		Magic:           CurrentMagic,
		LastOffsetDelta: records - 1,
		BaseTimestamp:   ts,
		MaxTimestamp:    ts,
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		BaseSequence:    baseSeq,
		RecordCount:     records,
	}
}

// psmMarker is the header of a one-record transaction marker at offset.
func psmMarker(pid int64, epoch int16, offset, ts int64) BatchHeader {
	h := psmBatch(pid, epoch, NoSequence, offset, 1, ts)
	h.Attributes = attrControl | attrTransactional
	return h
}

func newTestPSM(t *testing.T) *ProducerStateManager {
	t.Helper()
	return NewProducerStateManager(OSFS{}, t.TempDir(), time.Hour)
}

// psmAppend does what the Log does for a one-batch append at the end of the
// log: check, assign the offset, record. It fails the test if the batch is
// refused or a duplicate, and returns the header with its offset.
func psmAppend(t *testing.T, m *ProducerStateManager, h BatchHeader, origin AppendOrigin) BatchHeader {
	t.Helper()
	dup, err := m.CheckBatch(h, origin)
	if err != nil || dup != nil {
		t.Fatalf("CheckBatch(seq %d epoch %d, %v) = %+v, %v; want a fresh batch", h.BaseSequence, h.ProducerEpoch, origin, dup, err)
	}
	h.BaseOffset = m.MapEndOffset()
	m.Update(h, origin)
	m.UpdateMapEndOffset(h.NextOffset())
	return h
}

// TestProducerCheckBatch checks each validation rule of Kafka 2.8's
// ProducerAppendInfo: set up the state by recording batches (no checks),
// then check one batch.
func TestProducerCheckBatch(t *testing.T) {
	const pid = 1000
	tests := []struct {
		name    string
		setup   []BatchHeader // recorded in order, offsets assigned from 0
		batch   BatchHeader
		origin  AppendOrigin
		wantErr error
	}{
		{
			name:  "unknown producer starting at 0",
			batch: psmBatch(pid, 0, 0, -1, 3, 10),
		},
		{
			name:  "unknown producer accepted with any sequence",
			batch: psmBatch(pid, 4, 17, -1, 3, 10),
		},
		{
			name:  "batch without producer id is not checked",
			setup: []BatchHeader{psmBatch(pid, 5, 0, -1, 1, 10)},
			batch: psmBatch(NoProducerID, NoProducerEpoch, NoSequence, -1, 3, 10),
		},
		{
			name:  "in order",
			setup: []BatchHeader{psmBatch(pid, 0, 0, -1, 5, 10)},
			batch: psmBatch(pid, 0, 5, -1, 3, 10),
		},
		{
			name:    "gap is out of order",
			setup:   []BatchHeader{psmBatch(pid, 0, 0, -1, 5, 10)},
			batch:   psmBatch(pid, 0, 6, -1, 3, 10),
			wantErr: ErrOutOfOrderSequence,
		},
		{
			name:    "overlap with the last batch is out of order",
			setup:   []BatchHeader{psmBatch(pid, 0, 0, -1, 5, 10)},
			batch:   psmBatch(pid, 0, 3, -1, 3, 10),
			wantErr: ErrOutOfOrderSequence,
		},
		{
			name:    "same first sequence as a cached batch but another last one is out of order",
			setup:   []BatchHeader{psmBatch(pid, 0, 0, -1, 5, 10)},
			batch:   psmBatch(pid, 0, 0, -1, 4, 10),
			wantErr: ErrOutOfOrderSequence,
		},
		{
			name:    "older epoch is fenced",
			setup:   []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:   psmBatch(pid, 2, 5, -1, 1, 10),
			wantErr: ErrInvalidProducerEpoch,
		},
		{
			name:    "older epoch is fenced even at sequence 0",
			setup:   []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:   psmBatch(pid, 2, 0, -1, 1, 10),
			wantErr: ErrInvalidProducerEpoch,
		},
		{
			name:  "new epoch starting at 0",
			setup: []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch: psmBatch(pid, 4, 0, -1, 1, 10),
		},
		{
			name:    "new epoch not starting at 0",
			setup:   []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:   psmBatch(pid, 4, 5, -1, 1, 10),
			wantErr: ErrOutOfOrderSequence,
		},
		{
			name:  "sequence wraps from MaxInt32 to 0",
			setup: []BatchHeader{psmBatch(pid, 1, math.MaxInt32, -1, 1, 10)},
			batch: psmBatch(pid, 1, 0, -1, 2, 10),
		},
		{
			name:    "after MaxInt32 only 0 follows",
			setup:   []BatchHeader{psmBatch(pid, 1, math.MaxInt32, -1, 1, 10)},
			batch:   psmBatch(pid, 1, 1, -1, 2, 10),
			wantErr: ErrOutOfOrderSequence,
		},
		{
			name:  "batch wrapping inside itself is followed by its last sequence + 1",
			setup: []BatchHeader{psmBatch(pid, 1, math.MaxInt32-10, -1, 20, 10)}, // last sequence 8
			batch: psmBatch(pid, 1, 9, -1, 1, 10),
		},
		{
			name:    "epoch bumped by a marker: the next batch must start at 0",
			setup:   []BatchHeader{psmBatch(pid, 0, 0, -1, 5, 10), psmMarker(pid, 1, -1, 11)},
			batch:   psmBatch(pid, 1, 5, -1, 1, 12),
			wantErr: ErrOutOfOrderSequence,
		},
		{
			name:  "epoch bumped by a marker: starting at 0 is in order",
			setup: []BatchHeader{psmBatch(pid, 0, 0, -1, 5, 10), psmMarker(pid, 1, -1, 11)},
			batch: psmBatch(pid, 1, 0, -1, 1, 12),
		},
		{
			name:   "replication skips the epoch check",
			setup:  []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:  psmBatch(pid, 2, 40, -1, 1, 10),
			origin: AppendOriginReplication,
		},
		{
			name:   "replication skips the sequence check",
			setup:  []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:  psmBatch(pid, 3, 40, -1, 1, 10),
			origin: AppendOriginReplication,
		},
		{
			name:    "coordinator checks the epoch",
			setup:   []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:   psmMarker(pid, 2, -1, 11),
			origin:  AppendOriginCoordinator,
			wantErr: ErrInvalidProducerEpoch,
		},
		{
			name:   "coordinator does not check sequences",
			setup:  []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:  psmBatch(pid, 3, NoSequence, -1, 1, 10),
			origin: AppendOriginCoordinator,
		},
		{
			name:   "coordinator may start a new epoch anywhere",
			setup:  []BatchHeader{psmBatch(pid, 3, 0, -1, 5, 10)},
			batch:  psmMarker(pid, 4, -1, 11),
			origin: AppendOriginCoordinator,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestPSM(t)
			for _, h := range tt.setup {
				h.BaseOffset = m.MapEndOffset()
				m.Update(h, AppendOriginReplication)
				m.UpdateMapEndOffset(h.NextOffset())
			}
			before, _ := m.LastEntry(pid)
			dup, err := m.CheckBatch(tt.batch, tt.origin)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("CheckBatch = %v, want %v", err, tt.wantErr)
			}
			if dup != nil {
				t.Fatalf("CheckBatch reported a duplicate %+v", *dup)
			}
			if after, _ := m.LastEntry(pid); !reflect.DeepEqual(before, after) {
				t.Errorf("CheckBatch changed the state:\n before %+v\n after  %+v", before, after)
			}
		})
	}
}

// TestProducerDuplicates: a client batch repeating the epoch and sequence
// range of one of the producer's last 5 batches is a duplicate, answered
// with the offsets it was written at; the 6th batch back has left the cache
// and is out of order.
func TestProducerDuplicates(t *testing.T) {
	const pid = 7
	m := newTestPSM(t)
	m.UpdateMapEndOffset(100)
	var written []BatchHeader
	for i := range int32(6) {
		written = append(written, psmAppend(t, m, psmBatch(pid, 2, 3*i, -1, 3, 1000+int64(i)), AppendOriginClient))
	}
	for back := 1; back <= 6; back++ {
		w := written[len(written)-back]
		retry := w
		retry.BaseOffset = -1 // a retry arrives without offsets
		t.Run(fmt.Sprintf("batch %d back", back), func(t *testing.T) {
			dup, err := m.CheckBatch(retry, AppendOriginClient)
			if back == 6 {
				if dup != nil || !errors.Is(err, ErrOutOfOrderSequence) {
					t.Fatalf("CheckBatch = %+v, %v; want ErrOutOfOrderSequence", dup, err)
				}
				return
			}
			if err != nil || dup == nil {
				t.Fatalf("CheckBatch = %+v, %v; want a duplicate", dup, err)
			}
			want := BatchMetadata{
				FirstSeq: w.BaseSequence, LastSeq: w.LastSequence(),
				LastOffset: w.LastOffset(), OffsetDelta: w.LastOffsetDelta, Timestamp: w.MaxTimestamp,
			}
			if *dup != want || dup.FirstOffset() != w.BaseOffset {
				t.Fatalf("duplicate = %+v (first offset %d), want %+v (first offset %d)", *dup, dup.FirstOffset(), want, w.BaseOffset)
			}
		})
	}

	t.Run("same sequences in a newer epoch are not a duplicate", func(t *testing.T) {
		retry := written[5]
		retry.ProducerEpoch = 3
		if dup, err := m.CheckBatch(retry, AppendOriginClient); dup != nil || !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("CheckBatch = %+v, %v; want ErrOutOfOrderSequence", dup, err)
		}
	})
	t.Run("coordinator appends are not checked for duplicates", func(t *testing.T) {
		if dup, err := m.CheckBatch(written[5], AppendOriginCoordinator); dup != nil || err != nil {
			t.Fatalf("CheckBatch = %+v, %v; want nil, nil", dup, err)
		}
	})
}

func TestProducerUpdate(t *testing.T) {
	const pid = 9
	t.Run("keeps the last 5 batches, oldest first", func(t *testing.T) {
		m := newTestPSM(t)
		var written []BatchHeader
		for i := range int32(7) {
			written = append(written, psmAppend(t, m, psmBatch(pid, 0, 2*i, -1, 2, 50+int64(i)), AppendOriginClient))
		}
		e, ok := m.LastEntry(pid)
		if !ok || len(e.Batches) != 5 {
			t.Fatalf("LastEntry = %+v, %v; want 5 batches", e, ok)
		}
		for i, b := range e.Batches {
			w := written[i+2]
			if b.FirstSeq != w.BaseSequence || b.LastOffset != w.LastOffset() || b.Timestamp != w.MaxTimestamp {
				t.Errorf("batch %d = %+v, want the one at offset %d", i, b, w.BaseOffset)
			}
		}
		if e.LastTimestamp != 56 || e.LastSeq() != 13 || e.LastOffset() != 13 {
			t.Errorf("entry = %+v, want last timestamp 56, last sequence 13, last offset 13", e)
		}
	})

	t.Run("a new epoch forgets the old batches", func(t *testing.T) {
		m := newTestPSM(t)
		psmAppend(t, m, psmBatch(pid, 0, 0, -1, 2, 1), AppendOriginClient)
		psmAppend(t, m, psmBatch(pid, 0, 2, -1, 2, 2), AppendOriginClient)
		h := psmAppend(t, m, psmBatch(pid, 1, 0, -1, 1, 3), AppendOriginClient)
		e, _ := m.LastEntry(pid)
		if e.ProducerEpoch != 1 || len(e.Batches) != 1 || e.Batches[0].LastOffset != h.LastOffset() {
			t.Fatalf("entry = %+v, want epoch 1 with only the batch at %d", e, h.BaseOffset)
		}
	})

	t.Run("replication records an older epoch", func(t *testing.T) {
		m := newTestPSM(t)
		psmAppend(t, m, psmBatch(pid, 5, 0, -1, 1, 1), AppendOriginClient)
		psmAppend(t, m, psmBatch(pid, 4, 9, -1, 1, 2), AppendOriginReplication)
		if e, _ := m.LastEntry(pid); e.ProducerEpoch != 4 || e.LastSeq() != 9 {
			t.Fatalf("entry = %+v, want epoch 4, last sequence 9", e)
		}
	})

	t.Run("transactions open at their first batch and close at the marker", func(t *testing.T) {
		m := newTestPSM(t)
		m.UpdateMapEndOffset(40)
		txn := psmBatch(pid, 0, 0, -1, 2, 1)
		txn.Attributes = attrTransactional
		first := psmAppend(t, m, txn, AppendOriginClient)
		txn.BaseSequence = 2
		psmAppend(t, m, txn, AppendOriginClient)
		if e, _ := m.LastEntry(pid); e.CurrentTxnFirstOffset != first.BaseOffset {
			t.Fatalf("CurrentTxnFirstOffset = %d, want %d", e.CurrentTxnFirstOffset, first.BaseOffset)
		}
		psmAppend(t, m, psmMarker(pid, 0, -1, 99), AppendOriginCoordinator)
		e, _ := m.LastEntry(pid)
		if e.CurrentTxnFirstOffset != -1 || len(e.Batches) != 2 || e.LastTimestamp != 99 {
			t.Fatalf("entry = %+v, want no open transaction, 2 batches, last timestamp 99", e)
		}
	})

	t.Run("empty marker and batches without producer id change nothing", func(t *testing.T) {
		m := newTestPSM(t)
		empty := psmMarker(pid, 3, 0, 5)
		empty.RecordCount = 0
		m.Update(empty, AppendOriginReplication)
		m.Update(psmBatch(NoProducerID, NoProducerEpoch, NoSequence, 1, 1, 5), AppendOriginClient)
		if n := m.Producers(); n != 0 {
			t.Fatalf("Producers = %d, want 0", n)
		}
	})

	t.Run("LastEntry returns a copy", func(t *testing.T) {
		m := newTestPSM(t)
		psmAppend(t, m, psmBatch(pid, 0, 0, -1, 1, 1), AppendOriginClient)
		e, _ := m.LastEntry(pid)
		e.Batches[0].LastSeq = 77
		e.ProducerEpoch = 9
		if again, _ := m.LastEntry(pid); again.Batches[0].LastSeq != 0 || again.ProducerEpoch != 0 {
			t.Fatalf("changing a returned entry changed the state: %+v", again)
		}
	})
}

// TestProducerExpiration: producers idle for the expiration time or longer
// go, unless a transaction is open.
func TestProducerExpiration(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	exp := time.Hour
	idle := func(d time.Duration) int64 { return now.Add(-d).UnixMilli() }

	m := NewProducerStateManager(OSFS{}, t.TempDir(), exp)
	m.Update(psmBatch(1, 0, 0, 0, 1, idle(exp+time.Minute)), AppendOriginReplication)
	m.Update(psmBatch(2, 0, 0, 1, 1, idle(exp)), AppendOriginReplication)
	m.Update(psmBatch(3, 0, 0, 2, 1, idle(exp-time.Millisecond)), AppendOriginReplication)
	txn := psmBatch(4, 0, 0, 3, 1, idle(2*exp))
	txn.Attributes = attrTransactional
	m.Update(txn, AppendOriginReplication)
	m.UpdateMapEndOffset(4)

	m.RemoveExpiredProducers(now)
	for pid, want := range map[int64]bool{1: false, 2: false, 3: true, 4: true} {
		if _, ok := m.LastEntry(pid); ok != want {
			t.Errorf("producer %d kept = %v, want %v", pid, ok, want)
		}
	}
	if n := m.Producers(); n != 2 {
		t.Errorf("Producers = %d, want 2", n)
	}
	// An expired producer is unknown again, so any sequence is accepted.
	if _, err := m.CheckBatch(psmBatch(1, 0, 33, -1, 1, now.UnixMilli()), AppendOriginClient); err != nil {
		t.Errorf("CheckBatch for an expired producer = %v, want nil", err)
	}
}

func TestProducerLogStartOffsetIncremented(t *testing.T) {
	m := newTestPSM(t)
	psmAppend(t, m, psmBatch(1, 0, 0, -1, 10, 1), AppendOriginClient)
	m.OnLogStartOffsetIncremented(5)
	if got := m.MapEndOffset(); got != 10 {
		t.Errorf("MapEndOffset = %d, want 10 (unchanged)", got)
	}
	m.OnLogStartOffsetIncremented(25)
	if got := m.MapEndOffset(); got != 25 {
		t.Errorf("MapEndOffset = %d, want 25", got)
	}
	// Kept, as Kafka 2.8 keeps them since KIP-360.
	if _, ok := m.LastEntry(1); !ok {
		t.Errorf("producer whose batches are below the log start was dropped")
	}
}

func TestProducerFirstSeq(t *testing.T) {
	tests := []struct{ last, delta, want int32 }{
		{last: 9, delta: 9, want: 0},
		{last: 9, delta: 0, want: 9},
		{last: 8, delta: 19, want: math.MaxInt32 - 10},
		{last: 0, delta: 1, want: math.MaxInt32},
		{last: NoSequence, delta: 4, want: NoSequence},
	}
	for _, tt := range tests {
		if got := producerFirstSeq(tt.last, tt.delta); got != tt.want {
			t.Errorf("producerFirstSeq(%d, %d) = %d, want %d", tt.last, tt.delta, got, tt.want)
		}
		if tt.last != NoSequence {
			if got := IncrementSequence(tt.want, tt.delta); got != tt.last {
				t.Errorf("IncrementSequence(%d, %d) = %d, want %d", tt.want, tt.delta, got, tt.last)
			}
		}
	}
}
