package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/gregor-broker/gregor/coordinator/group"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/network"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
)

// Broker is one Gregor broker: the composition point of the storage engine,
// the ZooKeeper session, the socket server and the request handlers.
//
// Start-up, in order (Run):
//
//  1. connect to ZooKeeper (failing after zookeeper.connection.timeout.ms
//     with a clear message), read or create /cluster/id;
//  2. load the log directories (recovering them after an unclean
//     shutdown), settle the broker id (resolveBrokerID: configured, stored
//     in meta.properties, or generated from /brokers/seqid) and check
//     meta.properties against it and the cluster id; start watching
//     /config/changes for topic config changes (topicConfigs);
//  3. start the socket server and wait until every listener is bound;
//  4. register /brokers/ids/<id> with the advertised endpoints (failing
//     when a live broker holds the id); its czxid is the broker epoch.
//
// Shutdown first asks the controller, with controlled.shutdown.enable, to
// move this broker's partition leadership and ISR places elsewhere
// (controlledShutdown), then runs the same steps backwards, written out in
// one place (shutdown): close the group coordinator, which answers the
// JoinGroup and SyncGroup requests it parked; stop accepting and drain
// requests in flight; resign
// as controller; stop the log
// manager's background work, flush the logs, write the checkpoints and the
// clean-shutdown marker; close ZooKeeper last, so that the ephemeral broker
// znode disappears only when the broker is really gone.
//
// A ZooKeeper session expiry is normal life: the broker registers again in
// the new session.
type Broker struct {
	// cfg is the broker's own copy of its configuration, immutable except
	// that Run fills in a generated broker.id before anything else reads
	// it (as Kafka sets config.brokerId).
	cfg *conf.Config
	log *logrus.Entry

	logs         *logstore.Manager
	topicConfigs *topicConfigs
	handlers     *handlers
	net          *network.Server
	isrChanges   *isrChangeSender

	ready chan struct{} // closed once registered and serving
	// shutdownControlled records whether the last shutdown's controlled
	// shutdown succeeded (the controller left nothing led here), and
	// shutdownAttempts how many ControlledShutdown attempts it made.
	shutdownControlled atomic.Bool
	shutdownAttempts   atomic.Int32

	mu        sync.Mutex // guards the fields below
	zk        *zkutil.Client
	clusterID string
	addrs     []net.Addr
	pprofAddr net.Addr // nil: no pprof listener (pprof.go)
}

// New checks the configuration and builds the broker; it starts nothing.
func New(cfg *conf.Config, log *logrus.Entry) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server: invalid configuration:\n%w", err)
	}
	own := *cfg
	cfg = &own
	if cfg.BrokerID >= 0 { // a generated id is added once known (setBrokerID)
		log = log.WithField("broker_id", cfg.BrokerID)
	}
	b := &Broker{cfg: cfg, log: log, ready: make(chan struct{})}
	// Logs get the broker's topic defaults overlaid with the topic's
	// overrides from /config/topics (topic_config.go).
	b.topicConfigs = newTopicConfigs(cfg, nil, func(topic string) bool { return b.handlers.metadata.Contains(topic) }, log)
	var err error
	b.logs, err = logstore.NewManager(logstore.ManagerConfig{
		Dirs:                              cfg.LogDirs,
		DefaultLogConfig:                  logConfigFor(cfg.TopicDefaults(), cfg),
		ConfigFor:                         b.topicConfigs.loadConfig,
		RecoveryThreadsPerDir:             cfg.NumRecoveryThreadsPerDataDir,
		RetentionCheckInterval:            cfg.LogRetentionCheckInterval,
		FlushCheckInterval:                cfg.LogFlushSchedulerInterval,
		RecoveryPointCheckpointInterval:   cfg.LogFlushOffsetCheckpointInterval,
		LogStartOffsetCheckpointInterval:  cfg.LogFlushStartOffsetCheckpointInterval,
		HighWatermarkCheckpointInterval:   cfg.ReplicaHighWatermarkCheckpointInterval,
		ProducerIDExpirationCheckInterval: 10 * time.Minute,
		Cleaner: logstore.CleanerConfig{
			Enable:           cfg.LogCleanerEnable,
			Threads:          cfg.LogCleanerThreads,
			DedupeBufferSize: cfg.LogCleanerDedupeBufferSize,
			Backoff:          cfg.LogCleanerBackoff,
		},
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	b.topicConfigs.logs = b.logs
	b.handlers = newHandlers(cfg.BrokerID, log.WithField("component", "handlers"))
	b.handlers.replicas = newReplicaManager(cfg.BrokerID, b.logs, b.topicConfigs.logConfig, log)
	b.setUpReplication()
	b.handlers.cfg = cfg
	b.setUpGroups()
	netCfg := network.DefaultConfig()
	netCfg.Listeners = cfg.Listeners
	if l, ok := cfg.InterBrokerListener(); ok {
		netCfg.InterBrokerListenerName = l.Name
	}
	netCfg.SocketRequestMaxBytes = int(cfg.SocketRequestMaxBytes)
	netCfg.SocketSendBufferBytes = int(cfg.SocketSendBufferBytes)
	netCfg.SocketReceiveBufferBytes = int(cfg.SocketReceiveBufferBytes)
	netCfg.MaxConnections = cfg.MaxConnections
	netCfg.MaxConnectionsPerIP = cfg.MaxConnectionsPerIP
	netCfg.MaxConnectionsPerIPOverrides = cfg.MaxConnectionsPerIPOverrides
	netCfg.ConnectionsMaxIdle = cfg.ConnectionsMaxIdle
	netCfg.NumIOThreads = cfg.NumIOThreads
	netCfg.QueuedMaxRequests = cfg.QueuedMaxRequests
	netCfg.Logger = log.WithField("component", "socket_server")
	b.net, err = network.New(netCfg, b.handlers)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Ready is closed once the broker is registered in ZooKeeper and serving.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Addrs are the bound addresses of the listeners, in the order of
// `listeners` (valid once Ready is closed).
func (b *Broker) Addrs() []net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrs
}

// ClusterID is the cluster's id from /cluster/id (valid once Ready).
func (b *Broker) ClusterID() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.clusterID
}

// Run starts the broker and serves until ctx is done, then shuts down. It
// returns after everything it started has stopped; a start-up failure is
// returned with what was already started stopped again.
func (b *Broker) Run(ctx context.Context) error {
	zkc, err := zkutil.Connect(ctx, zkutil.Config{
		ZooKeeper:           b.cfg.ZooKeeper,
		SessionTimeout:      b.cfg.ZooKeeperSessionTimeout,
		ConnectionTimeout:   b.cfg.ZooKeeperConnectionTimeout,
		MaxInFlightRequests: b.cfg.ZooKeeperMaxInFlightRequests,
		Log:                 b.log.WithField("component", "zookeeper"),
	})
	if err != nil {
		return fmt.Errorf("server: cannot reach ZooKeeper at %s within zookeeper.connection.timeout.ms=%d: %w",
			b.cfg.ZooKeeper, b.cfg.ZooKeeperConnectionTimeout.Milliseconds(), err)
	}
	defer zkc.Close() // last: the broker znode goes when the broker is gone
	sessionEvents, stopSessionEvents := zkc.SessionEvents()
	defer stopSessionEvents()
	clusterID, err := zkc.GetOrCreateClusterID(ctx)
	if err != nil {
		return fmt.Errorf("server: read cluster id: %w", err)
	}
	if err := zkc.CreateTopLevelPaths(ctx); err != nil {
		return fmt.Errorf("server: create ZooKeeper paths: %w", err)
	}
	b.mu.Lock()
	b.zk, b.clusterID = zkc, clusterID
	b.mu.Unlock()
	b.topicConfigs.zk.Store(zkc)
	b.log.WithField("cluster_id", clusterID).Info("connected to ZooKeeper")

	if err := b.logs.Load(ctx); err != nil {
		return fmt.Errorf("server: load logs: %w", err)
	}
	id, err := b.resolveBrokerID(ctx, zkc)
	if err != nil {
		b.logs.Shutdown()
		return err
	}
	if id != b.cfg.BrokerID {
		b.setBrokerID(id)
	}
	b.handlers.metadata.setClusterID(clusterID)
	b.handlers.topics = zkc
	b.handlers.consumerOffsets = zkc
	b.handlers.producerIDs = newProducerIDManager(b.cfg.BrokerID, zkc, b.log)
	if err := b.logs.EnsureMetaProperties(b.cfg.BrokerID, clusterID); err != nil {
		b.logs.Shutdown()
		return fmt.Errorf("server: %w", err)
	}

	// The controller candidate is built now, so that handlers can reach
	// it (AlterIsr, ControlledShutdown) from the first request; it runs
	// once the broker is registered.
	ctrl, sender, err := b.newController(zkc)
	if err != nil {
		b.logs.Shutdown()
		return err
	}
	b.handlers.controller = ctrl
	b.handlers.elector.Store(ctrl)
	stopController := func() {}
	pprofListener, err := b.listenPprof()
	if err != nil {
		b.logs.Shutdown()
		return err
	}

	serveCtx, stopServing := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	start := func(name string, run func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(serveCtx); err != nil {
				errc <- fmt.Errorf("server: %s: %w", name, err)
			}
		}()
	}
	start("log manager", b.logs.Run)
	if pprofListener != nil {
		start("pprof listener", func(ctx context.Context) error { return servePprof(ctx, pprofListener) })
	}
	start("socket server", b.net.Run)
	start("replication", b.runReplication)
	start("topic config listener", func(ctx context.Context) error {
		b.topicConfigs.run(ctx)
		return nil
	})
	shutdown := func() error {
		// Admin requests waiting for the controller, and fetches waiting
		// for data, answer now (with what they have) rather than hold the
		// drain until their timeout; later ones answer at once.
		b.handlers.admin.close()
		b.handlers.fetches.close()
		// Other brokers' requests waiting for this broker's controller
		// (AlterIsr, ControlledShutdown) answer NOT_CONTROLLER now: it is
		// about to resign, and its loop may be stuck on ZooKeeper.
		ctrl.Quiesce()
		// Parked JoinGroup and SyncGroup requests answer
		// COORDINATOR_NOT_AVAILABLE now, and the coordinator's timers
		// stop, so that the clients look for the group's new home.
		b.handlers.groups.Close()
		stopServing()
		wg.Wait()
		// Requests have drained: resign as controller (STYLE.md section
		// 5), stop replicating, then flush and close the logs.
		stopController()
		sender.Close()
		b.stopReplication()
		return b.logs.Shutdown()
	}

	select {
	case <-b.net.Ready():
	case err := <-errc:
		return errors.Join(err, shutdown())
	case <-ctx.Done():
		return shutdown()
	}
	b.mu.Lock()
	b.addrs = b.net.Addrs()
	b.mu.Unlock()
	if err := b.register(ctx); err != nil {
		return errors.Join(err, shutdown())
	}
	// The controller candidate runs once the broker is registered, and
	// stops after the socket server has drained (STYLE.md section 5:
	// resign as controller after requests in flight are done).
	ctrlCtx, cancelController := context.WithCancel(context.Background())
	ctrlDone := make(chan struct{})
	go func() {
		defer close(ctrlDone)
		ctrl.Run(ctrlCtx)
	}()
	stopController = func() {
		cancelController()
		<-ctrlDone
	}
	close(b.ready)
	b.log.WithField("endpoints", b.advertised()).Info("broker started")

	for {
		select {
		case <-ctx.Done():
			b.log.Info("shutting down")
			if b.cfg.ControlledShutdownEnable {
				// Before anything stops: the controller's requests must
				// still reach this broker. Not bounded by ctx, which is
				// done; by the attempts and their timeouts.
				ok, attempts := b.controlledShutdown(context.Background(), zkc)
				b.shutdownControlled.Store(ok)
				b.shutdownAttempts.Store(int32(attempts))
			}
			err := shutdown()
			b.log.Info("broker stopped")
			return err
		case err := <-errc:
			return errors.Join(err, shutdown())
		case ev, ok := <-sessionEvents:
			if !ok {
				sessionEvents = nil
				continue
			}
			if ev.Type == zkutil.SessionNew {
				// The old session's ephemeral znode went with it.
				if err := b.register(ctx); err != nil {
					b.log.WithError(err).Error("re-registering after ZooKeeper session expiry failed")
				}
			}
		}
	}
}

// resolveBrokerID settles the broker's id as Kafka's
// KafkaServer.getOrGenerateBrokerId does. The meta.properties of the online
// log directories must agree on one broker.id, if they name any; a
// configured broker.id must match it; without a configured id
// (broker.id=-1, broker.id.generation.enable=true) the stored one is used,
// and without a stored one a new id is generated: reserved.broker.max.id
// plus the next sequence number of /brokers/seqid (1001, 1002, ... with the
// default maximum). EnsureMetaProperties then writes it to every directory,
// so that the broker keeps its id across restarts.
func (b *Broker) resolveBrokerID(ctx context.Context, zkc *zkutil.Client) (int32, error) {
	configured := b.cfg.BrokerID
	offline := b.logs.OfflineDirs()
	stored, storedIn := int32(-1), ""
	for _, dir := range b.cfg.LogDirs {
		if _, off := offline[dir]; off {
			continue
		}
		mp, exists, err := logstore.ReadMetaProperties(logstore.OSFS{}, dir)
		if err != nil {
			return 0, fmt.Errorf("server: %w", err)
		}
		if !exists {
			continue
		}
		if stored >= 0 && mp.BrokerID != stored {
			return 0, fmt.Errorf("server: log.dirs disagree on the broker id: broker.id=%d in %s but broker.id=%d in %s; "+
				"several brokers may share a log directory, or data was partly moved from another broker",
				stored, storedIn, mp.BrokerID, dir)
		}
		stored, storedIn = mp.BrokerID, dir
	}
	switch {
	case configured >= 0 && stored >= 0 && configured != stored:
		return 0, fmt.Errorf("server: configured broker.id=%d does not match broker.id=%d stored in %s: "+
			"if the data was moved here, set broker.id to match; to start a new broker, empty log.dirs",
			configured, stored, filepath.Join(storedIn, logstore.MetaPropertiesFile))
	case configured >= 0:
		return configured, nil
	case stored >= 0:
		return stored, nil
	case !b.cfg.BrokerIDGenerationEnable:
		// conf.Validate refuses this; kept for a Config built in code.
		return 0, fmt.Errorf("server: broker.id=%d: set broker.id or broker.id.generation.enable=true", configured)
	}
	seq, err := zkc.NextBrokerSequenceID(ctx)
	if err != nil {
		return 0, fmt.Errorf("server: generate a broker id from /brokers/seqid: %w", err)
	}
	id := b.cfg.ReservedBrokerMaxID + seq
	b.log.WithFields(logrus.Fields{"broker_id": id, "sequence": seq}).Info("generated broker id")
	return id, nil
}

// setBrokerID adopts a broker id settled at start-up (resolveBrokerID)
// and builds again the parts New built with the configured one. It runs
// before anything serves, so nothing reads these fields concurrently.
func (b *Broker) setBrokerID(id int32) {
	b.cfg.BrokerID = id
	b.log = b.log.WithField("broker_id", id)
	b.handlers.log = b.handlers.log.WithField("broker_id", id)
	b.handlers.brokerID = id
	b.handlers.metadata = NewMetadataCache(id, b.handlers.log)
	b.handlers.replicas = newReplicaManager(id, b.logs, b.topicConfigs.logConfig, b.log)
	b.setUpReplication()
	b.setUpGroups()
}

// setUpGroups builds the group coordinator over __consumer_offsets and
// tells it of that topic's leadership changes.
func (b *Broker) setUpGroups() {
	cfg, h := b.cfg, b.handlers
	glog := &groupLog{
		h:           h,
		compression: logstore.Compression(cfg.OffsetsTopicCompressionCodec),
		acks:        cfg.OffsetsCommitRequiredAcks,
		timeout:     cfg.OffsetsCommitTimeout,
		readBytes:   cfg.OffsetsLoadBufferSize,
	}
	h.groups = group.New(group.Config{
		BrokerID:                      cfg.BrokerID,
		OffsetsTopicPartitions:        cfg.OffsetsTopicNumPartitions,
		MinSessionTimeout:             cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:             cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay:         cfg.GroupInitialRebalanceDelay,
		MaxGroupSize:                  cfg.GroupMaxSize,
		OffsetMetadataMaxBytes:        int(cfg.OffsetMetadataMaxBytes),
		OffsetsRetention:              cfg.OffsetsRetention,
		OffsetsRetentionCheckInterval: cfg.OffsetsRetentionCheckInterval,
	}, glog, b.log.WithField("component", "group_coordinator"))
	h.replicas.offsetsLeadership = h.groups
}

// BrokerID is the broker's id (valid once Ready is closed): the configured
// one, or the one read from meta.properties or generated.
func (b *Broker) BrokerID() int32 { return b.cfg.BrokerID }

// advertised returns the endpoints to register: advertised.listeners with a
// port of 0 replaced by the port actually bound, and an empty host by the
// machine's name, as Kafka does.
func (b *Broker) advertised() []conf.Listener {
	b.mu.Lock()
	addrs := b.addrs
	b.mu.Unlock()
	listeners := b.cfg.Advertised()
	out := make([]conf.Listener, len(listeners))
	for i, l := range listeners {
		out[i] = l
		for j, bound := range b.cfg.Listeners {
			if bound.Name == l.Name && l.Port == 0 && j < len(addrs) {
				if tcp, ok := addrs[j].(*net.TCPAddr); ok {
					out[i].Port = tcp.Port
				}
			}
		}
		if out[i].Host == "" {
			out[i].Host = canonicalHostname()
		}
	}
	return out
}

// register creates /brokers/ids/<id>; its czxid becomes the broker epoch.
func (b *Broker) register(ctx context.Context) error {
	b.mu.Lock()
	zkc := b.zk
	b.mu.Unlock()
	epoch, err := zkc.RegisterBroker(ctx, zkutil.BrokerInfo{
		ID:        b.cfg.BrokerID,
		Endpoints: b.advertised(),
		JMXPort:   -1,
		Rack:      b.cfg.BrokerRack,
	})
	if err != nil {
		if errors.Is(err, zkutil.ErrNodeExists) {
			return fmt.Errorf("server: broker.id %d is already registered by a live broker in ZooKeeper: %w", b.cfg.BrokerID, err)
		}
		return fmt.Errorf("server: register broker: %w", err)
	}
	// Control requests stamped with an older epoch were meant for the
	// previous registration and are refused from now on (KIP-380).
	b.handlers.brokerEpoch.Store(epoch)
	b.log.WithField("broker_epoch", epoch).Info("registered in ZooKeeper")
	return nil
}

// newController builds this broker's controller candidate, reaching brokers
// on the inter-broker listener.
func (b *Broker) newController(zkc *zkutil.Client) (*controller.Controller, *controlSender, error) {
	listener, ok := b.cfg.InterBrokerListener()
	if !ok {
		return nil, nil, fmt.Errorf("server: no advertised endpoint for the inter-broker listener")
	}
	log := b.log.WithField("component", "controller")
	sender := newControlSender(listener.Name, b.cfg.BrokerID, b.cfg.ControllerSocketTimeout, log)
	ctrl, err := controller.New(controller.Config{
		BrokerID:              b.cfg.BrokerID,
		ZK:                    zkc,
		Sender:                sender,
		InterBrokerListener:   listener.Name,
		UncleanLeaderElection: b.cfg.UncleanLeaderElectionEnable,
		DeleteTopicEnable:     b.cfg.DeleteTopicEnable,
		AutoLeaderRebalance: controller.RebalanceConfig{Enable: b.cfg.AutoLeaderRebalanceEnable,
			PerBrokerPercentage: b.cfg.LeaderImbalancePerBrokerPercentage, CheckInterval: b.cfg.LeaderImbalanceCheckInterval},
		Logger: b.log,
	})
	if err != nil {
		sender.Close()
		return nil, nil, err
	}
	return ctrl, sender, nil
}
