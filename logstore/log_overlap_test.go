package logstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// bigBatch is a batch large enough for Append's overlapped path: 100
// records of 1 KiB.
func bigBatch(t *testing.T, opts BuildOptions) []byte {
	t.Helper()
	b := makeBatch(t, 100, 1024, opts)
	if len(b) < overlapMinBytes {
		t.Fatalf("a batch of %d bytes is below overlapMinBytes %d", len(b), overlapMinBytes)
	}
	return b
}

// activeSegmentSize is the size of the last .log file in tl's directory.
func (tl *testLog) activeSegmentSize() int64 {
	tl.t.Helper()
	segs, err := filepath.Glob(filepath.Join(tl.dir, "*.log"))
	if err != nil || len(segs) == 0 {
		tl.t.Fatalf("no segment in %s: %v", tl.dir, err)
	}
	fi, err := os.Stat(segs[len(segs)-1])
	if err != nil {
		tl.t.Fatal(err)
	}
	return fi.Size()
}

// TestAppendOverlapped checks the overlapped path of Append (validation on
// another goroutine while the batch is written): valid batches land as the
// ordinary path would put them, and a refused one leaves neither an offset
// nor a byte behind, also across an unclean restart.
func TestAppendOverlapped(t *testing.T) {
	t.Run("valid batches, read back and recovered", func(t *testing.T) {
		tl := openTestLog(t, DefaultLogConfig())
		var want [][]byte
		for i := range 3 {
			b := bigBatch(t, BuildOptions{})
			info := tl.mustAppend(b)
			if info.FirstOffset != int64(i*100) || info.LastOffset != int64(i*100+99) || info.RecordCount != 100 {
				t.Fatalf("append %d: %+v", i, info)
			}
			want = append(want, bytes.Clone(b)) // base offset and epoch patched in place
		}
		r, err := tl.Read(0, 1<<30, -1, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.Join(want, nil)) {
			t.Fatal("the segment does not hold the appended batches byte for byte")
		}
		tl.Close()
		tl.reopen(DefaultLogConfig(), Options{CleanShutdown: false})
		if leo := tl.LogEndOffset(); leo != 300 {
			t.Fatalf("log end after recovery %d, want 300", leo)
		}
		if hs := tl.readAll(0); len(hs) != 3 || hs[2].BaseOffset != 200 || hs[2].PartitionLeaderEpoch != 3 {
			t.Fatalf("recovered batches %+v", hs)
		}
	})

	refused := []struct {
		name    string
		compact bool
		batch   func(t *testing.T) []byte
		want    error
	}{
		{"bad CRC", false, func(t *testing.T) []byte {
			b := bigBatch(t, BuildOptions{})
			b[len(b)-10] ^= 0xff
			return b
		}, ErrCorrupt},
		{"keyless records on a compacted log", true, func(t *testing.T) []byte {
			recs := make([]Record, 100)
			for i := range recs {
				recs[i] = Record{OffsetDelta: int32(i), Value: bytes.Repeat([]byte{'v'}, 1024)}
			}
			b, err := BuildBatch(BuildOptions{BaseTimestamp: 1_700_000_000_000, ProducerID: NoProducerID, ProducerEpoch: NoProducerEpoch, BaseSequence: NoSequence}, recs)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, ErrInvalidRecord},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			cfg := DefaultLogConfig()
			cfg.Compact = tt.compact
			tl := openTestLog(t, cfg)
			good := func() []byte { return makeBatch(t, 100, 1024, BuildOptions{}) }
			tl.mustAppend(good())
			size := tl.activeSegmentSize()
			_, err := tl.Append(tt.batch(t), AppendOptions{Origin: AppendOriginClient, LeaderEpoch: 3})
			if !errors.Is(err, tt.want) {
				t.Fatalf("append: %v, want %v", err, tt.want)
			}
			if leo, got := tl.LogEndOffset(), tl.activeSegmentSize(); leo != 100 || got != size {
				t.Fatalf("after the refusal: log end %d (want 100), segment %d bytes (want %d)", leo, got, size)
			}
			if info := tl.mustAppend(good()); info.FirstOffset != 100 {
				t.Fatalf("next append at %d, want 100", info.FirstOffset)
			}
			tl.Close()
			tl.reopen(cfg, Options{CleanShutdown: false})
			if leo := tl.LogEndOffset(); leo != 200 {
				t.Fatalf("log end after recovery %d, want 200", leo)
			}
		})
	}

	t.Run("header max timestamp fixed by the ordinary path", func(t *testing.T) {
		tl := openTestLog(t, DefaultLogConfig())
		b := bigBatch(t, BuildOptions{})
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		want := h.MaxTimestamp
		SetMaxTimestamp(b, NoTimestamp) // as sarama before 1.45 sent it
		if info := tl.mustAppend(b); info.MaxTimestamp != want {
			t.Fatalf("max timestamp %d, want %d", info.MaxTimestamp, want)
		}
		if hs := tl.readAll(0); len(hs) != 1 || hs[0].MaxTimestamp != want {
			t.Fatalf("stored headers %+v, want max timestamp %d", hs, want)
		}
	})

	t.Run("idempotent duplicate", func(t *testing.T) {
		tl := openTestLog(t, DefaultLogConfig())
		opts := BuildOptions{ProducerID: 7, ProducerEpoch: 0, BaseSequence: 0}
		first := tl.mustAppend(bigBatch(t, opts))
		again := tl.mustAppend(bigBatch(t, opts))
		if !again.Duplicate || again.FirstOffset != first.FirstOffset || tl.LogEndOffset() != 100 {
			t.Fatalf("resent batch: %+v, log end %d", again, tl.LogEndOffset())
		}
	})

	t.Run("crash before the header is written", func(t *testing.T) {
		ffs := NewFaultFS(OSFS{})
		tl := &testLog{t: t, dir: filepath.Join(t.TempDir(), "topic-0"), clock: newTestClock(), fs: ffs}
		tl.reopen(DefaultLogConfig(), Options{CleanShutdown: true})
		tl.mustAppend(bigBatch(t, BuildOptions{}))
		// The overlapped path writes the body, then the 21 header bytes:
		// fail the second write to the segment, as a crash between them
		// would leave it.
		var writes atomic.Int32
		ffs.SetInject(func(op FaultOp, name string) error {
			if op == FaultWrite && strings.HasSuffix(name, ".log") && writes.Add(1) == 2 {
				return errors.New("injected: no space left on device")
			}
			return nil
		})
		if _, err := tl.Append(bigBatch(t, BuildOptions{}), AppendOptions{Origin: AppendOriginClient, LeaderEpoch: 3}); !errors.Is(err, ErrStorage) {
			t.Fatalf("append with a failing header write: %v, want a storage error", err)
		}
		ffs.SetInject(nil)
		tl.Log.Close()
		tl.reopen(DefaultLogConfig(), Options{CleanShutdown: false})
		if leo := tl.LogEndOffset(); leo != 100 {
			t.Fatalf("log end after recovery %d, want 100", leo)
		}
		if info := tl.mustAppend(bigBatch(t, BuildOptions{})); info.FirstOffset != 100 {
			t.Fatalf("next append at %d, want 100", info.FirstOffset)
		}
	})
}

// TestAppendOverlappedConcurrent appends large batches from several
// goroutines while another reads: every batch gets its own offsets, in
// order, and reads never see a batch that is not whole (run with -race).
func TestAppendOverlappedConcurrent(t *testing.T) {
	tl := openTestLog(t, DefaultLogConfig())
	const writers, each = 4, 8
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			r, err := tl.Read(0, 1<<30, -1, true)
			if err != nil {
				readErr <- err
				return
			}
			b, err := r.ReadAll()
			if err != nil {
				readErr <- err
				return
			}
			for len(b) > 0 {
				h, err := CheckBatch(b)
				if err != nil {
					readErr <- err
					return
				}
				b = b[h.Size():]
			}
		}
	}()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := tl.Append(makeBatch(t, 100, 1024, BuildOptions{}), AppendOptions{Origin: AppendOriginClient, LeaderEpoch: 3}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatalf("reader: %v", err)
	}
	r, err := tl.Read(0, 1<<30, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; len(b) > 0; n++ {
		h, err := CheckBatch(b)
		if err != nil {
			t.Fatalf("batch %d: %v", n, err)
		}
		if h.BaseOffset != int64(n*100) {
			t.Fatalf("batch %d at offset %d, want %d", n, h.BaseOffset, n*100)
		}
		b = b[h.Size():]
	}
	if n != writers*each {
		t.Fatalf("%d batches, want %d", n, writers*each)
	}
}
