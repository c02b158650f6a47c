package logstore

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// Model-based test of Log. Each seed drives a real log in a temporary folder
// and a plain in-memory model (logModel: the batches with their offsets, the
// log start and end offsets, the high watermark, the recovery point and what
// each idempotent producer may expect) through the same random operations,
// and compares the two after every step. The operations are client appends
// (idempotent or not, compressed or not, of every size up to too large),
// retries and refused producer batches, reads with every kind of bound,
// lookups by timestamp, rolls, truncations, log start offset and high
// watermark moves, retention, flushes, configuration changes, clean
// reopens and crashes, and a follower fed from the log by AppendAsFollower.
// Small segments and indexes make rolls, full indexes and index lookups
// frequent. A failure names its seed and the operations before it; rerun it
// alone with
//
//	go test -run 'TestLogModel/seed=17$' -v ./logstore
//
// and explore further with -logstore.model.seeds and -logstore.model.steps.
var (
	modelSeeds = flag.Int("logstore.model.seeds", 0, "seeds TestLogModel runs; 0 runs as many of its default 48 as fit its time budget")
	modelSteps = flag.Int("logstore.model.steps", 300, "operations per seed in TestLogModel")
)

// modelTimeBudget bounds TestLogModel when the seed count is not given: no
// new seed starts once it is spent, so a slow machine runs fewer of them.
const modelTimeBudget = 12 * time.Second

func TestLogModel(t *testing.T) {
	seeds, budget := 48, modelTimeBudget
	if testing.Short() {
		seeds, budget = 6, 3*time.Second
	}
	if *modelSeeds > 0 {
		seeds, budget = *modelSeeds, 0
	}
	start := time.Now()
	for seed := 1; seed <= seeds; seed++ {
		if budget > 0 && time.Since(start) > budget {
			t.Logf("time budget of %v spent after %d of %d seeds", budget, seed-1, seeds)
			break
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runLogModel(t, uint64(seed), *modelSteps)
		})
	}
}

// producerBatchesRetained is how many of a producer's last batches Kafka
// recognises as duplicates (ProducerStateEntry.NumBatchesToRetain). The
// model spells it out rather than use the code's constant.
const producerBatchesRetained = 5

// modelBatch is a batch the model expects in the log.
type modelBatch struct {
	data       []byte // as stored: base offset, leader epoch and append time set
	h          BatchHeader
	timestamps []int64 // each record's timestamp, as FetchOffsetByTimestamp sees it
	client     []byte  // as the producer sent it, for retries; nil without a producer id
}

// modelProducer is what the model knows of an idempotent producer.
type modelProducer struct {
	id      int64
	epoch   int16
	nextSeq int32
	// known is set while the log is certain to remember the producer's last
	// batch: from an append until a reload of the producer state (a reopen
	// or a truncation) that finds the batch below the log start offset,
	// where the log may have lost it with the segments retention deleted.
	// An unknown producer's next batch is accepted whatever its sequence,
	// so the model only stops testing rejections and duplicates for it.
	known bool
	// retryable are batches the log is certain to find among the producer's
	// last five: a retry of any of them is a duplicate. A reload keeps only
	// the last, as a snapshot holds only the last.
	retryable []modelBatch
}

// logModel is what the log should hold.
type logModel struct {
	// batches are the batches below the log end offset in offset order,
	// including those below the log start offset (retention may or may not
	// have deleted their segment yet), from the last full truncation on.
	batches                []modelBatch
	start, end, hw, rpoint int64
	// unflushed counts the records appended since the last flush, for
	// flush.messages.
	unflushed int64
	producers []*modelProducer
}

// find returns the index of the batch holding offset, or len(batches).
func (m *logModel) find(offset int64) int {
	return sort.Search(len(m.batches), func(i int) bool { return m.batches[i].h.LastOffset() >= offset })
}

func (m *logModel) truncateFully(offset int64) {
	m.batches = nil
	m.start, m.end, m.hw, m.rpoint = offset, offset, offset, offset
	for _, p := range m.producers {
		p.known, p.retryable = false, nil
	}
}

// reloadProducers mirrors the log reloading producer state from its
// snapshots and batches. exact is set for a clean reopen, whose snapshot at
// the log end holds the state as it was.
func (m *logModel) reloadProducers(exact bool) {
	for _, p := range m.producers {
		last := -1
		for i := len(m.batches) - 1; i >= 0; i-- {
			if m.batches[i].h.ProducerID == p.id {
				last = i
				break
			}
		}
		p.retryable = nil
		if last < 0 {
			p.known = false
			continue
		}
		b := m.batches[last]
		p.epoch, p.nextSeq = b.h.ProducerEpoch, IncrementSequence(b.h.LastSequence(), 1)
		if !exact {
			p.known = b.h.LastOffset() >= m.start
		}
		if p.known {
			p.retryable = []modelBatch{b}
		}
	}
}

type modelRun struct {
	t        *testing.T
	rng      *rand.Rand
	cfg      LogConfig
	tl       *testLog
	follower *testLog // fed from tl with AppendAsFollower
	m        logModel
	epoch    int32 // leader epoch stamped on appends
	nextTS   int64 // the producers' clock: base timestamp of the next batch
	step     int
	trace    []string
	// noDeleteDelay is set while every segment pending deletion was
	// scheduled with file.delete.delay.ms 0.
	noDeleteDelay bool
}

func runLogModel(t *testing.T, seed uint64, steps int) {
	r := &modelRun{t: t, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d failed at step %d; the last operations were:\n%s", seed, r.step, strings.Join(r.trace, "\n"))
		}
	})
	r.cfg = r.randomConfig()
	r.tl = openTestLog(t, r.cfg)
	r.noDeleteDelay = r.cfg.FileDeleteDelay == 0
	r.follower = openTestLog(t, r.randomConfig())
	r.nextTS = r.tl.clock.Now().Add(-10 * time.Minute).UnixMilli()
	r.epoch = 1
	r.m.producers = []*modelProducer{
		{id: 1000, epoch: 0},
		{id: 1001, epoch: 3},
		{id: 1002, epoch: 0, nextSeq: math.MaxInt32 - 40}, // its sequences wrap
	}
	r.logf("config %+v", r.cfg)

	ops := []struct {
		weight int
		run    func()
	}{
		{40, r.opAppend},
		{5, r.opRetry},
		{3, r.opBadProducerBatch},
		{12, r.opRead},
		{6, r.opFetchOffsetByTimestamp},
		{8, r.opFollowerFetch},
		{3, r.opRoll},
		{3, r.opTruncateTo},
		{1, r.opTruncateFully},
		{3, r.opIncrementLogStart},
		{5, r.opSetHighWatermark},
		{4, r.opDeleteOldSegments},
		{3, r.opFlush},
		{2, r.opReopen},
		{2, r.opAdvanceClock},
		{1, r.opUpdateConfig},
	}
	total := 0
	for _, op := range ops {
		total += op.weight
	}
	for r.step = 1; r.step <= steps; r.step++ {
		n := r.rng.IntN(total)
		for _, op := range ops {
			if n < op.weight {
				op.run()
				break
			}
			n -= op.weight
		}
		r.checkInvariants()
		if r.step%16 == 0 {
			r.checkContents()
		}
	}
	r.checkContents()
}

// logf records an operation for the failure report.
func (r *modelRun) logf(format string, args ...any) {
	const keep = 40
	if len(r.trace) == keep {
		r.trace = slices.Delete(r.trace, 0, 1)
	}
	r.trace = append(r.trace, fmt.Sprintf("%4d: ", r.step)+fmt.Sprintf(format, args...))
}

func (r *modelRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d: "+format, append([]any{r.step}, args...)...)
}

// randomConfig returns small segments and indexes, so that rolls, full
// indexes and index lookups happen all the time.
func (r *modelRun) randomConfig() LogConfig {
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 2048 + r.rng.Int64N(6*1024)
	cfg.MaxIndexSize = 64 + r.rng.IntN(449)
	cfg.IndexIntervalBytes = r.rng.IntN(513)
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	if r.rng.IntN(2) == 0 {
		cfg.SegmentMs = time.Duration(20+r.rng.IntN(100)) * time.Second
	}
	if r.rng.IntN(5) == 0 {
		cfg.TimestampType = LogAppendTime
	}
	if r.rng.IntN(2) == 0 {
		cfg.FileDeleteDelay = 0
	}
	if r.rng.IntN(4) == 0 {
		cfg.FlushMessages = 1 + r.rng.Int64N(60)
	}
	return cfg
}

// newRecords returns 1 to 40 records of varied sizes whose timestamps jump
// around the base timestamp, now and then by an hour back, so that the
// batches' max timestamps are not monotonic.
func (r *modelRun) newRecords(baseTimestamp int64) ([]Record, []int64) {
	n := 1 + r.rng.IntN(6)
	if r.rng.IntN(8) == 0 {
		n = 1 + r.rng.IntN(40)
	}
	size := r.rng.IntN(120)
	if r.rng.IntN(10) == 0 {
		size = r.rng.IntN(1500)
	}
	recs := make([]Record, n)
	timestamps := make([]int64, n)
	for k := range recs {
		delta := r.rng.Int64N(1000) - 100
		if r.rng.IntN(30) == 0 {
			delta = -r.rng.Int64N(time.Hour.Milliseconds())
		}
		value := make([]byte, r.rng.IntN(size+1))
		for j := range value {
			value[j] = byte('a' + (j*7+k)%26)
		}
		if r.rng.IntN(4) == 0 {
			for j := range value {
				value[j] = byte(r.rng.Uint32())
			}
		}
		recs[k] = Record{TimestampDelta: delta, Value: value}
		if r.rng.IntN(3) > 0 {
			recs[k].Key = fmt.Appendf(nil, "key-%d", r.rng.IntN(50))
		}
		if r.rng.IntN(10) == 0 {
			recs[k].Headers = []RecordHeader{{Key: "h", Value: []byte{byte(k)}}}
		}
		timestamps[k] = baseTimestamp + delta
	}
	return recs, timestamps
}

// buildBatch builds a client batch, from producer p (nil for none) with the
// given epoch and base sequence.
func (r *modelRun) buildBatch(p *modelProducer, epoch int16, seq int32) ([]byte, []int64) {
	opts := NewBuildOptions()
	opts.BaseTimestamp = r.nextTS
	r.nextTS += r.rng.Int64N(1500)
	if r.rng.IntN(3) == 0 {
		opts.Compression = Compression(r.rng.IntN(int(CompressionZstd) + 1))
	}
	if p != nil {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = p.id, epoch, seq
	}
	recs, timestamps := r.newRecords(opts.BaseTimestamp)
	b, err := BuildBatch(opts, recs)
	if err != nil {
		r.fatalf("build batch: %v", err)
	}
	return b, timestamps
}

func (r *modelRun) append(batch []byte) (AppendInfo, error) {
	return r.tl.Append(batch, AppendOptions{Origin: AppendOriginClient, LeaderEpoch: r.epoch})
}

func (r *modelRun) opAppend() {
	var p *modelProducer
	if r.rng.IntN(10) < 6 {
		p = r.m.producers[r.rng.IntN(len(r.m.producers))]
	}
	var epoch int16
	var seq int32
	bump := p != nil && r.rng.IntN(20) == 0
	if p != nil {
		epoch, seq = p.epoch, p.nextSeq
		if bump {
			epoch, seq = p.epoch+1, 0
		}
	}
	batch, timestamps := r.buildBatch(p, epoch, seq)
	client := slices.Clone(batch)
	h, _ := ParseBatchHeader(batch)
	r.logf("append %d records, %d bytes, %v, producer %d epoch %d seq %d", h.RecordCount, len(batch), h.Compression(), h.ProducerID, h.ProducerEpoch, h.BaseSequence)
	info, err := r.append(batch)
	if int64(len(batch)) > r.cfg.SegmentBytes {
		if !errors.Is(err, ErrRecordTooLarge) {
			r.fatalf("append of %d bytes with segment.bytes %d: %+v, %v; want ErrRecordTooLarge", len(batch), r.cfg.SegmentBytes, info, err)
		}
		return
	}
	if err != nil {
		r.fatalf("append: %v", err)
	}
	h, _ = ParseBatchHeader(batch)
	n := int64(h.RecordCount)
	want := AppendInfo{
		FirstOffset: r.m.end, LastOffset: r.m.end + n - 1, MaxTimestamp: slices.Max(timestamps),
		LogAppendTime: NoTimestamp, LogStartOffset: r.m.start, RecordCount: int(n),
	}
	if r.cfg.TimestampType == LogAppendTime {
		want.LogAppendTime = r.tl.clock.Now().UnixMilli()
		want.MaxTimestamp = want.LogAppendTime
		for k := range timestamps {
			timestamps[k] = want.LogAppendTime
		}
	}
	if info != want {
		r.fatalf("append answered %+v, want %+v", info, want)
	}
	if h.BaseOffset != want.FirstOffset || h.PartitionLeaderEpoch != r.epoch || h.MaxTimestamp != want.MaxTimestamp {
		r.fatalf("appended batch has base offset %d, leader epoch %d, max timestamp %d; want %d, %d, %d",
			h.BaseOffset, h.PartitionLeaderEpoch, h.MaxTimestamp, want.FirstOffset, r.epoch, want.MaxTimestamp)
	}
	b := modelBatch{data: batch, h: h, timestamps: timestamps}
	if p != nil {
		b.client = client
		if bump || !p.known {
			p.retryable = nil
		}
		if len(p.retryable) == producerBatchesRetained {
			p.retryable = slices.Delete(p.retryable, 0, 1)
		}
		p.retryable = append(p.retryable, b)
		p.epoch, p.nextSeq, p.known = h.ProducerEpoch, IncrementSequence(h.LastSequence(), 1), true
	}
	r.m.batches = append(r.m.batches, b)
	r.m.end = h.NextOffset()
	if r.m.unflushed += n; r.cfg.FlushMessages > 0 && r.m.unflushed >= r.cfg.FlushMessages {
		r.m.rpoint, r.m.unflushed = r.m.end, 0
	}
}

// opRetry resends a batch the log must recognise as a duplicate: nothing is
// appended and the answer carries the original offsets.
func (r *modelRun) opRetry() {
	p := r.m.producers[r.rng.IntN(len(r.m.producers))]
	if len(p.retryable) == 0 {
		return
	}
	b := p.retryable[r.rng.IntN(len(p.retryable))]
	r.logf("retry producer %d epoch %d seq %d (offset %d)", p.id, b.h.ProducerEpoch, b.h.BaseSequence, b.h.BaseOffset)
	info, err := r.append(slices.Clone(b.client))
	if int64(len(b.client)) > r.cfg.SegmentBytes { // segment.bytes was lowered since: size is checked first
		if !errors.Is(err, ErrRecordTooLarge) {
			r.fatalf("retry of %d bytes with segment.bytes %d: %+v, %v; want ErrRecordTooLarge", len(b.client), r.cfg.SegmentBytes, info, err)
		}
		return
	}
	want := AppendInfo{
		FirstOffset: b.h.BaseOffset, LastOffset: b.h.LastOffset(), MaxTimestamp: b.h.MaxTimestamp,
		LogAppendTime: NoTimestamp, LogStartOffset: r.m.start, RecordCount: int(b.h.RecordCount), Duplicate: true,
	}
	if err != nil || info != want {
		r.fatalf("retry answered %+v, %v; want %+v", info, err, want)
	}
}

// opBadProducerBatch sends a batch a known producer's state must refuse: a
// gap in the sequence, an older epoch, a new epoch not starting at 0, or a
// retry of a batch older than the last five.
func (r *modelRun) opBadProducerBatch() {
	p := r.m.producers[r.rng.IntN(len(r.m.producers))]
	if !p.known {
		return
	}
	var batch []byte
	var want error
	switch r.rng.IntN(4) {
	case 0:
		batch, _ = r.buildBatch(p, p.epoch, IncrementSequence(p.nextSeq, 1+r.rng.Int32N(5)))
		want = ErrOutOfOrderSequence
	case 1:
		if p.epoch == 0 {
			return
		}
		batch, _ = r.buildBatch(p, p.epoch-1, p.nextSeq)
		want = ErrInvalidProducerEpoch
	case 2:
		batch, _ = r.buildBatch(p, p.epoch+1, 1+r.rng.Int32N(100))
		want = ErrOutOfOrderSequence
	case 3:
		var same []modelBatch
		for _, b := range r.m.batches {
			if b.h.ProducerID == p.id && b.h.ProducerEpoch == p.epoch {
				same = append(same, b)
			}
		}
		if len(same) <= producerBatchesRetained {
			return
		}
		stale := len(same) - producerBatchesRetained - 1 // just out of the cache, half the time
		if r.rng.IntN(2) == 0 {
			stale = r.rng.IntN(stale + 1)
		}
		batch = slices.Clone(same[stale].client)
		want = ErrOutOfOrderSequence
	}
	h, _ := ParseBatchHeader(batch)
	r.logf("bad batch from producer %d: epoch %d seq %d, want %v", p.id, h.ProducerEpoch, h.BaseSequence, want)
	if int64(len(batch)) > r.cfg.SegmentBytes {
		return
	}
	info, err := r.append(batch)
	if !errors.Is(err, want) {
		r.fatalf("append answered %+v, %v; want %v", info, err, want)
	}
}

func (r *modelRun) opRead() {
	m := &r.m
	start := m.start + r.rng.Int64N(m.end-m.start+1)
	if r.rng.IntN(10) == 0 {
		start = m.start - 3 + r.rng.Int64N(m.end-m.start+7)
	}
	maxBytes := r.rng.Int64N(3 * r.cfg.SegmentBytes)
	switch i := m.find(start); {
	case r.rng.IntN(5) == 0:
		maxBytes = r.rng.Int64N(200)
	case r.rng.IntN(4) == 0 && start >= m.start && i < len(m.batches):
		maxBytes = m.batches[i].h.Size() + r.rng.Int64N(3) - 1 // the edges of the first batch
	}
	maxOffset := int64(-1)
	switch r.rng.IntN(3) {
	case 0:
		maxOffset = m.hw
	case 1:
		maxOffset = start - 1 + r.rng.Int64N(max(m.end-start, 0)+3)
	}
	r.checkRead(start, maxBytes, maxOffset, r.rng.IntN(2) == 0)
}

// checkRead reads from the log and checks the region against the model: it
// starts with the batch holding start, holds a prefix of the model's bytes
// from there, nothing of a batch at or after maxOffset, at most maxBytes
// unless minOneMessage lets a larger first batch through, and stops short
// of that only at the end of a segment. It returns the offset after the
// last whole batch read.
func (r *modelRun) checkRead(start, maxBytes, maxOffset int64, minOne bool) int64 {
	m := &r.m
	r.logf("read from %d, max bytes %d, max offset %d, min one %v", start, maxBytes, maxOffset, minOne)
	region, err := r.tl.Read(start, maxBytes, maxOffset, minOne)
	if start < m.start || start > m.end {
		var oor *OffsetOutOfRangeError
		if !errors.As(err, &oor) || *oor != (OffsetOutOfRangeError{Requested: start, LogStartOffset: m.start, LogEndOffset: m.end}) {
			r.fatalf("read at %d outside [%d, %d]: %v", start, m.start, m.end, err)
		}
		return start
	}
	if err != nil {
		r.fatalf("read at %d: %v", start, err)
	}
	got, err := region.ReadAll()
	if err != nil {
		r.fatalf("read region at %d: %v", start, err)
	}
	bound := maxOffset
	if bound < 0 || bound > m.end {
		bound = m.end
	}
	i := m.find(start)
	if start >= bound || m.batches[i].h.LastOffset() >= bound {
		if len(got) != 0 {
			r.fatalf("read at %d with max offset %d gave %d bytes, want none", start, maxOffset, len(got))
		}
		return start
	}
	limit := maxBytes
	if first := m.batches[i].h.Size(); minOne && first > limit {
		limit = first
	}
	if n := int64(len(got)); n > limit || n < min(limit, m.batches[i].h.Size()) {
		r.fatalf("read at %d gave %d bytes; limit %d, first batch %d bytes", start, n, limit, m.batches[i].h.Size())
	}
	next := start
	for j, pos := i, 0; pos < len(got); j++ {
		if j == len(m.batches) || m.batches[j].h.LastOffset() >= bound {
			r.fatalf("read at %d with max offset %d returned bytes past it", start, bound)
		}
		b := m.batches[j]
		n := min(len(b.data), len(got)-pos)
		if !bytes.Equal(got[pos:pos+n], b.data[:n]) {
			r.fatalf("read at %d: bytes of the batch at offset %d differ from what was appended", start, b.h.BaseOffset)
		}
		pos += n
		if n < len(b.data) {
			if int64(len(got)) < limit {
				r.fatalf("read at %d ends inside the batch at %d below its byte limit %d", start, b.h.BaseOffset, limit)
			}
			break
		}
		next = b.h.NextOffset()
		if pos == len(got) && int64(pos) < limit && j+1 < len(m.batches) && m.batches[j+1].h.LastOffset() < bound &&
			!slices.Contains(r.tl.SegmentBaseOffsets(), next) {
			r.fatalf("read at %d stopped at offset %d, below its byte limit and not at a segment end", start, next)
		}
	}
	return next
}

func (r *modelRun) opFetchOffsetByTimestamp() {
	m := &r.m
	var ts int64
	switch i := m.find(m.start); {
	case i < len(m.batches) && r.rng.IntN(4) > 0:
		b := m.batches[i+r.rng.IntN(len(m.batches)-i)]
		ts = b.timestamps[r.rng.IntN(len(b.timestamps))] + r.rng.Int64N(3) - 1
	case r.rng.IntN(2) == 0:
		ts = r.nextTS + r.rng.Int64N(5000) - 4000
	default:
		ts = []int64{0, NoTimestamp, math.MaxInt64}[r.rng.IntN(3)]
	}
	r.logf("fetch offset by timestamp %d", ts)
	var want TimestampOffset
	found := false
search:
	for _, b := range m.batches {
		for k, rts := range b.timestamps {
			if offset := b.h.BaseOffset + int64(k); offset >= m.start && rts >= ts {
				want, found = TimestampOffset{Timestamp: rts, Offset: offset}, true
				break search
			}
		}
	}
	got, gotFound, err := r.tl.FetchOffsetByTimestamp(ts)
	if err != nil || gotFound != found || got != want {
		r.fatalf("offset for timestamp %d: %+v found %v, %v; want %+v found %v", ts, got, gotFound, err, want, found)
	}
}

// opFollowerFetch copies the next batches of the leader to the follower, as
// a replica fetcher would. A follower that fell below the leader's log start
// restarts empty at the base of the leader's first batch, which may hold
// offsets below the log start, and fetches from the log start.
func (r *modelRun) opFollowerFetch() {
	m, f := &r.m, r.follower
	fend := f.LogEndOffset()
	from := fend
	if fend < m.start {
		restart := m.end
		if i := m.find(m.start); i < len(m.batches) {
			restart = m.batches[i].h.BaseOffset
		}
		r.logf("follower at %d is below the log start %d: restart it at %d", fend, m.start, restart)
		if err := f.TruncateFullyAndStartAt(restart); err != nil {
			r.fatalf("follower truncate fully: %v", err)
		}
		fend, from = restart, m.start
	}
	if from == m.end {
		return
	}
	maxBytes := 1 + r.rng.Int64N(2*r.cfg.SegmentBytes)
	r.logf("follower fetch from %d, max bytes %d", from, maxBytes)
	region, err := r.tl.Read(from, maxBytes, -1, true)
	if err != nil {
		r.fatalf("leader read for the follower at %d: %v", from, err)
	}
	data, err := region.ReadAll()
	if err != nil {
		r.fatalf("leader read for the follower at %d: %v", from, err)
	}
	info, err := f.AppendAsFollower(data)
	if err != nil {
		r.fatalf("follower append at %d: %v", fend, err)
	}
	if info.FirstOffset != fend || f.LogEndOffset() != info.LastOffset+1 {
		r.fatalf("follower append at %d: %+v, follower log end %d", fend, info, f.LogEndOffset())
	}
}

// syncFollower truncates the follower after the leader lost batches it had
// copied, as a follower does when it learns the new leader's log end.
func (r *modelRun) syncFollower(full bool) {
	f := r.follower
	if full {
		if err := f.TruncateFullyAndStartAt(r.m.end); err != nil {
			r.fatalf("follower truncate fully: %v", err)
		}
		return
	}
	if f.LogEndOffset() <= r.m.end {
		return
	}
	if _, err := f.TruncateTo(r.m.end); err != nil {
		r.fatalf("follower truncate to %d: %v", r.m.end, err)
	}
	if got := f.LogEndOffset(); got != r.m.end {
		r.fatalf("follower truncated to %d has log end %d", r.m.end, got)
	}
}

func (r *modelRun) opRoll() {
	r.logf("roll")
	if err := r.tl.Roll(); err != nil {
		r.fatalf("roll: %v", err)
	}
	if bases := r.tl.SegmentBaseOffsets(); bases[len(bases)-1] != r.m.end {
		r.fatalf("after a roll the active segment starts at %d, want the log end %d", bases[len(bases)-1], r.m.end)
	}
}

func (r *modelRun) opTruncateTo() {
	m := &r.m
	var offset int64
	switch r.rng.IntN(10) {
	case 0:
		offset = m.end + r.rng.Int64N(3)
	case 1:
		offset = r.rng.Int64N(m.start + 1)
	default:
		offset = m.start + r.rng.Int64N(m.end-m.start+1)
	}
	firstBase := r.tl.SegmentBaseOffsets()[0]
	r.logf("truncate to %d (segments from %d)", offset, firstBase)
	changed, err := r.tl.TruncateTo(offset)
	if err != nil {
		r.fatalf("truncate to %d: %v", offset, err)
	}
	if changed != (offset < m.end) {
		r.fatalf("truncate to %d with log end %d reported changed=%v", offset, m.end, changed)
	}
	if !changed {
		return
	}
	if offset < firstBase {
		m.truncateFully(offset)
		r.syncFollower(true)
		return
	}
	i := m.find(offset)
	m.end = m.batches[i].h.BaseOffset
	m.batches = m.batches[:i]
	m.start, m.hw, m.rpoint = min(m.start, m.end), min(m.hw, m.end), min(m.rpoint, m.end)
	m.reloadProducers(false)
	r.syncFollower(false)
}

func (r *modelRun) opTruncateFully() {
	offset := max(0, r.m.end-30+r.rng.Int64N(130))
	r.logf("truncate fully and start at %d", offset)
	if err := r.tl.TruncateFullyAndStartAt(offset); err != nil {
		r.fatalf("truncate fully at %d: %v", offset, err)
	}
	r.m.truncateFully(offset)
	r.syncFollower(true)
}

func (r *modelRun) opIncrementLogStart() {
	m := &r.m
	offset := m.start - 5 + r.rng.Int64N(m.end-m.start+9)
	r.logf("maybe increment log start offset to %d", offset)
	err := r.tl.MaybeIncrementLogStartOffset(offset)
	if offset > m.end {
		if !errors.Is(err, ErrOffsetOutOfRange) {
			r.fatalf("log start offset %d past the log end %d: %v", offset, m.end, err)
		}
		return
	}
	if err != nil {
		r.fatalf("increment log start offset to %d: %v", offset, err)
	}
	m.start = max(m.start, offset)
}

func (r *modelRun) opSetHighWatermark() {
	hw := r.m.hw + r.rng.Int64N(r.m.end-r.m.hw+5)
	if r.rng.IntN(6) == 0 {
		hw = r.rng.Int64N(r.m.end + 1)
	}
	r.logf("set high watermark %d", hw)
	r.tl.SetHighWatermark(hw)
	r.m.hw = min(hw, r.m.end)
}

// opDeleteOldSegments applies retention, often with a new retention.bytes or
// retention.ms, and checks which segments went against the rules: only a
// prefix, never past the high watermark, first those below the log start
// offset, then those too old, then the oldest while the log is too large.
func (r *modelRun) opDeleteOldSegments() {
	if r.rng.IntN(3) > 0 {
		r.cfg.RetentionBytes, r.cfg.RetentionMs = -1, -1
		switch r.rng.IntN(3) {
		case 0:
			r.cfg.RetentionBytes = r.rng.Int64N(4 * r.cfg.SegmentBytes)
		case 1: // the edges of a segment boundary
			segs := r.segments()
			keep := int64(0)
			for _, s := range segs[r.rng.IntN(len(segs)):] {
				keep += s.size
			}
			r.cfg.RetentionBytes = max(0, keep+r.rng.Int64N(3)-1)
		}
		if r.rng.IntN(3) == 0 {
			r.cfg.RetentionMs = time.Duration(r.rng.Int64N(20*60)) * time.Second
		}
		r.cfg.Delete = r.rng.IntN(8) > 0
		r.tl.UpdateConfig(r.cfg)
	}
	wantN, wantBases, wantStart := r.predictRetention()
	r.logf("delete old segments: retention.bytes %d retention.ms %v delete %v, hw %d; want %d deleted",
		r.cfg.RetentionBytes, r.cfg.RetentionMs, r.cfg.Delete, r.m.hw, wantN)
	n, err := r.tl.DeleteOldSegments()
	if err != nil {
		r.fatalf("delete old segments: %v", err)
	}
	if bases := r.tl.SegmentBaseOffsets(); n != wantN || !slices.Equal(bases, wantBases) {
		r.fatalf("retention deleted %d segments, leaving %v; want %d, leaving %v", n, bases, wantN, wantBases)
	}
	r.m.start = wantStart
	if r.rng.IntN(2) == 0 {
		r.logf("delete pending segments")
		if err := r.tl.DeletePendingSegments(); err != nil {
			r.fatalf("delete pending segments: %v", err)
		}
		if r.noDeleteDelay {
			if left := r.filesWithSuffix(DeletedFileSuffix); len(left) > 0 {
				r.fatalf("files left after deleting pending segments with file.delete.delay.ms 0: %v", left)
			}
		}
	}
}

// modelSegment is a segment as the model sees it, laid over the log's
// segment base offsets.
type modelSegment struct {
	base, upper, size, maxTimestamp int64
}

func (r *modelRun) segments() []modelSegment {
	m := &r.m
	bases := r.tl.SegmentBaseOffsets()
	segs := make([]modelSegment, len(bases))
	for i, base := range bases {
		segs[i] = modelSegment{base: base, upper: m.end, maxTimestamp: NoTimestamp}
		if i+1 < len(bases) {
			segs[i].upper = bases[i+1]
		}
		for _, b := range m.batches {
			if b.h.BaseOffset >= base && b.h.BaseOffset < segs[i].upper {
				segs[i].size += b.h.Size()
				segs[i].maxTimestamp = max(segs[i].maxTimestamp, b.h.MaxTimestamp)
			}
		}
	}
	return segs
}

// predictRetention applies DeleteOldSegments' rules to the model's view of
// the segments: it returns how many go, the base offsets left and the new
// log start offset.
func (r *modelRun) predictRetention() (int, []int64, int64) {
	m, cfg := &r.m, r.cfg
	segs := r.segments()
	start, deleted := m.start, 0
	deletePrefix := func(pred func(i int) bool) {
		n := 0
		for i, s := range segs {
			if (i == len(segs)-1 && s.size == 0) || m.hw < s.upper || !pred(i) {
				break
			}
			n++
		}
		if n == len(segs) {
			segs = append(segs, modelSegment{base: m.end, upper: m.end, maxTimestamp: NoTimestamp})
		}
		if n > 0 {
			segs = segs[n:]
			start = max(start, segs[0].base)
		}
		deleted += n
	}
	logStart := m.start
	deletePrefix(func(i int) bool { return i+1 < len(segs) && segs[i+1].base <= logStart })
	if cfg.Delete && cfg.RetentionMs >= 0 {
		now := r.tl.clock.Now().UnixMilli()
		deletePrefix(func(i int) bool { return now-segs[i].maxTimestamp > cfg.RetentionMs.Milliseconds() })
	}
	if cfg.Delete && cfg.RetentionBytes >= 0 {
		over := -cfg.RetentionBytes
		for _, s := range segs {
			over += s.size
		}
		deletePrefix(func(i int) bool {
			if over-segs[i].size < 0 {
				return false
			}
			over -= segs[i].size
			return true
		})
	}
	bases := make([]int64, len(segs))
	for i, s := range segs {
		bases[i] = s.base
	}
	return deleted, bases, start
}

func (r *modelRun) filesWithSuffix(suffix string) []string {
	var names []string
	for _, name := range listDir(r.t, r.tl.dir) {
		if strings.HasSuffix(name, suffix) {
			names = append(names, name)
		}
	}
	return names
}

func (r *modelRun) opFlush() {
	m := &r.m
	if r.rng.IntN(2) == 0 {
		r.logf("flush")
		if err := r.tl.Flush(); err != nil {
			r.fatalf("flush: %v", err)
		}
		m.rpoint, m.unflushed = m.end, 0
		return
	}
	offset := m.rpoint + r.rng.Int64N(m.end-m.rpoint+3) - 1
	r.logf("flush to %d", offset)
	if err := r.tl.FlushTo(offset); err != nil {
		r.fatalf("flush to %d: %v", offset, err)
	}
	m.rpoint, m.unflushed = max(m.rpoint, min(offset, m.end)), 0
}

// opReopen closes the log cleanly, or abandons it as a crash would, and
// opens it again, sometimes with a new configuration. Nothing is damaged,
// so the model must still match.
func (r *modelRun) opReopen() {
	m := &r.m
	clean := r.rng.IntN(2) == 0
	opts := Options{CleanShutdown: clean, RecoveryPoint: m.end, LogStartOffset: m.start, HighWatermark: m.hw}
	if clean {
		if err := r.tl.Close(); err != nil {
			r.fatalf("close: %v", err)
		}
	} else {
		r.tl.crash()
		opts.RecoveryPoint = r.rng.Int64N(m.rpoint + 1) // a checkpoint may lag
	}
	if r.rng.IntN(3) == 0 {
		r.cfg = r.randomConfig()
	}
	r.logf("reopen clean=%v recovery point %d, config %+v", clean, opts.RecoveryPoint, r.cfg)
	r.tl.reopen(r.cfg, opts)
	r.noDeleteDelay = r.cfg.FileDeleteDelay == 0
	m.rpoint, m.unflushed = m.end, 0
	m.hw = min(max(m.hw, m.start), m.end)
	m.reloadProducers(clean)
	if r.rng.IntN(2) == 0 {
		f := r.follower
		fopts := Options{CleanShutdown: clean, RecoveryPoint: f.RecoveryPoint(), LogStartOffset: f.LogStartOffset()}
		if clean {
			if err := f.Close(); err != nil {
				r.fatalf("close the follower: %v", err)
			}
		} else {
			f.crash()
		}
		r.logf("reopen the follower clean=%v", clean)
		f.reopen(*f.Config(), fopts)
	}
}

func (r *modelRun) opAdvanceClock() {
	d := time.Duration(r.rng.Int64N(int64(5 * time.Minute)))
	r.logf("advance the clock by %v", d)
	r.tl.clock.Advance(d)
	r.follower.clock.Advance(d)
}

func (r *modelRun) opUpdateConfig() {
	cfg := r.randomConfig()
	cfg.TimestampType = r.cfg.TimestampType
	r.cfg = cfg
	r.logf("update config %+v", cfg)
	r.tl.UpdateConfig(cfg)
	r.noDeleteDelay = r.noDeleteDelay && cfg.FileDeleteDelay == 0
	if r.rng.IntN(10) == 0 {
		r.epoch++
		r.logf("leader epoch %d", r.epoch)
	}
}

// checkInvariants compares the cheap observable state with the model after
// every step.
func (r *modelRun) checkInvariants() {
	r.t.Helper()
	m, l := &r.m, r.tl
	if got := [4]int64{l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(), l.RecoveryPoint()}; got != [4]int64{m.start, m.end, m.hw, m.rpoint} {
		r.fatalf("log start, end, high watermark, recovery point are %v, want %v", got, [4]int64{m.start, m.end, m.hw, m.rpoint})
	}
	if err := l.Err(); err != nil {
		r.fatalf("log failed: %v", err)
	}
	bases := l.SegmentBaseOffsets()
	if len(bases) == 0 || len(bases) != l.NumberOfSegments() || bases[0] > m.start || bases[len(bases)-1] > m.end {
		r.fatalf("segment base offsets %v with log start %d and end %d", bases, m.start, m.end)
	}
	var size int64
	for i, base := range bases {
		if i > 0 && base <= bases[i-1] {
			r.fatalf("segment base offsets %v are not increasing", bases)
		}
		if j := r.m.find(base); base != m.end && (j == len(m.batches) || m.batches[j].h.BaseOffset != base) {
			r.fatalf("segment base offset %d (of %v) is not at a batch boundary", base, bases)
		}
	}
	for _, b := range m.batches {
		if b.h.BaseOffset >= bases[0] {
			size += b.h.Size()
		}
	}
	if got := l.Size(); got != size {
		r.fatalf("log size %d, want %d", got, size)
	}
}

// checkContents reads the whole log and the follower back and checks the
// producers' state.
func (r *modelRun) checkContents() {
	r.t.Helper()
	m := &r.m
	for offset := m.start; offset < m.end; {
		next := r.checkRead(offset, math.MaxInt32, -1, false)
		if next <= offset {
			r.fatalf("reading the whole log made no progress at %d", offset)
		}
		offset = next
	}
	for _, p := range m.producers {
		if !p.known {
			continue
		}
		if err := checkLastProducerBatch(r.tl.Log, p.retryable[len(p.retryable)-1].h); err != nil {
			r.fatalf("%v", err)
		}
	}
	for _, name := range r.filesWithSuffix(producerSnapshotSuffix) {
		if offset, ok := parseProducerSnapshotName(name); !ok || offset > m.end {
			r.fatalf("producer snapshot %s is past the log end %d", name, m.end)
		}
	}
	f := r.follower
	fstart, fend := f.LogStartOffset(), f.LogEndOffset()
	if fend > m.end {
		r.fatalf("follower log end %d is past the leader's %d", fend, m.end)
	}
	got := f.readAll(fstart)
	i := m.find(fstart)
	for k, h := range got {
		if i+k >= len(m.batches) || m.batches[i+k].h != h {
			r.fatalf("follower batch %d (offset %d) differs from the leader's", k, h.BaseOffset)
		}
	}
	if fend > fstart && (len(got) == 0 || got[len(got)-1].NextOffset() != fend) {
		r.fatalf("follower holds %d batches from %d, but its log end is %d", len(got), fstart, fend)
	}
	// The follower records the producers of what it copies: it knows the
	// last batch of each that it holds.
	for _, p := range m.producers {
		for j := m.find(fend) - 1; j >= i && j >= 0; j-- {
			if h := m.batches[j].h; h.ProducerID == p.id {
				if err := checkLastProducerBatch(f.Log, h); err != nil {
					r.fatalf("follower: %v", err)
				}
				break
			}
		}
	}
}

// checkLastProducerBatch checks that l knows h as its producer's last
// batch.
func checkLastProducerBatch(l *Log, h BatchHeader) error {
	e, ok := l.LastProducerEntry(h.ProducerID)
	if !ok || e.ProducerEpoch != h.ProducerEpoch || e.LastSeq() != h.LastSequence() || e.LastOffset() != h.LastOffset() {
		return fmt.Errorf("producer %d: %+v (found %v), want epoch %d and last sequence %d at offset %d",
			h.ProducerID, e, ok, h.ProducerEpoch, h.LastSequence(), h.LastOffset())
	}
	return nil
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// crash abandons the log as if the process had died: its files are closed
// without the final time index entry, index trimming and producer snapshot
// that Close writes, and segments pending deletion stay on disk. What was
// written stays, as it does in the page cache.
func (tl *testLog) crash() {
	l := tl.Log
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, s := range l.segments {
		s.close()
	}
	for _, p := range l.pendingDeletes {
		p.segment.close()
	}
}

// TestLogModelRegressions replays, each in a few lines, the failures
// TestLogModel found.
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
