package server

import (
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/logstore"
)

func TestLogConfigFor(t *testing.T) {
	broker := conf.Default()
	def := logConfigFor(broker.TopicDefaults(), broker)
	want := logstore.DefaultLogConfig()
	if def.SegmentBytes != want.SegmentBytes || def.MaxIndexSize != want.MaxIndexSize || def.IndexIntervalBytes != want.IndexIntervalBytes ||
		def.MaxMessageBytes != want.MaxMessageBytes || def.RetentionMs != want.RetentionMs || def.RetentionBytes != want.RetentionBytes ||
		def.SegmentMs != want.SegmentMs || !def.Delete || def.Compact || def.TimestampType != logstore.CreateTime {
		t.Fatalf("Kafka's defaults through conf differ from logstore's:\n got %+v\nwant %+v", def, want)
	}
	if def.MinCleanableRatio != want.MinCleanableRatio || def.DeleteRetention != want.DeleteRetention ||
		def.MinCompactionLag != want.MinCompactionLag || def.MaxCompactionLag != want.MaxCompactionLag {
		t.Fatalf("Kafka's cleaner defaults through conf differ from logstore's:\n got %+v\nwant %+v", def, want)
	}
	tc, err := broker.TopicDefaults().WithOverrides(map[string]string{
		"cleanup.policy": "compact", "message.timestamp.type": "LogAppendTime", "retention.ms": "-1", "segment.bytes": "1048576",
		"min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": "1000", "min.compaction.lag.ms": "2000", "max.compaction.lag.ms": "3000",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := logConfigFor(tc, broker)
	if !got.Compact || got.Delete || got.TimestampType != logstore.LogAppendTime || got.RetentionMs >= 0 || got.SegmentBytes != 1<<20 {
		t.Fatalf("overrides not applied: %+v", got)
	}
	if got.MinCleanableRatio != 0.1 || got.DeleteRetention != time.Second || got.MinCompactionLag != 2*time.Second || got.MaxCompactionLag != 3*time.Second {
		t.Fatalf("cleaner overrides not applied: %+v", got)
	}
	if got.ProducerIDExpiration != 7*24*time.Hour {
		t.Fatalf("producer id expiration %v, want transactional.id.expiration.ms", got.ProducerIDExpiration)
	}
}
