package conf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// withZooKeeper returns props with the one required key added, unless props
// sets it already.
func withZooKeeper(props map[string]string) map[string]string {
	out := map[string]string{"zookeeper.connect": "localhost:2181"}
	for k, v := range props {
		out[k] = v
	}
	return out
}

// mustParse parses props (plus zookeeper.connect) and fails the test on an
// error.
func mustParse(t *testing.T, props map[string]string) *Config {
	t.Helper()
	c, _, err := Parse(withZooKeeper(props))
	if err != nil {
		t.Fatalf("Parse(%v): %v", props, err)
	}
	return c
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		field func(*Config) any
		want  any
	}{
		// log.retention.ms > log.retention.minutes > log.retention.hours.
		{"retention default", nil, retentionField, 168 * time.Hour},
		{"retention hours", map[string]string{"log.retention.hours": "1"}, retentionField, time.Hour},
		{"retention minutes", map[string]string{"log.retention.minutes": "30"}, retentionField, 30 * time.Minute},
		{"retention ms", map[string]string{"log.retention.ms": "1000"}, retentionField, time.Second},
		{"retention minutes over hours", map[string]string{"log.retention.hours": "1", "log.retention.minutes": "30"}, retentionField, 30 * time.Minute},
		{"retention ms over hours", map[string]string{"log.retention.hours": "1", "log.retention.ms": "5"}, retentionField, 5 * time.Millisecond},
		{"retention ms over minutes", map[string]string{"log.retention.minutes": "2", "log.retention.ms": "5"}, retentionField, 5 * time.Millisecond},
		{"retention ms over both", map[string]string{"log.retention.hours": "1", "log.retention.minutes": "2", "log.retention.ms": "5"}, retentionField, 5 * time.Millisecond},
		{"retention ms -1 is unlimited", map[string]string{"log.retention.ms": "-1"}, retentionField, Unlimited},
		{"retention any negative ms is unlimited", map[string]string{"log.retention.ms": "-5"}, retentionField, Unlimited},
		{"retention hours -1 is unlimited", map[string]string{"log.retention.hours": "-1"}, retentionField, Unlimited},
		{"retention minutes -1 is unlimited", map[string]string{"log.retention.minutes": "-1"}, retentionField, Unlimited},
		{"retention ms -1 over positive hours", map[string]string{"log.retention.hours": "5", "log.retention.ms": "-1"}, retentionField, Unlimited},

		// log.roll.ms > log.roll.hours, log.roll.jitter.ms > log.roll.jitter.hours.
		{"roll default", nil, func(c *Config) any { return c.LogRoll }, 168 * time.Hour},
		{"roll hours", map[string]string{"log.roll.hours": "2"}, func(c *Config) any { return c.LogRoll }, 2 * time.Hour},
		{"roll ms", map[string]string{"log.roll.ms": "100"}, func(c *Config) any { return c.LogRoll }, 100 * time.Millisecond},
		{"roll ms over hours", map[string]string{"log.roll.hours": "2", "log.roll.ms": "100"}, func(c *Config) any { return c.LogRoll }, 100 * time.Millisecond},
		{"jitter default", nil, func(c *Config) any { return c.LogRollJitter }, time.Duration(0)},
		{"jitter hours", map[string]string{"log.roll.jitter.hours": "1"}, func(c *Config) any { return c.LogRollJitter }, time.Hour},
		{"jitter ms over hours", map[string]string{"log.roll.jitter.hours": "1", "log.roll.jitter.ms": "7"}, func(c *Config) any { return c.LogRollJitter }, 7 * time.Millisecond},

		// log.dirs > log.dir, both comma-separated.
		{"log.dir", map[string]string{"log.dir": "/a"}, logDirsField, []string{"/a"}},
		{"log.dir is a list too", map[string]string{"log.dir": "/a,/b"}, logDirsField, []string{"/a", "/b"}},
		{"log.dirs", map[string]string{"log.dirs": "/b,/c"}, logDirsField, []string{"/b", "/c"}},
		{"log.dirs over log.dir", map[string]string{"log.dir": "/a", "log.dirs": "/b"}, logDirsField, []string{"/b"}},
		{"log.dirs trims and drops empty items", map[string]string{"log.dirs": " /b , ,/c, "}, logDirsField, []string{"/b", "/c"}},

		// zookeeper.connection.timeout.ms defaults to the session timeout.
		{"connection timeout follows session timeout", map[string]string{"zookeeper.session.timeout.ms": "6000"},
			func(c *Config) any { return c.ZooKeeperConnectionTimeout }, 6 * time.Second},
		{"connection timeout set", map[string]string{"zookeeper.session.timeout.ms": "6000", "zookeeper.connection.timeout.ms": "1000"},
			func(c *Config) any { return c.ZooKeeperConnectionTimeout }, time.Second},
		{"session timeout unaffected", map[string]string{"zookeeper.connection.timeout.ms": "1000"},
			func(c *Config) any { return c.ZooKeeperSessionTimeout }, 18 * time.Second},

		// log.flush.interval.ms defaults to log.flush.scheduler.interval.ms.
		{"flush interval follows scheduler", map[string]string{"log.flush.scheduler.interval.ms": "1000"},
			func(c *Config) any { return c.LogFlushInterval }, time.Second},
		{"flush interval set", map[string]string{"log.flush.interval.ms": "500"},
			func(c *Config) any { return []time.Duration{c.LogFlushInterval, c.LogFlushSchedulerInterval} },
			[]time.Duration{500 * time.Millisecond, Forever}},

		// advertised.listeners defaults to listeners.
		{"advertised follows listeners", map[string]string{"listeners": "PLAINTEXT://h:1"},
			func(c *Config) any { return []any{c.AdvertisedListeners, c.Advertised()} },
			[]any{[]Listener(nil), []Listener{{"PLAINTEXT", Plaintext, "h", 1}}}},
		{"advertised set", map[string]string{"listeners": "PLAINTEXT://:1", "advertised.listeners": "PLAINTEXT://h:2"},
			func(c *Config) any { return c.Advertised() }, []Listener{{"PLAINTEXT", Plaintext, "h", 2}}},

		// The inter-broker listener: by name, or named after the protocol.
		{"inter-broker listener from the protocol", map[string]string{
			"listeners": "PLAINTEXT://:9092,SSL://:9093", "security.inter.broker.protocol": "SSL"},
			interBrokerField, Listener{"SSL", SSL, "", 9093}},
		{"inter-broker listener by name", map[string]string{
			"listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:SSL",
			"listeners":                      "INTERNAL://:9092,EXTERNAL://:9093", "inter.broker.listener.name": "internal"},
			interBrokerField, Listener{"INTERNAL", Plaintext, "", 9092}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.props)
			if got := tt.field(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func retentionField(c *Config) any { return c.LogRetention }
func logDirsField(c *Config) any   { return c.LogDirs }
func interBrokerField(c *Config) any {
	l, _ := c.InterBrokerListener()
	return l
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		field func(*Config) any
		want  any
	}{
		{"white space trimmed", map[string]string{"broker.id": "  7\t"}, func(c *Config) any { return c.BrokerID }, int32(7)},
		{"plus sign", map[string]string{"broker.id": "+7"}, func(c *Config) any { return c.BrokerID }, int32(7)},
		{"boolean any case", map[string]string{"log.preallocate": "TRUE"}, func(c *Config) any { return c.LogPreallocate }, true},
		{"double with Java suffix", map[string]string{"log.cleaner.min.cleanable.ratio": "0.25d"},
			func(c *Config) any { return c.LogCleanerMinCleanableRatio }, 0.25},
		{"double exponent", map[string]string{"log.cleaner.io.max.bytes.per.second": "1e6"},
			func(c *Config) any { return c.LogCleanerIOMaxBytesPerSecond }, 1e6},
		{"list with spaces", map[string]string{"log.cleanup.policy": "compact , delete"},
			func(c *Config) any { return c.LogCleanupPolicy }, []string{"compact", "delete"}},
		{"empty list", map[string]string{"log.cleanup.policy": ""},
			func(c *Config) any { return c.LogCleanupPolicy }, []string{}},
		{"seconds", map[string]string{"leader.imbalance.check.interval.seconds": "7"},
			func(c *Config) any { return c.LeaderImbalanceCheckInterval }, 7 * time.Second},
		{"minutes", map[string]string{"offsets.retention.minutes": "3"},
			func(c *Config) any { return c.OffsetsRetention }, 3 * time.Minute},
		{"Long.MaxValue ms saturates to Forever", map[string]string{"log.flush.interval.ms": "9223372036854775807"},
			func(c *Config) any { return c.LogFlushInterval }, Forever},
		{"security protocol any case", map[string]string{"listeners": "SSL://:9093", "security.inter.broker.protocol": "ssl"},
			func(c *Config) any { return c.SecurityInterBrokerProtocol }, SSL},
		{"listener names upper-cased", map[string]string{"listener.security.protocol.map": "internal:plaintext", "listeners": "internal://:1",
			"inter.broker.listener.name": "Internal"},
			func(c *Config) any {
				return []any{c.ListenerSecurityProtocolMap, c.Listeners[0].Name, c.InterBrokerListenerName}
			},
			[]any{map[string]SecurityProtocol{"INTERNAL": Plaintext}, "INTERNAL", "INTERNAL"}},
		{"ZooKeeper chroot", map[string]string{"zookeeper.connect": "a:1,b:2/kafka/prod"},
			func(c *Config) any { return c.ZooKeeper }, ZooKeeper{[]string{"a:1", "b:2"}, "/kafka/prod"}},
		{"connection overrides", map[string]string{"max.connections.per.ip.overrides": "host1:5, 10.0.0.1:0"},
			func(c *Config) any { return c.MaxConnectionsPerIPOverrides }, map[string]int{"host1": 5, "10.0.0.1": 0}},
		{"zero per-IP connections with overrides", map[string]string{"max.connections.per.ip": "0", "max.connections.per.ip.overrides": "h:1"},
			func(c *Config) any { return c.MaxConnectionsPerIP }, 0},
		{"broker id at the reserved maximum", map[string]string{"broker.id": "1000"}, func(c *Config) any { return c.BrokerID }, int32(1000)},
		{"broker id above the maximum without generation", map[string]string{"broker.id": "5000", "broker.id.generation.enable": "false"},
			func(c *Config) any { return c.BrokerID }, int32(5000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.props)
			if got := tt.field(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	_, warnings, err := Parse(withZooKeeper(map[string]string{
		"no.such.key":                     "1",
		"ssl.keystore.password":           "secret",
		"log.retention.hours":             "1",
		"log.retention.minutes":           "2",
		"log.retention.ms":                "3",
		"log.dir":                         "/a",
		"log.dirs":                        "/b",
		"log.flush.interval.ms":           "1",
		"log.flush.scheduler.interval.ms": "2", // has its own field: not ignored
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Warnings{
		{"log.dir", "ignored: log.dirs takes precedence"},
		{"log.retention.hours", "ignored: log.retention.ms takes precedence"},
		{"log.retention.minutes", "ignored: log.retention.ms takes precedence"},
		{"no.such.key", "unknown key; ignored"},
		{"ssl.keystore.password", "a Kafka setting Gregor does not support; ignored"},
	}
	if !reflect.DeepEqual(warnings, want) {
		t.Errorf("warnings =\n%v\nwant\n%v", warnings, want)
	}
	for _, w := range warnings {
		if strings.Contains(w.String(), "secret") {
			t.Errorf("warning %q repeats a value", w)
		}
	}
}

// TestErrors checks the message of every rule, in the form
// "key=value: rule".
func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		props map[string]string
		want  string
	}{
		// Types.
		{"int", map[string]string{"broker.id": "abc"}, "broker.id=abc: not a valid int"},
		{"int out of range", map[string]string{"num.partitions": "2147483648"}, "num.partitions=2147483648: not a valid int"},
		{"short", map[string]string{"offsets.topic.replication.factor": "40000"}, "offsets.topic.replication.factor=40000: not a valid short"},
		{"long", map[string]string{"log.retention.bytes": "1.5"}, "log.retention.bytes=1.5: not a valid long"},
		{"double", map[string]string{"log.cleaner.min.cleanable.ratio": "half"}, "log.cleaner.min.cleanable.ratio=half: not a valid double"},
		{"boolean", map[string]string{"log.preallocate": "yes"}, "log.preallocate=yes: not a valid boolean"},
		{"control characters quoted", map[string]string{"broker.id": "1\n2"}, `broker.id="1\n2": not a valid int`},

		// Rules of one key.
		{"at least", map[string]string{"log.segment.bytes": "10"}, "log.segment.bytes=10: must be at least 14"},
		{"at least on an alias", map[string]string{"log.roll.hours": "0"}, "log.roll.hours=0: must be at least 1"},
		{"at least on a field fed by an alias", map[string]string{"log.roll.ms": "0"}, "log.roll.ms=0: must be at least 1"},
		{"index size", map[string]string{"log.index.size.max.bytes": "3"}, "log.index.size.max.bytes=3: must be at least 4"},
		{"one of", map[string]string{"log.message.timestamp.type": "Foo"}, "log.message.timestamp.type=Foo: must be one of [CreateTime LogAppendTime]"},
		{"one of is case-sensitive", map[string]string{"compression.type": "GZIP"},
			"compression.type=GZIP: must be one of [uncompressed zstd lz4 snappy gzip producer]"},
		{"one of ints", map[string]string{"offsets.topic.compression.codec": "9"}, "offsets.topic.compression.codec=9: must be one of [0 1 2 3 4]"},
		{"every one of", map[string]string{"log.cleanup.policy": "delete,Compact"},
			"log.cleanup.policy=delete,Compact: every item must be one of [compact delete]"},
		{"retention zero", map[string]string{"log.retention.ms": "0"}, "log.retention.ms=0: must be -1 (unlimited) or at least 1"},
		{"retention zero named by the synonym that set it", map[string]string{"log.retention.hours": "0"},
			"log.retention.hours=0: must be -1 (unlimited) or at least 1"},
		{"fraction", map[string]string{"log.cleaner.min.cleanable.ratio": "1.5"}, "log.cleaner.min.cleanable.ratio=1.5: must be between 0 and 1"},
		{"fraction NaN", map[string]string{"log.cleaner.min.cleanable.ratio": "NaN"}, "log.cleaner.min.cleanable.ratio=NaN: must be between 0 and 1"},
		{"version", map[string]string{"inter.broker.protocol.version": "3.0"},
			"inter.broker.protocol.version=3.0: not a valid Kafka version (such as 2.8 or 2.8-IV1)"},
		{"fetch.max.bytes", map[string]string{"fetch.max.bytes": "1023"}, "fetch.max.bytes=1023: must be at least 1024"},

		// Values decoded into their own types.
		{"ZooKeeper chroot ends with slash", map[string]string{"zookeeper.connect": "zk:2181/kafka/"},
			`zookeeper.connect=zk:2181/kafka/: chroot "/kafka/" must not end with /`},
		{"ZooKeeper bad port", map[string]string{"zookeeper.connect": "zk:x"},
			`zookeeper.connect=zk:x: server "zk:x" has port "x", not a number from 1 to 65535`},
		{"listener without port", map[string]string{"listeners": "PLAINTEXT://host"},
			`listeners=PLAINTEXT://host: listener "PLAINTEXT://host" has no port`},
		{"listener name not mapped", map[string]string{"listeners": "FOO://:9092"},
			"listeners=FOO://:9092: listener name FOO is not in listener.security.protocol.map"},
		{"default listener no longer mapped", map[string]string{"listener.security.protocol.map": "INTERNAL:PLAINTEXT"},
			"listeners=PLAINTEXT://:9092: listener name PLAINTEXT is not in listener.security.protocol.map"},
		{"protocol map unknown protocol", map[string]string{"listener.security.protocol.map": "A:TLS"},
			`listener.security.protocol.map=A:TLS: unknown security protocol "TLS" (known: [PLAINTEXT SSL SASL_PLAINTEXT SASL_SSL])`},
		{"protocol map without colon", map[string]string{"listener.security.protocol.map": "PLAINTEXT"},
			`listener.security.protocol.map=PLAINTEXT: item "PLAINTEXT" is not of the form key:value`},
		{"connection override count", map[string]string{"max.connections.per.ip.overrides": "h:many"},
			`max.connections.per.ip.overrides=h:many: count "many" for h is not a non-negative int`},

		// Rules across keys.
		{"zookeeper.connect required", map[string]string{"zookeeper.connect": ""}, "zookeeper.connect=: must list at least one ZooKeeper server"},
		{"broker id above reserved maximum", map[string]string{"broker.id": "1001"},
			"broker.id=1001: must be between -1 and reserved.broker.max.id (1000)"},
		{"broker id below -1", map[string]string{"broker.id": "-2"}, "broker.id=-2: must be between -1 and reserved.broker.max.id (1000)"},
		{"broker id -1 without generation", map[string]string{"broker.id.generation.enable": "false"},
			"broker.id=-1: must be at least 0 when broker.id.generation.enable is false"},
		{"no log directory", map[string]string{"log.dirs": " , "}, "log.dirs=,: must name at least one directory"},
		{"log directory twice", map[string]string{"log.dir": "/a,/a"}, "log.dir=/a,/a: names the directory /a twice"},
		{"dedupe buffer per thread", map[string]string{"log.cleaner.threads": "2", "log.cleaner.dedupe.buffer.size": "2097152"},
			"log.cleaner.dedupe.buffer.size=2097152: must be more than 1 MiB per cleaner thread (log.cleaner.threads=2)"},
		{"compaction lags", map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"},
			"log.cleaner.min.compaction.lag.ms=10: must not exceed log.cleaner.max.compaction.lag.ms (5)"},
		{"fetch wait over socket timeout", map[string]string{"replica.fetch.wait.max.ms": "30001", "replica.lag.time.max.ms": "40000"},
			"replica.fetch.wait.max.ms=30001: must not exceed replica.socket.timeout.ms (30000)"},
		{"fetch wait over lag time", map[string]string{"replica.fetch.wait.max.ms": "600", "replica.lag.time.max.ms": "500"},
			"replica.fetch.wait.max.ms=600: must not exceed replica.lag.time.max.ms (500)"},
		{"commit acks", map[string]string{"offsets.commit.required.acks": "4"},
			"offsets.commit.required.acks=4: must be between -1 and offsets.topic.replication.factor (3)"},
		{"queued bytes", map[string]string{"queued.max.request.bytes": "1000"},
			"queued.max.request.bytes=1000: must be 0 or less (no limit) or at least socket.request.max.bytes (104857600)"},
		{"zero connections per IP", map[string]string{"max.connections.per.ip": "0"},
			"max.connections.per.ip=0: may be 0 only when max.connections.per.ip.overrides is set"},
		{"duplicate listener name", map[string]string{"listeners": "PLAINTEXT://:1,PLAINTEXT://:2"},
			"listeners=PLAINTEXT://:1,PLAINTEXT://:2: listener name PLAINTEXT is used twice"},
		{"duplicate listener port", map[string]string{"listeners": "PLAINTEXT://:1,SSL://:1"},
			"listeners=PLAINTEXT://:1,SSL://:1: port 1 is used by two listeners"},
		{"advertised not a listener", map[string]string{"advertised.listeners": "PLAINTEXT://h:1,SSL://h:2"},
			"advertised.listeners=PLAINTEXT://h:1,SSL://h:2: listener name SSL is not one of the listeners [PLAINTEXT]"},
		{"advertised 0.0.0.0", map[string]string{"advertised.listeners": "PLAINTEXT://0.0.0.0:9092"},
			"advertised.listeners=PLAINTEXT://0.0.0.0:9092: must not advertise the non-routable address 0.0.0.0 (set advertised.listeners to a routable address)"},
		{"advertised 0.0.0.0 by default", map[string]string{"listeners": "PLAINTEXT://0.0.0.0:9092"},
			"advertised.listeners=PLAINTEXT://0.0.0.0:9092: must not advertise the non-routable address 0.0.0.0 (set advertised.listeners to a routable address)"},
		{"inter-broker protocol without listener", map[string]string{"security.inter.broker.protocol": "SSL"},
			"security.inter.broker.protocol=SSL: the inter-broker listener SSL must be one of the advertised listeners [PLAINTEXT]"},
		{"inter-broker name and protocol both set", map[string]string{"inter.broker.listener.name": "PLAINTEXT", "security.inter.broker.protocol": "PLAINTEXT"},
			"inter.broker.listener.name=PLAINTEXT: must not be set together with security.inter.broker.protocol"},
		{"inter-broker name not mapped", map[string]string{"inter.broker.listener.name": "OTHER"},
			"inter.broker.listener.name=OTHER: is not in listener.security.protocol.map"},
		{"message format newer than protocol", map[string]string{"inter.broker.protocol.version": "0.10.2", "log.message.format.version": "0.11.0"},
			"log.message.format.version=0.11.0: needs inter.broker.protocol.version 0.11.0 or later"},
		{"zstd offsets before 2.1", map[string]string{"inter.broker.protocol.version": "2.0", "log.message.format.version": "2.0",
			"offsets.topic.compression.codec": "4"},
			"offsets.topic.compression.codec=4: zstd (4) needs inter.broker.protocol.version 2.1 or later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse(withZooKeeper(tt.props))
			if err == nil {
				t.Fatalf("Parse(%v) succeeded, want error %q", tt.props, tt.want)
			}
			if c != nil {
				t.Errorf("Parse returned a Config along with the error")
			}
			if err.Error() != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Error() != tt.want {
				t.Errorf("errors.As(*Error) = %v, want the error itself", e)
			}
		})
	}
}

// TestAllErrorsAtOnce: one error value lists every problem, one per line, and
// a key that fails to parse is not reported again by the rules across keys.
func TestAllErrorsAtOnce(t *testing.T) {
	_, _, err := Parse(map[string]string{
		"broker.id":                  "abc",
		"log.segment.bytes":          "10",
		"log.message.timestamp.type": "Foo",
		"replica.fetch.wait.max.ms":  "x",
	})
	want := []string{
		"broker.id=abc: not a valid int",
		"replica.fetch.wait.max.ms=x: not a valid int",
		"log.segment.bytes=10: must be at least 14",
		"log.message.timestamp.type=Foo: must be one of [CreateTime LogAppendTime]",
		"zookeeper.connect=: must be set (it has no default)",
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("error =\n%v\nwant\n%s", err, strings.Join(want, "\n"))
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != len(want) {
		t.Errorf("want %d joined *Error values", len(want))
	}
}

// TestValidateInCode covers a Config built or changed in code, which Parse has
// not seen: errors name the key with the value formatted from the field.
func TestValidateInCode(t *testing.T) {
	base := func() *Config {
		c := Default()
		c.ZooKeeper = ZooKeeper{Servers: []string{"zk:2181"}}
		return c
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"valid", func(*Config) {}, ""},
		{"duration below its rule", func(c *Config) { c.LogRoll = 0 }, "log.roll.ms=0: must be at least 1"},
		{"size beyond the int type", func(c *Config) { c.LogSegmentBytes = 1 << 40 }, "log.segment.bytes=1099511627776: not a valid int"},
		{"listener without protocol", func(c *Config) { c.Listeners = []Listener{{Name: "PLAINTEXT", Port: 1}} },
			"listeners=PLAINTEXT://:1: listener PLAINTEXT has no security protocol"},
		{"no listeners", func(c *Config) { c.Listeners = nil }, "listeners=: must name at least one listener"},
		{"relative chroot", func(c *Config) { c.ZooKeeper.Chroot = "kafka" },
			`zookeeper.connect=zk:2181kafka: chroot "kafka" must be an absolute ZooKeeper path not ending in /`},
		{"protocol map bad protocol", func(c *Config) { c.ListenerSecurityProtocolMap = map[string]SecurityProtocol{"PLAINTEXT": "TLS"} },
			`listener.security.protocol.map=PLAINTEXT:TLS: maps "PLAINTEXT" to "TLS"; names must be upper case and protocols one of [PLAINTEXT SSL SASL_PLAINTEXT SASL_SSL]`},
		{"inter-broker name with protocol changed", func(c *Config) {
			c.InterBrokerListenerName = "PLAINTEXT"
			c.SecurityInterBrokerProtocol = SSL
		}, "inter.broker.listener.name=PLAINTEXT: must not be set together with security.inter.broker.protocol"},
		{"changed listeners are advertised", func(c *Config) { c.Listeners = []Listener{{"PLAINTEXT", Plaintext, "0.0.0.0", 1}} },
			"advertised.listeners=PLAINTEXT://0.0.0.0:1: must not advertise the non-routable address 0.0.0.0 (set advertised.listeners to a routable address)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.change(c)
			err := c.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
