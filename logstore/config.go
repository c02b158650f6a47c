package logstore

import (
	"io"
	"math"
	"time"

	"github.com/sirupsen/logrus"
)

// LogConfig is the per-partition configuration a Log runs with: the topic's
// settings after overrides, in logstore's own types. The server builds it
// from conf.TopicConfig; tests build it directly with small values (a 1 KiB
// segment so that a few appends force a roll).
//
// A Log keeps its LogConfig behind an atomic pointer and swaps it whole on
// UpdateConfig, so readers never lock.
type LogConfig struct {
	// SegmentBytes is segment.bytes: roll when the next append would pass it.
	SegmentBytes int64
	// SegmentMs is segment.ms: roll a non-empty segment this long after its
	// first batch (by the batch's max timestamp, or the segment's creation
	// time when it has none), less SegmentJitter.
	SegmentMs     time.Duration
	SegmentJitter time.Duration
	// RetentionMs is retention.ms; negative means keep forever.
	RetentionMs time.Duration
	// RetentionBytes is retention.bytes; negative means no size limit.
	RetentionBytes int64
	// IndexIntervalBytes is index.interval.bytes: bytes of log between
	// entries of the sparse indexes.
	IndexIntervalBytes int
	// MaxIndexSize is segment.index.bytes: the preallocated size of each
	// index file; a full index rolls the segment.
	MaxIndexSize int
	// FlushMessages is flush.messages: fsync after this many appended
	// records. Zero or negative means never by count.
	FlushMessages int64
	// FlushMs is flush.ms: fsync when the last flush is older than this
	// (checked by the manager's flusher). Zero or negative means never.
	FlushMs time.Duration
	// MaxMessageBytes is max.message.bytes: the largest batch a client may
	// append, its 12-byte log prefix included.
	MaxMessageBytes int
	// TimestampType is message.timestamp.type.
	TimestampType TimestampType
	// MaxTimestampDifference is message.timestamp.difference.max.ms;
	// zero or negative means unlimited.
	MaxTimestampDifference time.Duration
	// FileDeleteDelay is file.delete.delay.ms: segments removed by retention
	// or truncation are renamed to *.deleted and removed after this delay,
	// so that a fetch already sending from them completes.
	FileDeleteDelay time.Duration
	// Compact is cleanup.policy containing "compact": records need keys.
	Compact bool
	// Delete is cleanup.policy containing "delete": retention applies.
	Delete bool
	// MinCleanableRatio is min.cleanable.dirty.ratio: a compacted log is
	// cleaned once its dirty bytes are more than this share of its
	// cleanable bytes (or max.compaction.lag.ms forces it).
	MinCleanableRatio float64
	// DeleteRetention is delete.retention.ms: how long tombstones (records
	// with a null value) survive once their segment has been cleaned.
	DeleteRetention time.Duration
	// MinCompactionLag is min.compaction.lag.ms: a segment whose largest
	// timestamp is more recent than this is not cleaned yet.
	MinCompactionLag time.Duration
	// MaxCompactionLag is max.compaction.lag.ms: a log whose oldest dirty
	// segment started longer ago than this is cleaned whatever its ratio.
	MaxCompactionLag time.Duration
	// MinInSyncReplicas is min.insync.replicas. logstore does not use it;
	// it travels with the log's config, as in Kafka's LogConfig, so that a
	// topic override reaches the partition with the rest.
	MinInSyncReplicas int
	// ProducerIDExpiration bounds how long an idle producer id's state is
	// kept (Kafka 2.8 uses transactional.id.expiration.ms).
	ProducerIDExpiration time.Duration
}

// DefaultLogConfig returns Kafka 2.8's topic defaults.
func DefaultLogConfig() LogConfig {
	return LogConfig{
		SegmentBytes:         1 << 30,
		SegmentMs:            168 * time.Hour,
		RetentionMs:          168 * time.Hour,
		RetentionBytes:       -1,
		IndexIntervalBytes:   4096,
		MaxIndexSize:         10 << 20,
		MaxMessageBytes:      1048588,
		TimestampType:        CreateTime,
		FileDeleteDelay:      time.Minute,
		Delete:               true,
		MinCleanableRatio:    0.5,
		DeleteRetention:      24 * time.Hour,
		MaxCompactionLag:     math.MaxInt64,
		ProducerIDExpiration: 7 * 24 * time.Hour,
	}
}

// nopLogger is used when a caller gives no logger.
func nopLogger() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}
