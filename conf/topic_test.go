package conf

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestTopicDefaultsFromBroker: each topic key takes its broker key's value in
// effect, synonyms resolved (Kafka's LogConfig.extractLogConfigMap).
func TestTopicDefaultsFromBroker(t *testing.T) {
	c := mustParse(t, map[string]string{
		"log.segment.bytes":                       "1000",
		"log.roll.hours":                          "2",
		"log.roll.jitter.ms":                      "3",
		"log.index.size.max.bytes":                "400",
		"log.flush.interval.messages":             "5",
		"log.flush.scheduler.interval.ms":         "6",
		"log.retention.bytes":                     "7",
		"log.retention.minutes":                   "8",
		"message.max.bytes":                       "9",
		"log.index.interval.bytes":                "10",
		"log.cleaner.delete.retention.ms":         "11",
		"log.cleaner.min.compaction.lag.ms":       "12",
		"log.cleaner.max.compaction.lag.ms":       "13",
		"log.segment.delete.delay.ms":             "14",
		"log.cleaner.min.cleanable.ratio":         "0.25",
		"log.cleanup.policy":                      "compact,delete",
		"unclean.leader.election.enable":          "true",
		"min.insync.replicas":                     "2",
		"compression.type":                        "zstd",
		"log.preallocate":                         "true",
		"log.message.format.version":              "2.7",
		"log.message.timestamp.type":              "LogAppendTime",
		"log.message.timestamp.difference.max.ms": "15",
		"log.message.downconversion.enable":       "false",
	})
	got := c.TopicDefaults()
	got.broker, got.overrides = nil, nil
	want := TopicConfig{
		SegmentBytes:                         1000,
		SegmentRoll:                          2 * time.Hour,
		SegmentJitter:                        3 * time.Millisecond,
		SegmentIndexBytes:                    400,
		FlushMessages:                        5,
		FlushInterval:                        6 * time.Millisecond,
		RetentionBytes:                       7,
		Retention:                            8 * time.Minute,
		MaxMessageBytes:                      9,
		IndexIntervalBytes:                   10,
		DeleteRetention:                      11 * time.Millisecond,
		MinCompactionLag:                     12 * time.Millisecond,
		MaxCompactionLag:                     13 * time.Millisecond,
		FileDeleteDelay:                      14 * time.Millisecond,
		MinCleanableDirtyRatio:               0.25,
		CleanupPolicy:                        []string{"compact", "delete"},
		UncleanLeaderElectionEnable:          true,
		MinInsyncReplicas:                    2,
		CompressionType:                      "zstd",
		Preallocate:                          true,
		MessageFormatVersion:                 "2.7",
		MessageTimestampType:                 "LogAppendTime",
		MessageTimestampDifferenceMax:        15 * time.Millisecond,
		MessageDownConversionEnable:          false,
		LeaderReplicationThrottledReplicas:   []string{},
		FollowerReplicationThrottledReplicas: []string{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TopicDefaults() =\n%+v\nwant\n%+v", got, want)
	}
	if !got.Compact() || !got.Delete() {
		t.Errorf("Compact() = %v, Delete() = %v; want both", got.Compact(), got.Delete())
	}
	got.CleanupPolicy[0] = "changed"
	if c.LogCleanupPolicy[0] != "compact" {
		t.Error("TopicConfig shares its cleanup policy slice with the broker Config")
	}
}

func TestTopicUnlimitedRetention(t *testing.T) {
	topic := mustParse(t, map[string]string{"log.retention.hours": "-1"}).TopicDefaults()
	if topic.Retention != Unlimited {
		t.Errorf("Retention = %v, want Unlimited", topic.Retention)
	}
	if e, _ := topic.DescribeKey("retention.ms"); *e.Value != "-1" {
		t.Errorf("retention.ms = %s, want -1", *e.Value)
	}
}

func TestWithOverrides(t *testing.T) {
	defaults := mustParse(t, nil).TopicDefaults()
	tests := []struct {
		name      string
		overrides map[string]string
		check     func(TopicConfig) any
		want      any
	}{
		{"none", nil, func(tc TopicConfig) any { return tc.Retention }, 168 * time.Hour},
		{"retention", map[string]string{"retention.ms": "1000"}, func(tc TopicConfig) any { return tc.Retention }, time.Second},
		{"unlimited retention", map[string]string{"retention.ms": "-1"}, func(tc TopicConfig) any { return tc.Retention }, Unlimited},
		{"compacted", map[string]string{"cleanup.policy": "compact"}, func(tc TopicConfig) any { return []bool{tc.Compact(), tc.Delete()} },
			[]bool{true, false}},
		{"trimmed", map[string]string{"segment.bytes": " 1024 "}, func(tc TopicConfig) any { return tc.SegmentBytes }, int64(1024)},
		{"throttled wildcard", map[string]string{"leader.replication.throttled.replicas": "*"},
			func(tc TopicConfig) any { return tc.LeaderReplicationThrottledReplicas }, []string{"*"}},
		{"throttled list", map[string]string{"follower.replication.throttled.replicas": "0:101, 1:102"},
			func(tc TopicConfig) any { return tc.FollowerReplicationThrottledReplicas }, []string{"0:101", "1:102"}},
		{"ratio", map[string]string{"min.cleanable.dirty.ratio": "0.01"}, func(tc TopicConfig) any { return tc.MinCleanableDirtyRatio }, 0.01},
		{"overrides recorded", map[string]string{"segment.ms": " 5 ", "preallocate": "true"},
			func(tc TopicConfig) any { return tc.Overrides() }, map[string]string{"segment.ms": "5", "preallocate": "true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := defaults.WithOverrides(tt.overrides)
			if err != nil {
				t.Fatalf("WithOverrides(%v): %v", tt.overrides, err)
			}
			if v := tt.check(got); !reflect.DeepEqual(v, tt.want) {
				t.Errorf("got %v, want %v", v, tt.want)
			}
		})
	}
	if len(defaults.Overrides()) != 0 || defaults.Retention != 168*time.Hour {
		t.Error("WithOverrides changed the TopicConfig it was called on")
	}
}

func TestWithOverridesOnTopOfOverrides(t *testing.T) {
	first, err := mustParse(t, nil).TopicDefaults().WithOverrides(map[string]string{"retention.ms": "1", "segment.ms": "2"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := first.WithOverrides(map[string]string{"segment.ms": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Retention != time.Millisecond || second.SegmentRoll != 3*time.Millisecond {
		t.Errorf("retention %v, segment roll %v; want 1ms, 3ms", second.Retention, second.SegmentRoll)
	}
	if want := map[string]string{"retention.ms": "1", "segment.ms": "3"}; !reflect.DeepEqual(second.Overrides(), want) {
		t.Errorf("Overrides() = %v, want %v", second.Overrides(), want)
	}
	if first.SegmentRoll != 2*time.Millisecond || first.Overrides()["segment.ms"] != "2" {
		t.Error("the second WithOverrides changed the first result")
	}
}

func TestWithOverridesErrors(t *testing.T) {
	defaults := mustParse(t, nil).TopicDefaults()
	tests := []struct {
		name      string
		overrides map[string]string
		want      string
	}{
		{"unknown key", map[string]string{"retention.hours": "1"}, "retention.hours=1: unknown topic config"},
		{"broker key is not a topic key", map[string]string{"log.retention.ms": "1"}, "log.retention.ms=1: unknown topic config"},
		{"not a long", map[string]string{"retention.ms": "forever"}, "retention.ms=forever: not a valid long"},
		{"not an int", map[string]string{"segment.bytes": "1GB"}, "segment.bytes=1GB: not a valid int"},
		{"not a boolean", map[string]string{"preallocate": "1"}, "preallocate=1: not a valid boolean"},
		{"not a double", map[string]string{"min.cleanable.dirty.ratio": "x"}, "min.cleanable.dirty.ratio=x: not a valid double"},
		{"retention below -1", map[string]string{"retention.ms": "-2"}, "retention.ms=-2: must be at least -1"},
		{"segment too small", map[string]string{"segment.bytes": "13"}, "segment.bytes=13: must be at least 14"},
		{"segment.ms zero", map[string]string{"segment.ms": "0"}, "segment.ms=0: must be at least 1"},
		{"max compaction lag zero", map[string]string{"max.compaction.lag.ms": "0"}, "max.compaction.lag.ms=0: must be at least 1"},
		{"ratio above one", map[string]string{"min.cleanable.dirty.ratio": "1.1"}, "min.cleanable.dirty.ratio=1.1: must be between 0 and 1"},
		{"cleanup policy", map[string]string{"cleanup.policy": "compact,forever"},
			"cleanup.policy=compact,forever: every item must be one of [compact delete]"},
		{"compression", map[string]string{"compression.type": "brotli"},
			"compression.type=brotli: must be one of [uncompressed zstd lz4 snappy gzip producer]"},
		{"timestamp type", map[string]string{"message.timestamp.type": "createtime"},
			"message.timestamp.type=createtime: must be one of [CreateTime LogAppendTime]"},
		{"format version", map[string]string{"message.format.version": "9.9"},
			"message.format.version=9.9: not a valid Kafka version (such as 2.8 or 2.8-IV1)"},
		{"min.insync.replicas", map[string]string{"min.insync.replicas": "0"}, "min.insync.replicas=0: must be at least 1"},
		{"throttled replicas", map[string]string{"leader.replication.throttled.replicas": "0-101"},
			"leader.replication.throttled.replicas=0-101: must be * or a list of partition:broker pairs such as 0:101,1:102"},
		{"wildcard in a list", map[string]string{"leader.replication.throttled.replicas": "*,0:1"},
			"leader.replication.throttled.replicas=*,0:1: must be * or a list of partition:broker pairs such as 0:101,1:102"},
		{"compaction lags crossed", map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
			"min.compaction.lag.ms=10: must not exceed max.compaction.lag.ms (5)"},
		{"compaction lag over the broker default", map[string]string{"max.compaction.lag.ms": "5", "min.compaction.lag.ms": "5"}, ""},
		{"every problem at once", map[string]string{"retention.ms": "x", "segment.bytes": "1", "nope": "1"},
			"nope=1: unknown topic config\nretention.ms=x: not a valid long\nsegment.bytes=1: must be at least 14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := defaults.WithOverrides(tt.overrides)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("WithOverrides(%v): %v", tt.overrides, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("WithOverrides(%v) error =\n%v\nwant\n%s", tt.overrides, err, tt.want)
			}
			if !reflect.DeepEqual(got, TopicConfig{}) {
				t.Error("WithOverrides returned a TopicConfig along with the error")
			}
		})
	}
}

func TestTopicDescribe(t *testing.T) {
	c := mustParse(t, map[string]string{"log.retention.hours": "24", "log.segment.bytes": "2048"})
	topic, err := c.TopicDefaults().WithOverrides(map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key      string
		value    string
		source   Source
		synonyms []Synonym
	}{
		{"retention.ms", "1000", SourceDynamicTopic, []Synonym{
			{"retention.ms", new("1000"), SourceDynamicTopic},
			{"log.retention.hours", new("24"), SourceStaticBroker},
			{"log.retention.hours", new("168"), SourceDefault},
		}},
		{"segment.bytes", "2048", SourceStaticBroker, []Synonym{
			{"log.segment.bytes", new("2048"), SourceStaticBroker},
			{"log.segment.bytes", new("1073741824"), SourceDefault},
		}},
		{"segment.ms", "604800000", SourceDefault, []Synonym{
			{"log.roll.hours", new("168"), SourceDefault},
		}},
		{"flush.ms", "9223372036854775807", SourceDefault, []Synonym{
			{"log.flush.scheduler.interval.ms", new("9223372036854775807"), SourceDefault},
		}},
		{"cleanup.policy", "compact", SourceDynamicTopic, []Synonym{
			{"cleanup.policy", new("compact"), SourceDynamicTopic},
			{"log.cleanup.policy", new("delete"), SourceDefault},
		}},
		{"min.cleanable.dirty.ratio", "0.5", SourceDefault, []Synonym{
			{"log.cleaner.min.cleanable.ratio", new("0.5"), SourceDefault},
		}},
		{"leader.replication.throttled.replicas", "", SourceDefault, nil},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			e, ok := topic.DescribeKey(tt.key)
			if !ok {
				t.Fatalf("no key %s", tt.key)
			}
			if e.Value == nil || *e.Value != tt.value || e.Source != tt.source || e.ReadOnly {
				t.Errorf("%s = %v from %v (read-only %v), want %q from %v", tt.key, e.Value, e.Source, e.ReadOnly, tt.value, tt.source)
			}
			if !reflect.DeepEqual(e.Synonyms, tt.synonyms) {
				t.Errorf("synonyms = %s, want %s", formatSynonyms(e.Synonyms), formatSynonyms(tt.synonyms))
			}
		})
	}
	all := topic.Describe()
	if len(all) != len(TopicKeys()) {
		t.Errorf("Describe() has %d entries, want %d", len(all), len(TopicKeys()))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].Name >= all[i].Name {
			t.Errorf("Describe() not sorted: %s before %s", all[i-1].Name, all[i].Name)
		}
	}
	if _, ok := topic.DescribeKey("no.such.key"); ok {
		t.Error("DescribeKey found a key that does not exist")
	}
}

func formatSynonyms(s []Synonym) string {
	var parts []string
	for _, syn := range s {
		v := "null"
		if syn.Value != nil {
			v = *syn.Value
		}
		parts = append(parts, syn.Source.String()+":"+syn.Name+"="+v)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
