package logstore

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on with errors.Is. The server maps each to
// one Kafka error code at a single boundary; logstore itself never speaks in
// Kafka error codes.
var (
	// ErrCorrupt marks data that failed validation: a bad CRC, a length that
	// points past the end of the buffer or file, a malformed varint. Recovery
	// code truncates at the last valid batch when it sees it; the produce
	// path answers CORRUPT_MESSAGE. Build instances with Corruptf.
	ErrCorrupt = errors.New("logstore: corrupt data")

	// ErrInvalidRecord is a well-formed batch that breaks a rule of the log:
	// a control batch from a client, a record without a key on a compacted
	// topic, more than one batch in a client append (INVALID_RECORD).
	ErrInvalidRecord = errors.New("logstore: invalid record")

	// ErrRecordTooLarge is a batch larger than max.message.bytes
	// (MESSAGE_TOO_LARGE).
	ErrRecordTooLarge = errors.New("logstore: record batch too large")

	// ErrInvalidTimestamp is a CreateTime timestamp further from the broker's
	// clock than message.timestamp.difference.max.ms (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("logstore: invalid timestamp")

	// ErrUnsupportedMagic is a batch whose magic byte is not 2.
	ErrUnsupportedMagic = errors.New("logstore: unsupported record batch magic")

	// ErrUnsupportedCompression is a compression codec id logstore does not
	// know (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCompression = errors.New("logstore: unsupported compression type")

	// ErrOutOfOrderSequence is an idempotent batch whose base sequence does
	// not follow the producer's last one (OUT_OF_ORDER_SEQUENCE_NUMBER).
	ErrOutOfOrderSequence = errors.New("logstore: out of order sequence number")

	// ErrInvalidProducerEpoch is a batch from an older epoch of a producer id
	// than the log has seen: a fenced, zombie producer (INVALID_PRODUCER_EPOCH).
	ErrInvalidProducerEpoch = errors.New("logstore: invalid producer epoch")

	// ErrOffsetOutOfRange is a read outside [log start offset, log end offset].
	// Returned wrapped in *OffsetOutOfRangeError.
	ErrOffsetOutOfRange = errors.New("logstore: offset out of range")

	// ErrStorage is a failed write, fsync, truncate or rename. It is sticky:
	// once a log has seen it the log refuses further appends, and the manager
	// takes the log directory offline (KAFKA_STORAGE_ERROR). An fsync is never
	// retried: after a failed fsync the page cache state is unknown.
	ErrStorage = errors.New("logstore: storage error")

	// ErrClosed is any operation on a closed log, segment or index.
	ErrClosed = errors.New("logstore: closed")

	// ErrIndexFull is returned by an index append when the preallocated file
	// has no room left; the log rolls a new segment when it sees it.
	ErrIndexFull = errors.New("logstore: index full")
)

// Corruptf returns an error that wraps ErrCorrupt with a description. The
// format may use %w to wrap a further cause.
func Corruptf(format string, args ...any) error {
	return &corruptionError{err: fmt.Errorf(format, args...)}
}

type corruptionError struct{ err error }

func (e *corruptionError) Error() string { return "logstore: corrupt data: " + e.err.Error() }
func (e *corruptionError) Unwrap() []error {
	if cause := errors.Unwrap(e.err); cause != nil {
		return []error{ErrCorrupt, cause}
	}
	return []error{ErrCorrupt}
}

// storageError wraps an I/O failure so that it matches both ErrStorage and the
// underlying error (for example syscall.ENOSPC).
type storageError struct {
	op  string
	err error
}

// storageErr wraps err as a storage error, unless it is nil or already one.
func storageErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrStorage) {
		return err
	}
	return &storageError{op: op, err: err}
}

func (e *storageError) Error() string {
	return "logstore: storage error: " + e.op + ": " + e.err.Error()
}
func (e *storageError) Unwrap() []error { return []error{ErrStorage, e.err} }

// OffsetOutOfRangeError reports a requested offset outside the log's range.
// It matches ErrOffsetOutOfRange.
type OffsetOutOfRangeError struct {
	Requested      int64
	LogStartOffset int64
	LogEndOffset   int64
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("logstore: offset %d out of range [%d, %d]", e.Requested, e.LogStartOffset, e.LogEndOffset)
}

func (e *OffsetOutOfRangeError) Unwrap() error { return ErrOffsetOutOfRange }
