package conf

import (
	"maps"
	"slices"
	"sort"
	"time"
)

// TopicConfig is the configuration of one topic's logs: the broker's log
// defaults with the topic's overrides applied (Kafka's LogConfig). The
// comment on each field names its topic key.
//
// Build one with (*Config).TopicDefaults and then WithOverrides, with the
// overrides read from /config/topics/<name> or given to CreateTopics. A
// TopicConfig is an immutable snapshot: WithOverrides returns a new one and
// nothing modifies an existing one, so the broker can swap a partition's
// TopicConfig with an atomic.Pointer while readers use the old one.
type TopicConfig struct {
	CleanupPolicy                        []string      // cleanup.policy: "delete", "compact" or both
	CompressionType                      string        // compression.type
	DeleteRetention                      time.Duration // delete.retention.ms
	FileDeleteDelay                      time.Duration // file.delete.delay.ms
	FlushMessages                        int64         // flush.messages
	FlushInterval                        time.Duration // flush.ms
	FollowerReplicationThrottledReplicas []string      // follower.replication.throttled.replicas
	IndexIntervalBytes                   int64         // index.interval.bytes
	LeaderReplicationThrottledReplicas   []string      // leader.replication.throttled.replicas
	MaxCompactionLag                     time.Duration // max.compaction.lag.ms
	MaxMessageBytes                      int64         // max.message.bytes
	MessageDownConversionEnable          bool          // message.downconversion.enable
	MessageFormatVersion                 string        // message.format.version
	MessageTimestampDifferenceMax        time.Duration // message.timestamp.difference.max.ms
	MessageTimestampType                 string        // message.timestamp.type
	MinCleanableDirtyRatio               float64       // min.cleanable.dirty.ratio
	MinCompactionLag                     time.Duration // min.compaction.lag.ms
	MinInsyncReplicas                    int           // min.insync.replicas
	Preallocate                          bool          // preallocate
	RetentionBytes                       int64         // retention.bytes; -1 for no limit
	Retention                            time.Duration // retention.ms; Unlimited for -1
	SegmentBytes                         int64         // segment.bytes
	SegmentIndexBytes                    int64         // segment.index.bytes
	SegmentJitter                        time.Duration // segment.jitter.ms
	SegmentRoll                          time.Duration // segment.ms
	UncleanLeaderElectionEnable          bool          // unclean.leader.election.enable

	// broker is the Config the defaults came from, for Describe's sources;
	// nil for a TopicConfig built in code.
	broker *Config
	// overrides are the topic's own values, as given (trimmed).
	overrides map[string]string
}

// Compact reports whether the cleanup policy includes compaction.
func (t *TopicConfig) Compact() bool { return slices.Contains(t.CleanupPolicy, "compact") }

// Delete reports whether the cleanup policy includes deletion by retention.
func (t *TopicConfig) Delete() bool { return slices.Contains(t.CleanupPolicy, "delete") }

// TopicDefaults returns the configuration of a topic without overrides: each
// topic key takes the value of its broker key (segment.ms takes log.roll.ms,
// retention.ms takes log.retention.ms, and so on), as Kafka does.
func (c *Config) TopicDefaults() TopicConfig {
	t := TopicConfig{broker: c}
	for i := range topicKeys.defs {
		d := &topicKeys.defs[i]
		var v any
		if d.server != "" {
			v = brokerKeys.byName[d.server].current(c)
		} else {
			v, _, _ = topicKeys.defaultOf(d)
		}
		// The generic bindings of the topic table never fail.
		_ = d.bind.store(&t, d.toField(v))
	}
	return t
}

// WithOverrides returns t with the given topic-level overrides applied, after
// checking each one: the key must be a topic key (CreateTopics answers an
// unknown one with INVALID_CONFIG), the value must parse and satisfy the
// key's rule, and min.compaction.lag.ms must not exceed
// max.compaction.lag.ms. It reports every problem at once (see Error) and
// then returns the zero TopicConfig. Overrides add to those t already has.
func (t TopicConfig) WithOverrides(overrides map[string]string) (TopicConfig, error) {
	out := t
	out.overrides = make(map[string]string, len(t.overrides)+len(overrides))
	maps.Copy(out.overrides, t.overrides)
	var errs []*Error
	names := slices.Sorted(maps.Keys(overrides))
	for _, name := range names {
		raw := overrides[name]
		d := topicKeys.byName[name]
		if d == nil {
			errs = append(errs, &Error{name, raw, "unknown topic config"})
			continue
		}
		v, err := parseValue(d.typ, raw)
		if err != nil {
			errs = append(errs, &Error{name, raw, err.Error()})
			continue
		}
		_ = d.bind.store(&out, d.toField(v))
		out.overrides[name] = trimJava(raw)
	}
	errs = append(errs, out.check()...)
	if err := joinErrors(errs); err != nil {
		return TopicConfig{}, err
	}
	return out, nil
}

// Validate checks every topic key against its rule, and min.compaction.lag.ms
// against max.compaction.lag.ms. WithOverrides has already validated what it
// returns; Validate is for a TopicConfig built or changed in code.
func (t TopicConfig) Validate() error {
	return joinErrors(t.check())
}

func (t *TopicConfig) check() []*Error {
	var errs []*Error
	for i := range topicKeys.defs {
		d := &topicKeys.defs[i]
		v := d.current(t)
		rule := fitsType(d.typ, v)
		if rule == "" {
			rule = d.rule.apply(v)
		}
		if rule != "" {
			errs = append(errs, t.errorAt(d.name, rule))
		}
	}
	if t.MinCompactionLag > t.MaxCompactionLag {
		errs = append(errs, t.errorAt("min.compaction.lag.ms",
			"must not exceed max.compaction.lag.ms ("+formatValue(durationToCount(t.MaxCompactionLag, ms))+")"))
	}
	return errs
}

// errorAt names key with its value as overridden, or as formatted from the
// field.
func (t *TopicConfig) errorAt(key, rule string) *Error {
	if raw, ok := t.overrides[key]; ok {
		return &Error{key, raw, rule}
	}
	return &Error{key, formatValue(topicKeys.byName[key].current(t)), rule}
}

// Overrides returns a copy of the topic's overrides, as given to
// WithOverrides (white space trimmed).
func (t TopicConfig) Overrides() map[string]string {
	return maps.Clone(t.overrides)
}

// Describe returns an Entry for every topic key, sorted by name, as
// DescribeConfigs reports a topic: overridden keys are DYNAMIC_TOPIC_CONFIG,
// the others take the source of their broker key.
func (t TopicConfig) Describe() []Entry {
	var defaults *Config
	if t.broker != nil {
		defaults = Default()
	}
	out := make([]Entry, len(topicKeys.defs))
	for i := range topicKeys.defs {
		out[i] = t.describe(&topicKeys.defs[i], defaults)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DescribeKey returns the Entry of one topic key, and false if there is no
// such key.
func (t TopicConfig) DescribeKey(name string) (Entry, bool) {
	d := topicKeys.byName[name]
	if d == nil {
		return Entry{}, false
	}
	var defaults *Config
	if t.broker != nil {
		defaults = Default()
	}
	return t.describe(d, defaults), true
}

func (t *TopicConfig) describe(d *def[TopicConfig], defaults *Config) Entry {
	value := formatValue(d.current(t))
	e := Entry{
		Name: d.name, Value: &value, Source: SourceDefault,
		Sensitive: d.typ == TypePassword, Type: d.typ, Doc: d.doc,
	}
	if raw, ok := t.overrides[d.name]; ok {
		e.Synonyms = append(e.Synonyms, Synonym{d.name, &raw, SourceDynamicTopic})
	}
	if t.broker != nil && d.server != "" {
		e.Synonyms = append(e.Synonyms, t.broker.synonyms(brokerKeys.byName[d.server], defaults)...)
	}
	if len(e.Synonyms) > 0 {
		e.Source = e.Synonyms[0].Source
	}
	return e
}
