package server

import (
	"errors"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// errorCode turns an error from the layers below into the Kafka error code a
// client acts on. It is the one place where Go errors become codes (in the
// spirit of Kafka's Errors.forException). A domain package may return a
// *kerr.Error when the outcome really is a protocol answer
// (NOT_LEADER_OR_FOLLOWER from a partition); anything not recognised becomes
// UNKNOWN_SERVER_ERROR and is logged at Error level with the whole error,
// since it means a bug or a failure nobody planned for.
func errorCode(log *logrus.Entry, err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, m := range errorCodes {
		if errors.Is(err, m.err) {
			return m.code.Code
		}
	}
	log.WithError(err).Error("unexpected error answered as UNKNOWN_SERVER_ERROR")
	return kerr.UnknownServerError.Code
}

// errorCodes is checked in order: the first sentinel the error matches wins.
var errorCodes = []struct {
	err  error
	code *kerr.Error
}{
	// Storage first: a failed disk matters more than what was being done.
	{logstore.ErrStorage, kerr.KafkaStorageError},
	{logstore.ErrRecordTooLarge, kerr.MessageTooLarge},
	{logstore.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{logstore.ErrUnsupportedCompression, kerr.UnsupportedCompressionType},
	{logstore.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{logstore.ErrInvalidRecord, kerr.InvalidRecord},
	{logstore.ErrCorrupt, kerr.CorruptMessage},
	{logstore.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{logstore.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{logstore.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	// A log closed under a request: the partition moved or the broker is
	// stopping. The client re-discovers the leader and retries.
	{logstore.ErrClosed, kerr.NotLeaderForPartition},
}
