package conf

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Validate checks every key's value against its type and rule, and the rules
// that relate keys to each other, and returns every problem at once (see
// Error), or nil. Parse and Load have already validated what they return;
// Validate is for a Config built or changed in code.
func (c *Config) Validate() error {
	return joinErrors(c.check())
}

// check returns every problem with c: first each key on its own, in table
// order, then the rules across keys.
func (c *Config) check() []*Error {
	var errs []*Error
	for i := range brokerKeys.defs {
		d := &brokerKeys.defs[i]
		if d.alias() {
			continue // checked when parsed; its value lives in another key's field
		}
		v := d.current(c)
		if s, ok := v.(string); ok && s == "" && d.noDefault {
			continue // unset (Kafka's null); whether that is allowed is a cross-key rule
		}
		rule := fitsType(d.typ, v)
		if rule == "" {
			rule = d.rule.apply(v)
		}
		if rule != "" {
			errs = append(errs, c.errorAt(d.name, rule))
		}
	}
	return append(errs, c.checkAcrossKeys()...)
}

// fitsType checks that an integer fits the key's Kafka type, which matters
// only for a Config built in code: a parsed value always fits.
func fitsType(t Type, v any) string {
	n, ok := v.(int64)
	if !ok {
		return ""
	}
	switch {
	case t == TypeInt && (n < -1<<31 || n > 1<<31-1):
		return "not a valid int"
	case t == TypeShort && (n < -1<<15 || n > 1<<15-1):
		return "not a valid short"
	}
	return ""
}

// errorAt builds the error for a rule broken by the value of key. When that
// value came from a synonym in the input (log.retention.ms holding
// log.retention.hours=0), the error names the synonym and its value as
// written, since that is the line the operator has to change.
func (c *Config) errorAt(key, rule string) *Error {
	if c.input != nil {
		if src, ok := c.input.origin[key]; ok {
			return &Error{src, c.input.raw[src], rule}
		}
	}
	return &Error{key, formatValue(brokerKeys.byName[key].current(c)), rule}
}

// isSet reports whether key was given in the input or, for a Config changed
// in code, differs from its default. Kafka uses "was it given" for its
// either-or rules (inter.broker.listener.name against
// security.inter.broker.protocol).
func (c *Config) isSet(key string) bool {
	if c.input != nil {
		_, ok := c.input.raw[key]
		return ok
	}
	d := brokerKeys.byName[key]
	v, _, ok := brokerKeys.defaultOf(d)
	return !ok || formatValue(d.current(c)) != formatValue(v)
}

// checkAcrossKeys checks the rules that relate keys, the ones Kafka 2.8 checks
// in KafkaConfig.validateValues, the listener parser and the log manager.
func (c *Config) checkAcrossKeys() []*Error {
	var errs []*Error
	add := func(key, format string, args ...any) {
		errs = append(errs, c.errorAt(key, fmt.Sprintf(format, args...)))
	}

	if len(c.ZooKeeper.Servers) == 0 {
		add("zookeeper.connect", "must be set (it has no default)")
	} else if err := checkChroot(c.ZooKeeper.Chroot); err != nil || (c.ZooKeeper.Chroot != "" && c.ZooKeeper.Chroot[0] != '/') {
		add("zookeeper.connect", "chroot %q must be an absolute ZooKeeper path not ending in /", c.ZooKeeper.Chroot)
	}

	if c.BrokerIDGenerationEnable {
		if c.BrokerID < -1 || c.BrokerID > c.ReservedBrokerMaxID {
			add("broker.id", "must be between -1 and reserved.broker.max.id (%d)", c.ReservedBrokerMaxID)
		}
	} else if c.BrokerID < 0 {
		add("broker.id", "must be at least 0 when broker.id.generation.enable is false")
	}

	if len(c.LogDirs) == 0 {
		add("log.dirs", "must name at least one directory")
	}
	for i, dir := range c.LogDirs {
		if slices.Contains(c.LogDirs[:i], dir) {
			add("log.dirs", "names the directory %s twice", dir)
			break
		}
	}
	if c.LogCleanerThreads > 0 && c.LogCleanerDedupeBufferSize/int64(c.LogCleanerThreads) <= 1<<20 {
		add("log.cleaner.dedupe.buffer.size", "must be more than 1 MiB per cleaner thread (log.cleaner.threads=%d)", c.LogCleanerThreads)
	}
	if c.LogCleanerMinCompactionLag > c.LogCleanerMaxCompactionLag {
		add("log.cleaner.min.compaction.lag.ms", "must not exceed log.cleaner.max.compaction.lag.ms (%d)",
			durationToCount(c.LogCleanerMaxCompactionLag, ms))
	}

	if c.ReplicaFetchWaitMax > c.ReplicaSocketTimeout {
		add("replica.fetch.wait.max.ms", "must not exceed replica.socket.timeout.ms (%d)", durationToCount(c.ReplicaSocketTimeout, ms))
	}
	if c.ReplicaFetchWaitMax > c.ReplicaLagTimeMax {
		add("replica.fetch.wait.max.ms", "must not exceed replica.lag.time.max.ms (%d)", durationToCount(c.ReplicaLagTimeMax, ms))
	}
	if c.OffsetsCommitRequiredAcks < -1 || c.OffsetsCommitRequiredAcks > c.OffsetsTopicReplicationFactor {
		add("offsets.commit.required.acks", "must be between -1 and offsets.topic.replication.factor (%d)", c.OffsetsTopicReplicationFactor)
	}
	if c.QueuedMaxRequestBytes > 0 && c.QueuedMaxRequestBytes < c.SocketRequestMaxBytes {
		add("queued.max.request.bytes", "must be 0 or less (no limit) or at least socket.request.max.bytes (%d)", c.SocketRequestMaxBytes)
	}
	if c.MaxConnectionsPerIP == 0 && len(c.MaxConnectionsPerIPOverrides) == 0 {
		add("max.connections.per.ip", "may be 0 only when max.connections.per.ip.overrides is set")
	}

	errs = append(errs, c.checkListeners()...)
	errs = append(errs, c.checkVersions()...)
	return errs
}

// checkListeners checks the listener keys together, as Kafka does between
// its listener parser and validateValues.
func (c *Config) checkListeners() []*Error {
	var errs []*Error
	add := func(key, format string, args ...any) {
		errs = append(errs, c.errorAt(key, fmt.Sprintf(format, args...)))
	}
	for _, name := range slices.Sorted(maps.Keys(c.ListenerSecurityProtocolMap)) {
		if p := c.ListenerSecurityProtocolMap[name]; p.ID() < 0 || name == "" || name != strings.ToUpper(name) {
			add("listener.security.protocol.map", "maps %q to %q; names must be upper case and protocols one of %v",
				name, p, securityProtocols)
		}
	}
	if len(errs) > 0 {
		return errs // the listeners cannot be judged against a broken map
	}

	// A parsed Config passes these; one built in code may not. The rules
	// after them assume well-formed listeners, and would only repeat the
	// news.
	if len(c.Listeners) == 0 {
		add("listeners", "must name at least one listener")
	}
	checkResolved := func(key string, ls []Listener, distinctPorts bool) {
		for _, l := range ls {
			if l.SecurityProtocol == "" {
				add(key, "listener %s has no security protocol", l.Name)
				return
			}
		}
		if err := resolveListeners(slices.Clone(ls), c.ListenerSecurityProtocolMap, distinctPorts); err != nil {
			add(key, "%v", err)
		}
	}
	checkResolved("listeners", c.Listeners, true)
	if c.AdvertisedListeners != nil {
		checkResolved("advertised.listeners", c.AdvertisedListeners, false)
	}
	if len(errs) > 0 {
		return errs
	}

	listenerNames := make([]string, len(c.Listeners))
	for i, l := range c.Listeners {
		listenerNames[i] = l.Name
	}
	var advertisedNames []string
	for _, l := range c.Advertised() {
		advertisedNames = append(advertisedNames, l.Name)
		if !slices.Contains(listenerNames, l.Name) {
			add("advertised.listeners", "listener name %s is not one of the listeners %v", l.Name, listenerNames)
		}
		if l.Host == "0.0.0.0" {
			add("advertised.listeners", "must not advertise the non-routable address 0.0.0.0 (set advertised.listeners to a routable address)")
		}
	}

	interBrokerKey := "security.inter.broker.protocol"
	if c.InterBrokerListenerName != "" {
		interBrokerKey = "inter.broker.listener.name"
		if c.isSet("security.inter.broker.protocol") {
			add("inter.broker.listener.name", "must not be set together with security.inter.broker.protocol")
		}
		if _, ok := c.ListenerSecurityProtocolMap[c.InterBrokerListenerName]; !ok {
			add("inter.broker.listener.name", "is not in listener.security.protocol.map")
		}
	}
	if name := c.interBrokerListenerName(); !slices.Contains(advertisedNames, name) {
		add(interBrokerKey, "the inter-broker listener %s must be one of the advertised listeners %v", name, advertisedNames)
	}
	return errs
}

// checkVersions checks that the message format and the offsets topic's
// compression are ones the inter-broker protocol version can carry.
func (c *Config) checkVersions() []*Error {
	ibp, ok := parseKafkaVersion(c.InterBrokerProtocolVersion)
	if !ok {
		return nil // reported by the key's own rule
	}
	var errs []*Error
	if format, ok := parseKafkaVersion(c.LogMessageFormatVersion); ok && format.record > ibp.record {
		first := kafkaVersions[slices.IndexFunc(kafkaVersions, func(v kafkaVersion) bool { return v.record == format.record })]
		errs = append(errs, c.errorAt("log.message.format.version",
			fmt.Sprintf("needs inter.broker.protocol.version %s or later", first.short)))
	}
	zstdFrom, _ := parseKafkaVersion("2.1-IV0")
	if c.OffsetsTopicCompressionCodec == 4 && ibp.order < zstdFrom.order {
		errs = append(errs, c.errorAt("offsets.topic.compression.codec",
			"zstd (4) needs inter.broker.protocol.version 2.1 or later"))
	}
	return errs
}
