// Package group is the group coordinator: Kafka's classic consumer group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed
// offsets, kept in the compacted internal topic __consumer_offsets.
//
// Each group belongs to one partition of __consumer_offsets
// (PartitionFor: Java's String.hashCode of the group id, modulo the
// partition count, as Kafka computes it), and the broker leading that
// partition is the group's coordinator. When the broker becomes leader of
// an offsets partition (OnElection) the coordinator reads the partition to
// its end and rebuilds the groups and offsets stored there; until then it
// answers COORDINATOR_LOAD_IN_PROGRESS for those groups. When it loses the
// partition (OnResignation) it forgets them and answers NOT_COORDINATOR.
//
// The coordinator never touches logs or the network itself: the server
// gives it a Log (appends with acks=all, reads for loading) and calls the
// request methods below with decoded requests. Methods that may have to
// wait (a JoinGroup parked until the rebalance completes, a commit waiting
// for its record to be replicated) answer through a respond callback,
// called exactly once, possibly from another goroutine; the others return
// the response. Every response has the request's version.
package group

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetsTopic is the internal topic holding groups and committed offsets.
const OffsetsTopic = "__consumer_offsets"

// Record is one record of an offsets partition: Value nil is a tombstone.
type Record struct {
	Offset    int64
	Timestamp int64 // milliseconds since the epoch
	Key       []byte
	Value     []byte
}

// Log is __consumer_offsets as the coordinator uses it; the server
// implements it over its replica manager.
type Log interface {
	// Append writes recs as one batch to partition p, which this broker
	// must lead, and calls done once the batch is committed (the high
	// watermark passed it: acks=all) or has failed. err is a kerr error
	// (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT,
	// MESSAGE_TOO_LARGE, ...), which the coordinator maps to what each API
	// answers, as Kafka's GroupMetadataManager does. done may be called
	// from any goroutine, also before Append returns.
	Append(p int32, recs []Record, done func(err error))
	// Read calls fn for every record of partition p from its log start
	// offset to its log end offset as of the call, in offset order. It
	// stops with ctx's error when ctx is cancelled (the partition was lost
	// meanwhile) and with fn's error when fn returns one.
	Read(ctx context.Context, p int32, fn func(Record) error) error
}

// Config is the coordinator's part of the broker configuration (Kafka's
// key names in the comments).
type Config struct {
	BrokerID                      int32
	OffsetsTopicPartitions        int32         // offsets.topic.num.partitions
	MinSessionTimeout             time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout             time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay         time.Duration // group.initial.rebalance.delay.ms
	MaxGroupSize                  int           // group.max.size
	OffsetMetadataMaxBytes        int           // offset.metadata.max.bytes
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms

	// Clock drives the session, rebalance and retention timers; nil is
	// the wall clock. Tests give a clock they advance by hand.
	Clock Clock
}

// ClientInfo identifies the connection a request came on, for
// DescribeGroups' client id and host.
type ClientInfo struct {
	ClientID string
	Host     string
}

// Coordinator is the group coordinator of one broker. It is safe for
// concurrent use: the table of owned partitions is an immutable map
// swapped atomically (readers never lock), each partition guards its
// group map with its own mutex, and each group has its own mutex, as
// Kafka's group lock (lock order: group.mu -> partition.mu).
type Coordinator struct {
	cfg   Config
	log   Log
	lg    *logrus.Entry
	clock Clock

	parts  atomic.Pointer[map[int32]*partition]
	closed atomic.Bool

	partsMu        sync.Mutex // serialises writers of parts and guards retentionTimer
	retentionTimer Timer
}

// New returns a coordinator owning no partition yet. Zero config fields
// take Kafka's defaults, except InitialRebalanceDelay, where zero is a
// meaningful value.
func New(cfg Config, log Log, lg *logrus.Entry) *Coordinator {
	if cfg.OffsetsTopicPartitions <= 0 {
		cfg.OffsetsTopicPartitions = 50
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = 6 * time.Second
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = 30 * time.Minute
	}
	if cfg.MaxGroupSize <= 0 {
		cfg.MaxGroupSize = math.MaxInt32
	}
	if cfg.OffsetMetadataMaxBytes <= 0 {
		cfg.OffsetMetadataMaxBytes = 4096
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = 7 * 24 * time.Hour
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	clock := cfg.Clock
	if clock == nil {
		clock = wallClock{}
	}
	if lg == nil {
		lg = logrus.NewEntry(logrus.StandardLogger())
	}
	c := &Coordinator{cfg: cfg, log: log, lg: lg.WithField("component", "group_coordinator"), clock: clock}
	empty := map[int32]*partition{}
	c.parts.Store(&empty)
	c.partsMu.Lock()
	c.retentionTimer = clock.AfterFunc(cfg.OffsetsRetentionCheckInterval, c.retentionTick)
	c.partsMu.Unlock()
	return c
}

// Close stops the coordinator's timers and answers every parked request
// with COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.partsMu.Lock()
	if c.retentionTimer != nil {
		c.retentionTimer.Stop()
	}
	old := *c.parts.Load()
	empty := map[int32]*partition{}
	c.parts.Store(&empty)
	c.partsMu.Unlock()
	for _, p := range old {
		c.unload(p, kerr.CoordinatorNotAvailable.Code)
	}
}
