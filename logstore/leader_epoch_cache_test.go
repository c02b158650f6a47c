package logstore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func newTestEpochCache(t *testing.T, entries ...EpochEntry) *LeaderEpochCache {
	t.Helper()
	c := openLeaderEpochCache(OSFS{}, t.TempDir(), nopLogger())
	for _, e := range entries {
		if _, err := c.Assign(e.Epoch, e.StartOffset); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestLeaderEpochCacheAssign(t *testing.T) {
	tests := []struct {
		name    string
		assigns []EpochEntry
		want    []EpochEntry
	}{
		{"increasing", []EpochEntry{{0, 0}, {1, 5}, {3, 9}}, []EpochEntry{{0, 0}, {1, 5}, {3, 9}}},
		{"same epoch later offset is a no-op", []EpochEntry{{2, 4}, {2, 10}}, []EpochEntry{{2, 4}}},
		{"same epoch earlier offset replaces", []EpochEntry{{2, 4}, {2, 1}}, []EpochEntry{{2, 1}}},
		{"older epoch removes newer entries", []EpochEntry{{0, 0}, {1, 5}, {3, 9}, {2, 7}}, []EpochEntry{{0, 0}, {1, 5}, {2, 7}}},
		{"newer epoch at an earlier offset removes later starts", []EpochEntry{{0, 0}, {1, 5}, {3, 9}, {4, 6}}, []EpochEntry{{0, 0}, {1, 5}, {4, 6}}},
		{"negative values ignored", []EpochEntry{{-1, 0}, {0, -1}, {1, 3}}, []EpochEntry{{1, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestEpochCache(t, tt.assigns...)
			if got := c.Entries(); !slices.Equal(got, tt.want) {
				t.Fatalf("entries %v, want %v", got, tt.want)
			}
			// Every change is persisted: a reload sees the same history.
			again := openLeaderEpochCache(OSFS{}, filepath.Dir(c.path), nopLogger())
			if got := again.Entries(); !slices.Equal(got, tt.want) {
				t.Fatalf("reloaded entries %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLeaderEpochCacheEndOffsetFor(t *testing.T) {
	c := newTestEpochCache(t, EpochEntry{2, 10}, EpochEntry{4, 20}, EpochEntry{7, 35})
	const leo = 50
	tests := []struct {
		epoch      int32
		wantEpoch  int32
		wantOffset int64
	}{
		{UndefinedEpoch, UndefinedEpoch, UndefinedEpochOffset},
		{7, 7, leo}, // the latest epoch ends at the log end
		{4, 4, 35},  // ends where the next one starts
		{5, 4, 35},  // unknown epoch in between: the floor epoch, the next start
		{2, 2, 20},  //
		{3, 2, 20},  //
		{1, 1, 10},  // older than all: the epoch asked, the first start
		{0, 0, 10},  //
		{8, UndefinedEpoch, UndefinedEpochOffset}, // newer than all
	}
	for _, tt := range tests {
		e, o := c.EndOffsetFor(tt.epoch, leo)
		if e != tt.wantEpoch || o != tt.wantOffset {
			t.Errorf("EndOffsetFor(%d) = (%d, %d), want (%d, %d)", tt.epoch, e, o, tt.wantEpoch, tt.wantOffset)
		}
	}
	empty := newTestEpochCache(t)
	if e, o := empty.EndOffsetFor(0, leo); e != UndefinedEpoch || o != UndefinedEpochOffset {
		t.Errorf("empty history answered (%d, %d)", e, o)
	}
}

func TestLeaderEpochCacheTruncation(t *testing.T) {
	base := []EpochEntry{{1, 0}, {2, 10}, {4, 20}}
	tests := []struct {
		name string
		op   func(*LeaderEpochCache) error
		want []EpochEntry
	}{
		{"end at a start", func(c *LeaderEpochCache) error { return c.truncateFromEnd(10) }, []EpochEntry{{1, 0}}},
		{"end inside an epoch", func(c *LeaderEpochCache) error { return c.truncateFromEnd(15) }, []EpochEntry{{1, 0}, {2, 10}}},
		{"end past everything", func(c *LeaderEpochCache) error { return c.truncateFromEnd(100) }, base},
		{"start inside an epoch", func(c *LeaderEpochCache) error { return c.truncateFromStart(15) }, []EpochEntry{{2, 15}, {4, 20}}},
		{"start at a start", func(c *LeaderEpochCache) error { return c.truncateFromStart(20) }, []EpochEntry{{4, 20}}},
		{"start before everything", func(c *LeaderEpochCache) error { return c.truncateFromStart(0) }, base},
		{"start past the last start", func(c *LeaderEpochCache) error { return c.truncateFromStart(30) }, []EpochEntry{{4, 30}}},
		{"clear", func(c *LeaderEpochCache) error { return c.clear() }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestEpochCache(t, base...)
			if err := tt.op(c); err != nil {
				t.Fatal(err)
			}
			if got := c.Entries(); !slices.Equal(got, tt.want) {
				t.Fatalf("entries %v, want %v", got, tt.want)
			}
			again := openLeaderEpochCache(OSFS{}, filepath.Dir(c.path), nopLogger())
			if got := again.Entries(); !slices.Equal(got, tt.want) {
				t.Fatalf("reloaded entries %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLeaderEpochCacheCorruptFileStartsEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, LeaderEpochCheckpointFile), []byte("0\n2\n1 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := openLeaderEpochCache(OSFS{}, dir, nopLogger())
	if got := c.Entries(); len(got) != 0 {
		t.Fatalf("a truncated checkpoint loaded as %v", got)
	}
	// Non-monotonic entries are dropped on load as on assignment.
	if err := os.WriteFile(filepath.Join(dir, LeaderEpochCheckpointFile), []byte("0\n3\n1 0\n3 10\n2 12\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c = openLeaderEpochCache(OSFS{}, dir, nopLogger())
	if got, want := c.Entries(), []EpochEntry{{1, 0}, {2, 12}}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

// The log keeps its epoch history in step with appends, truncations,
// retention and reopening.
func TestLogLeaderEpochHistory(t *testing.T) {
	tl := openTestLog(t, smallLogConfig())
	appendAt := func(epoch int32) AppendInfo {
		t.Helper()
		info, err := tl.Append(makeBatch(t, 2, 100, BuildOptions{}), AppendOptions{Origin: AppendOriginClient, LeaderEpoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	appendAt(0) // 0-1
	appendAt(0) // 2-3
	if err := tl.AssignEpochStartOffset(2, tl.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	appendAt(2) // 4-5
	appendAt(5) // 6-7
	want := []EpochEntry{{0, 0}, {2, 4}, {5, 6}}
	if got := tl.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	if e, o := tl.EndOffsetForEpoch(2); e != 2 || o != 6 {
		t.Fatalf("EndOffsetForEpoch(2) = (%d, %d)", e, o)
	}
	if e, o := tl.EndOffsetForEpoch(5); e != 5 || o != 8 {
		t.Fatalf("EndOffsetForEpoch(5) = (%d, %d)", e, o)
	}
	checkpoint, err := ReadLeaderEpochCheckpoint(OSFS{}, filepath.Join(tl.dir, LeaderEpochCheckpointFile))
	if err != nil || !slices.Equal(checkpoint, want) {
		t.Fatalf("checkpoint file %v (%v), want %v", checkpoint, err, want)
	}

	if _, err := tl.TruncateTo(6); err != nil {
		t.Fatal(err)
	}
	want = []EpochEntry{{0, 0}, {2, 4}}
	if got := tl.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("history after truncation %v, want %v", got, want)
	}

	if err := tl.MaybeIncrementLogStartOffset(3); err != nil {
		t.Fatal(err)
	}
	want = []EpochEntry{{0, 3}, {2, 4}}
	if got := tl.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("history after start offset moved %v, want %v", got, want)
	}

	tl.Close()
	tl.reopen(smallLogConfig(), Options{CleanShutdown: true, LogStartOffset: 3})
	if got := tl.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("history after reopen %v, want %v", got, want)
	}

	if err := tl.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if got := tl.EpochEntries(); len(got) != 0 {
		t.Fatalf("history after a full truncation %v", got)
	}
}

// A follower's history comes from the epochs stamped on the leader's
// batches.
func TestFollowerLearnsEpochsFromBatches(t *testing.T) {
	leader := openTestLog(t, smallLogConfig())
	for i, epoch := range []int32{1, 1, 3, 3, 4} {
		if _, err := leader.Append(makeBatch(t, 1, 50, BuildOptions{}), AppendOptions{Origin: AppendOriginClient, LeaderEpoch: epoch}); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	follower := openTestLog(t, smallLogConfig())
	r, err := leader.Read(0, 1<<20, -1, true)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.ReadAll()
	if _, err := follower.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	want := []EpochEntry{{1, 0}, {3, 2}, {4, 4}}
	if got := follower.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("follower history %v, want %v", got, want)
	}
}

// After a crash that lost the checkpoint, recovery rebuilds the history
// from the batches it re-reads; entries beyond the recovered log go.
func TestRecoveryRebuildsEpochHistory(t *testing.T) {
	tl := openTestLog(t, smallLogConfig())
	for _, epoch := range []int32{0, 2, 2, 6} {
		if _, err := tl.Append(makeBatch(t, 1, 50, BuildOptions{}), AppendOptions{Origin: AppendOriginClient, LeaderEpoch: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tl.AssignEpochStartOffset(9, tl.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	if err := os.Remove(filepath.Join(tl.dir, LeaderEpochCheckpointFile)); err != nil {
		t.Fatal(err)
	}
	tl.reopen(smallLogConfig(), Options{CleanShutdown: false, RecoveryPoint: 0})
	want := []EpochEntry{{0, 0}, {2, 1}, {6, 3}}
	if got := tl.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("recovered history %v, want %v", got, want)
	}

	// An entry past the log end (the epoch-9 start at offset 4 survives in
	// the checkpoint, but the log lost its records): dropped on open.
	if err := WriteLeaderEpochCheckpoint(OSFS{}, filepath.Join(tl.dir, LeaderEpochCheckpointFile),
		[]EpochEntry{{0, 0}, {2, 1}, {6, 3}, {9, 40}}); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	tl.reopen(smallLogConfig(), Options{CleanShutdown: true})
	if got := tl.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("history with a stale tail %v, want %v", got, want)
	}
}
