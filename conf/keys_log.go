package conf

import (
	"strings"
	"time"
)

// The log.* rows of the broker table (see keys_server.go for how the table
// works). Several of these keys come in synonym groups, where Kafka lets the
// most precise key win:
//
//	log.dirs                 > log.dir
//	log.roll.ms              > log.roll.hours
//	log.roll.jitter.ms       > log.roll.jitter.hours
//	log.retention.ms         > log.retention.minutes > log.retention.hours
//	log.flush.interval.ms    > log.flush.scheduler.interval.ms
//
// The first key of each group owns the Config field and lists the others as
// synonyms. log.dir, log.roll.hours, log.roll.jitter.hours,
// log.retention.minutes and log.retention.hours are aliases: they have no
// field, and their values reach Config only through the group's first key.
// log.flush.scheduler.interval.ms has its own field as well, since it also
// paces the flush scheduler.
//
// Most of these keys are also the defaults of topic-level keys (see
// topic_keys.go), which is why several rules here are stricter than Kafka's
// broker rules: they repeat the topic key's rule, so that a bad value is
// reported at startup rather than when the first topic is created.

func logDefs() []def[Config] {
	return []def[Config]{
		{name: "log.dir", typ: TypeString, dflt: "/tmp/kafka-logs",
			doc: "Log directory, used when log.dirs is unset."},
		{name: "log.dirs", typ: TypeString, noDefault: true, synonyms: []string{"log.dir"},
			doc: "Comma-separated log directories; partitions are spread over them.",
			bind: decoded(func(c *Config) *[]string { return &c.LogDirs }, splitDirs,
				func(c *Config) string { return strings.Join(c.LogDirs, ",") })},
		{name: "log.segment.bytes", typ: TypeInt, dflt: "1073741824", rule: atLeast(14),
			doc:  "Segment size at which the log rolls to a new segment.",
			bind: integer(func(c *Config) *int64 { return &c.LogSegmentBytes })},
		{name: "log.roll.hours", typ: TypeInt, dflt: "168", rule: atLeast(1), unit: hours,
			doc: "Segment age at which the log rolls, used when log.roll.ms is unset."},
		{name: "log.roll.ms", typ: TypeLong, noDefault: true, rule: atLeast(1), unit: ms,
			synonyms: []string{"log.roll.hours"},
			doc:      "Age of a segment's first record at which the log rolls.",
			bind:     duration(func(c *Config) *time.Duration { return &c.LogRoll })},
		{name: "log.roll.jitter.hours", typ: TypeInt, dflt: "0", rule: atLeast(0), unit: hours,
			doc: "Random reduction of the roll age, used when log.roll.jitter.ms is unset."},
		{name: "log.roll.jitter.ms", typ: TypeLong, noDefault: true, rule: atLeast(0), unit: ms,
			synonyms: []string{"log.roll.jitter.hours"},
			doc:      "Most a segment's roll age is randomly reduced, so that segments do not all roll at once.",
			bind:     duration(func(c *Config) *time.Duration { return &c.LogRollJitter })},
		{name: "log.retention.hours", typ: TypeInt, dflt: "168", unit: hours,
			doc: "Retention time, used when log.retention.ms and log.retention.minutes are unset."},
		{name: "log.retention.minutes", typ: TypeInt, noDefault: true, unit: minutes,
			doc: "Retention time, used when log.retention.ms is unset."},
		{name: "log.retention.ms", typ: TypeLong, noDefault: true, rule: unlimitedOrPositive(), unit: ms,
			synonyms: []string{"log.retention.minutes", "log.retention.hours"},
			doc:      "Age at which a segment is deleted; -1 (any negative value) keeps data forever.",
			bind:     retention(func(c *Config) *time.Duration { return &c.LogRetention })},
		{name: "log.retention.bytes", typ: TypeLong, dflt: "-1",
			doc:  "Partition size beyond which the oldest segments are deleted; -1 for no limit.",
			bind: integer(func(c *Config) *int64 { return &c.LogRetentionBytes })},
		{name: "log.retention.check.interval.ms", typ: TypeLong, dflt: "300000", rule: atLeast(1), unit: ms,
			doc:  "How often segments are checked for deletion.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogRetentionCheckInterval })},
		{name: "log.index.interval.bytes", typ: TypeInt, dflt: "4096", rule: atLeast(0),
			doc:  "Bytes of log between two offset index entries.",
			bind: integer(func(c *Config) *int64 { return &c.LogIndexIntervalBytes })},
		{name: "log.index.size.max.bytes", typ: TypeInt, dflt: "10485760", rule: atLeast(4),
			doc:  "Size an index file is preallocated to; a full index rolls the segment.",
			bind: integer(func(c *Config) *int64 { return &c.LogIndexSizeMaxBytes })},
		{name: "log.flush.interval.messages", typ: TypeLong, dflt: maxLong, rule: atLeast(1),
			doc:  "Records appended to a partition before it is fsynced.",
			bind: integer(func(c *Config) *int64 { return &c.LogFlushIntervalMessages })},
		{name: "log.flush.scheduler.interval.ms", typ: TypeLong, dflt: maxLong, unit: ms,
			doc:  "How often logs are checked for a time-based flush.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogFlushSchedulerInterval })},
		// Stricter than Kafka (no rule): flush.ms needs at least 0.
		{name: "log.flush.interval.ms", typ: TypeLong, noDefault: true, rule: atLeast(0), unit: ms,
			synonyms: []string{"log.flush.scheduler.interval.ms"},
			doc:      "Age of unflushed data at which a partition is fsynced.",
			bind:     duration(func(c *Config) *time.Duration { return &c.LogFlushInterval })},
		{name: "log.flush.offset.checkpoint.interval.ms", typ: TypeInt, dflt: "60000", rule: atLeast(0), unit: ms,
			doc:  "How often recovery points are written to recovery-point-offset-checkpoint.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogFlushOffsetCheckpointInterval })},
		{name: "log.flush.start.offset.checkpoint.interval.ms", typ: TypeInt, dflt: "60000", rule: atLeast(0), unit: ms,
			doc:  "How often log start offsets are written to log-start-offset-checkpoint.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogFlushStartOffsetCheckpointInterval })},
		{name: "log.segment.delete.delay.ms", typ: TypeLong, dflt: "60000", rule: atLeast(0), unit: ms,
			doc:  "How long a deleted segment's files are kept (renamed .deleted) before removal.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogSegmentDeleteDelay })},
		{name: "log.preallocate", typ: TypeBoolean, dflt: "false",
			doc:  "Preallocate new segment files to log.segment.bytes.",
			bind: boolean(func(c *Config) *bool { return &c.LogPreallocate })},
		{name: "log.message.format.version", typ: TypeString, dflt: latestKafkaVersion, rule: kafkaVersionRule(),
			doc:  "Record format the broker writes; keep it no newer than what consumers read.",
			bind: text(func(c *Config) *string { return &c.LogMessageFormatVersion })},
		{name: "log.message.timestamp.type", typ: TypeString, dflt: "CreateTime",
			rule: oneOf("CreateTime", "LogAppendTime"),
			doc:  "Whether record timestamps are the producer's (CreateTime) or the broker's (LogAppendTime).",
			bind: text(func(c *Config) *string { return &c.LogMessageTimestampType })},
		// Stricter than Kafka (no rule): the topic key needs at least 0.
		{name: "log.message.timestamp.difference.max.ms", typ: TypeLong, dflt: maxLong, rule: atLeast(0), unit: ms,
			doc:  "Largest difference between a CreateTime timestamp and the broker's clock.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogMessageTimestampDifferenceMax })},
		{name: "log.message.downconversion.enable", typ: TypeBoolean, dflt: "true",
			doc:  "Convert records to an older format for old consumers.",
			bind: boolean(func(c *Config) *bool { return &c.LogMessageDownConversionEnable })},
		{name: "num.recovery.threads.per.data.dir", typ: TypeInt, dflt: "1", rule: atLeast(1),
			doc:  "Threads per log directory that recover logs at startup and flush them at shutdown.",
			bind: integer(func(c *Config) *int { return &c.NumRecoveryThreadsPerDataDir })},

		// Log cleaner.
		{name: "log.cleanup.policy", typ: TypeList, dflt: "delete", rule: everyOneOf("compact", "delete"),
			doc:  "delete (retention), compact (keep the last record per key), or both.",
			bind: list(func(c *Config) *[]string { return &c.LogCleanupPolicy })},
		{name: "log.cleaner.enable", typ: TypeBoolean, dflt: "true",
			doc:  "Run the log cleaner; needed by compacted topics such as __consumer_offsets.",
			bind: boolean(func(c *Config) *bool { return &c.LogCleanerEnable })},
		{name: "log.cleaner.threads", typ: TypeInt, dflt: "1", rule: atLeast(0),
			doc:  "Cleaner threads.",
			bind: integer(func(c *Config) *int { return &c.LogCleanerThreads })},
		{name: "log.cleaner.dedupe.buffer.size", typ: TypeLong, dflt: "134217728",
			doc:  "Memory for the cleaners' key maps, shared by all cleaner threads.",
			bind: integer(func(c *Config) *int64 { return &c.LogCleanerDedupeBufferSize })},
		{name: "log.cleaner.io.buffer.size", typ: TypeInt, dflt: "524288", rule: atLeast(0),
			doc:  "Memory for the cleaners' read and write buffers.",
			bind: integer(func(c *Config) *int64 { return &c.LogCleanerIOBufferSize })},
		{name: "log.cleaner.io.buffer.load.factor", typ: TypeDouble, dflt: "0.9",
			doc:  "Fill factor of the dedupe buffer's hash table.",
			bind: double(func(c *Config) *float64 { return &c.LogCleanerIOBufferLoadFactor })},
		{name: "log.cleaner.io.max.bytes.per.second", typ: TypeDouble, dflt: "1.7976931348623157E308",
			doc:  "Throttle on the cleaners' combined reads and writes.",
			bind: double(func(c *Config) *float64 { return &c.LogCleanerIOMaxBytesPerSecond })},
		// Stricter than Kafka 2.8 (no rule; later versions add this one):
		// the topic key min.cleanable.dirty.ratio needs it.
		{name: "log.cleaner.min.cleanable.ratio", typ: TypeDouble, dflt: "0.5", rule: fraction(),
			doc:  "Dirty share of a log at which it becomes eligible for cleaning.",
			bind: double(func(c *Config) *float64 { return &c.LogCleanerMinCleanableRatio })},
		{name: "log.cleaner.backoff.ms", typ: TypeLong, dflt: "15000", rule: atLeast(0), unit: ms,
			doc:  "Pause of a cleaner thread that found nothing to clean.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogCleanerBackoff })},
		// Stricter than Kafka (no rule) for the next three: the topic keys
		// delete.retention.ms, min.compaction.lag.ms and
		// max.compaction.lag.ms need them.
		{name: "log.cleaner.delete.retention.ms", typ: TypeLong, dflt: "86400000", rule: atLeast(0), unit: ms,
			doc:  "How long tombstones survive cleaning, so that consumers see deletions.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogCleanerDeleteRetention })},
		{name: "log.cleaner.min.compaction.lag.ms", typ: TypeLong, dflt: "0", rule: atLeast(0), unit: ms,
			doc:  "Age below which records are never compacted.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogCleanerMinCompactionLag })},
		{name: "log.cleaner.max.compaction.lag.ms", typ: TypeLong, dflt: maxLong, rule: atLeast(1), unit: ms,
			doc:  "Age beyond which records are compacted even if the log is not dirty enough.",
			bind: duration(func(c *Config) *time.Duration { return &c.LogCleanerMaxCompactionLag })},
	}
}

// splitDirs splits log.dirs (or log.dir) at commas, dropping empty items, as
// Kafka's parseCsvList does.
func splitDirs(_ *Config, s string) ([]string, error) {
	dirs := []string{}
	for _, d := range splitList(s) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs, nil
}
