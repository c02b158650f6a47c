package conf

import "time"

// Config is the broker's static configuration: every key of the broker tables
// (keys_server.go, keys_log.go) as a typed field. The comment on each field
// names its key; the key's doc and rule are in the table.
//
// Durations are time.Duration and sizes int64, whatever unit or width the
// Kafka key has. Where Kafka's default is "the value of another key"
// (log.roll.ms takes log.roll.hours, zookeeper.connection.timeout.ms takes
// zookeeper.session.timeout.ms), Parse and Default resolve it, so a field
// always holds the value in effect. The one exception is
// AdvertisedListeners: nil means "the same as Listeners", so that a Config
// changed in code cannot advertise stale ports; read it through Advertised.
//
// Get a Config from Parse or Load (which validate it) or from Default (which
// cannot be valid as it is: zookeeper.connect has no default). A Config is
// plain data and is not modified by any method, so it may be shared between
// goroutines once built.
type Config struct {
	// ZooKeeper.
	ZooKeeper                    ZooKeeper     // zookeeper.connect
	ZooKeeperSessionTimeout      time.Duration // zookeeper.session.timeout.ms
	ZooKeeperConnectionTimeout   time.Duration // zookeeper.connection.timeout.ms
	ZooKeeperMaxInFlightRequests int           // zookeeper.max.in.flight.requests
	ZooKeeperSetACL              bool          // zookeeper.set.acl
	ZooKeeperSyncTime            time.Duration // zookeeper.sync.time.ms

	// Broker identity.
	BrokerID                 int32  // broker.id; -1 asks ZooKeeper for one (broker.id.generation.enable)
	BrokerIDGenerationEnable bool   // broker.id.generation.enable
	ReservedBrokerMaxID      int32  // reserved.broker.max.id
	BrokerRack               string // broker.rack; "" when unset

	// Listeners and the request path.
	Listeners                       []Listener                  // listeners
	AdvertisedListeners             []Listener                  // advertised.listeners; nil: see Advertised
	ListenerSecurityProtocolMap     map[string]SecurityProtocol // listener.security.protocol.map
	InterBrokerListenerName         string                      // inter.broker.listener.name; "" when unset, see InterBrokerListener
	SecurityInterBrokerProtocol     SecurityProtocol            // security.inter.broker.protocol
	NumNetworkThreads               int                         // num.network.threads
	NumIOThreads                    int                         // num.io.threads
	BackgroundThreads               int                         // background.threads
	QueuedMaxRequests               int                         // queued.max.requests
	QueuedMaxRequestBytes           int64                       // queued.max.request.bytes
	SocketSendBufferBytes           int64                       // socket.send.buffer.bytes
	SocketReceiveBufferBytes        int64                       // socket.receive.buffer.bytes
	SocketRequestMaxBytes           int64                       // socket.request.max.bytes
	MaxConnections                  int                         // max.connections
	MaxConnectionsPerIP             int                         // max.connections.per.ip
	MaxConnectionsPerIPOverrides    map[string]int              // max.connections.per.ip.overrides
	MaxConnectionCreationRate       int                         // max.connection.creation.rate
	ConnectionsMaxIdle              time.Duration               // connections.max.idle.ms
	RequestTimeout                  time.Duration               // request.timeout.ms
	SocketConnectionSetupTimeout    time.Duration               // socket.connection.setup.timeout.ms
	SocketConnectionSetupTimeoutMax time.Duration               // socket.connection.setup.timeout.max.ms

	// Topics.
	NumPartitions               int32  // num.partitions
	DefaultReplicationFactor    int32  // default.replication.factor
	MinInsyncReplicas           int    // min.insync.replicas
	AutoCreateTopicsEnable      bool   // auto.create.topics.enable
	DeleteTopicEnable           bool   // delete.topic.enable
	UncleanLeaderElectionEnable bool   // unclean.leader.election.enable
	CompressionType             string // compression.type
	MessageMaxBytes             int64  // message.max.bytes

	// Logs.
	LogDirs                               []string      // log.dirs, else log.dir
	LogSegmentBytes                       int64         // log.segment.bytes
	LogRoll                               time.Duration // log.roll.ms, else log.roll.hours
	LogRollJitter                         time.Duration // log.roll.jitter.ms, else log.roll.jitter.hours
	LogRetention                          time.Duration // log.retention.ms, else .minutes, else .hours; Unlimited for -1
	LogRetentionBytes                     int64         // log.retention.bytes; -1 for unlimited
	LogRetentionCheckInterval             time.Duration // log.retention.check.interval.ms
	LogIndexIntervalBytes                 int64         // log.index.interval.bytes
	LogIndexSizeMaxBytes                  int64         // log.index.size.max.bytes
	LogFlushIntervalMessages              int64         // log.flush.interval.messages
	LogFlushInterval                      time.Duration // log.flush.interval.ms, else log.flush.scheduler.interval.ms
	LogFlushSchedulerInterval             time.Duration // log.flush.scheduler.interval.ms
	LogFlushOffsetCheckpointInterval      time.Duration // log.flush.offset.checkpoint.interval.ms
	LogFlushStartOffsetCheckpointInterval time.Duration // log.flush.start.offset.checkpoint.interval.ms
	LogSegmentDeleteDelay                 time.Duration // log.segment.delete.delay.ms
	LogPreallocate                        bool          // log.preallocate
	LogMessageFormatVersion               string        // log.message.format.version
	LogMessageTimestampType               string        // log.message.timestamp.type
	LogMessageTimestampDifferenceMax      time.Duration // log.message.timestamp.difference.max.ms
	LogMessageDownConversionEnable        bool          // log.message.downconversion.enable
	NumRecoveryThreadsPerDataDir          int           // num.recovery.threads.per.data.dir

	// Log cleaner (compaction).
	LogCleanupPolicy              []string      // log.cleanup.policy
	LogCleanerEnable              bool          // log.cleaner.enable
	LogCleanerThreads             int           // log.cleaner.threads
	LogCleanerDedupeBufferSize    int64         // log.cleaner.dedupe.buffer.size
	LogCleanerIOBufferSize        int64         // log.cleaner.io.buffer.size
	LogCleanerIOBufferLoadFactor  float64       // log.cleaner.io.buffer.load.factor
	LogCleanerIOMaxBytesPerSecond float64       // log.cleaner.io.max.bytes.per.second
	LogCleanerMinCleanableRatio   float64       // log.cleaner.min.cleanable.ratio
	LogCleanerBackoff             time.Duration // log.cleaner.backoff.ms
	LogCleanerDeleteRetention     time.Duration // log.cleaner.delete.retention.ms
	LogCleanerMinCompactionLag    time.Duration // log.cleaner.min.compaction.lag.ms
	LogCleanerMaxCompactionLag    time.Duration // log.cleaner.max.compaction.lag.ms

	// Replication.
	InterBrokerProtocolVersion                  string        // inter.broker.protocol.version
	NumReplicaFetchers                          int           // num.replica.fetchers
	ReplicaFetchMaxBytes                        int64         // replica.fetch.max.bytes
	ReplicaFetchMinBytes                        int64         // replica.fetch.min.bytes
	ReplicaFetchResponseMaxBytes                int64         // replica.fetch.response.max.bytes
	ReplicaFetchWaitMax                         time.Duration // replica.fetch.wait.max.ms
	ReplicaFetchBackoff                         time.Duration // replica.fetch.backoff.ms
	ReplicaLagTimeMax                           time.Duration // replica.lag.time.max.ms
	ReplicaSocketTimeout                        time.Duration // replica.socket.timeout.ms
	ReplicaSocketReceiveBufferBytes             int64         // replica.socket.receive.buffer.bytes
	ReplicaHighWatermarkCheckpointInterval      time.Duration // replica.high.watermark.checkpoint.interval.ms
	FetchPurgatoryPurgeIntervalRequests         int           // fetch.purgatory.purge.interval.requests
	ProducerPurgatoryPurgeIntervalRequests      int           // producer.purgatory.purge.interval.requests
	DeleteRecordsPurgatoryPurgeIntervalRequests int           // delete.records.purgatory.purge.interval.requests
	FetchMaxBytes                               int64         // fetch.max.bytes
	MaxIncrementalFetchSessionCacheSlots        int           // max.incremental.fetch.session.cache.slots
	ControllerSocketTimeout                     time.Duration // controller.socket.timeout.ms
	AutoLeaderRebalanceEnable                   bool          // auto.leader.rebalance.enable
	LeaderImbalancePerBrokerPercentage          int           // leader.imbalance.per.broker.percentage
	LeaderImbalanceCheckInterval                time.Duration // leader.imbalance.check.interval.seconds
	ControlledShutdownEnable                    bool          // controlled.shutdown.enable
	ControlledShutdownMaxRetries                int           // controlled.shutdown.max.retries
	ControlledShutdownRetryBackoff              time.Duration // controlled.shutdown.retry.backoff.ms

	// Consumer groups and __consumer_offsets.
	GroupMinSessionTimeout        time.Duration // group.min.session.timeout.ms
	GroupMaxSessionTimeout        time.Duration // group.max.session.timeout.ms
	GroupInitialRebalanceDelay    time.Duration // group.initial.rebalance.delay.ms
	GroupMaxSize                  int           // group.max.size
	OffsetMetadataMaxBytes        int64         // offset.metadata.max.bytes
	OffsetsLoadBufferSize         int64         // offsets.load.buffer.size
	OffsetsTopicNumPartitions     int32         // offsets.topic.num.partitions
	OffsetsTopicReplicationFactor int16         // offsets.topic.replication.factor
	OffsetsTopicSegmentBytes      int64         // offsets.topic.segment.bytes
	OffsetsTopicCompressionCodec  int32         // offsets.topic.compression.codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
	OffsetsCommitTimeout          time.Duration // offsets.commit.timeout.ms
	OffsetsCommitRequiredAcks     int16         // offsets.commit.required.acks

	// Transactions and __transaction_state.
	TransactionalIDExpiration                       time.Duration // transactional.id.expiration.ms
	TransactionMaxTimeout                           time.Duration // transaction.max.timeout.ms
	TransactionStateLogNumPartitions                int32         // transaction.state.log.num.partitions
	TransactionStateLogReplicationFactor            int16         // transaction.state.log.replication.factor
	TransactionStateLogMinISR                       int           // transaction.state.log.min.isr
	TransactionStateLogSegmentBytes                 int64         // transaction.state.log.segment.bytes
	TransactionStateLogLoadBufferSize               int64         // transaction.state.log.load.buffer.size
	TransactionAbortTimedOutTransactionInterval     time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	TransactionRemoveExpiredTransactionalIDInterval time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms

	// Gregor's own keys (keys_gregor.go): not Kafka's, named gregor.*.
	FetchZeroCopy bool   // gregor.fetch.zero.copy
	PprofListener string // gregor.pprof.listener; "" when off

	// input remembers what Parse read, for Describe and for naming keys in
	// errors. It is nil for a Config that did not come from Parse.
	input *input
}

// input is what Parse read: the raw value of every known key that was set
// (white space trimmed as Kafka trims it), and for each field the key whose
// value it holds when that key was set.
type input struct {
	raw    map[string]string
	origin map[string]string // field key → the set key that supplied it
}

// Default returns Kafka 2.8's defaults for every key. It is not a valid
// configuration on its own: zookeeper.connect has no default.
func Default() *Config {
	c, _, errs := build(nil)
	if len(errs) > 0 {
		panic("conf: the default configuration does not parse: " + errs[0].Error()) // a bug in a table
	}
	return c
}

// Advertised returns the listeners the broker registers in ZooKeeper for
// clients and other brokers: advertised.listeners, or listeners when that is
// unset.
func (c *Config) Advertised() []Listener {
	if c.AdvertisedListeners != nil {
		return c.AdvertisedListeners
	}
	return c.Listeners
}

// InterBrokerListener returns the advertised listener other brokers (and the
// controller) use to reach this one: the one named by inter.broker.listener.name,
// or else the one named after security.inter.broker.protocol. ok is false
// only for a Config that does not validate.
func (c *Config) InterBrokerListener() (l Listener, ok bool) {
	name := c.interBrokerListenerName()
	for _, l := range c.Advertised() {
		if l.Name == name {
			return l, true
		}
	}
	return Listener{}, false
}

// interBrokerListenerName resolves the inter-broker listener's name as Kafka
// does: inter.broker.listener.name when set, otherwise the name of
// security.inter.broker.protocol (PLAINTEXT names the PLAINTEXT listener).
func (c *Config) interBrokerListenerName() string {
	if c.InterBrokerListenerName != "" {
		return c.InterBrokerListenerName
	}
	return string(c.SecurityInterBrokerProtocol)
}
