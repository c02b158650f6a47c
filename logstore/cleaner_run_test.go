package logstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestCleanerConcurrentWithAppendsAndReads cleans a log over and over while
// a producer appends to it and readers read from its start (holding regions
// of segments the cleaner replaces): every read must give whole, valid
// batches, and the log ends with the model's latest values. Run with -race.
func TestCleanerConcurrentWithAppendsAndReads(t *testing.T) {
	cfg := compactLogConfig()
	cfg.FileDeleteDelay = time.Minute // readers finish with replaced segments
	tl := openTestLog(t, cfg)
	m := newCompactModel()
	const appends = 600
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 16)
	var maxAppend time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := 0; i < appends; i++ {
			start := time.Now()
			appendKeyed(t, tl.Log, m, CompressionNone, 1000+int64(i), randomRecords(rng, 25))
			maxAppend = max(maxAppend, time.Since(start))
			tl.SetHighWatermark(tl.LogEndOffset())
		}
	}()
	cleanings := 0
	background := func(task func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := task(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	checkpoint := int64(-1)
	background(func() error {
		res, err := tl.Clean(checkpoint, 1<<20)
		if err != nil {
			return fmt.Errorf("clean: %w", err)
		}
		if res.Segments > 0 {
			cleanings++
		}
		checkpoint = res.FirstDirty
		return nil
	})
	read := func() error {
		start := tl.LogStartOffset()
		r, err := tl.Read(start, 8192, -1, true)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		b, err := r.ReadAll()
		if err != nil {
			return fmt.Errorf("read region: %w", err)
		}
		last := int64(-1)
		for len(b) >= LogOverhead {
			h, err := CheckBatch(b)
			if err != nil {
				if int64(len(b)) < LogOverhead+int64(int32(beUint32(b[offsetBatchLength:]))) {
					break
				}
				return fmt.Errorf("bad batch read at %d: %w", start, err)
			}
			if h.BaseOffset <= last {
				return fmt.Errorf("batch at %d after one ending at %d", h.BaseOffset, last)
			}
			last = h.LastOffset()
			b = b[h.Size():]
		}
		return nil
	}
	background(read)
	background(read)
	background(tl.Flush)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if cleanings < 2 {
		t.Fatalf("only %d cleanings ran during the appends", cleanings)
	}
	t.Logf("%d cleanings during %d appends; slowest append %v", cleanings, appends, maxAppend)
	if err := tl.Roll(); err != nil {
		t.Fatal(err)
	}
	tl.SetHighWatermark(tl.LogEndOffset())
	res, err := tl.Clean(checkpoint, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	checkCompacted(t, tl.Log, m, res.FirstDirty)
	checkMatchesModel(t, tl.Log, m)
}

// TestManagerRunsTheCleaner checks the broker's wiring: the manager's
// cleaner threads clean compacted logs (and only those), record the first
// dirty offset in cleaner-offset-checkpoint, read it back at the next
// start, forget a deleted partition, and stop with Run.
func TestManagerRunsTheCleaner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	mcfg := func(c *ManagerConfig) {
		c.Cleaner = CleanerConfig{Enable: true, Threads: 2, DedupeBufferSize: 1 << 20, Backoff: 10 * time.Millisecond}
	}
	m := newTestManager(t, []string{dir}, mcfg)
	compacted, err := m.GetOrCreateLog(tp("compacted", 0), compactLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	plainCfg := compactLogConfig()
	plainCfg.Compact, plainCfg.Delete = false, true
	plain, err := m.GetOrCreateLog(tp("plain", 0), plainCfg)
	if err != nil {
		t.Fatal(err)
	}
	model := newCompactModel()
	for i := 0; i < 100; i++ {
		recs := []Record{{Key: fmt.Appendf(nil, "k%d", i%5), Value: fmt.Appendf(nil, "v%d", i)}}
		appendKeyed(t, compacted, model, CompressionNone, 1000, recs)
		appendKeyed(t, plain, nil, CompressionNone, 1000, recs)
	}
	for _, l := range []*Log{compacted, plain} {
		if err := l.Roll(); err != nil {
			t.Fatal(err)
		}
		l.SetHighWatermark(l.LogEndOffset())
	}
	end := compacted.LogEndOffset()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error)
	go func() { runDone <- m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for m.CleanerCheckpoint(tp("compacted", 0)) != end {
		if time.Now().After(deadline) {
			t.Fatalf("cleaner checkpoint %d, want %d", m.CleanerCheckpoint(tp("compacted", 0)), end)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-runDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	checkCompacted(t, compacted, model, end)
	if recs, _ := readLogRecords(t, plain); len(recs) != 100 {
		t.Fatalf("a log without cleanup.policy=compact lost records: %d of 100 left", len(recs))
	}
	if got := m.CleanerCheckpoint(tp("plain", 0)); got != -1 {
		t.Fatalf("plain log has cleaner checkpoint %d", got)
	}
	offsets, err := ReadOffsetCheckpoint(OSFS{}, filepath.Join(dir, CleanerOffsetCheckpointFile))
	if err != nil || len(offsets) != 1 || offsets[tp("compacted", 0)] != end {
		t.Fatalf("cleaner-offset-checkpoint holds %v (%v), want compacted-0 at %d", offsets, err, end)
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}

	m = newTestManager(t, []string{dir}, mcfg)
	if got := m.CleanerCheckpoint(tp("compacted", 0)); got != end {
		t.Fatalf("after a restart the cleaner checkpoint is %d, want %d", got, end)
	}
	if err := m.DeleteLog(tp("compacted", 0)); err != nil {
		t.Fatal(err)
	}
	offsets, err = ReadOffsetCheckpoint(OSFS{}, filepath.Join(dir, CleanerOffsetCheckpointFile))
	if err != nil || len(offsets) != 0 {
		t.Fatalf("cleaner-offset-checkpoint after deleting the partition: %v (%v), want empty", offsets, err)
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// TestCleanerStopsOnCorruptData checks that a log whose dirty part holds a
// corrupt batch is reported and then skipped (Kafka marks such partitions
// uncleanable), and that its data is left as it was.
func TestCleanerStopsOnCorruptData(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	m := newTestManager(t, []string{dir}, nil)
	l, err := m.GetOrCreateLog(tp("compacted", 0), compactLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		appendKeyed(t, l, nil, CompressionNone, 1000, []Record{{Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i)}})
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	size := l.Size()
	// Flip a byte inside the last record of the first segment.
	f, err := os.OpenFile(SegmentFileName(l.Dir(), 0, LogFileSuffix), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := f.Stat()
	if _, err := f.WriteAt([]byte{0xff}, info.Size()-2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cleaned, err := m.CleanFilthiest(1<<20, nil)
	if !cleaned || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("cleaning a corrupt log: cleaned=%v err=%v, want an ErrCorrupt", cleaned, err)
	}
	if cleaned, err := m.CleanFilthiest(1<<20, nil); cleaned || err != nil {
		t.Fatalf("second cleaning: cleaned=%v err=%v, want the log skipped", cleaned, err)
	}
	if l.Size() != size || len(m.OfflineDirs()) != 0 {
		t.Fatalf("log size %d (was %d), offline dirs %v", l.Size(), size, m.OfflineDirs())
	}
}

// TestCleaningAbandoned checks that a cleaning stopped midway (shutdown, or
// the log closed for deletion) leaves the log as it was and no temporary
// files, and that a log closed before the swap is not swapped.
func TestCleaningAbandoned(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stopAfter int // batches read before stop reports true
		closeLog  bool
		truncate  bool
	}{
		{"stopped while mapping", 3, false, false},
		{"stopped while rewriting", 25, false, false},
		{"log closed", 0, true, false},
		{"log truncated", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := openTestLog(t, compactLogConfig())
			for i := 0; i < 20; i++ {
				appendKeyed(t, tl.Log, nil, CompressionNone, 1000, []Record{{Key: fmt.Appendf(nil, "k%d", i%3), Value: fmt.Appendf(nil, "v%d", i)}})
				if i%5 == 4 {
					if err := tl.Roll(); err != nil {
						t.Fatal(err)
					}
				}
			}
			tl.SetHighWatermark(tl.LogEndOffset())
			before, _ := readLogRecords(t, tl.Log)
			polls := 0
			stop := func() bool {
				polls++
				return tc.stopAfter > 0 && polls > tc.stopAfter
			}
			var hook cleanHook
			switch {
			case tc.closeLog:
				hook = func(step string) error {
					if step == "cleaned" {
						return tl.Close()
					}
					return nil
				}
			case tc.truncate:
				// A follower truncating to its new leader, then taking
				// the same offsets again: the segments look as before.
				hook = func(step string) error {
					if step != "cleaned" {
						return nil
					}
					if _, err := tl.TruncateTo(12); err != nil {
						return err
					}
					for i := 12; i < 20; i++ {
						appendKeyed(t, tl.Log, nil, CompressionNone, 1000, []Record{{Key: fmt.Appendf(nil, "k%d", i%3), Value: fmt.Appendf(nil, "v%d", i)}})
						if i%5 == 4 {
							if err := tl.Roll(); err != nil {
								return err
							}
						}
					}
					tl.SetHighWatermark(tl.LogEndOffset())
					return nil
				}
			}
			_, err := tl.clean(-1, 1<<20, stop, hook)
			if !errors.Is(err, errCleaningAborted) {
				t.Fatalf("clean: %v, want it abandoned", err)
			}
			for _, name := range mustReadDir(t, tl.dir) {
				if filepath.Ext(name) == CleanedFileSuffix || filepath.Ext(name) == SwapFileSuffix {
					t.Fatalf("%s left behind", name)
				}
			}
			if tc.closeLog {
				tl.reopen(compactLogConfig(), Options{CleanShutdown: true})
			}
			after, _ := readLogRecords(t, tl.Log)
			if len(after) != len(before) {
				t.Fatalf("%d records after an abandoned cleaning, %d before", len(after), len(before))
			}
		})
	}
}
