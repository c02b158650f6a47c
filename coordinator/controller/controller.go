package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

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
	Logger       *logrus.Entry
}

// Controller takes part in the election through /controller and, while it
// holds it, owns the cluster state: the live brokers now; partition
// leadership comes with the rest of the broker issue.
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
	defer func() {
		c.setState(-1, 0, false)
		log.Info("resigned as controller")
	}()

	_, controllerWatch, err := c.watchControllerStill(ctx)
	if err != nil {
		log.WithError(err).Warn("watching /controller failed; resigning")
		return
	}
	t := &term{c: c, log: log, epoch: election.Epoch, brokers: map[int32]zkutil.BrokerRegistration{}, senders: map[int32]*brokerSender{}}
	defer t.stopSenders()
	brokerWatch := t.refreshBrokers(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, open := <-events:
			// An expiry took /controller with the session: resign. A
			// SessionNew seen here is the one this term was elected in.
			if !open || ev.Type == zkutil.SessionExpired {
				return
			}
		case <-controllerWatch:
			mine, watch, err := c.watchControllerStill(ctx)
			if err != nil || !mine {
				return
			}
			controllerWatch = watch
		case <-brokerWatch:
			brokerWatch = t.refreshBrokers(ctx)
		}
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
	brokers map[int32]zkutil.BrokerRegistration // live brokers
	senders map[int32]*brokerSender
}

// refreshBrokers re-reads /brokers/ids, starts and stops the per-broker
// senders, and sends every live broker the new broker set. It returns the
// re-armed watch (nil, never firing, when ZooKeeper could not be read: the
// session events then decide).
func (t *term) refreshBrokers(ctx context.Context) <-chan zkutil.WatchEvent {
	ids, watch, err := t.c.cfg.ZK.WatchBrokerIDs(ctx)
	if err != nil {
		t.log.WithError(err).Warn("reading live brokers failed")
		return nil
	}
	live := map[int32]zkutil.BrokerRegistration{}
	for _, id := range ids {
		reg, err := t.c.cfg.ZK.Broker(ctx, id)
		if err != nil {
			if !errors.Is(err, zkutil.ErrNoNode) {
				t.log.WithError(err).WithField("broker_id", id).Warn("reading broker registration failed")
			}
			continue
		}
		live[id] = reg
	}
	for id, s := range t.senders {
		if reg, ok := live[id]; !ok || reg.Epoch != s.broker.Epoch {
			s.stop()
			delete(t.senders, id)
			t.log.WithField("broker_id", id).Info("broker left or restarted")
		}
	}
	for id, reg := range live {
		if _, ok := t.senders[id]; !ok {
			t.senders[id] = newBrokerSender(t.c, reg)
			t.log.WithField("broker_id", id).Info("broker joined")
		}
	}
	t.brokers = live
	for _, s := range t.senders {
		s.enqueue(t.updateMetadata(s.broker))
	}
	return watch
}

// updateMetadata builds the UpdateMetadata request telling broker the live
// brokers (partition states follow with topic management).
func (t *term) updateMetadata(broker zkutil.BrokerRegistration) *kmsg.UpdateMetadataRequest {
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version = 7
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
	return req
}

func (t *term) stopSenders() {
	for id, s := range t.senders {
		s.stop()
		delete(t.senders, id)
	}
}

// brokerSender delivers control requests to one broker in order, from its
// own goroutine, retrying a failed send until it succeeds or the sender is
// stopped (DESIGN.md section 4: a request queue and a sender per broker).
type brokerSender struct {
	c      *Controller
	broker zkutil.BrokerRegistration
	log    *logrus.Entry

	queue  chan kmsg.Request
	cancel context.CancelFunc
	done   chan struct{}
}

// senderQueueSize bounds the requests waiting for one broker; enqueue
// replaces what waits when it is full, since a newer UpdateMetadata
// supersedes an older one.
const senderQueueSize = 64

func newBrokerSender(c *Controller, broker zkutil.BrokerRegistration) *brokerSender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &brokerSender{
		c:      c,
		broker: broker,
		log:    c.log.WithField("target_broker_id", broker.Info.ID),
		queue:  make(chan kmsg.Request, senderQueueSize),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go s.run(ctx)
	return s
}

func (s *brokerSender) enqueue(req kmsg.Request) {
	for {
		select {
		case s.queue <- req:
			return
		default:
			select { // full: drop the oldest
			case <-s.queue:
			default:
			}
		}
	}
}

func (s *brokerSender) run(ctx context.Context) {
	defer close(s.done)
	for {
		var req kmsg.Request
		select {
		case <-ctx.Done():
			return
		case req = <-s.queue:
		}
		for {
			resp, err := s.c.cfg.Sender.Send(ctx, s.broker, req)
			if err == nil {
				if code := responseError(resp); code != 0 {
					s.log.WithField("error_code", code).Warn(fmt.Sprintf("broker refused %s", kmsg.Key(req.Key()).Name()))
				}
				break
			}
			if ctx.Err() != nil {
				return
			}
			s.log.WithError(err).Debug("sending control request failed; retrying")
			s.c.sleep(ctx)
		}
	}
}

func (s *brokerSender) stop() {
	s.cancel()
	<-s.done
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
