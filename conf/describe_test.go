package conf

import (
	"reflect"
	"testing"
	"time"
)

func TestDescribeBroker(t *testing.T) {
	c := mustParse(t, map[string]string{
		"zookeeper.connect":   "zk:2181/kafka",
		"log.retention.hours": "24",
		"log.dir":             "/a",
		"log.dirs":            "/b",
		"num.io.threads":      " 16 ",
		"broker.rack":         "r1",
	})
	tests := []struct {
		key      string
		value    *string
		source   Source
		synonyms []Synonym
	}{
		{"zookeeper.connect", new("zk:2181/kafka"), SourceStaticBroker, []Synonym{
			{"zookeeper.connect", new("zk:2181/kafka"), SourceStaticBroker},
		}},
		{"num.io.threads", new("16"), SourceStaticBroker, []Synonym{
			{"num.io.threads", new("16"), SourceStaticBroker},
			{"num.io.threads", new("8"), SourceDefault},
		}},
		{"num.network.threads", new("3"), SourceDefault, []Synonym{
			{"num.network.threads", new("3"), SourceDefault},
		}},
		{"broker.rack", new("r1"), SourceStaticBroker, []Synonym{
			{"broker.rack", new("r1"), SourceStaticBroker},
		}},
		{"inter.broker.listener.name", nil, SourceDefault, nil},
		// The group's first key reports the value in effect.
		{"log.retention.ms", new("86400000"), SourceStaticBroker, []Synonym{
			{"log.retention.hours", new("24"), SourceStaticBroker},
			{"log.retention.hours", new("168"), SourceDefault},
		}},
		// The aliases report what the file or the default says.
		{"log.retention.hours", new("24"), SourceStaticBroker, []Synonym{
			{"log.retention.hours", new("24"), SourceStaticBroker},
			{"log.retention.hours", new("168"), SourceDefault},
		}},
		{"log.retention.minutes", nil, SourceDefault, nil},
		{"log.dirs", new("/b"), SourceStaticBroker, []Synonym{
			{"log.dirs", new("/b"), SourceStaticBroker},
			{"log.dir", new("/a"), SourceStaticBroker},
			{"log.dir", new("/tmp/kafka-logs"), SourceDefault},
		}},
		{"log.roll.ms", new("604800000"), SourceDefault, []Synonym{
			{"log.roll.hours", new("168"), SourceDefault},
		}},
		{"zookeeper.connection.timeout.ms", new("18000"), SourceDefault, []Synonym{
			{"zookeeper.session.timeout.ms", new("18000"), SourceDefault},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			e, ok := c.DescribeKey(tt.key)
			if !ok {
				t.Fatalf("no key %s", tt.key)
			}
			if !reflect.DeepEqual(e.Value, tt.value) || e.Source != tt.source || !e.ReadOnly || e.Sensitive {
				t.Errorf("%s = %v from %v (read-only %v, sensitive %v), want %v from %v",
					tt.key, deref(e.Value), e.Source, e.ReadOnly, e.Sensitive, deref(tt.value), tt.source)
			}
			if !reflect.DeepEqual(e.Synonyms, tt.synonyms) {
				t.Errorf("synonyms = %s, want %s", formatSynonyms(e.Synonyms), formatSynonyms(tt.synonyms))
			}
		})
	}
	all := c.Describe()
	if len(all) != len(Keys()) {
		t.Errorf("Describe() has %d entries, want %d", len(all), len(Keys()))
	}
	if _, ok := c.DescribeKey("no.such.key"); ok {
		t.Error("DescribeKey found a key that does not exist")
	}
}

// TestDescribeChangedInCode: for a Config that did not come from Parse, a
// field that differs from its default is reported as static.
func TestDescribeChangedInCode(t *testing.T) {
	c := Default()
	c.LogRetention = 2 * time.Hour
	c.NumIOThreads = 4
	tests := []struct {
		key    string
		value  string
		source Source
	}{
		{"log.retention.ms", "7200000", SourceStaticBroker},
		{"num.io.threads", "4", SourceStaticBroker},
		{"num.network.threads", "3", SourceDefault},
	}
	for _, tt := range tests {
		e, _ := c.DescribeKey(tt.key)
		if e.Value == nil || *e.Value != tt.value || e.Source != tt.source {
			t.Errorf("%s = %v from %v, want %s from %v", tt.key, deref(e.Value), e.Source, tt.value, tt.source)
		}
	}
	topic, _ := c.TopicDefaults().DescribeKey("retention.ms")
	if *topic.Value != "7200000" || topic.Source != SourceStaticBroker {
		t.Errorf("topic retention.ms = %s from %v, want 7200000 from STATIC_BROKER_CONFIG", *topic.Value, topic.Source)
	}
}

func TestSourceString(t *testing.T) {
	tests := []struct {
		s    Source
		want string
	}{
		{SourceDynamicTopic, "DYNAMIC_TOPIC_CONFIG"},
		{SourceStaticBroker, "STATIC_BROKER_CONFIG"},
		{SourceDefault, "DEFAULT_CONFIG"},
		{Source(42), "UNKNOWN"},
		{Source(-1), "UNKNOWN"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("Source(%d).String() = %s, want %s", tt.s, got, tt.want)
		}
	}
	if TypeLong.String() != "LONG" || Type(0).String() != "UNKNOWN" {
		t.Errorf("Type names: %s, %s", TypeLong, Type(0))
	}
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
