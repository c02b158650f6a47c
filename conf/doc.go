// Package conf is the broker's configuration: Kafka's key names with Kafka
// 2.8's defaults, read from a Kafka server.properties file or from YAML,
// validated, and turned into typed structs.
//
// # One table per kind of key
//
// Every key is one row of a table, in the manner of Kafka's ConfigDef: its
// name, its Kafka type (INT, LONG, STRING, LIST, ...), Kafka 2.8's default,
// the rule its value must satisfy, a one-line doc, and the field of Config
// (or TopicConfig) it lands in. The broker table is in keys_server.go and
// keys_log.go, the topic table in topic_keys.go. Everything else is derived
// from the tables, so a key cannot be parsed one way and described another:
//
//	Default()        every key's Kafka default
//	Parse, Load      the input's values over the defaults, then Validate
//	Validate         each key's type and rule, then the rules across keys
//	Describe         each key's value and source, for DescribeConfigs
//	TopicDefaults    the topic keys' defaults, from their broker keys
//	WithOverrides    a topic's overrides, checked against the topic table
//
// # Synonyms
//
// Some Kafka settings can be given by several keys, the most precise one
// winning: log.retention.ms over log.retention.minutes over
// log.retention.hours, log.roll.ms over log.roll.hours, log.dirs over
// log.dir. Others default to another key's value: log.flush.interval.ms to
// log.flush.scheduler.interval.ms, zookeeper.connection.timeout.ms to
// zookeeper.session.timeout.ms. In the table, the first key of such a group
// lists the others as its synonyms, and owns the one Config field that holds
// the value in effect (LogRetention, LogRoll, LogDirs, ...). Parse walks the
// group in order and takes the first key that is set, or else the first
// default. The effective values are what the rest of the broker reads; the
// individual keys stay visible through Describe.
//
// # Input formats
//
// A .properties file is read exactly as Java's Properties.load reads it
// (ParseProperties; logstore reads meta.properties with it too). A YAML file
// has the same keys, either flat ("log.dirs: /data") or nested ("log: {dirs:
// /data}"), with YAML lists allowed where Kafka takes a comma-separated list
// (ParseYAML). Load picks the format by file extension.
//
// # Errors and warnings
//
// A bad configuration is one error listing every problem, one per line, each
// naming the key, the value as written and the rule it breaks:
//
//	broker.id=abc: not a valid int
//	log.segment.bytes=10: must be at least 14
//	log.message.timestamp.type=Foo: must be one of [CreateTime LogAppendTime]
//
// Unknown keys are warnings, not errors, because a server.properties written
// for Kafka carries keys (ssl.*, metric reporters) that Gregor does not
// implement. conf never logs: it returns Warnings for the caller to log.
//
// # Where Gregor differs from Kafka 2.8
//
//   - A few rules are stricter, each marked in its table: mostly where a
//     broker key is the default of a topic key whose rule is stricter, so
//     that Kafka would fail only later, when it first built a topic's
//     configuration.
//   - Durations are time.Duration. Kafka's "never" defaults (Long.MaxValue
//     milliseconds) do not fit, and become Forever; any count beyond about
//     292 years saturates the same way.
//   - Describe reports the value in effect for keys whose Kafka default is
//     null but a synonym supplies a value (log.retention.ms), where Kafka
//     reports null.
//   - Properties files are read as UTF-8, not ISO-8859-1.
//   - Keys starting with "gregor." are Gregor's own, not Kafka's
//     (keys_gregor.go): gregor.fetch.zero.copy, gregor.pprof.listener.
//     They are parsed, validated and described like the others.
//
// conf is a leaf package: it imports nothing else of Gregor's, starts no
// goroutines and does no I/O beyond Load reading its file. Its tables are
// built once at package initialisation and never modified, and a Config or
// TopicConfig is not modified by any of its methods, so all of them are safe
// for concurrent use.
package conf
