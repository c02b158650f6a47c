package server

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

func discardLogger() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want *kerr.Error
	}{
		{"corrupt batch", logstore.Corruptf("bad crc"), kerr.CorruptMessage},
		{"too large", fmt.Errorf("append: %w", logstore.ErrRecordTooLarge), kerr.MessageTooLarge},
		{"invalid record", logstore.ErrInvalidRecord, kerr.InvalidRecord},
		{"timestamp", logstore.ErrInvalidTimestamp, kerr.InvalidTimestamp},
		{"sequence", logstore.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
		{"fenced", logstore.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
		{"out of range", &logstore.OffsetOutOfRangeError{Requested: 9}, kerr.OffsetOutOfRange},
		{"storage beats corruption", errors.Join(logstore.ErrStorage, logstore.ErrCorrupt), kerr.KafkaStorageError},
		{"protocol answer from a domain package", fmt.Errorf("partition: %w", kerr.NotLeaderForPartition), kerr.NotLeaderForPartition},
		{"closed log", logstore.ErrClosed, kerr.NotLeaderForPartition},
		{"anything else", errors.New("surprise"), kerr.UnknownServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorCode(discardLogger(), tt.err); got != tt.want.Code {
				t.Fatalf("code %d (%v), want %d (%s)", got, kerr.ErrorForCode(got), tt.want.Code, tt.want.Message)
			}
		})
	}
	if errorCode(discardLogger(), nil) != 0 {
		t.Fatal("nil must be no error")
	}
}
