package logstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestManager(t *testing.T, dirs []string, mutate func(*ManagerConfig)) *Manager {
	t.Helper()
	cfg := ManagerConfig{
		Dirs:                  dirs,
		DefaultLogConfig:      smallLogConfig(),
		RecoveryThreadsPerDir: 2,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{Topic: topic, Partition: p} }

func appendTo(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(makeBatch(t, 1, 200, BuildOptions{}), AppendOptions{Origin: AppendOriginClient}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestManagerCreateShutdownReload(t *testing.T) {
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "a"), filepath.Join(root, "b")}
	m := newTestManager(t, dirs, nil)
	ends := map[TopicPartition]int64{}
	for p := int32(0); p < 6; p++ {
		l, err := m.GetOrCreateLog(tp("orders.v1_x", p), smallLogConfig())
		if err != nil {
			t.Fatal(err)
		}
		appendTo(t, l, int(p)*5)
		l.SetHighWatermark(l.LogEndOffset())
		ends[l.TopicPartition()] = l.LogEndOffset()
	}
	// Partitions are spread over both directories.
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		if len(entries) != 3 {
			t.Fatalf("%s holds %d entries, want 3 partitions", d, len(entries))
		}
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		for _, f := range []string{CleanShutdownFile, RecoveryPointCheckpointFile, ReplicationCheckpointFile, LogStartOffsetCheckpointFile} {
			if _, err := os.Stat(filepath.Join(d, f)); err != nil {
				t.Fatalf("%s missing after shutdown: %v", f, err)
			}
		}
	}
	hws, err := ReadOffsetCheckpoint(OSFS{}, filepath.Join(dirs[0], ReplicationCheckpointFile))
	if err != nil || len(hws) != 3 {
		t.Fatalf("replication checkpoint: %v %v", hws, err)
	}

	m2 := newTestManager(t, dirs, nil)
	defer m2.Shutdown()
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, CleanShutdownFile)); !os.IsNotExist(err) {
			t.Fatalf("clean shutdown marker must be removed once loaded: %v", err)
		}
	}
	if len(m2.Logs()) != 6 {
		t.Fatalf("reloaded %d logs, want 6", len(m2.Logs()))
	}
	for tp, end := range ends {
		l, ok := m2.GetLog(tp)
		if !ok {
			t.Fatalf("%s not reloaded", tp)
		}
		if l.LogEndOffset() != end || l.HighWatermark() != end || l.RecoveryPoint() != end {
			t.Fatalf("%s: end %d hw %d rp %d, want %d", tp, l.LogEndOffset(), l.HighWatermark(), l.RecoveryPoint(), end)
		}
	}
}

func TestManagerToleratesBadCheckpointsAndFolders(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, []string{dir}, nil)
	l, err := m.GetOrCreateLog(tp("t", 0), smallLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, l, 10)
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// A checkpoint naming a partition whose folder is gone, garbage in
	// another checkpoint, a missing third one, and a stray folder.
	if err := WriteOffsetCheckpoint(OSFS{}, filepath.Join(dir, RecoveryPointCheckpointFile),
		map[TopicPartition]int64{tp("t", 0): 10, tp("gone", 3): 99}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LogStartOffsetCheckpointFile), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, ReplicationCheckpointFile))
	os.Mkdir(filepath.Join(dir, "not-a-partition-folder-x"), 0o755)

	m2 := newTestManager(t, []string{dir}, nil)
	defer m2.Shutdown()
	l, ok := m2.GetLog(tp("t", 0))
	if !ok || l.LogEndOffset() != 10 {
		t.Fatalf("log not reloaded intact: %v", ok)
	}
	if _, ok := m2.GetLog(tp("gone", 3)); ok {
		t.Fatal("a partition without a folder was loaded")
	}
}

func TestManagerUnreadableDirectoryGoesOffline(t *testing.T) {
	root := t.TempDir()
	good := filepath.Join(root, "good")
	bad := filepath.Join(root, "bad")
	if err := os.WriteFile(bad, []byte("a file, not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := newTestManager(t, []string{good, bad}, nil)
	defer m.Shutdown()
	if _, off := m.OfflineDirs()[bad]; !off {
		t.Fatalf("unreadable directory not offline: %v", m.OfflineDirs())
	}
	l, err := m.GetOrCreateLog(tp("t", 0), smallLogConfig())
	if err != nil || filepath.Dir(l.Dir()) != good {
		t.Fatalf("log created in %v, err %v", l, err)
	}

	m2, err := NewManager(ManagerConfig{Dirs: []string{bad}, DefaultLogConfig: smallLogConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Load(context.Background()); err == nil {
		t.Fatal("loading with every directory offline must fail")
	}
}

func TestManagerMetaProperties(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, []string{dir}, nil)
	defer m.Shutdown()
	if err := m.EnsureMetaProperties(3, ""); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureMetaProperties(3, "clusterA"); err != nil {
		t.Fatalf("adding the cluster id: %v", err)
	}
	mp, ok, err := ReadMetaProperties(OSFS{}, dir)
	if err != nil || !ok || mp.BrokerID != 3 || mp.ClusterID != "clusterA" {
		t.Fatalf("meta.properties: %+v %v %v", mp, ok, err)
	}
	if err := m.EnsureMetaProperties(4, "clusterA"); err == nil {
		t.Fatal("a different broker.id must be refused")
	}
	if err := m.EnsureMetaProperties(3, "clusterB"); err == nil {
		t.Fatal("a different cluster id must be refused")
	}
	if err := os.WriteFile(filepath.Join(dir, MetaPropertiesFile), []byte("version=zero\nbroker.id=\x00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureMetaProperties(3, "clusterA"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage meta.properties: %v", err)
	}
}

func TestManagerBackgroundRetentionAndFlush(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock()
	m := newTestManager(t, []string{dir}, func(c *ManagerConfig) {
		c.RetentionCheckInterval = 5 * time.Millisecond
		c.RecoveryPointCheckpointInterval = 5 * time.Millisecond
		c.Now = clock.Now
	})
	cfg := smallLogConfig()
	cfg.RetentionBytes = 4096
	l, err := m.GetOrCreateLog(tp("t", 0), cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, l, 60)
	l.SetHighWatermark(l.LogEndOffset())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for l.Size() > cfg.RetentionBytes+cfg.SegmentBytes || l.RecoveryPoint() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("retention or roll flush did not run: size %d recovery point %d", l.Size(), l.RecoveryPoint())
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

func TestManagerDeleteLog(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, []string{dir}, nil)
	defer m.Shutdown()
	l, err := m.GetOrCreateLog(tp("t", 1), smallLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendTo(t, l, 3)
	if err := m.DeleteLog(tp("t", 1)); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			t.Fatalf("folder %s left after delete", e.Name())
		}
	}
	if _, ok := m.GetLog(tp("t", 1)); ok {
		t.Fatal("deleted log still served")
	}
}

func TestManagerLoadsManyPartitionsInParallel(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, []string{dir}, nil)
	for p := int32(0); p < 64; p++ {
		l, err := m.GetOrCreateLog(tp("many", p), smallLogConfig())
		if err != nil {
			t.Fatal(err)
		}
		appendTo(t, l, 2)
	}
	// No Shutdown: the next load recovers all 64 as after a crash.
	for _, l := range m.Logs() {
		l.Close()
	}
	m2 := newTestManager(t, []string{dir}, func(c *ManagerConfig) { c.RecoveryThreadsPerDir = 8 })
	defer m2.Shutdown()
	if n := len(m2.Logs()); n != 64 {
		t.Fatalf("loaded %d logs, want 64", n)
	}
	for _, l := range m2.Logs() {
		if l.LogEndOffset() != 2 {
			t.Fatalf("%s: end offset %d", l.TopicPartition(), l.LogEndOffset())
		}
	}
}

// TestManagerCreatesLogsConcurrently: a log whose files are slow to make
// does not hold up another partition's; a second caller for the same
// partition gets the same log; a log deleted while it is being created is
// gone once both have returned; and logs spread over the directories.
func TestManagerCreatesLogsConcurrently(t *testing.T) {
	faults := NewFaultFS(OSFS{})
	entered, release := make(chan struct{}, 8), make(chan struct{})
	faults.SetInject(func(op FaultOp, name string) error {
		if op != FaultOpen || !strings.Contains(name, "slow-") {
			return nil
		}
		select {
		case <-release: // released: every later open goes through
			return nil
		default:
		}
		entered <- struct{}{} // one per log before release: its first file
		<-release
		return nil
	})
	dirs := []string{t.TempDir(), t.TempDir()}
	m := newTestManager(t, dirs, func(c *ManagerConfig) { c.FS = faults })
	slow, slowDeleted := TopicPartition{Topic: "slow", Partition: 0}, TopicPartition{Topic: "slow", Partition: 1}

	type created struct {
		l   *Log
		err error
	}
	first, second := make(chan created, 1), make(chan created, 1)
	go func() { l, err := m.GetOrCreateLog(slow, smallLogConfig()); first <- created{l, err} }()
	<-entered // slow-0's first file is being opened, and stays so

	fast := make(chan error, 1)
	go func() {
		_, err := m.GetOrCreateLog(TopicPartition{Topic: "fast", Partition: 0}, smallLogConfig())
		fast <- err
	}()
	select {
	case err := <-fast:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("creating one log waited for another partition's")
	}
	go func() { l, err := m.GetOrCreateLog(slow, smallLogConfig()); second <- created{l, err} }()

	go func() { _, _ = m.GetOrCreateLog(slowDeleted, smallLogConfig()) }()
	<-entered
	deleted := make(chan error, 1)
	go func() { deleted <- m.DeleteLog(slowDeleted) }()

	close(release)
	a, b := <-first, <-second
	if a.err != nil || b.err != nil || a.l != b.l {
		t.Fatalf("two callers for one partition: %v and %v, same log %v", a.err, b.err, a.l == b.l)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if _, ok := m.GetLog(slowDeleted); ok {
		t.Fatal("a log deleted while it was being created is still there")
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, slowDeleted.DirName())); err == nil {
			t.Fatalf("the deleted log's folder is still in %s", d)
		}
	}
	// fast-0 and slow-0 remain, one in each directory.
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosted[dirs[0]] != 1 || m.hosted[dirs[1]] != 1 {
		t.Fatalf("logs per directory %v, want one in each", m.hosted)
	}
}
