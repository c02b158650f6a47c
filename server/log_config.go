package server

import (
	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/logstore"
)

// logConfigFor turns a topic's configuration (broker defaults with the
// topic's overrides) into the config its partitions' logs run with.
func logConfigFor(tc conf.TopicConfig, broker *conf.Config) logstore.LogConfig {
	timestampType := logstore.CreateTime
	if tc.MessageTimestampType == "LogAppendTime" {
		timestampType = logstore.LogAppendTime
	}
	return logstore.LogConfig{
		SegmentBytes:           tc.SegmentBytes,
		SegmentMs:              tc.SegmentRoll,
		SegmentJitter:          tc.SegmentJitter,
		RetentionMs:            tc.Retention, // conf.Unlimited is negative: keep forever
		RetentionBytes:         tc.RetentionBytes,
		IndexIntervalBytes:     int(tc.IndexIntervalBytes),
		MaxIndexSize:           int(tc.SegmentIndexBytes),
		FlushMessages:          tc.FlushMessages,
		FlushMs:                tc.FlushInterval,
		MaxMessageBytes:        int(tc.MaxMessageBytes),
		TimestampType:          timestampType,
		MaxTimestampDifference: tc.MessageTimestampDifferenceMax,
		FileDeleteDelay:        tc.FileDeleteDelay,
		Compact:                tc.Compact(),
		Delete:                 tc.Delete(),
		MinCleanableRatio:      tc.MinCleanableDirtyRatio,
		DeleteRetention:        tc.DeleteRetention,
		MinCompactionLag:       tc.MinCompactionLag,
		MaxCompactionLag:       tc.MaxCompactionLag,
		MinInSyncReplicas:      tc.MinInsyncReplicas,
		ProducerIDExpiration:   broker.TransactionalIDExpiration,
	}
}
