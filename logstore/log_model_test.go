package logstore

import (
	"path/filepath"
	"testing"
)

// TestLogModelRegressions replays, each in a few lines, the failures the
// model-based test of Log found.
func TestLogModelRegressions(t *testing.T) {
	fill := func(t *testing.T, tl *testLog, batches int) { // timestamps rise, so time indexes fill too
		for i := 0; i < batches; i++ {
			tl.mustAppend(makeBatch(t, 2, 40, BuildOptions{BaseTimestamp: 1_700_000_000_000 + tl.LogEndOffset()}))
		}
	}
	tests := []struct {
		name string
		cfg  func() LogConfig
		run  func(t *testing.T, tl *testLog, cfg LogConfig)
	}{
		{
			// The .log file was renamed *.deleted, but deleted under its
			// old name: the *.deleted file stayed.
			name: "pending deletion removes the renamed log file",
			cfg:  smallLogConfig,
			run: func(t *testing.T, tl *testLog, cfg LogConfig) {
				fill(t, tl, 60)
				tl.SetHighWatermark(tl.LogEndOffset())
				if err := tl.MaybeIncrementLogStartOffset(tl.LogEndOffset()); err != nil {
					t.Fatal(err)
				}
				if n, err := tl.DeleteOldSegments(); err != nil || n == 0 {
					t.Fatalf("deleted %d segments: %v", n, err)
				}
				if err := tl.DeletePendingSegments(); err != nil {
					t.Fatal(err)
				}
				if left, _ := filepath.Glob(filepath.Join(tl.dir, "*"+DeletedFileSuffix)); len(left) > 0 {
					t.Fatalf("files left after their deletion: %v", left)
				}
			},
		},
		{
			// Deleting the old segment under its old name removed the new
			// segment's .log file: everything appended to it was lost.
			name: "a segment recreated at the base of a deleted one survives the deletion",
			cfg:  smallLogConfig,
			run: func(t *testing.T, tl *testLog, cfg LogConfig) {
				fill(t, tl, 5)
				if err := tl.Roll(); err != nil {
					t.Fatal(err)
				}
				base := tl.LogEndOffset()
				if err := tl.TruncateFullyAndStartAt(base); err != nil {
					t.Fatal(err)
				}
				fill(t, tl, 3)
				leo := tl.LogEndOffset()
				if err := tl.DeletePendingSegments(); err != nil {
					t.Fatal(err)
				}
				if err := tl.Close(); err != nil {
					t.Fatal(err)
				}
				tl.reopen(cfg, Options{CleanShutdown: true, RecoveryPoint: leo, LogStartOffset: base})
				if got := len(tl.readAll(base)); tl.LogEndOffset() != leo || got != 3 {
					t.Fatalf("log end %d with %d batches after reopening, want %d with 3", tl.LogEndOffset(), got, leo)
				}
			},
		},
		{
			// The active segment's index could not be resized below its
			// entries, so the log did not open any more.
			name: "reopen after segment.index.bytes was lowered",
			cfg:  denseIndexConfig,
			run: func(t *testing.T, tl *testLog, cfg LogConfig) {
				fill(t, tl, 40)
				leo := tl.LogEndOffset()
				if err := tl.Close(); err != nil {
					t.Fatal(err)
				}
				cfg.MaxIndexSize = 64
				tl.reopen(cfg, Options{CleanShutdown: true, RecoveryPoint: leo})
				fill(t, tl, 10)
				if n := len(tl.readAll(0)); n != 50 || tl.NumberOfSegments() < 2 {
					t.Fatalf("read back %d batches in %d segments, want 50 in a new segment", n, tl.NumberOfSegments())
				}
			},
		},
		{
			// Truncating into a segment whose index outgrew the lowered
			// segment.index.bytes failed the log for good; with the index
			// kept whole, its time index still needs the slot kept for the
			// entry written at the next roll.
			name: "truncation into a segment indexed under a larger segment.index.bytes",
			cfg: func() LogConfig {
				cfg := denseIndexConfig()
				cfg.IndexIntervalBytes = 300
				return cfg
			},
			run: func(t *testing.T, tl *testLog, cfg LogConfig) {
				fill(t, tl, 40)
				if err := tl.Roll(); err != nil {
					t.Fatal(err)
				}
				cfg.MaxIndexSize = 64
				tl.UpdateConfig(cfg)
				fill(t, tl, 5)
				if _, err := tl.TruncateTo(73); err != nil {
					t.Fatalf("truncate: %v", err)
				}
				kept := len(tl.readAll(0))
				fill(t, tl, 10)
				if n := len(tl.readAll(0)); n != kept+10 || tl.Err() != nil {
					t.Fatalf("read back %d batches, want %d; log error %v", n, kept+10, tl.Err())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg()
			tt.run(t, openTestLog(t, cfg), cfg)
		})
	}
}

// denseIndexConfig indexes every batch and has room for many entries.
func denseIndexConfig() LogConfig {
	cfg := smallLogConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 0
	return cfg
}
