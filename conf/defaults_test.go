package conf

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// kafka28Defaults is Kafka 2.8's default of every broker key, as
// DescribeConfigs reports it, checked against KafkaConfig.scala's Defaults
// and ConfigDef of the 2.8 branch. "" with null set means Kafka's null. Keys
// whose Kafka default is null but which take a synonym's value show that
// value (see describe.go).
var kafka28Defaults = []struct {
	key   string
	value string
	null  bool
}{
	{key: "zookeeper.connect", null: true},
	{key: "zookeeper.session.timeout.ms", value: "18000"},
	{key: "zookeeper.connection.timeout.ms", value: "18000"},
	{key: "zookeeper.max.in.flight.requests", value: "10"},
	{key: "zookeeper.set.acl", value: "false"},
	{key: "zookeeper.sync.time.ms", value: "2000"},
	{key: "broker.id", value: "-1"},
	{key: "broker.id.generation.enable", value: "true"},
	{key: "reserved.broker.max.id", value: "1000"},
	{key: "broker.rack", null: true},
	{key: "listener.security.protocol.map", value: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"},
	{key: "listeners", value: "PLAINTEXT://:9092"},
	{key: "advertised.listeners", value: "PLAINTEXT://:9092"},
	{key: "inter.broker.listener.name", null: true},
	{key: "security.inter.broker.protocol", value: "PLAINTEXT"},
	{key: "num.network.threads", value: "3"},
	{key: "num.io.threads", value: "8"},
	{key: "background.threads", value: "10"},
	{key: "queued.max.requests", value: "500"},
	{key: "queued.max.request.bytes", value: "-1"},
	{key: "socket.send.buffer.bytes", value: "102400"},
	{key: "socket.receive.buffer.bytes", value: "102400"},
	{key: "socket.request.max.bytes", value: "104857600"},
	{key: "max.connections", value: "2147483647"},
	{key: "max.connections.per.ip", value: "2147483647"},
	{key: "max.connections.per.ip.overrides", value: ""},
	{key: "max.connection.creation.rate", value: "2147483647"},
	{key: "connections.max.idle.ms", value: "600000"},
	{key: "request.timeout.ms", value: "30000"},
	{key: "socket.connection.setup.timeout.ms", value: "10000"},
	{key: "socket.connection.setup.timeout.max.ms", value: "30000"},
	{key: "num.partitions", value: "1"},
	{key: "default.replication.factor", value: "1"},
	{key: "min.insync.replicas", value: "1"},
	{key: "auto.create.topics.enable", value: "true"},
	{key: "delete.topic.enable", value: "true"},
	{key: "unclean.leader.election.enable", value: "false"},
	{key: "compression.type", value: "producer"},
	{key: "message.max.bytes", value: "1048588"},
	{key: "inter.broker.protocol.version", value: "2.8-IV1"},
	{key: "num.replica.fetchers", value: "1"},
	{key: "replica.fetch.max.bytes", value: "1048576"},
	{key: "replica.fetch.min.bytes", value: "1"},
	{key: "replica.fetch.response.max.bytes", value: "10485760"},
	{key: "replica.fetch.wait.max.ms", value: "500"},
	{key: "replica.fetch.backoff.ms", value: "1000"},
	{key: "replica.lag.time.max.ms", value: "30000"},
	{key: "replica.socket.timeout.ms", value: "30000"},
	{key: "replica.socket.receive.buffer.bytes", value: "65536"},
	{key: "replica.high.watermark.checkpoint.interval.ms", value: "5000"},
	{key: "fetch.purgatory.purge.interval.requests", value: "1000"},
	{key: "producer.purgatory.purge.interval.requests", value: "1000"},
	{key: "delete.records.purgatory.purge.interval.requests", value: "1"},
	{key: "fetch.max.bytes", value: "57671680"},
	{key: "max.incremental.fetch.session.cache.slots", value: "1000"},
	{key: "controller.socket.timeout.ms", value: "30000"},
	{key: "auto.leader.rebalance.enable", value: "true"},
	{key: "leader.imbalance.per.broker.percentage", value: "10"},
	{key: "leader.imbalance.check.interval.seconds", value: "300"},
	{key: "controlled.shutdown.enable", value: "true"},
	{key: "controlled.shutdown.max.retries", value: "3"},
	{key: "controlled.shutdown.retry.backoff.ms", value: "5000"},
	{key: "group.min.session.timeout.ms", value: "6000"},
	{key: "group.max.session.timeout.ms", value: "1800000"},
	{key: "group.initial.rebalance.delay.ms", value: "3000"},
	{key: "group.max.size", value: "2147483647"},
	{key: "offset.metadata.max.bytes", value: "4096"},
	{key: "offsets.load.buffer.size", value: "5242880"},
	{key: "offsets.topic.num.partitions", value: "50"},
	{key: "offsets.topic.replication.factor", value: "3"},
	{key: "offsets.topic.segment.bytes", value: "104857600"},
	{key: "offsets.topic.compression.codec", value: "0"},
	{key: "offsets.retention.minutes", value: "10080"},
	{key: "offsets.retention.check.interval.ms", value: "600000"},
	{key: "offsets.commit.timeout.ms", value: "5000"},
	{key: "offsets.commit.required.acks", value: "-1"},
	{key: "transactional.id.expiration.ms", value: "604800000"},
	{key: "transaction.max.timeout.ms", value: "900000"},
	{key: "transaction.state.log.num.partitions", value: "50"},
	{key: "transaction.state.log.replication.factor", value: "3"},
	{key: "transaction.state.log.min.isr", value: "2"},
	{key: "transaction.state.log.segment.bytes", value: "104857600"},
	{key: "transaction.state.log.load.buffer.size", value: "5242880"},
	{key: "transaction.abort.timed.out.transaction.cleanup.interval.ms", value: "10000"},
	{key: "transaction.remove.expired.transaction.cleanup.interval.ms", value: "3600000"},
	{key: "log.dir", value: "/tmp/kafka-logs"},
	{key: "log.dirs", value: "/tmp/kafka-logs"},
	{key: "log.segment.bytes", value: "1073741824"},
	{key: "log.roll.hours", value: "168"},
	{key: "log.roll.ms", value: "604800000"},
	{key: "log.roll.jitter.hours", value: "0"},
	{key: "log.roll.jitter.ms", value: "0"},
	{key: "log.retention.hours", value: "168"},
	{key: "log.retention.minutes", null: true},
	{key: "log.retention.ms", value: "604800000"},
	{key: "log.retention.bytes", value: "-1"},
	{key: "log.retention.check.interval.ms", value: "300000"},
	{key: "log.index.interval.bytes", value: "4096"},
	{key: "log.index.size.max.bytes", value: "10485760"},
	{key: "log.flush.interval.messages", value: "9223372036854775807"},
	{key: "log.flush.scheduler.interval.ms", value: "9223372036854775807"},
	{key: "log.flush.interval.ms", value: "9223372036854775807"},
	{key: "log.flush.offset.checkpoint.interval.ms", value: "60000"},
	{key: "log.flush.start.offset.checkpoint.interval.ms", value: "60000"},
	{key: "log.segment.delete.delay.ms", value: "60000"},
	{key: "log.preallocate", value: "false"},
	{key: "log.message.format.version", value: "2.8-IV1"},
	{key: "log.message.timestamp.type", value: "CreateTime"},
	{key: "log.message.timestamp.difference.max.ms", value: "9223372036854775807"},
	{key: "log.message.downconversion.enable", value: "true"},
	{key: "num.recovery.threads.per.data.dir", value: "1"},
	{key: "log.cleanup.policy", value: "delete"},
	{key: "log.cleaner.enable", value: "true"},
	{key: "log.cleaner.threads", value: "1"},
	{key: "log.cleaner.dedupe.buffer.size", value: "134217728"},
	{key: "log.cleaner.io.buffer.size", value: "524288"},
	{key: "log.cleaner.io.buffer.load.factor", value: "0.9"},
	{key: "log.cleaner.io.max.bytes.per.second", value: "1.7976931348623157E308"},
	{key: "log.cleaner.min.cleanable.ratio", value: "0.5"},
	{key: "log.cleaner.backoff.ms", value: "15000"},
	{key: "log.cleaner.delete.retention.ms", value: "86400000"},
	{key: "log.cleaner.min.compaction.lag.ms", value: "0"},
	{key: "log.cleaner.max.compaction.lag.ms", value: "9223372036854775807"},
}

func TestDefaultsMatchKafka28(t *testing.T) {
	c := Default()
	seen := make(map[string]bool)
	for _, tt := range kafka28Defaults {
		t.Run(tt.key, func(t *testing.T) {
			seen[tt.key] = true
			e, ok := c.DescribeKey(tt.key)
			if !ok {
				t.Fatalf("no key %s", tt.key)
			}
			if e.Source != SourceDefault {
				t.Errorf("source = %v, want DEFAULT_CONFIG", e.Source)
			}
			switch {
			case tt.null && e.Value != nil:
				t.Errorf("value = %q, want null", *e.Value)
			case !tt.null && e.Value == nil:
				t.Errorf("value = null, want %q", tt.value)
			case !tt.null && *e.Value != tt.value:
				t.Errorf("value = %q, want %q", *e.Value, tt.value)
			}
		})
	}
	for _, k := range Keys() {
		if strings.HasPrefix(k.Name, GregorKeyPrefix) {
			continue // Gregor's own keys: keys_gregor_test.go
		}
		if !seen[k.Name] {
			t.Errorf("key %s has no expected Kafka 2.8 default in kafka28Defaults", k.Name)
		}
	}
}

// TestDefaultFields checks the typed fields that need a conversion: units,
// synonyms and Kafka's "never".
func TestDefaultFields(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"LogRetention from log.retention.hours", c.LogRetention, 168 * time.Hour},
		{"LogRoll from log.roll.hours", c.LogRoll, 168 * time.Hour},
		{"LogRollJitter", c.LogRollJitter, time.Duration(0)},
		{"LogDirs from log.dir", c.LogDirs, []string{"/tmp/kafka-logs"}},
		{"LogFlushInterval is never", c.LogFlushInterval, Forever},
		{"LogFlushSchedulerInterval is never", c.LogFlushSchedulerInterval, Forever},
		{"LogCleanerMaxCompactionLag is never", c.LogCleanerMaxCompactionLag, Forever},
		{"ZooKeeperConnectionTimeout from the session timeout", c.ZooKeeperConnectionTimeout, 18 * time.Second},
		{"OffsetsRetention in minutes", c.OffsetsRetention, 7 * 24 * time.Hour},
		{"LeaderImbalanceCheckInterval in seconds", c.LeaderImbalanceCheckInterval, 5 * time.Minute},
		{"ReplicaLagTimeMax", c.ReplicaLagTimeMax, 30 * time.Second},
		{"SegmentBytes", c.LogSegmentBytes, int64(1 << 30)},
		{"MessageMaxBytes", c.MessageMaxBytes, int64(1<<20 + 12)},
		{"LogCleanerIOMaxBytesPerSecond", c.LogCleanerIOMaxBytesPerSecond, 1.7976931348623157e308},
		{"Listeners", c.Listeners, []Listener{{Name: "PLAINTEXT", SecurityProtocol: Plaintext, Port: 9092}}},
		{"AdvertisedListeners unset", c.AdvertisedListeners, []Listener(nil)},
		{"Advertised falls back to Listeners", c.Advertised(), c.Listeners},
		{"SecurityInterBrokerProtocol", c.SecurityInterBrokerProtocol, Plaintext},
		{"ZooKeeper unset", c.ZooKeeper, ZooKeeper{}},
		{"no input recorded", c.input, (*input)(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
	if l, ok := c.InterBrokerListener(); !ok || l.Name != "PLAINTEXT" {
		t.Errorf("InterBrokerListener() = %v, %v; want the PLAINTEXT listener", l, ok)
	}
}

// TestDefaultsValidOnceZooKeeperIsSet: Kafka's defaults are a valid
// configuration apart from the required zookeeper.connect.
func TestDefaultsValidOnceZooKeeperIsSet(t *testing.T) {
	c := Default()
	err := c.Validate()
	if err == nil || err.Error() != "zookeeper.connect=: must be set (it has no default)" {
		t.Fatalf("Default().Validate() = %v, want only the missing zookeeper.connect", err)
	}
	c.ZooKeeper = ZooKeeper{Servers: []string{"localhost:2181"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if err := c.TopicDefaults().Validate(); err != nil {
		t.Fatalf("TopicDefaults().Validate() = %v", err)
	}
}

// TestTableInvariants checks the key tables against mistakes the compiler
// cannot see: a unit on a non-duration field, a synonym that does not exist,
// a default that does not parse or breaks its own rule, a topic key whose
// broker key has another type.
func TestTableInvariants(t *testing.T) {
	aliasUsers := make(map[string]int)
	for i := range brokerKeys.defs {
		d := &brokerKeys.defs[i]
		t.Run(d.name, func(t *testing.T) {
			if d.doc == "" {
				t.Error("no doc")
			}
			if !d.noDefault {
				v, err := parseValue(d.typ, d.dflt)
				if err != nil {
					t.Fatalf("default %q: %v", d.dflt, err)
				}
				if rule := d.rule.apply(v); rule != "" {
					t.Errorf("default %q breaks its own rule: %s", d.dflt, rule)
				}
			}
			for _, s := range d.synonyms {
				syn := brokerKeys.byName[s]
				if syn == nil {
					t.Fatalf("synonym %s does not exist", s)
				}
				if (syn.unit == 0) != (d.unit == 0) {
					t.Errorf("synonym %s has unit %v, key has %v", s, syn.unit, d.unit)
				}
				if syn.alias() {
					aliasUsers[s]++
				}
			}
			if d.alias() {
				return
			}
			_, isDuration := d.bind.load(Default()).(time.Duration)
			if isDuration != (d.unit != 0) {
				t.Errorf("field is a duration: %v, but unit is %v", isDuration, d.unit)
			}
		})
	}
	for i := range brokerKeys.defs {
		if d := &brokerKeys.defs[i]; d.alias() && aliasUsers[d.name] != 1 {
			t.Errorf("alias %s is a synonym of %d keys, want 1", d.name, aliasUsers[d.name])
		}
	}
	for i := range topicKeys.defs {
		d := &topicKeys.defs[i]
		t.Run("topic/"+d.name, func(t *testing.T) {
			if _, err := parseValue(d.typ, d.dflt); err != nil {
				t.Fatalf("default %q: %v", d.dflt, err)
			}
			if d.server == "" {
				return
			}
			b := brokerKeys.byName[d.server]
			if b == nil || b.alias() {
				t.Fatalf("broker key %s does not exist or has no field", d.server)
			}
			if (b.typ == TypeList) != (d.typ == TypeList) || b.unit != d.unit {
				t.Errorf("broker key %s is %v in %v, topic key is %v in %v", d.server, b.typ, b.unit, d.typ, d.unit)
			}
		})
	}
}

// TestTopicDefaultsMatchKafka28: the broker's defaults, mapped to the topic
// keys, give Kafka 2.8's LogConfig defaults (the dflt column of the topic
// table).
func TestTopicDefaultsMatchKafka28(t *testing.T) {
	for _, e := range Default().TopicDefaults().Describe() {
		d := topicKeys.byName[e.Name]
		if e.Value == nil || *e.Value != d.dflt {
			t.Errorf("%s = %v, want %q", e.Name, e.Value, d.dflt)
		}
	}
}

// TestEachFieldHasOneKey stores a changed value through each key's binding and
// checks that exactly one field changes, and that every field of Config and
// TopicConfig is some key's.
func TestEachFieldHasOneKey(t *testing.T) {
	samples := map[string]string{ // values custom bindings can decode
		"zookeeper.connect":                "zk:2181/x",
		"listener.security.protocol.map":   "PLAINTEXT:PLAINTEXT,X:SSL",
		"listeners":                        "PLAINTEXT://:1",
		"advertised.listeners":             "PLAINTEXT://h:1",
		"max.connections.per.ip.overrides": "h:1",
		"log.dirs":                         "/x",
	}
	owners := checkOneFieldPerKey(t, brokerKeys, Default(), samples)
	checkEveryFieldOwned(t, reflect.TypeFor[Config](), owners)
	topic := Default().TopicDefaults()
	owners = checkOneFieldPerKey(t, topicKeys, &topic, nil)
	checkEveryFieldOwned(t, reflect.TypeFor[TopicConfig](), owners)
}

func checkOneFieldPerKey[S any](t *testing.T, tbl *table[S], base *S, samples map[string]string) map[string]string {
	t.Helper()
	owners := make(map[string]string) // field → key
	for i := range tbl.defs {
		d := &tbl.defs[i]
		if d.alias() {
			continue
		}
		changed := *base
		var v any
		if s, ok := samples[d.name]; ok {
			v = s
		} else {
			v = differentValue(d.current(base))
		}
		if err := d.bind.store(&changed, d.toField(v)); err != nil {
			t.Errorf("%s: store %v: %v", d.name, v, err)
			continue
		}
		var fields []string
		bv, cv := reflect.ValueOf(base).Elem(), reflect.ValueOf(&changed).Elem()
		for f := 0; f < bv.NumField(); f++ {
			if bv.Type().Field(f).IsExported() && !reflect.DeepEqual(bv.Field(f).Interface(), cv.Field(f).Interface()) {
				fields = append(fields, bv.Type().Field(f).Name)
			}
		}
		if len(fields) != 1 {
			t.Errorf("%s changes fields %v, want exactly one", d.name, fields)
			continue
		}
		if other, dup := owners[fields[0]]; dup {
			t.Errorf("%s and %s both land in %s", other, d.name, fields[0])
		}
		owners[fields[0]] = d.name
	}
	return owners
}

func checkEveryFieldOwned(t *testing.T, typ reflect.Type, owners map[string]string) {
	t.Helper()
	for f := 0; f < typ.NumField(); f++ {
		if name := typ.Field(f).Name; typ.Field(f).IsExported() && owners[name] == "" {
			t.Errorf("%s.%s is not the field of any key", typ.Name(), name)
		}
	}
}

// differentValue returns a Kafka value of the same type as v but different.
func differentValue(v any) any {
	switch v := v.(type) {
	case int64:
		if v > 1<<40 {
			return int64(1) // Long.MaxValue - 1 ms would still saturate to Forever
		}
		return v + 1
	case float64:
		return v / 2
	case bool:
		return !v
	case string:
		return v + "x"
	case []string:
		return append(slices.Clone(v), "x")
	}
	panic("unexpected Kafka value")
}
