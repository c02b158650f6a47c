package logstore

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Crash tests: a log written by idempotent producers across several
// segments is abandoned as a crash would leave it (see testLog.crash), its
// files are damaged the way a crash or a bad disk damages them, and the
// reopened log must serve exactly the batches that survived and rebuild
// every producer's state from them. recovery_test.go cuts the last segment
// and flips bytes and checks the batches that survive; these add the
// producers' state, their snapshots and the recovery point.

// crashProducers write every batch of crashWorkload but one in four, which
// has no producer id. The last one moves to epoch 1 from the workload's
// 40th batch on.
var crashProducers = []int64{11, 12, 13}

// ackedBatch is an append the log acknowledged.
type ackedBatch struct {
	client []byte // as the producer sent it
	stored []byte // as the log stored it
	info   AppendInfo
}

func (a ackedBatch) header() BatchHeader {
	h, _ := ParseBatchHeader(a.stored)
	return h
}

// crashWorkload appends batches of one to four records from crashProducers
// in turn, and remembers what the log acknowledged.
type crashWorkload struct {
	t      *testing.T
	tl     *testLog
	cfg    LogConfig
	acked  []ackedBatch
	seqs   map[int64]int32 // next sequence of each producer
	epochs map[int64]int16
	n      int // batches built
}

func newCrashWorkload(t *testing.T, batches int) *crashWorkload {
	t.Helper()
	w := &crashWorkload{t: t, cfg: smallLogConfig(), seqs: map[int64]int32{}, epochs: map[int64]int16{}}
	w.tl = openTestLog(t, w.cfg)
	for i := 0; i < batches; i++ {
		w.append(w.next())
	}
	if n := w.tl.NumberOfSegments(); n < 4 {
		t.Fatalf("the workload wrote %d segments, want several", n)
	}
	return w
}

// next builds the workload's next batch without appending it.
func (w *crashWorkload) next() []byte {
	i := w.n
	w.n++
	opts := BuildOptions{}
	if i%5 == 4 {
		opts.Compression = CompressionLZ4
	}
	if k := i % 4; k < len(crashProducers) {
		pid := crashProducers[k]
		if k == len(crashProducers)-1 && i >= 40 && w.epochs[pid] == 0 {
			w.epochs[pid], w.seqs[pid] = 1, 0
		}
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = pid, w.epochs[pid], w.seqs[pid]
	}
	return makeBatch(w.t, 1+i%4, 50+(i*53)%200, opts)
}

// nextFromProducer builds the next batch that has a producer id.
func (w *crashWorkload) nextFromProducer() []byte {
	for {
		if b := w.next(); parseHeader(w.t, b).HasProducerID() {
			return b
		}
	}
}

func (w *crashWorkload) append(batch []byte) {
	w.t.Helper()
	client := slices.Clone(batch)
	info := w.tl.mustAppend(batch)
	if h := parseHeader(w.t, batch); h.HasProducerID() {
		w.seqs[h.ProducerID] = IncrementSequence(h.LastSequence(), 1)
	}
	w.acked = append(w.acked, ackedBatch{client: client, stored: batch, info: info})
}

func parseHeader(t *testing.T, b []byte) BatchHeader {
	t.Helper()
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// end is the offset after the first n acknowledged batches.
func (w *crashWorkload) end(n int) int64 {
	if n == 0 {
		return 0
	}
	return w.acked[n-1].info.LastOffset + 1
}

// crashAndReopen abandons the log, lets damage change its folder, and opens
// it again as after an unclean shutdown with the given recovery point.
func (w *crashWorkload) crashAndReopen(recoveryPoint int64, damage func()) {
	w.t.Helper()
	w.tl.crash()
	damage()
	w.tl.reopen(w.cfg, Options{CleanShutdown: false, RecoveryPoint: recoveryPoint})
}

// checkSurvivors checks that the reopened log holds exactly the first n
// acknowledged batches and rebuilt each producer's state from them: the
// producer's last surviving batch is its last entry, a retry of it is
// answered as a duplicate with its original offsets, a batch skipping a
// sequence or from an older epoch is refused, and its next batch is
// appended at the log end.
//
// resend maps a producer to the batch it sends next (a retry of one never
// acknowledged); without one, a new batch follows its last surviving one.
func (w *crashWorkload) checkSurvivors(n int, resend map[int64][]byte) {
	t, tl := w.t, w.tl
	t.Helper()
	got := tl.readAll(tl.LogStartOffset())
	if len(got) != n {
		t.Fatalf("recovered %d batches, want %d", len(got), n)
	}
	for i, h := range got {
		if h != w.acked[i].header() {
			t.Fatalf("batch %d differs after recovery: %+v, want %+v", i, h, w.acked[i].header())
		}
	}
	if tl.LogEndOffset() != w.end(n) || tl.RecoveryPoint() != w.end(n) {
		t.Fatalf("log end %d and recovery point %d after recovery, want %d", tl.LogEndOffset(), tl.RecoveryPoint(), w.end(n))
	}
	for _, name := range listDir(t, tl.dir) {
		if offset, ok := parseProducerSnapshotName(name); ok && offset > w.end(n) {
			t.Fatalf("producer snapshot %s left past the log end %d", name, w.end(n))
		}
		if base, ok := parseSegmentBase(name, LogFileSuffix); ok && base > w.end(n) {
			t.Fatalf("segment %s left past the log end %d", name, w.end(n))
		}
		if strings.HasSuffix(name, ".tmp") {
			t.Fatalf("leftover %s", name)
		}
	}
	for _, pid := range crashProducers {
		last := -1
		for i := 0; i < n; i++ {
			if w.acked[i].header().ProducerID == pid {
				last = i
			}
		}
		if last < 0 {
			t.Fatalf("no batch of producer %d survived; the test needs one", pid)
		}
		a, h := w.acked[last], w.acked[last].header()
		if err := checkLastProducerBatch(tl.Log, h); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
		dup, err := tl.Append(slices.Clone(a.client), AppendOptions{Origin: AppendOriginClient})
		if err != nil || !dup.Duplicate || dup.FirstOffset != a.info.FirstOffset || dup.LastOffset != a.info.LastOffset {
			t.Fatalf("retry of producer %d's last batch after recovery: %+v, %v; want a duplicate at [%d, %d]",
				pid, dup, err, a.info.FirstOffset, a.info.LastOffset)
		}
		nextSeq := IncrementSequence(h.LastSequence(), 1)
		gap := makeBatch(t, 1, 10, BuildOptions{ProducerID: pid, ProducerEpoch: h.ProducerEpoch, BaseSequence: IncrementSequence(nextSeq, 1)})
		if _, err := tl.Append(gap, AppendOptions{Origin: AppendOriginClient}); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("producer %d skipping sequence %d after recovery: %v", pid, nextSeq, err)
		}
		if h.ProducerEpoch > 0 {
			fenced := makeBatch(t, 1, 10, BuildOptions{ProducerID: pid, ProducerEpoch: h.ProducerEpoch - 1, BaseSequence: nextSeq})
			if _, err := tl.Append(fenced, AppendOptions{Origin: AppendOriginClient}); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("producer %d with its old epoch after recovery: %v", pid, err)
			}
		}
		batch := resend[pid]
		if batch == nil {
			batch = makeBatch(t, 2, 30, BuildOptions{ProducerID: pid, ProducerEpoch: h.ProducerEpoch, BaseSequence: nextSeq})
		}
		leo := tl.LogEndOffset()
		if info, err := tl.Append(batch, AppendOptions{Origin: AppendOriginClient}); err != nil || info.Duplicate || info.FirstOffset != leo {
			t.Fatalf("producer %d's next batch after recovery: %+v, %v; want it appended at %d", pid, info, err, leo)
		}
	}
}

// writeAtEnd appends b to the last segment file, as a write cut short by a
// crash leaves part of a batch behind.
func writeAtEnd(t *testing.T, dir string, b []byte) {
	t.Helper()
	segs := segmentFiles(t, dir)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestCrashDuringAppends crashes a log in the middle of a sequence of
// idempotent appends across several segments, at several points of an
// append and a roll and with several recovery points. Every acknowledged
// batch survives, whatever the crash left of the one in flight is dropped,
// and the producers' state survives: a retry of their last acknowledged
// batch is a duplicate answered with its original offsets, and the batch in
// flight, sent again, is appended.
func TestCrashDuringAppends(t *testing.T) {
	// torn writes the next batch of a producer, stamped with the log end
	// offset, cut or mangled by cut, after the last batch; the producer
	// sends it again after the restart.
	torn := func(cut func(b []byte) []byte) func(*crashWorkload) map[int64][]byte {
		return func(w *crashWorkload) map[int64][]byte {
			client := w.nextFromProducer()
			b := slices.Clone(client)
			SetBaseOffset(b, w.end(len(w.acked)))
			SetPartitionLeaderEpoch(b, 3)
			writeAtEnd(w.t, w.tl.dir, cut(b))
			return map[int64][]byte{parseHeader(w.t, b).ProducerID: client}
		}
	}
	roll := func(w *crashWorkload) {
		if err := w.tl.Roll(); err != nil {
			w.t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		before func(*crashWorkload) // runs before the crash
		damage func(*crashWorkload) map[int64][]byte
	}{
		{name: "between appends", damage: func(*crashWorkload) map[int64][]byte { return nil }},
		{name: "torn batch header", damage: torn(func(b []byte) []byte { return b[:BatchHeaderSize/2] })},
		{name: "torn batch records", damage: torn(func(b []byte) []byte { return b[:BatchHeaderSize+(len(b)-BatchHeaderSize)/2] })},
		{name: "whole batch with a torn page", damage: torn(func(b []byte) []byte { b[len(b)-2] ^= 0x55; return b })},
		{name: "zeros where the batch should be", damage: torn(func(b []byte) []byte { return make([]byte, len(b)) })},
		{name: "torn first batch of a new segment", before: roll, damage: torn(func(b []byte) []byte { return b[:len(b)-1] })},
		{name: "roll without its producer snapshot", before: roll, damage: func(w *crashWorkload) map[int64][]byte {
			if err := os.Remove(filepath.Join(w.tl.dir, producerSnapshotName(w.end(len(w.acked))))); err != nil {
				w.t.Fatal(err)
			}
			return nil
		}},
		{name: "garbage in the active segment's indexes", damage: func(w *crashWorkload) map[int64][]byte {
			segs := segmentFiles(w.t, w.tl.dir)
			active := strings.TrimSuffix(segs[len(segs)-1], LogFileSuffix)
			for _, idx := range []string{active + IndexFileSuffix, active + TimeIndexFileSuffix} {
				if err := os.WriteFile(idx, []byte("\x7f\xff\xff\xff\x7f\xff\xff\xff\x00\x00\x00\x01"), 0o644); err != nil {
					w.t.Fatal(err)
				}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		for _, flushed := range []string{"nothing", "half", "everything"} {
			t.Run(tt.name+"/flushed "+flushed, func(t *testing.T) {
				w := newCrashWorkload(t, 50)
				recoveryPoint := map[string]int64{"nothing": 0, "half": w.end(25), "everything": w.end(50)}[flushed]
				if err := w.tl.FlushTo(recoveryPoint); err != nil {
					t.Fatal(err)
				}
				if tt.before != nil {
					tt.before(w)
				}
				var resend map[int64][]byte
				w.crashAndReopen(recoveryPoint, func() { resend = tt.damage(w) })
				w.checkSurvivors(len(w.acked), resend)
			})
		}
	}
}

// TestRecoveryWithDamagedProducerSnapshots damages the producer snapshots
// before the log is reopened, after a crash and after a clean shutdown.
// Snapshots only save reading the log: whatever happened to them, the
// producers' state must be rebuilt from the batches, and a snapshot that
// cannot be trusted must not be used.
func TestRecoveryWithDamagedProducerSnapshots(t *testing.T) {
	rewrite := func(t *testing.T, path string, edit func([]byte) []byte) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, edit(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flip := func(b []byte) []byte { b[len(b)/2] ^= 0x08; return b }
	tests := []struct {
		name string
		// damage gets the snapshot files, oldest first, and the log end.
		damage func(t *testing.T, dir string, snapshots []string, end int64)
	}{
		{"all deleted", func(t *testing.T, dir string, snapshots []string, end int64) {
			for _, s := range snapshots {
				os.Remove(s)
			}
		}},
		{"latest deleted", func(t *testing.T, dir string, snapshots []string, end int64) {
			os.Remove(snapshots[len(snapshots)-1])
		}},
		{"latest truncated", func(t *testing.T, dir string, snapshots []string, end int64) {
			rewrite(t, snapshots[len(snapshots)-1], func(b []byte) []byte { return b[:len(b)-producerSnapshotEntrySize/2] })
		}},
		{"latest emptied", func(t *testing.T, dir string, snapshots []string, end int64) {
			rewrite(t, snapshots[len(snapshots)-1], func([]byte) []byte { return nil })
		}},
		{"latest corrupt", func(t *testing.T, dir string, snapshots []string, end int64) {
			rewrite(t, snapshots[len(snapshots)-1], flip)
		}},
		{"every one corrupt", func(t *testing.T, dir string, snapshots []string, end int64) {
			for _, s := range snapshots {
				rewrite(t, s, flip)
			}
		}},
		{"every one cut to its header", func(t *testing.T, dir string, snapshots []string, end int64) {
			for _, s := range snapshots {
				rewrite(t, s, func(b []byte) []byte { return b[:producerSnapshotHeaderSize] })
			}
		}},
		{"an old one renamed past the log end", func(t *testing.T, dir string, snapshots []string, end int64) {
			if err := os.Rename(snapshots[1], filepath.Join(dir, producerSnapshotName(end+100))); err != nil {
				t.Fatal(err)
			}
		}},
		{"a torn temporary file", func(t *testing.T, dir string, snapshots []string, end int64) {
			if err := os.WriteFile(filepath.Join(dir, producerSnapshotName(end)+".tmp"), []byte{0, 1}, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		for _, clean := range []bool{false, true} {
			name := tt.name + "/after a crash"
			if clean {
				name = tt.name + "/after a clean shutdown"
			}
			t.Run(name, func(t *testing.T) {
				w := newCrashWorkload(t, 60)
				end := w.end(len(w.acked))
				if clean {
					if err := w.tl.Close(); err != nil {
						t.Fatal(err)
					}
				} else {
					w.tl.crash()
				}
				snapshots, err := filepath.Glob(filepath.Join(w.tl.dir, "*"+producerSnapshotSuffix))
				if err != nil || len(snapshots) < 3 {
					t.Fatalf("%d snapshots (%v), want several", len(snapshots), err)
				}
				tt.damage(t, w.tl.dir, snapshots, end)
				w.tl.reopen(w.cfg, Options{CleanShutdown: clean, RecoveryPoint: w.end(30)})
				w.checkSurvivors(len(w.acked), nil)
			})
		}
	}
}

// TestRecoveryPointInTheMiddleWithDamageAfterIt flushes half the log, so the
// recovery point lies inside it, crashes, and damages what was not flushed.
// Recovery re-reads everything from the segment holding the recovery point
// on, keeps every batch before the damage and nothing from it on, deletes
// the segments and producer snapshots past the new log end, and the
// producers carry on from their last surviving batch.
func TestRecoveryPointInTheMiddleWithDamageAfterIt(t *testing.T) {
	const batches, flushed = 80, 30
	// segmentIndex is the index among segs of the segment holding offset.
	segmentIndex := func(segs []string, offset int64) int {
		i := 0
		for j, s := range segs {
			if base, _ := parseSegmentBase(filepath.Base(s), LogFileSuffix); base <= offset {
				i = j
			}
		}
		return i
	}
	// locate returns the segment file and position of acked batch i.
	locate := func(w *crashWorkload, i int) (string, int64) {
		segs := segmentFiles(w.t, w.tl.dir)
		seg := segs[segmentIndex(segs, w.acked[i].info.FirstOffset)]
		base, _ := parseSegmentBase(filepath.Base(seg), LogFileSuffix)
		var pos int64
		for j := 0; j < i; j++ {
			if w.acked[j].info.FirstOffset >= base {
				pos += int64(len(w.acked[j].stored))
			}
		}
		return seg, pos
	}
	// firstIn is the first acked batch at or after from in the k-th
	// segment after the one holding the recovery point.
	firstIn := func(w *crashWorkload, k, from int) int {
		segs := segmentFiles(w.t, w.tl.dir)
		want := segmentIndex(segs, w.end(flushed)) + k
		for i := from; i < len(w.acked); i++ {
			if segmentIndex(segs, w.acked[i].info.FirstOffset) == want {
				return i
			}
		}
		w.t.Fatalf("no batch in segment %d of %d", want, len(segs))
		return 0
	}
	corrupt := func(w *crashWorkload, victim int) {
		seg, pos := locate(w, victim)
		f, err := os.OpenFile(seg, os.O_RDWR, 0)
		if err != nil {
			w.t.Fatal(err)
		}
		defer f.Close()
		at := pos + offsetAttributes + (int64(len(w.acked[victim].stored))-offsetAttributes)/2
		b := []byte{0}
		if _, err := f.ReadAt(b, at); err != nil {
			w.t.Fatal(err)
		}
		b[0] ^= 0x20
		if _, err := f.WriteAt(b, at); err != nil {
			w.t.Fatal(err)
		}
	}
	removeSegment := func(w *crashWorkload, seg string) {
		for _, suffix := range []string{LogFileSuffix, IndexFileSuffix, TimeIndexFileSuffix} {
			if err := os.Remove(strings.TrimSuffix(seg, LogFileSuffix) + suffix); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name string
		// damage damages the log and returns how many batches survive.
		damage func(w *crashWorkload) int
	}{
		{"corrupt batch just after the recovery point", func(w *crashWorkload) int {
			victim := flushed + 1
			corrupt(w, victim)
			return victim
		}},
		{"corrupt batch two segments later", func(w *crashWorkload) int {
			victim := firstIn(w, 2, flushed) + 1
			corrupt(w, victim)
			return victim
		}},
		{"batch whose base offset goes backwards", func(w *crashWorkload) int {
			// The base offset is outside the CRC: only the offsets going
			// backwards give the damage away.
			victim := firstIn(w, 1, flushed) + 2
			seg, pos := locate(w, victim)
			f, err := os.OpenFile(seg, os.O_RDWR, 0)
			if err != nil {
				w.t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 8)
			binary.BigEndian.PutUint64(b, uint64(w.acked[victim-1].info.FirstOffset))
			if _, err := f.WriteAt(b, pos+offsetBaseOffset); err != nil {
				w.t.Fatal(err)
			}
			return victim
		}},
		{"next segment cut inside its second batch", func(w *crashWorkload) int {
			victim := firstIn(w, 1, flushed) + 1
			seg, pos := locate(w, victim)
			if err := os.Truncate(seg, pos+int64(len(w.acked[victim].stored))/2); err != nil {
				w.t.Fatal(err)
			}
			return victim
		}},
		{"last segment lost", func(w *crashWorkload) int {
			segs := segmentFiles(w.t, w.tl.dir)
			survivors := firstIn(w, len(segs)-1-segmentIndex(segs, w.end(flushed)), flushed)
			removeSegment(w, segs[len(segs)-1])
			return survivors
		}},
		{"two last segments lost, with the snapshot at the last one's base", func(w *crashWorkload) int {
			segs := segmentFiles(w.t, w.tl.dir)
			survivors := firstIn(w, len(segs)-2-segmentIndex(segs, w.end(flushed)), flushed)
			removeSegment(w, segs[len(segs)-1])
			removeSegment(w, segs[len(segs)-2])
			return survivors
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newCrashWorkload(t, batches)
			if err := w.tl.FlushTo(w.end(flushed)); err != nil {
				t.Fatal(err)
			}
			var survivors int
			w.crashAndReopen(w.end(flushed), func() { survivors = tt.damage(w) })
			if survivors <= flushed {
				t.Fatalf("the damage reached into the flushed part: %d batches survive", survivors)
			}
			w.checkSurvivors(survivors, nil)
		})
	}
}
