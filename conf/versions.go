package conf

import "strings"

// This file knows the values of inter.broker.protocol.version and
// log.message.format.version that Kafka 2.8 accepts, and the record format
// (magic) each one implies.
//
// A version names an inter-broker protocol level: "2.8-IV1" is the second
// internal version of 2.8, "2.8" the last internal version of 2.8, and the
// 0.x releases have three-part names ("0.10.2"). Anything after those parts
// is ignored, so "2.8.1" is 2.8 and "0.10.0.1" is 0.10.0, which is how
// operators write the version of the release they upgrade from.

// kafkaVersion is one inter-broker protocol level.
type kafkaVersion struct {
	name   string // the full name, such as "2.8-IV1"
	short  string // the release, such as "2.8"
	order  int    // position in kafkaVersions: a higher order is newer
	record int8   // the record batch magic (message format) it writes
}

// kafkaVersions lists Kafka 2.8's protocol levels, oldest first.
var kafkaVersions = func() []kafkaVersion {
	type level struct {
		name   string
		record int8
	}
	levels := []level{
		{"0.8.0", 0}, {"0.8.1", 0}, {"0.8.2", 0}, {"0.9.0", 0},
		{"0.10.0-IV0", 1}, {"0.10.0-IV1", 1}, {"0.10.1-IV0", 1}, {"0.10.1-IV1", 1},
		{"0.10.1-IV2", 1}, {"0.10.2-IV0", 1},
		{"0.11.0-IV0", 2}, {"0.11.0-IV1", 2}, {"0.11.0-IV2", 2},
		{"1.0-IV0", 2}, {"1.1-IV0", 2},
		{"2.0-IV0", 2}, {"2.0-IV1", 2}, {"2.1-IV0", 2}, {"2.1-IV1", 2}, {"2.1-IV2", 2},
		{"2.2-IV0", 2}, {"2.2-IV1", 2}, {"2.3-IV0", 2}, {"2.3-IV1", 2},
		{"2.4-IV0", 2}, {"2.4-IV1", 2}, {"2.5-IV0", 2}, {"2.6-IV0", 2},
		{"2.7-IV0", 2}, {"2.7-IV1", 2}, {"2.7-IV2", 2}, {"2.8-IV0", 2}, {"2.8-IV1", 2},
	}
	out := make([]kafkaVersion, len(levels))
	for i, l := range levels {
		short, _, _ := strings.Cut(l.name, "-")
		out[i] = kafkaVersion{name: l.name, short: short, order: i, record: l.record}
	}
	return out
}()

// latestKafkaVersion is Kafka 2.8's default for inter.broker.protocol.version
// and log.message.format.version.
const latestKafkaVersion = "2.8-IV1"

// parseKafkaVersion resolves s as Kafka 2.8's ApiVersion.apply does: take the
// first three dot-separated parts for 0.x versions and two otherwise, then
// look the result up among the full names and the release names (a release
// name means its last internal version).
func parseKafkaVersion(s string) (kafkaVersion, bool) {
	parts := strings.Split(s, ".")
	n := 2
	if strings.HasPrefix(s, "0.") {
		n = 3
	}
	if len(parts) > n {
		parts = parts[:n]
	}
	key := strings.Join(parts, ".")
	found, ok := kafkaVersion{}, false
	for _, v := range kafkaVersions {
		if v.name == key || v.short == key {
			found, ok = v, true // keep going: a release name means its last level
		}
	}
	return found, ok
}
