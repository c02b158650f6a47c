package conf

import (
	"strings"
	"time"
)

// The broker key table: one row per key, with Kafka 2.8's name, type and
// default (from KafkaConfig.scala's Defaults and its ConfigDef), the rule it
// must satisfy, a short doc, and the field it lands in. Parse, Default,
// Validate and Describe are all driven by this table; adding a key is adding
// a row (and a field to Config).
//
// Order matters in one way: a key whose field decoding needs another key's
// field comes after it (listener.security.protocol.map before listeners).
//
// Where a rule is stricter than Kafka's, the row says so and why. Most such
// rules exist because the key is also the default of a topic-level key whose
// Kafka rule is stricter, and Kafka would only fail later, when it first
// builds a topic's configuration from the broker's.

// brokerKeys is the broker table, indexed. It is built once and never
// modified.
var brokerKeys = newTable(append(append(serverDefs(), logDefs()...), gregorDefs()...))

// Units for the unit field of a row.
const (
	ms      = time.Millisecond
	seconds = time.Second
	minutes = time.Minute
	hours   = time.Hour
)

// Java's Integer.MAX_VALUE and Long.MAX_VALUE, Kafka's "no limit" defaults.
const (
	maxInt  = "2147483647"
	maxLong = "9223372036854775807"
)

func serverDefs() []def[Config] {
	return []def[Config]{
		// ZooKeeper.
		{name: "zookeeper.connect", typ: TypeString, noDefault: true,
			doc: "ZooKeeper connect string host:port[,host:port...][/chroot]; required.",
			bind: decoded(func(c *Config) *ZooKeeper { return &c.ZooKeeper },
				func(_ *Config, s string) (ZooKeeper, error) { return ParseZooKeeperConnect(s) },
				func(c *Config) string { return c.ZooKeeper.String() })},
		{name: "zookeeper.session.timeout.ms", typ: TypeInt, dflt: "18000", unit: ms,
			doc:  "ZooKeeper session timeout; after it expires the broker's ephemeral znodes vanish.",
			bind: duration(func(c *Config) *time.Duration { return &c.ZooKeeperSessionTimeout })},
		{name: "zookeeper.connection.timeout.ms", typ: TypeInt, noDefault: true, unit: ms,
			synonyms: []string{"zookeeper.session.timeout.ms"},
			doc:      "How long to wait for a ZooKeeper connection; unset, the session timeout.",
			bind:     duration(func(c *Config) *time.Duration { return &c.ZooKeeperConnectionTimeout })},
		{name: "zookeeper.max.in.flight.requests", typ: TypeInt, dflt: "10", rule: atLeast(1),
			doc:  "ZooKeeper requests the broker pipelines before blocking.",
			bind: integer(func(c *Config) *int { return &c.ZooKeeperMaxInFlightRequests })},
		{name: "zookeeper.set.acl", typ: TypeBoolean, dflt: "false",
			doc:  "Create znodes with secure ACLs.",
			bind: boolean(func(c *Config) *bool { return &c.ZooKeeperSetACL })},
		{name: "zookeeper.sync.time.ms", typ: TypeInt, dflt: "2000", unit: ms,
			doc:  "How far a ZooKeeper follower may lag its leader (unused by Kafka 2.8; accepted for old files).",
			bind: duration(func(c *Config) *time.Duration { return &c.ZooKeeperSyncTime })},

		// Broker identity.
		{name: "broker.id", typ: TypeInt, dflt: "-1",
			doc:  "This broker's id; -1 takes one from ZooKeeper above reserved.broker.max.id.",
			bind: integer(func(c *Config) *int32 { return &c.BrokerID })},
		{name: "broker.id.generation.enable", typ: TypeBoolean, dflt: "true",
			doc:  "Let a broker without broker.id get one from ZooKeeper's /brokers/seqid.",
			bind: boolean(func(c *Config) *bool { return &c.BrokerIDGenerationEnable })},
		{name: "reserved.broker.max.id", typ: TypeInt, dflt: "1000", rule: atLeast(0),
			doc:  "Highest id an operator may assign; generated ids start above it.",
			bind: integer(func(c *Config) *int32 { return &c.ReservedBrokerMaxID })},
		{name: "broker.rack", typ: TypeString, noDefault: true,
			doc:  "Rack of this broker, used to spread replicas across racks.",
			bind: text(func(c *Config) *string { return &c.BrokerRack })},

		// Listeners.
		{name: "listener.security.protocol.map", typ: TypeString,
			dflt: "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
			doc:  "Security protocol of each listener name, as NAME:PROTOCOL pairs.",
			bind: decoded(func(c *Config) *map[string]SecurityProtocol { return &c.ListenerSecurityProtocolMap },
				func(_ *Config, s string) (map[string]SecurityProtocol, error) { return parseProtocolMap(s) },
				func(c *Config) string { return formatProtocolMap(c.ListenerSecurityProtocolMap) })},
		{name: "listeners", typ: TypeString, dflt: "PLAINTEXT://:9092",
			doc: "Endpoints to listen on, as NAME://host:port; an empty host binds every interface.",
			bind: decoded(func(c *Config) *[]Listener { return &c.Listeners },
				func(c *Config, s string) ([]Listener, error) {
					return parseListeners(s, c.ListenerSecurityProtocolMap, true)
				},
				func(c *Config) string { return formatListeners(c.Listeners) })},
		{name: "advertised.listeners", typ: TypeString, noDefault: true,
			doc: "Endpoints published in ZooKeeper for clients and brokers; unset, the listeners.",
			bind: decoded(func(c *Config) *[]Listener { return &c.AdvertisedListeners },
				func(c *Config, s string) ([]Listener, error) {
					return parseListeners(s, c.ListenerSecurityProtocolMap, false)
				},
				func(c *Config) string { return formatListeners(c.Advertised()) })},
		{name: "inter.broker.listener.name", typ: TypeString, noDefault: true,
			doc:  "Listener brokers use to reach each other; unset, the one named after security.inter.broker.protocol.",
			bind: upperText(func(c *Config) *string { return &c.InterBrokerListenerName })},
		{name: "security.inter.broker.protocol", typ: TypeString, dflt: "PLAINTEXT",
			rule: oneOf("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
			doc:  "Security protocol between brokers; set this or inter.broker.listener.name, not both.",
			bind: upperText(func(c *Config) *SecurityProtocol { return &c.SecurityInterBrokerProtocol })},

		// Request path.
		{name: "num.network.threads", typ: TypeInt, dflt: "3", rule: atLeast(1),
			doc:  "Threads receiving requests and sending responses.",
			bind: integer(func(c *Config) *int { return &c.NumNetworkThreads })},
		{name: "num.io.threads", typ: TypeInt, dflt: "8", rule: atLeast(1),
			doc:  "Threads handling requests, including disk I/O.",
			bind: integer(func(c *Config) *int { return &c.NumIOThreads })},
		{name: "background.threads", typ: TypeInt, dflt: "10", rule: atLeast(1),
			doc:  "Threads for background work such as deleting segments.",
			bind: integer(func(c *Config) *int { return &c.BackgroundThreads })},
		{name: "queued.max.requests", typ: TypeInt, dflt: "500", rule: atLeast(1),
			doc:  "Requests queued for the I/O threads before the network threads stop reading.",
			bind: integer(func(c *Config) *int { return &c.QueuedMaxRequests })},
		{name: "queued.max.request.bytes", typ: TypeLong, dflt: "-1",
			doc:  "Bytes of queued requests before reading stops; -1 for no limit.",
			bind: integer(func(c *Config) *int64 { return &c.QueuedMaxRequestBytes })},
		{name: "socket.send.buffer.bytes", typ: TypeInt, dflt: "102400",
			doc:  "SO_SNDBUF of client sockets; -1 for the OS default.",
			bind: integer(func(c *Config) *int64 { return &c.SocketSendBufferBytes })},
		{name: "socket.receive.buffer.bytes", typ: TypeInt, dflt: "102400",
			doc:  "SO_RCVBUF of client sockets; -1 for the OS default.",
			bind: integer(func(c *Config) *int64 { return &c.SocketReceiveBufferBytes })},
		{name: "socket.request.max.bytes", typ: TypeInt, dflt: "104857600", rule: atLeast(1),
			doc:  "Largest request frame accepted; a larger one closes the connection.",
			bind: integer(func(c *Config) *int64 { return &c.SocketRequestMaxBytes })},
		{name: "max.connections", typ: TypeInt, dflt: maxInt, rule: atLeast(0),
			doc:  "Connections the broker accepts in total.",
			bind: integer(func(c *Config) *int { return &c.MaxConnections })},
		{name: "max.connections.per.ip", typ: TypeInt, dflt: maxInt, rule: atLeast(0),
			doc:  "Connections accepted from one IP address.",
			bind: integer(func(c *Config) *int { return &c.MaxConnectionsPerIP })},
		{name: "max.connections.per.ip.overrides", typ: TypeString, dflt: "",
			doc: "Per-host exceptions to max.connections.per.ip, as host:count pairs.",
			bind: decoded(func(c *Config) *map[string]int { return &c.MaxConnectionsPerIPOverrides },
				func(_ *Config, s string) (map[string]int, error) { return parseIPOverrides(s) },
				func(c *Config) string { return formatIPOverrides(c.MaxConnectionsPerIPOverrides) })},
		{name: "max.connection.creation.rate", typ: TypeInt, dflt: maxInt, rule: atLeast(0),
			doc:  "New connections accepted per second.",
			bind: integer(func(c *Config) *int { return &c.MaxConnectionCreationRate })},
		{name: "connections.max.idle.ms", typ: TypeLong, dflt: "600000", unit: ms,
			doc:  "Idle time after which a connection is closed.",
			bind: duration(func(c *Config) *time.Duration { return &c.ConnectionsMaxIdle })},
		{name: "request.timeout.ms", typ: TypeInt, dflt: "30000", unit: ms,
			doc:  "How long the broker's own client (to other brokers) waits for a response.",
			bind: duration(func(c *Config) *time.Duration { return &c.RequestTimeout })},
		{name: "socket.connection.setup.timeout.ms", typ: TypeLong, dflt: "10000", unit: ms,
			doc:  "How long the broker's own client waits for a connection to be set up.",
			bind: duration(func(c *Config) *time.Duration { return &c.SocketConnectionSetupTimeout })},
		{name: "socket.connection.setup.timeout.max.ms", typ: TypeLong, dflt: "30000", unit: ms,
			doc:  "Upper bound of the exponentially growing connection setup timeout.",
			bind: duration(func(c *Config) *time.Duration { return &c.SocketConnectionSetupTimeoutMax })},

		// Topics.
		{name: "num.partitions", typ: TypeInt, dflt: "1", rule: atLeast(1),
			doc:  "Partitions of an automatically created topic.",
			bind: integer(func(c *Config) *int32 { return &c.NumPartitions })},
		// Stricter than Kafka (no rule): a factor below 1 makes every
		// automatic topic creation fail.
		{name: "default.replication.factor", typ: TypeInt, dflt: "1", rule: atLeast(1),
			doc:  "Replication factor of an automatically created topic.",
			bind: integer(func(c *Config) *int32 { return &c.DefaultReplicationFactor })},
		{name: "min.insync.replicas", typ: TypeInt, dflt: "1", rule: atLeast(1),
			doc:  "In-sync replicas an acks=all produce needs, else NOT_ENOUGH_REPLICAS.",
			bind: integer(func(c *Config) *int { return &c.MinInsyncReplicas })},
		{name: "auto.create.topics.enable", typ: TypeBoolean, dflt: "true",
			doc:  "Create a topic when a client asks for its metadata or produces to it.",
			bind: boolean(func(c *Config) *bool { return &c.AutoCreateTopicsEnable })},
		{name: "delete.topic.enable", typ: TypeBoolean, dflt: "true",
			doc:  "Allow deleting topics; when false, deletion requests are refused.",
			bind: boolean(func(c *Config) *bool { return &c.DeleteTopicEnable })},
		{name: "unclean.leader.election.enable", typ: TypeBoolean, dflt: "false",
			doc:  "Elect a replica outside the ISR as a last resort, at the risk of losing data.",
			bind: boolean(func(c *Config) *bool { return &c.UncleanLeaderElectionEnable })},
		// Kafka checks this in validateValues rather than with a validator;
		// the rule is the same (case-sensitive here, like the topic key).
		{name: "compression.type", typ: TypeString, dflt: "producer",
			rule: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"),
			doc:  "Compression of stored batches; producer keeps what the producer sent.",
			bind: text(func(c *Config) *string { return &c.CompressionType })},
		{name: "message.max.bytes", typ: TypeInt, dflt: "1048588", rule: atLeast(0),
			doc:  "Largest record batch accepted (1 MiB plus the 12-byte log overhead).",
			bind: integer(func(c *Config) *int64 { return &c.MessageMaxBytes })},

		// Replication.
		{name: "inter.broker.protocol.version", typ: TypeString, dflt: latestKafkaVersion, rule: kafkaVersionRule(),
			doc:  "Protocol level brokers speak to each other; raised last in a rolling upgrade.",
			bind: text(func(c *Config) *string { return &c.InterBrokerProtocolVersion })},
		// Stricter than Kafka (no rule): a follower assigns partitions to
		// fetchers modulo this count.
		{name: "num.replica.fetchers", typ: TypeInt, dflt: "1", rule: atLeast(1),
			doc:  "Fetcher threads per source broker.",
			bind: integer(func(c *Config) *int { return &c.NumReplicaFetchers })},
		{name: "replica.fetch.max.bytes", typ: TypeInt, dflt: "1048576", rule: atLeast(0),
			doc:  "Bytes a follower asks for per partition.",
			bind: integer(func(c *Config) *int64 { return &c.ReplicaFetchMaxBytes })},
		{name: "replica.fetch.min.bytes", typ: TypeInt, dflt: "1",
			doc:  "Bytes a follower's fetch waits for, up to replica.fetch.wait.max.ms.",
			bind: integer(func(c *Config) *int64 { return &c.ReplicaFetchMinBytes })},
		{name: "replica.fetch.response.max.bytes", typ: TypeInt, dflt: "10485760", rule: atLeast(0),
			doc:  "Bytes a follower asks for per fetch response.",
			bind: integer(func(c *Config) *int64 { return &c.ReplicaFetchResponseMaxBytes })},
		{name: "replica.fetch.wait.max.ms", typ: TypeInt, dflt: "500", unit: ms,
			doc:  "Longest a follower's fetch waits at the leader.",
			bind: duration(func(c *Config) *time.Duration { return &c.ReplicaFetchWaitMax })},
		{name: "replica.fetch.backoff.ms", typ: TypeInt, dflt: "1000", rule: atLeast(0), unit: ms,
			doc:  "Pause after a failed fetch from a leader.",
			bind: duration(func(c *Config) *time.Duration { return &c.ReplicaFetchBackoff })},
		{name: "replica.lag.time.max.ms", typ: TypeLong, dflt: "30000", unit: ms,
			doc:  "A follower not caught up within this time leaves the ISR.",
			bind: duration(func(c *Config) *time.Duration { return &c.ReplicaLagTimeMax })},
		{name: "replica.socket.timeout.ms", typ: TypeInt, dflt: "30000", unit: ms,
			doc:  "Socket timeout of follower fetches; at least replica.fetch.wait.max.ms.",
			bind: duration(func(c *Config) *time.Duration { return &c.ReplicaSocketTimeout })},
		{name: "replica.socket.receive.buffer.bytes", typ: TypeInt, dflt: "65536",
			doc:  "SO_RCVBUF of follower fetch connections.",
			bind: integer(func(c *Config) *int64 { return &c.ReplicaSocketReceiveBufferBytes })},
		{name: "replica.high.watermark.checkpoint.interval.ms", typ: TypeLong, dflt: "5000", unit: ms,
			doc:  "How often high watermarks are written to replication-offset-checkpoint.",
			bind: duration(func(c *Config) *time.Duration { return &c.ReplicaHighWatermarkCheckpointInterval })},
		{name: "fetch.purgatory.purge.interval.requests", typ: TypeInt, dflt: "1000",
			doc:  "Completed delayed fetches tolerated before the fetch purgatory is purged.",
			bind: integer(func(c *Config) *int { return &c.FetchPurgatoryPurgeIntervalRequests })},
		{name: "producer.purgatory.purge.interval.requests", typ: TypeInt, dflt: "1000",
			doc:  "Completed delayed produces tolerated before the produce purgatory is purged.",
			bind: integer(func(c *Config) *int { return &c.ProducerPurgatoryPurgeIntervalRequests })},
		{name: "delete.records.purgatory.purge.interval.requests", typ: TypeInt, dflt: "1",
			doc:  "Completed delayed DeleteRecords tolerated before that purgatory is purged.",
			bind: integer(func(c *Config) *int { return &c.DeleteRecordsPurgatoryPurgeIntervalRequests })},
		{name: "fetch.max.bytes", typ: TypeInt, dflt: "57671680", rule: atLeast(1024),
			doc:  "Most bytes returned for one consumer fetch.",
			bind: integer(func(c *Config) *int64 { return &c.FetchMaxBytes })},
		{name: "max.incremental.fetch.session.cache.slots", typ: TypeInt, dflt: "1000", rule: atLeast(0),
			doc:  "Incremental fetch sessions (KIP-227) the broker keeps.",
			bind: integer(func(c *Config) *int { return &c.MaxIncrementalFetchSessionCacheSlots })},
		{name: "controller.socket.timeout.ms", typ: TypeInt, dflt: "30000", unit: ms,
			doc:  "Timeout of the controller's connections to brokers.",
			bind: duration(func(c *Config) *time.Duration { return &c.ControllerSocketTimeout })},
		{name: "auto.leader.rebalance.enable", typ: TypeBoolean, dflt: "true",
			doc:  "Move leadership back to preferred replicas when too many are elsewhere.",
			bind: boolean(func(c *Config) *bool { return &c.AutoLeaderRebalanceEnable })},
		{name: "leader.imbalance.per.broker.percentage", typ: TypeInt, dflt: "10",
			doc:  "Share of a broker's partitions led elsewhere that triggers a rebalance.",
			bind: integer(func(c *Config) *int { return &c.LeaderImbalancePerBrokerPercentage })},
		{name: "leader.imbalance.check.interval.seconds", typ: TypeLong, dflt: "300", unit: seconds,
			doc:  "How often the controller checks leader imbalance.",
			bind: duration(func(c *Config) *time.Duration { return &c.LeaderImbalanceCheckInterval })},
		{name: "controlled.shutdown.enable", typ: TypeBoolean, dflt: "true",
			doc:  "Ask the controller to move leadership away before shutting down.",
			bind: boolean(func(c *Config) *bool { return &c.ControlledShutdownEnable })},
		{name: "controlled.shutdown.max.retries", typ: TypeInt, dflt: "3",
			doc:  "Attempts at a controlled shutdown before shutting down anyway.",
			bind: integer(func(c *Config) *int { return &c.ControlledShutdownMaxRetries })},
		{name: "controlled.shutdown.retry.backoff.ms", typ: TypeLong, dflt: "5000", unit: ms,
			doc:  "Pause between controlled shutdown attempts.",
			bind: duration(func(c *Config) *time.Duration { return &c.ControlledShutdownRetryBackoff })},

		// Consumer groups and __consumer_offsets.
		{name: "group.min.session.timeout.ms", typ: TypeInt, dflt: "6000", unit: ms,
			doc:  "Smallest session timeout a group member may ask for.",
			bind: duration(func(c *Config) *time.Duration { return &c.GroupMinSessionTimeout })},
		{name: "group.max.session.timeout.ms", typ: TypeInt, dflt: "1800000", unit: ms,
			doc:  "Largest session timeout a group member may ask for.",
			bind: duration(func(c *Config) *time.Duration { return &c.GroupMaxSessionTimeout })},
		{name: "group.initial.rebalance.delay.ms", typ: TypeInt, dflt: "3000", unit: ms,
			doc:  "How long an empty group waits for more members before its first rebalance.",
			bind: duration(func(c *Config) *time.Duration { return &c.GroupInitialRebalanceDelay })},
		{name: "group.max.size", typ: TypeInt, dflt: maxInt, rule: atLeast(1),
			doc:  "Members one consumer group may have.",
			bind: integer(func(c *Config) *int { return &c.GroupMaxSize })},
		{name: "offset.metadata.max.bytes", typ: TypeInt, dflt: "4096",
			doc:  "Largest metadata string stored with a committed offset.",
			bind: integer(func(c *Config) *int64 { return &c.OffsetMetadataMaxBytes })},
		{name: "offsets.load.buffer.size", typ: TypeInt, dflt: "5242880", rule: atLeast(1),
			doc:  "Read size when loading __consumer_offsets into the coordinator.",
			bind: integer(func(c *Config) *int64 { return &c.OffsetsLoadBufferSize })},
		{name: "offsets.topic.num.partitions", typ: TypeInt, dflt: "50", rule: atLeast(1),
			doc:  "Partitions of __consumer_offsets; do not change once it exists.",
			bind: integer(func(c *Config) *int32 { return &c.OffsetsTopicNumPartitions })},
		{name: "offsets.topic.replication.factor", typ: TypeShort, dflt: "3", rule: atLeast(1),
			doc:  "Replication factor of __consumer_offsets; its creation waits for this many brokers.",
			bind: integer(func(c *Config) *int16 { return &c.OffsetsTopicReplicationFactor })},
		{name: "offsets.topic.segment.bytes", typ: TypeInt, dflt: "104857600", rule: atLeast(1),
			doc:  "Segment size of __consumer_offsets, kept small for fast compaction and loading.",
			bind: integer(func(c *Config) *int64 { return &c.OffsetsTopicSegmentBytes })},
		// Kafka rejects unknown codec ids when it converts the value.
		{name: "offsets.topic.compression.codec", typ: TypeInt, dflt: "0", rule: oneOfInts(0, 1, 2, 3, 4),
			doc:  "Compression of offset commits: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.",
			bind: integer(func(c *Config) *int32 { return &c.OffsetsTopicCompressionCodec })},
		{name: "offsets.retention.minutes", typ: TypeInt, dflt: "10080", rule: atLeast(1), unit: minutes,
			doc:  "How long committed offsets of an empty group are kept.",
			bind: duration(func(c *Config) *time.Duration { return &c.OffsetsRetention })},
		{name: "offsets.retention.check.interval.ms", typ: TypeLong, dflt: "600000", rule: atLeast(1), unit: ms,
			doc:  "How often expired offsets are removed.",
			bind: duration(func(c *Config) *time.Duration { return &c.OffsetsRetentionCheckInterval })},
		{name: "offsets.commit.timeout.ms", typ: TypeInt, dflt: "5000", rule: atLeast(1), unit: ms,
			doc:  "How long an offset commit waits for its replication.",
			bind: duration(func(c *Config) *time.Duration { return &c.OffsetsCommitTimeout })},
		{name: "offsets.commit.required.acks", typ: TypeShort, dflt: "-1",
			doc:  "acks of offset commits; leave at -1.",
			bind: integer(func(c *Config) *int16 { return &c.OffsetsCommitRequiredAcks })},

		// Transactions and __transaction_state.
		{name: "transactional.id.expiration.ms", typ: TypeInt, dflt: "604800000", rule: atLeast(1), unit: ms,
			doc:  "Idle time after which a transactional id is forgotten.",
			bind: duration(func(c *Config) *time.Duration { return &c.TransactionalIDExpiration })},
		{name: "transaction.max.timeout.ms", typ: TypeInt, dflt: "900000", rule: atLeast(1), unit: ms,
			doc:  "Largest transaction timeout a producer may ask for.",
			bind: duration(func(c *Config) *time.Duration { return &c.TransactionMaxTimeout })},
		{name: "transaction.state.log.num.partitions", typ: TypeInt, dflt: "50", rule: atLeast(1),
			doc:  "Partitions of __transaction_state; do not change once it exists.",
			bind: integer(func(c *Config) *int32 { return &c.TransactionStateLogNumPartitions })},
		{name: "transaction.state.log.replication.factor", typ: TypeShort, dflt: "3", rule: atLeast(1),
			doc:  "Replication factor of __transaction_state.",
			bind: integer(func(c *Config) *int16 { return &c.TransactionStateLogReplicationFactor })},
		{name: "transaction.state.log.min.isr", typ: TypeInt, dflt: "2", rule: atLeast(1),
			doc:  "min.insync.replicas of __transaction_state.",
			bind: integer(func(c *Config) *int { return &c.TransactionStateLogMinISR })},
		{name: "transaction.state.log.segment.bytes", typ: TypeInt, dflt: "104857600", rule: atLeast(1),
			doc:  "Segment size of __transaction_state.",
			bind: integer(func(c *Config) *int64 { return &c.TransactionStateLogSegmentBytes })},
		{name: "transaction.state.log.load.buffer.size", typ: TypeInt, dflt: "5242880", rule: atLeast(1),
			doc:  "Read size when loading __transaction_state into the coordinator.",
			bind: integer(func(c *Config) *int64 { return &c.TransactionStateLogLoadBufferSize })},
		{name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", typ: TypeInt, dflt: "10000",
			rule: atLeast(1), unit: ms,
			doc:  "How often transactions past their timeout are aborted.",
			bind: duration(func(c *Config) *time.Duration { return &c.TransactionAbortTimedOutTransactionInterval })},
		{name: "transaction.remove.expired.transaction.cleanup.interval.ms", typ: TypeInt, dflt: "3600000",
			rule: atLeast(1), unit: ms,
			doc:  "How often expired transactional ids are removed.",
			bind: duration(func(c *Config) *time.Duration { return &c.TransactionRemoveExpiredTransactionalIDInterval })},
	}
}

// upperText binds a string key that Kafka reads case-insensitively (listener
// and security protocol names) and stores it upper-cased.
func upperText[T ~string](field func(*Config) *T) binding[Config] {
	return binding[Config]{
		store: func(c *Config, v any) error { *field(c) = T(strings.ToUpper(v.(string))); return nil },
		load:  func(c *Config) any { return string(*field(c)) },
	}
}

// decoded binds a STRING key whose value is decoded into a type of its own
// (zookeeper.connect into ZooKeeper, listeners into []Listener). decode may
// read fields stored before it, which is why the table's order matters:
// listeners are resolved through listener.security.protocol.map. encode
// writes the field back in the key's syntax.
func decoded[T any](field func(*Config) *T, decode func(c *Config, s string) (T, error), encode func(c *Config) string) binding[Config] {
	return binding[Config]{
		store: func(c *Config, v any) error {
			x, err := decode(c, v.(string))
			if err != nil {
				return err
			}
			*field(c) = x
			return nil
		},
		load: func(c *Config) any { return encode(c) },
	}
}
