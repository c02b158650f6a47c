package controller

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// zkStore is what the controller needs of ZooKeeper. *zkutil.Client
// satisfies it; tests may use a fake.
type zkStore interface {
	RegisterController(ctx context.Context, brokerID int32) (zkutil.Election, error)
	WatchController(ctx context.Context) (zkutil.ControllerInfo, bool, <-chan zkutil.WatchEvent, error)
	WatchBrokerIDs(ctx context.Context) ([]int32, <-chan zkutil.WatchEvent, error)
	Broker(ctx context.Context, id int32) (zkutil.BrokerRegistration, error)
	SessionEvents() (<-chan zkutil.SessionEvent, func())
	DeleteController(ctx context.Context, f zkutil.Fence) error
	WatchTopics(ctx context.Context) ([]string, <-chan zkutil.WatchEvent, error)
	TopicAssignments(ctx context.Context, topics []string) (map[string]zkutil.TopicAssignment, error)
	PartitionStates(ctx context.Context, tps []zkutil.TopicPartition) []zkutil.PartitionStateResult
	CreatePartitionStates(ctx context.Context, f zkutil.Fence, states []zkutil.PartitionStateWrite) []zkutil.PartitionStateResult
	SetPartitionStates(ctx context.Context, f zkutil.Fence, updates []zkutil.PartitionStateWrite) []zkutil.PartitionStateResult
	WatchTopicAssignment(ctx context.Context, topic string) (zkutil.TopicAssignment, zkutil.Stat, <-chan zkutil.WatchEvent, error)
	WatchTopicAssignments(ctx context.Context, topics []string) (map[string]zkutil.TopicAssignment, map[string]<-chan zkutil.WatchEvent, error)
	TopicExists(ctx context.Context, topic string) (bool, error)
	WatchTopicDeletions(ctx context.Context) ([]string, <-chan zkutil.WatchEvent, error)
	DeleteTopicDeletion(ctx context.Context, f zkutil.Fence, topic string) error
	DeleteTopic(ctx context.Context, f zkutil.Fence, topic string) error
	DeleteEntityConfig(ctx context.Context, f zkutil.Fence, typ zkutil.ConfigEntityType, name string) error
	electionStore // elect_leaders.go
	reassignStore // reassignment.go
}

// Sender delivers a control request to one broker and returns its response.
// The server implements it with network's inter-broker client, reaching
// each broker on the inter-broker listener, so that an in-process test
// cluster behaves as a real one (DESIGN.md section 1).
type Sender interface {
	Send(ctx context.Context, broker zkutil.BrokerRegistration, req kmsg.Request) (kmsg.Response, error)
}

// Config configures a Controller.
type Config struct {
	BrokerID int32
	ZK       zkStore
	Sender   Sender
	// RetryBackoff is how long to wait after a failed ZooKeeper call or
	// request before trying again.
	RetryBackoff time.Duration
	// InterBrokerListener names the listener whose endpoint LeaderAndIsr
	// gives for partition leaders; empty: each broker's first endpoint.
	InterBrokerListener string
	// UncleanLeaderElection is unclean.leader.election.enable: whether a
	// replica outside the ISR may lead when no ISR member is alive.
	UncleanLeaderElection bool
	// DeleteTopicEnable is delete.topic.enable (Kafka's default: true).
	// When false, the controller removes every topic deletion request
	// it finds and deletes nothing, as Kafka 2.8 does.
	DeleteTopicEnable bool
	// AutoLeaderRebalance: auto.leader.rebalance.enable and its settings (rebalance.go).
	AutoLeaderRebalance RebalanceConfig
	Logger              *logrus.Entry
}

// Controller takes part in the election through /controller and, while it
// holds it, owns the cluster state: the live brokers, the topics'
// assignments and their partitions' leaders and ISRs.
//
// One goroutine, Run's, owns all controller state and handles events in
// order (Kafka's ControllerEventManager): ZooKeeper watches only wake it.
type Controller struct {
	cfg Config
	log *logrus.Entry

	mu           sync.Mutex // guards the fields below, read by other goroutines
	activeID     int32      // the controller the cluster has, -1 when none known
	epoch        int32      // this broker's controller epoch while it leads
	isController bool

	elections electionHub // the term's channel for ElectLeaders (elect_leaders.go)
	// calls hands brokers' requests (AlterIsr, ControlledShutdown) to the
	// running term's loop; nil when not leading. termDone closes when that
	// term ends (onLoop, alter_isr.go).
	calls    chan loopCall
	termDone chan struct{}

	quiesced    chan struct{} // closed by Quiesce (alter_isr.go)
	quiesceOnce sync.Once
}

// New builds a controller; it starts nothing.
func New(cfg Config) (*Controller, error) {
	if cfg.ZK == nil || cfg.Sender == nil {
		return nil, errors.New("controller: ZK and Sender are required")
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		l := logrus.New()
		l.SetLevel(logrus.PanicLevel)
		cfg.Logger = logrus.NewEntry(l)
	}
	return &Controller{
		cfg:      cfg,
		log:      cfg.Logger.WithFields(logrus.Fields{"component": "controller", "broker_id": cfg.BrokerID}),
		activeID: -1,
		quiesced: make(chan struct{}),
	}, nil
}

// ActiveController is the broker id of the cluster's controller as last
// seen, or -1.
func (c *Controller) ActiveController() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.activeID
}

// IsController reports whether this broker is the controller, and its epoch.
func (c *Controller) IsController() (bool, int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isController, c.epoch
}

// Run campaigns for /controller until ctx is done: it leads while it holds
// the znode, and otherwise watches it and campaigns again when it goes. A
// session expiry is normal life: a leader resigns, and everyone campaigns
// again in the new session.
func (c *Controller) Run(ctx context.Context) error {
	events, stop := c.cfg.ZK.SessionEvents()
	defer stop()
	for ctx.Err() == nil {
		election, err := c.cfg.ZK.RegisterController(ctx, c.cfg.BrokerID)
		switch {
		case err == nil:
			c.lead(ctx, election, events)
			continue
		case errors.Is(err, zkutil.ErrElectionLost):
		default:
			c.log.WithError(err).Warn("controller election failed; retrying")
			c.sleep(ctx)
			continue
		}
		info, ok, watch, err := c.cfg.ZK.WatchController(ctx)
		if err != nil {
			c.log.WithError(err).Warn("watching /controller failed; retrying")
			c.sleep(ctx)
			continue
		}
		if !ok {
			continue // gone between the election and the watch: campaign again
		}
		if info.BrokerID == c.cfg.BrokerID {
			// Ours, in this session, though no term is running: a
			// resignation whose delete failed. Remove it and campaign.
			if err := c.cfg.ZK.DeleteController(ctx, zkutil.NoFence); err != nil && !errors.Is(err, zkutil.ErrNoNode) {
				c.log.WithError(err).Warn("deleting a stale /controller failed")
				c.sleep(ctx)
			}
			continue
		}
		c.setState(info.BrokerID, 0, false)
		select {
		case <-ctx.Done():
		case <-watch:
		case _, open := <-events:
			if !open {
				return nil
			}
		}
	}
	return nil
}

func (c *Controller) sleep(ctx context.Context) {
	t := time.NewTimer(c.cfg.RetryBackoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (c *Controller) setState(active, epoch int32, leading bool) {
	c.mu.Lock()
	c.activeID, c.epoch, c.isController = active, epoch, leading
	c.mu.Unlock()
}

// lead runs the controller's event loop for one term: until ctx ends, the
// session expires or /controller changes hands.
func (c *Controller) lead(ctx context.Context, election zkutil.Election, events <-chan zkutil.SessionEvent) {
	log := c.log.WithField("controller_epoch", election.Epoch)
	c.setState(c.cfg.BrokerID, election.Epoch, true)
	log.Info("became controller")
	expired := false
	defer func() {
		c.setState(-1, 0, false)
		if !expired && ctx.Err() == nil {
			// Leaving the term with the session alive (a failed read, a
			// fenced write): /controller, still ours, must go, or nobody
			// would campaign again while this session lives. The delete
			// is fenced by this term's epoch, so it cannot remove a newer
			// controller's znode (Kafka's resign does the same).
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if err := c.cfg.ZK.DeleteController(dctx, election.Fence()); err != nil && !errors.Is(err, zkutil.ErrNoNode) {
				log.WithError(err).Warn("deleting /controller on resignation failed")
			}
			cancel()
		}
		log.Info("resigned as controller")
	}()

	_, controllerWatch, err := c.watchControllerStill(ctx)
	if err != nil {
		log.WithError(err).Warn("watching /controller failed; resigning")
		return
	}
	tctx, tcancel := context.WithCancel(ctx)
	t := &term{
		c: c, log: log, epoch: election.Epoch, fence: election.Fence(),
		brokers: map[int32]zkutil.BrokerRegistration{}, senders: map[int32]*brokerSender{},
		topics: map[string]*topic{}, deleteRequests: map[string]bool{},
		shuttingDown: map[int32]bool{},
		ctx:          tctx, kick: make(chan struct{}, 1),
	}
	calls := c.openCalls()
	defer c.closeCalls()
	defer func() {
		// The senders first: once they stopped, nothing posts to the
		// inbox; then the watch forwarders, which end with tctx.
		t.stopSenders()
		tcancel()
		t.forwarders.Wait()
	}()
	brokerWatch, topicWatch, deleteWatch, err := t.start(ctx)
	if t.resignOn(err) {
		return
	}
	electionWork := t.startElections() // preferred, ElectLeaders and rebalance elections
	t.startReassignments()             // reassignment.go, on electionWork
	for {
		select {
		case <-ctx.Done():
			return
		case ev, open := <-events:
			// An expiry took /controller with the session: resign. A
			// SessionNew seen here is the one this term was elected in.
			if !open || ev.Type == zkutil.SessionExpired {
				expired = true
				return
			}
		case <-controllerWatch:
			mine, watch, err := c.watchControllerStill(ctx)
			if err != nil || !mine {
				return
			}
			controllerWatch = watch
		case <-brokerWatch:
			brokerWatch, err = t.onBrokerChange(ctx)
			if t.resignOn(err) {
				return
			}
		case <-topicWatch:
			topicWatch, err = t.onTopicChange(ctx)
			if t.resignOn(err) {
				return
			}
		case <-deleteWatch:
			deleteWatch, err = t.onDeletionRequest(ctx)
			if t.resignOn(err) {
				return
			}
		case run := <-electionWork:
			if t.resignOn(run(ctx)) {
				return
			}
		case call := <-calls:
			if t.resignOn(call(ctx, t)) {
				return
			}
		case <-t.kick:
			for _, ev := range t.drainInbox() {
				if t.resignOn(t.handle(ctx, ev)) {
					return
				}
			}
		}
	}
}

// resignOn logs an event's error and reports whether it means another
// controller took over (a fenced write).
func (t *term) resignOn(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, zkutil.ErrEpochFenced):
		t.log.WithError(err).Warn("another controller took over; resigning")
		return true
	default:
		t.log.WithError(err).Warn("handling a controller event failed")
		return false
	}
}

// watchControllerStill re-arms the watch on /controller and reports whether
// this broker still holds it.
func (c *Controller) watchControllerStill(ctx context.Context) (bool, <-chan zkutil.WatchEvent, error) {
	info, ok, watch, err := c.cfg.ZK.WatchController(ctx)
	if err != nil {
		return false, nil, err
	}
	return ok && info.BrokerID == c.cfg.BrokerID, watch, nil
}

// term is one controller term's state, owned by lead's goroutine.
type term struct {
	c       *Controller
	log     *logrus.Entry
	epoch   int32
	fence   zkutil.Fence
	brokers map[int32]zkutil.BrokerRegistration // live brokers
	senders map[int32]*brokerSender
	topics  map[string]*topic // assignments and partition states
	// deleteRequests: the topics under /admin/delete_topics as last read.
	deleteRequests map[string]bool
	// shuttingDown: live brokers in a controlled shutdown (Kafka's
	// shuttingDownBrokerIds); they lead nothing new and join no ISR.
	shuttingDown map[int32]bool
	watchGen     uint64         // last generation given to a topic's watch
	reassigning  *reassignments // reassignment.go

	// ctx ends with the term: the goroutines forwarding watches into the
	// inbox (forwarders) stop with it.
	ctx        context.Context
	forwarders sync.WaitGroup

	// The inbox carries events from other goroutines (per-topic watches,
	// brokers' answers to StopReplica) into the loop: post appends and
	// kicks, the loop drains on the kick. It never blocks a poster, and
	// it holds at most one event per armed watch and per request sent.
	kick    chan struct{} // capacity one
	inboxMu sync.Mutex    // guards the field below
	inbox   []termEvent
}

// termEvent is an event posted into the term's inbox.
type termEvent struct {
	// assignment change: the topic's znode changed (watch generation gen).
	topic string
	gen   uint64
	// StopReplica answered by broker (resp is nil for other events).
	broker int32
	req    *kmsg.StopReplicaRequest
	resp   kmsg.Response
}

// post hands ev to the loop; safe for concurrent use, never blocks.
func (t *term) post(ev termEvent) {
	t.inboxMu.Lock()
	t.inbox = append(t.inbox, ev)
	t.inboxMu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *term) drainInbox() []termEvent {
	t.inboxMu.Lock()
	defer t.inboxMu.Unlock()
	evs := t.inbox
	t.inbox = nil
	return evs
}

// handle runs one inbox event.
func (t *term) handle(ctx context.Context, ev termEvent) error {
	if ev.req != nil {
		return t.onStopReplicaResponse(ctx, ev.broker, ev.req, ev.resp)
	}
	return t.onAssignmentChange(ctx, ev.topic, ev.gen)
}

func (t *term) alive(id int32) bool {
	_, ok := t.brokers[id]
	return ok
}

// start begins a term (Kafka's onControllerFailover): it reads the live
// brokers, every topic and partition state, elects leaders for partitions
// that lost theirs and creates the states of partitions that have none,
// then re-syncs every broker: LeaderAndIsr for all its partitions and the
// full UpdateMetadata, the partitions whose leader moved going first in a
// pair of their own (sendLeaderMovesFirst). It returns the armed watches (nil, never firing,
// when ZooKeeper could not be read: the session events then decide).
//
// Topic deletions requested before the term are resumed (Kafka's
// TopicDeletionManager.init and resumeDeletions): their topics are marked
// before anything is sent, so that brokers get them as deleted (leader -2)
// in the full UpdateMetadata and no LeaderAndIsr, then StopReplica.
func (t *term) start(ctx context.Context) (brokerWatch, topicWatch, deleteWatch <-chan zkutil.WatchEvent, err error) {
	brokerWatch, _, _, _ = t.refreshBrokers(ctx)
	topicWatch, _, err = t.loadTopics(ctx)
	if err != nil {
		return brokerWatch, nil, nil, err
	}
	deleteWatch, err = t.readDeletionRequests(ctx)
	if err != nil {
		return brokerWatch, topicWatch, nil, err
	}
	started, err := t.applyDeletionRequests(ctx)
	if err != nil {
		return brokerWatch, topicWatch, deleteWatch, err
	}
	before := t.leaders()
	changed, created, err := t.reconcile(ctx, nil)
	if err != nil {
		return brokerWatch, topicWatch, deleteWatch, err
	}
	ids := slices.Sorted(maps.Keys(t.brokers))
	sent := t.sendLeaderMovesFirst(before, changed, created, true)
	t.sendLeaderAndISRExcept(nil, created, ids, sent)
	t.sendUpdateMetadata(nil, nil, ids)
	t.sendDeletionStopReplicas(started, nil)
	return brokerWatch, topicWatch, deleteWatch, t.completeDeletions(ctx)
}

// onTopicChange handles a change of /brokers/topics (Kafka's TopicChange
// and onNewPartitionCreation): new topics' partitions get a leader and a
// state znode, their replicas LeaderAndIsr, every broker UpdateMetadata.
func (t *term) onTopicChange(ctx context.Context) (<-chan zkutil.WatchEvent, error) {
	watch, gone, err := t.loadTopics(ctx)
	if err != nil {
		return nil, err
	}
	changed, created, err := t.reconcile(ctx, nil)
	if err != nil {
		return watch, err
	}
	t.sendLeaderAndISR(changed, created, nil)
	if len(changed) > 0 || len(gone) > 0 {
		t.sendUpdateMetadata(changed, gone, nil)
	}
	// A deletion requested before its topic was loaded can start now.
	started, err := t.applyDeletionRequests(ctx)
	t.beginDeletions(started)
	return watch, err
}

// onBrokerChange handles a change of /brokers/ids (Kafka's onBrokerChange,
// onBrokerFailure, onBrokerStartup): partitions led by dead brokers move to
// a live ISR member or go offline, dead brokers leave ISRs, offline
// partitions whose ISR member returned come back; the replicas of changed
// partitions get LeaderAndIsr, brokers that joined LeaderAndIsr for all
// their partitions and the full UpdateMetadata, the others UpdateMetadata
// with the live brokers and the partitions that changed. The partitions
// whose leader moved go first, in requests of their own
// (sendLeaderMovesFirst).
func (t *term) onBrokerChange(ctx context.Context) (<-chan zkutil.WatchEvent, error) {
	watch, joined, died, bounced := t.refreshBrokers(ctx)
	before := t.leaders()
	changed, created, err := t.reconcile(ctx, bounced)
	if err != nil {
		return watch, err
	}
	sent := t.sendLeaderMovesFirst(before, changed, created, len(joined) > 0)
	t.sendLeaderAndISRExcept(changed, created, joined, sent)
	touched := t.touching(append(slices.Clone(joined), died...))
	maps.Copy(touched, changed)
	t.sendUpdateMetadata(touched, nil, joined)
	// Deletions waiting for a replica on a broker that came back resume
	// (Kafka's onBrokerStartup: resumeDeletionForTopics).
	t.resumeDeletionsOn(joined, died)
	return watch, t.completeDeletions(ctx)
}

// refreshBrokers re-reads /brokers/ids, and starts and stops the
// per-broker senders. It returns the re-armed watch (nil, never firing,
// when ZooKeeper could not be read: the session events then decide), the
// brokers that joined and died (a restarted broker, whose epoch changed,
// both: it is also in bounced), sorted.
func (t *term) refreshBrokers(ctx context.Context) (watch <-chan zkutil.WatchEvent, joined, died, bounced []int32) {
	ids, watch, err := t.c.cfg.ZK.WatchBrokerIDs(ctx)
	if err != nil {
		t.log.WithError(err).Warn("reading live brokers failed")
		return nil, nil, nil, nil
	}
	// The registrations are read in parallel (pipelined on the session).
	regs := make([]zkutil.BrokerRegistration, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { regs[i], errs[i] = t.c.cfg.ZK.Broker(ctx, id) })
	}
	wg.Wait()
	live := map[int32]zkutil.BrokerRegistration{}
	for i, id := range ids {
		if err := errs[i]; err != nil {
			if !errors.Is(err, zkutil.ErrNoNode) {
				t.log.WithError(err).WithField("broker_id", id).Warn("reading broker registration failed")
			}
			continue
		}
		live[id] = regs[i]
	}
	for id, s := range t.senders {
		reg, ok := live[id]
		if ok && reg.Epoch == s.broker.Epoch {
			continue
		}
		s.stop()
		delete(t.senders, id)
		delete(t.shuttingDown, id) // its shutdown is over
		died = append(died, id)
		if ok {
			bounced = append(bounced, id)
			t.log.WithField("broker_id", id).Info("broker restarted")
		} else {
			t.log.WithField("broker_id", id).Info("broker left")
		}
	}
	for id, reg := range live {
		if _, ok := t.senders[id]; !ok {
			t.senders[id] = newBrokerSender(t.c, reg)
			joined = append(joined, id)
			t.log.WithField("broker_id", id).Info("broker joined")
		}
	}
	t.brokers = live
	slices.Sort(joined)
	slices.Sort(died)
	slices.Sort(bounced)
	return watch, joined, died, bounced
}

// updateMetadataVersion is the UpdateMetadata version the controller sends
// (Kafka 2.8's latest): v7 carries topic ids.
const updateMetadataVersion = 7

// updateMetadata builds the UpdateMetadata request telling broker the live
// brokers and the states of parts. Brokers cache partition states
// incrementally, so parts are those that changed, or all of them for a
// broker that joined; deleted partitions go with leader -2, which makes
// brokers forget them.
func (t *term) updateMetadata(broker zkutil.BrokerRegistration, parts, deleted tpSet) *kmsg.UpdateMetadataRequest {
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version = updateMetadataVersion
	req.ControllerID = t.c.cfg.BrokerID
	req.ControllerEpoch = t.epoch
	req.BrokerEpoch = broker.Epoch
	ids := make([]int32, 0, len(t.brokers))
	for id := range t.brokers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		reg := t.brokers[id]
		lb := kmsg.NewUpdateMetadataRequestLiveBroker()
		lb.ID = id
		if reg.Info.Rack != "" {
			rack := reg.Info.Rack
			lb.Rack = &rack
		}
		for _, ep := range reg.Info.Endpoints {
			e := kmsg.NewUpdateMetadataRequestLiveBrokerEndpoint()
			e.Host, e.Port, e.ListenerName, e.SecurityProtocol = ep.Host, int32(ep.Port), ep.Name, ep.SecurityProtocol.ID()
			lb.Endpoints = append(lb.Endpoints, e)
		}
		req.LiveBrokers = append(req.LiveBrokers, lb)
	}
	topicState := func(name string, id zkutil.UUID) *kmsg.UpdateMetadataRequestTopicState {
		if n := len(req.TopicStates); n > 0 && req.TopicStates[n-1].Topic == name {
			return &req.TopicStates[n-1]
		}
		ts := kmsg.NewUpdateMetadataRequestTopicState()
		ts.Topic, ts.TopicID = name, id
		req.TopicStates = append(req.TopicStates, ts)
		return &req.TopicStates[len(req.TopicStates)-1]
	}
	deleted = maps.Clone(deleted)
	if deleted == nil {
		deleted = tpSet{}
	}
	for _, tp := range t.sortedPartitions() {
		p := t.partition(tp)
		if !parts[tp] {
			continue
		}
		if t.topics[tp.Topic].deletion != nil {
			// Being deleted: brokers forget it (Kafka sends such
			// partitions with LeaderDuringDelete).
			deleted[tp] = true
			continue
		}
		if !p.hasState {
			continue
		}
		ps := kmsg.NewUpdateMetadataRequestTopicPartition()
		ps.Topic, ps.Partition = tp.Topic, tp.Partition
		ps.ControllerEpoch = p.state.ControllerEpoch
		ps.Leader, ps.LeaderEpoch = p.state.Leader, p.state.LeaderEpoch
		ps.ISR = slices.Clone(p.state.ISR)
		ps.ZKVersion = p.zkVersion
		ps.Replicas = slices.Clone(p.replicas)
		ps.OfflineReplicas = offlineReplicas(p.replicas, t.alive)
		ts := topicState(tp.Topic, t.topics[tp.Topic].id)
		ts.PartitionStates = append(ts.PartitionStates, ps)
	}
	gone := slices.SortedFunc(maps.Keys(deleted), func(a, b zkutil.TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	for _, tp := range gone {
		ps := kmsg.NewUpdateMetadataRequestTopicPartition()
		ps.Topic, ps.Partition = tp.Topic, tp.Partition
		ps.ControllerEpoch = t.epoch
		ps.Leader = leaderDuringDelete
		ps.ISR, ps.Replicas, ps.OfflineReplicas = []int32{}, []int32{}, []int32{}
		ts := topicState(tp.Topic, zkutil.UUID{})
		ts.PartitionStates = append(ts.PartitionStates, ps)
	}
	return req
}

// leaderDuringDelete is the leader UpdateMetadata gives a deleted
// partition: brokers drop it from their metadata cache.
const leaderDuringDelete int32 = -2

// interBrokerEndpoint is the endpoint other brokers reach reg on.
func (c *Controller) interBrokerEndpoint(reg zkutil.BrokerRegistration) (conf.Listener, bool) {
	for _, ep := range reg.Info.Endpoints {
		if ep.Name == c.cfg.InterBrokerListener {
			return ep, true
		}
	}
	if c.cfg.InterBrokerListener == "" && len(reg.Info.Endpoints) > 0 {
		return reg.Info.Endpoints[0], true
	}
	return conf.Listener{}, false
}

func (t *term) stopSenders() {
	for id, s := range t.senders {
		s.stop()
		delete(t.senders, id)
	}
}

// responseError is the top-level error code of a control response.
func responseError(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.UpdateMetadataResponse:
		return r.ErrorCode
	case *kmsg.LeaderAndISRResponse:
		return r.ErrorCode
	case *kmsg.StopReplicaResponse:
		return r.ErrorCode
	}
	return 0
}
