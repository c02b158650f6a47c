// Package logstore is Gregor's storage engine: durable, recoverable,
// append-only partition logs in Apache Kafka's on-disk format, so that
// Kafka's own tools can read Gregor's log directories and the other way
// round. It knows nothing of the network, ZooKeeper or replication policy;
// it stores the offsets it is given (a high watermark for retention and the
// checkpoint) and decides none.
//
// # Layout
//
//	<log.dir>/meta.properties                    version, broker.id, cluster.id
//	<log.dir>/recovery-point-offset-checkpoint   "0\n<n>\n<topic> <partition> <offset>\n..."
//	<log.dir>/replication-offset-checkpoint      same format: high watermarks
//	<log.dir>/log-start-offset-checkpoint        same format
//	<log.dir>/cleaner-offset-checkpoint          same format: first dirty offsets of compacted logs
//	<log.dir>/.kafka_cleanshutdown               present only after a clean shutdown
//	<log.dir>/<topic>-<partition>/
//	    00000000000000000000.log        record batches as on the wire, offsets assigned
//	    00000000000000000000.index      8-byte entries: relative offset, file position
//	    00000000000000000000.timeindex  12-byte entries: timestamp, relative offset
//	    00000000000000000000.snapshot   producer (idempotence) state at that offset
//
// # Pieces
//
//   - batch.go, record.go, validate.go, compression.go: the magic-2 record
//     batch. A producer's batch is validated (CRC, record framing, offsets,
//     timestamps, keys for compacted topics) without re-encoding it; the
//     broker patches only the base offset, the partition leader epoch and,
//     for LogAppendTime, the timestamp in place.
//   - offset_index.go, time_index.go: the sparse, preallocated indexes: an
//     entry per index.interval.bytes of log, appended with pwrite and read
//     through a lazily made read-only mapping; lookups are binary searches.
//   - segment.go: one .log file and its indexes: append, read (a file
//     region, so a fetch can use sendfile), offset and timestamp lookups,
//     truncation, recovery.
//   - log.go, log_load.go, log_maintenance.go: one partition: offset
//     assignment, roll by size, time and full index, reads bounded by a byte
//     limit and an offset (the high watermark), truncation for replication,
//     retention by time, size and log start offset, flush policy, loading
//     and recovery.
//   - producer_state.go, producer_snapshot.go: idempotent producers' epochs
//     and last five batches, duplicate detection, snapshots.
//   - manager.go, checkpoint.go, meta_properties.go: every log of the
//     broker: parallel loading, checkpoints, background retention and
//     flushing, clean-shutdown marker, offline directories.
//   - cleaner.go, cleaner_manager.go: log compaction (Kafka's LogCleaner):
//     the filthiest compacted log is rewritten keeping the latest record
//     of each key, through *.cleaned and *.swap files that a crash at any
//     step leaves recoverable; the manager runs log.cleaner.threads threads
//     and keeps cleaner-offset-checkpoint.
//
// # Durability
//
// As in Kafka, an append is not fsynced by default: durability comes from
// replication, and flush.messages / flush.ms choose otherwise. The recovery
// point is the offset below which the log is known to be on disk. After an
// unclean shutdown every segment from the one holding the recovery point on
// is re-read batch by batch (length, magic, CRC-32C); the first torn or
// corrupt batch and everything after it are truncated and the indexes
// rebuilt, so nothing corrupt is ever served and nothing that was flushed is
// lost. A failed write or fsync is sticky: the log refuses appends from then
// on (ErrStorage) and the manager takes its directory offline. Errors that
// come from bytes on disk or from the network are values, never panics.
//
// # Concurrency
//
// A Log is safe for concurrent use: appends, rolls, truncation and retention
// hold its write lock; reads share its read lock; fsyncs run outside it.
// Segments, indexes and producer state are not safe for concurrent use on
// their own; the Log's lock protects them. The Manager is safe for
// concurrent use. See LOCKS.md for the lock order.
package logstore
