package server

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/network"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetcherConfig is the follower side's configuration (Kafka's replica.*
// keys).
type fetcherConfig struct {
	brokerID      int32
	numFetchers   int           // num.replica.fetchers
	maxBytes      int32         // replica.fetch.max.bytes, per partition
	responseBytes int32         // replica.fetch.response.max.bytes
	minBytes      int32         // replica.fetch.min.bytes
	maxWait       time.Duration // replica.fetch.wait.max.ms
	backoff       time.Duration // replica.fetch.backoff.ms
	socketTimeout time.Duration // replica.socket.timeout.ms
	receiveBuffer int           // replica.socket.receive.buffer.bytes
	log           *logrus.Entry
	// brokerEpoch is this broker's registration epoch, sent as the
	// replica's epoch (KIP-380); -1 when unknown.
	brokerEpoch func() int64
}

// fetchTarget is where a follower partition fetches from.
type fetchTarget struct {
	leader      int32
	addr        string // host:port of the leader's inter-broker listener
	leaderEpoch int32
	partition   *Partition
}

// fetcherKey names one fetcher: a leader (by id and address, so that a
// leader that moved gets a new connection) and a fetcher index.
type fetcherKey struct {
	leader int32
	addr   string
	index  int
}

// replicaFetcherManager runs the follower side of replication (Kafka's
// ReplicaFetcherManager): num.replica.fetchers fetchers per leader, each
// a goroutine with its own connection fetching a share of the partitions
// this broker follows from that leader (a partition's share is a hash of
// its name, as Kafka's getFetcherId).
//
// Safe for concurrent use; the replica manager adds and removes
// partitions under its state-change lock.
type replicaFetcherManager struct {
	cfg fetcherConfig

	mu       sync.Mutex // guards fetchers and closed
	fetchers map[fetcherKey]*replicaFetcher
	closed   bool
}

func newReplicaFetcherManager(cfg fetcherConfig) *replicaFetcherManager {
	if cfg.numFetchers < 1 {
		cfg.numFetchers = 1
	}
	if cfg.brokerEpoch == nil {
		cfg.brokerEpoch = func() int64 { return -1 }
	}
	return &replicaFetcherManager{cfg: cfg, fetchers: map[fetcherKey]*replicaFetcher{}}
}

func (m *replicaFetcherManager) fetcherIndex(tp logstore.TopicPartition) int {
	h := fnv.New32a()
	h.Write([]byte(tp.Topic))
	return int((h.Sum32()*31 + uint32(tp.Partition)) % uint32(m.cfg.numFetchers))
}

// addPartitions makes each partition fetch from its target, starting by
// truncating its log to where it agrees with the leader (KIP-101/279).
// A partition fetching from elsewhere is moved.
func (m *replicaFetcherManager) addPartitions(targets map[logstore.TopicPartition]fetchTarget) {
	m.removePartitions(slices.Collect(maps.Keys(targets)))
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for tp, t := range targets {
		key := fetcherKey{leader: t.leader, addr: t.addr, index: m.fetcherIndex(tp)}
		f, ok := m.fetchers[key]
		if !ok {
			var err error
			f, err = newReplicaFetcher(m.cfg, key)
			if err != nil {
				m.cfg.log.WithError(err).WithField("leader", t.leader).Error("cannot start a replica fetcher")
				continue
			}
			m.fetchers[key] = f
		}
		f.add(tp, t)
	}
}

// removePartitions stops fetching the partitions (the broker leads them
// now, or stopped replicating them). It returns once no fetcher will touch
// their logs again.
func (m *replicaFetcherManager) removePartitions(tps []logstore.TopicPartition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, f := range m.fetchers {
		if f.remove(tps) == 0 {
			f.stop()
			delete(m.fetchers, key)
		}
	}
}

// close stops every fetcher.
func (m *replicaFetcherManager) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for key, f := range m.fetchers {
		f.stop()
		delete(m.fetchers, key)
	}
}

// fetchingFrom reports the leader a partition is being fetched from, for
// tests and diagnostics.
func (m *replicaFetcherManager) fetchingFrom(tp logstore.TopicPartition) (int32, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, f := range m.fetchers {
		if f.has(tp) {
			return key.leader, true
		}
	}
	return -1, false
}

// fetchState is one partition in a fetcher.
type fetchState struct {
	target fetchTarget
	// truncating: the log must first be truncated to where it agrees with
	// the leader's.
	truncating bool
	// outOfRange: the leader refused the fetch offset; the log must be
	// brought back into the leader's range first.
	outOfRange bool
	// delayedUntil: after an error, the partition waits out the backoff.
	delayedUntil time.Time
}

// replicaFetcher fetches a set of partitions from one leader on one
// connection (Kafka's ReplicaFetcherThread): first OffsetForLeaderEpoch
// for the partitions that must truncate, then Fetch with replica_id set
// for the others, appending what comes back as the leader wrote it.
//
// Partitions are added and removed under mu; the fetch loop holds
// workMu while it acts on logs, so that remove returns only once the
// loop no longer touches a removed partition.
type replicaFetcher struct {
	cfg    fetcherConfig
	key    fetcherKey
	log    *logrus.Entry
	client *network.Client
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // capacity one: partitions were added

	workMu sync.Mutex // held by the loop while it applies results

	mu         sync.Mutex // guards partitions
	partitions map[logstore.TopicPartition]*fetchState
}

func newReplicaFetcher(cfg fetcherConfig, key fetcherKey) (*replicaFetcher, error) {
	clientID := "broker-" + strconv.Itoa(int(cfg.brokerID)) + "-fetcher-" + strconv.Itoa(key.index)
	log := cfg.log.WithFields(logrus.Fields{"component": "replica_fetcher", "leader": key.leader, "fetcher": key.index})
	client, err := network.NewClient(network.ClientConfig{
		Addr:                     key.addr,
		ClientID:                 clientID,
		DialTimeout:              cfg.socketTimeout,
		RequestTimeout:           cfg.socketTimeout + cfg.maxWait,
		ReconnectBackoff:         50 * time.Millisecond,
		ReconnectBackoffMax:      time.Second,
		SocketReceiveBufferBytes: cfg.receiveBuffer,
		Logger:                   log,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &replicaFetcher{
		cfg: cfg, key: key, log: log, client: client, cancel: cancel,
		done: make(chan struct{}), wake: make(chan struct{}, 1),
		partitions: map[logstore.TopicPartition]*fetchState{},
	}
	go f.run(ctx)
	return f, nil
}

func (f *replicaFetcher) add(tp logstore.TopicPartition, t fetchTarget) {
	f.mu.Lock()
	f.partitions[tp] = &fetchState{target: t, truncating: true}
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// remove drops tps and returns how many partitions are left. It waits for
// the loop to finish applying a response, so that a removed partition's log
// is not written after remove returns.
func (f *replicaFetcher) remove(tps []logstore.TopicPartition) int {
	f.workMu.Lock()
	defer f.workMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tp := range tps {
		delete(f.partitions, tp)
	}
	return len(f.partitions)
}

func (f *replicaFetcher) has(tp logstore.TopicPartition) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.partitions[tp]
	return ok
}

func (f *replicaFetcher) stop() {
	f.cancel()
	<-f.done
	f.client.Close()
}

// snapshot copies the partitions ready to work on, split by phase.
func (f *replicaFetcher) snapshot(now time.Time) (truncating, outOfRange, fetching map[logstore.TopicPartition]fetchState, next time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	truncating, outOfRange, fetching = map[logstore.TopicPartition]fetchState{}, map[logstore.TopicPartition]fetchState{}, map[logstore.TopicPartition]fetchState{}
	for tp, st := range f.partitions {
		if now.Before(st.delayedUntil) {
			if next.IsZero() || st.delayedUntil.Before(next) {
				next = st.delayedUntil
			}
			continue
		}
		switch {
		case st.truncating:
			truncating[tp] = *st
		case st.outOfRange:
			outOfRange[tp] = *st
		default:
			fetching[tp] = *st
		}
	}
	return truncating, outOfRange, fetching, next
}

// current returns the live state of tp if it is still the one a request
// was built from (same leader epoch): results for a partition removed or
// re-added meanwhile are dropped. Callers hold workMu.
func (f *replicaFetcher) current(tp logstore.TopicPartition, sent fetchState) *fetchState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.partitions[tp]
	if !ok || st.target.leaderEpoch != sent.target.leaderEpoch || st.target.partition != sent.target.partition {
		return nil
	}
	return st
}

func (f *replicaFetcher) delay(st *fetchState) {
	f.mu.Lock()
	st.delayedUntil = time.Now().Add(f.cfg.backoff)
	f.mu.Unlock()
}

func (f *replicaFetcher) dropLocked(tp logstore.TopicPartition) {
	f.mu.Lock()
	delete(f.partitions, tp)
	f.mu.Unlock()
}

func (f *replicaFetcher) run(ctx context.Context) {
	defer close(f.done)
	for ctx.Err() == nil {
		truncating, outOfRange, fetching, next := f.snapshot(time.Now())
		if len(truncating) == 0 && len(outOfRange) == 0 && len(fetching) == 0 {
			f.idle(ctx, next)
			continue
		}
		var err error
		switch {
		case len(truncating) > 0:
			err = f.truncate(ctx, truncating)
		case len(outOfRange) > 0:
			for _, tp := range sortedTPs(outOfRange) {
				f.handleOutOfRange(ctx, tp, outOfRange[tp])
			}
		default:
			err = f.fetch(ctx, fetching, fetchMaxWait(f.cfg.maxWait, time.Now(), next))
		}
		if err != nil && ctx.Err() == nil {
			f.log.WithError(err).Debug("replica fetch failed; backing off")
			f.idle(ctx, time.Now().Add(f.cfg.backoff))
		}
	}
}

// fetchMaxWait is how long a fetch may wait at the leader for data
// (replica.fetch.wait.max.ms), cut short so that it returns by next, when
// the first partition left out of it for its backoff is due again; next is
// zero when none is. Without the cut, a partition whose backoff ended
// (after the leader answered UNKNOWN_TOPIC_OR_PARTITION for a topic created
// a moment earlier, typically) waited for the long poll of the others, up
// to the whole 500 ms, and an acks=all produce to it with them. Kafka's
// fetcher thread has the same wait; this is Gregor's departure.
func fetchMaxWait(maxWait time.Duration, now, next time.Time) time.Duration {
	if next.IsZero() {
		return maxWait
	}
	// Rounded up to the millisecond the request carries.
	untilNext := (next.Sub(now) + time.Millisecond - 1).Truncate(time.Millisecond)
	return max(0, min(maxWait, untilNext))
}

// idle waits until next (zero: until woken), a new partition, or the end.
func (f *replicaFetcher) idle(ctx context.Context, next time.Time) {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-timer:
	}
}

// truncate asks the leader where each partition's latest epoch ends and
// truncates the local log there (KIP-101, with KIP-279's extra round
// trips). A partition whose log has no epoch history truncates to its high
// watermark, as Kafka does.
func (f *replicaFetcher) truncate(ctx context.Context, parts map[logstore.TopicPartition]fetchState) error {
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 3
	req.ReplicaID = f.cfg.brokerID
	f.workMu.Lock()
	for _, tp := range sortedTPs(parts) {
		st := parts[tp]
		epoch, ok := st.target.partition.Log().LatestEpoch()
		if !ok {
			if cur := f.current(tp, st); cur != nil {
				l := st.target.partition.Log()
				if _, err := l.TruncateTo(l.HighWatermark()); err != nil {
					f.log.WithError(err).WithField("partition", tp.String()).Error("truncating to the high watermark failed")
					f.delay(cur)
					continue
				}
				f.mu.Lock()
				cur.truncating = false
				f.mu.Unlock()
			}
			continue
		}
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = tp.Topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		p.Partition = tp.Partition
		p.CurrentLeaderEpoch = st.target.leaderEpoch
		p.LeaderEpoch = epoch
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, p)
	}
	f.workMu.Unlock()
	if len(req.Topics) == 0 {
		return nil
	}
	kresp, err := f.client.Request(ctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	f.workMu.Lock()
	defer f.workMu.Unlock()
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			tp := logstore.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			sent, ok := parts[tp]
			if !ok {
				continue
			}
			st := f.current(tp, sent)
			if st == nil {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				f.onPartitionError(tp, st, err)
				continue
			}
			f.applyEpochEndOffset(tp, st, rp.LeaderEpoch, rp.EndOffset)
		}
	}
	return nil
}

// applyEpochEndOffset truncates per Kafka's
// AbstractFetcherThread.getOffsetTruncationState.
func (f *replicaFetcher) applyEpochEndOffset(tp logstore.TopicPartition, st *fetchState, leaderEpoch int32, endOffset int64) {
	l := st.target.partition.Log()
	leo := l.LogEndOffset()
	var to int64
	done := true
	switch {
	case endOffset == logstore.UndefinedEpochOffset:
		// The leader knows nothing of our epoch: fall back to the high
		// watermark, as Kafka does.
		to = l.HighWatermark()
	case leaderEpoch == logstore.UndefinedEpoch:
		to = min(endOffset, leo)
	default:
		followerEpoch, followerEnd := l.EndOffsetForEpoch(leaderEpoch)
		switch {
		case followerEnd == logstore.UndefinedEpochOffset:
			to = min(endOffset, leo)
		case followerEpoch != leaderEpoch:
			// We never had the leader's epoch: cut to the end of our
			// largest epoch below it and ask again.
			to, done = min(followerEnd, leo), false
		default:
			to = min(followerEnd, endOffset, leo)
		}
	}
	if _, err := l.TruncateTo(to); err != nil {
		f.log.WithError(err).WithField("partition", tp.String()).Error("truncating the follower's log failed")
		f.delay(st)
		return
	}
	if to < leo {
		f.log.WithFields(logrus.Fields{"partition": tp.String(), "offset": to, "log_end_offset": leo, "leader_epoch": leaderEpoch}).
			Info("truncated the follower's log to where it agrees with the leader")
	}
	if done {
		f.mu.Lock()
		st.truncating = false
		f.mu.Unlock()
	}
}

// fetch sends one Fetch for the partitions and appends what comes back.
func (f *replicaFetcher) fetch(ctx context.Context, parts map[logstore.TopicPartition]fetchState, maxWait time.Duration) error {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.ReplicaID = f.cfg.brokerID
	req.MaxWaitMillis = int32(maxWait.Milliseconds())
	req.MinBytes = f.cfg.minBytes
	req.MaxBytes = f.cfg.responseBytes
	req.SessionEpoch = -1 // sessionless
	for _, tp := range sortedTPs(parts) {
		st := parts[tp]
		l := st.target.partition.Log()
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = tp.Topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition = tp.Partition
		p.CurrentLeaderEpoch = st.target.leaderEpoch
		p.FetchOffset = l.LogEndOffset()
		p.LogStartOffset = l.LogStartOffset()
		p.PartitionMaxBytes = f.cfg.maxBytes
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, p)
	}
	kresp, err := f.client.Request(ctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("fetch from leader %d: %w", f.key.leader, err)
	}
	f.workMu.Lock()
	defer f.workMu.Unlock()
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			tp := logstore.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			sent, ok := parts[tp]
			if !ok {
				continue
			}
			st := f.current(tp, sent)
			if st == nil || st.truncating {
				continue
			}
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				f.onPartitionError(tp, st, err)
				continue
			}
			f.appendFetched(tp, st, &rp)
		}
	}
	return nil
}

// appendFetched appends a partition's fetched batches as the leader wrote
// them and follows the leader's high watermark and log start offset.
func (f *replicaFetcher) appendFetched(tp logstore.TopicPartition, st *fetchState, rp *kmsg.FetchResponseTopicPartition) {
	p := st.target.partition
	l := p.Log()
	if len(rp.RecordBatches) > 0 {
		if _, err := l.AppendAsFollower(rp.RecordBatches); err != nil {
			f.log.WithError(err).WithField("partition", tp.String()).Error("appending fetched records failed")
			f.delay(st)
			return
		}
	}
	p.updateFollowerHighWatermark(rp.HighWatermark)
	if rp.LogStartOffset > l.LogStartOffset() && rp.LogStartOffset <= l.LogEndOffset() {
		if err := l.MaybeIncrementLogStartOffset(rp.LogStartOffset); err != nil {
			f.log.WithError(err).WithField("partition", tp.String()).Warn("following the leader's log start offset failed")
		}
	}
}

// onPartitionError handles a partition the leader answered with an error.
// OFFSET_OUT_OF_RANGE resets the log to the leader's; the leader having
// moved on (FENCED_LEADER_EPOCH: it holds a newer epoch) drops the
// partition until the controller's LeaderAndIsr says where to fetch;
// anything else waits out the backoff and tries again. That includes
// NOT_LEADER_OR_FOLLOWER, as in Kafka's AbstractFetcherThread: the
// controller sends LeaderAndIsr to the new leader and its followers at
// once, so a follower often asks before the leader has heard it leads.
func (f *replicaFetcher) onPartitionError(tp logstore.TopicPartition, st *fetchState, err error) {
	log := f.log.WithField("partition", tp.String())
	switch {
	case errors.Is(err, kerr.OffsetOutOfRange):
		f.mu.Lock()
		st.outOfRange = true
		f.mu.Unlock()
	case errors.Is(err, kerr.FencedLeaderEpoch):
		log.WithError(err).Info("the leader moved on; waiting for the controller's LeaderAndIsr")
		f.dropLocked(tp)
	default:
		log.WithError(err).Debug("the leader answered a partition with an error; retrying after the backoff")
		f.delay(st)
	}
}

// handleOutOfRange brings a follower whose fetch offset the leader does
// not have back into range (Kafka's handleOffsetOutOfRange): behind the
// leader's log start, it restarts empty there; ahead of the leader's log
// end (possible only after an unclean election), it truncates to it. The
// leader is asked without holding workMu, so that removing partitions never
// waits on the network.
func (f *replicaFetcher) handleOutOfRange(ctx context.Context, tp logstore.TopicPartition, sent fetchState) {
	log := f.log.WithField("partition", tp.String())
	ctx, cancel := context.WithTimeout(ctx, f.cfg.socketTimeout)
	defer cancel()
	leaderEnd, errEnd := f.listOffset(ctx, tp, &sent, -1)
	leaderStart, errStart := f.listOffset(ctx, tp, &sent, -2)
	f.workMu.Lock()
	defer f.workMu.Unlock()
	st := f.current(tp, sent)
	if st == nil {
		return
	}
	if err := errors.Join(errEnd, errStart); err != nil {
		log.WithError(err).Warn("asking the leader for its log range failed")
		f.delay(st)
		return
	}
	l := sent.target.partition.Log()
	switch {
	case leaderEnd < l.LogEndOffset():
		log.WithField("leader_log_end_offset", leaderEnd).Warn("the follower is ahead of the leader; truncating to the leader's end")
		if _, err := l.TruncateTo(leaderEnd); err != nil {
			f.delay(st)
			return
		}
	case l.LogEndOffset() < leaderStart:
		log.WithField("leader_log_start_offset", leaderStart).Info("the follower is behind the leader's log start; restarting the log there")
		if err := l.TruncateFullyAndStartAt(leaderStart); err != nil {
			f.delay(st)
			return
		}
	}
	f.mu.Lock()
	st.outOfRange = false
	f.mu.Unlock()
}

// listOffset asks the leader, as a replica, for its earliest (-2) or
// latest (-1) offset of tp.
func (f *replicaFetcher) listOffset(ctx context.Context, tp logstore.TopicPartition, st *fetchState, timestamp int64) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 4
	req.ReplicaID = f.cfg.brokerID
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = tp.Topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition, p.CurrentLeaderEpoch, p.Timestamp = tp.Partition, st.target.leaderEpoch, timestamp
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	kresp, err := f.client.Request(ctx, req)
	if err != nil {
		return 0, err
	}
	resp := kresp.(*kmsg.ListOffsetsResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rt.Topic == tp.Topic && rp.Partition == tp.Partition {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return 0, err
				}
				return rp.Offset, nil
			}
		}
	}
	return 0, fmt.Errorf("leader %d did not answer for %s", f.key.leader, tp)
}

func sortedTPs[V any](m map[logstore.TopicPartition]V) []logstore.TopicPartition {
	return slices.SortedFunc(maps.Keys(m), func(a, b logstore.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
}
