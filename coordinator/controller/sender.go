package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerSender delivers control requests to one broker in order, from its
// own goroutine, retrying a failed send until it succeeds or the sender is
// stopped (DESIGN.md section 4: a request queue and a sender per broker;
// Kafka's ControllerChannelManager with its RequestSendThread).
//
// The queue is unbounded and never drops a request: losing a LeaderAndIsr
// or a StopReplica would leave a broker leading, following or hosting what
// the controller decided otherwise, with nothing to correct it until the
// next change of that partition. (Kafka's queue is an unbounded
// LinkedBlockingQueue too.) What keeps it small is merging: an
// UpdateMetadata enqueued right behind another UpdateMetadata that is still
// waiting is folded into it (mergeUpdateMetadata), since brokers apply
// UpdateMetadata incrementally and the later one's live brokers and
// partition states supersede the earlier's. Nothing else is merged or
// reordered, so a broker sees LeaderAndIsr, StopReplica and UpdateMetadata
// in the order the controller decided them. A sender lives only while its
// broker is registered (the controller stops it when the broker goes), so
// the queue cannot grow for a broker that is gone for good.
//
// enqueue is called by the controller's loop; run drains the queue on the
// sender's goroutine.
type brokerSender struct {
	c      *Controller
	broker zkutil.BrokerRegistration // immutable
	log    *logrus.Entry

	kick   chan struct{} // capacity one: "the queue is not empty"
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex // guards the field below
	queue []senderItem
}

// senderItem is one request waiting for the broker.
type senderItem struct {
	req kmsg.Request
	// onResponse, when set, is called on the sender's goroutine with the
	// broker's response once one arrives. It is not called when the
	// sender stops first (the broker left): the controller then sends the
	// request again when the broker returns.
	onResponse func(kmsg.Response)
}

func newBrokerSender(c *Controller, broker zkutil.BrokerRegistration) *brokerSender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &brokerSender{
		c:      c,
		broker: broker,
		log:    c.log.WithField("target_broker_id", broker.Info.ID),
		kick:   make(chan struct{}, 1),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go s.run(ctx)
	return s
}

// enqueue queues req for the broker.
func (s *brokerSender) enqueue(req kmsg.Request) { s.enqueueWith(req, nil) }

// enqueueWith queues req for the broker; onResponse, if not nil, gets the
// broker's response (see senderItem).
func (s *brokerSender) enqueueWith(req kmsg.Request, onResponse func(kmsg.Response)) {
	s.mu.Lock()
	merged := false
	if um, ok := req.(*kmsg.UpdateMetadataRequest); ok && onResponse == nil {
		if n := len(s.queue); n > 0 && s.queue[n-1].onResponse == nil {
			if last, ok := s.queue[n-1].req.(*kmsg.UpdateMetadataRequest); ok {
				s.queue[n-1].req = mergeUpdateMetadata(last, um)
				merged = true
			}
		}
	}
	if !merged {
		s.queue = append(s.queue, senderItem{req: req, onResponse: onResponse})
	}
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// waiting is the number of requests queued and not yet taken by run.
func (s *brokerSender) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// next takes the oldest waiting request, waiting for one; ok is false when
// the sender stopped.
func (s *brokerSender) next(ctx context.Context) (senderItem, bool) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			item := s.queue[0]
			s.queue[0] = senderItem{}
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil // let the backing array go
			}
			s.mu.Unlock()
			return item, true
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return senderItem{}, false
		case <-s.kick:
		}
	}
}

func (s *brokerSender) run(ctx context.Context) {
	defer close(s.done)
	for {
		item, ok := s.next(ctx)
		if !ok {
			return
		}
		for {
			resp, err := s.c.cfg.Sender.Send(ctx, s.broker, item.req)
			if err == nil {
				if code := responseError(resp); code != 0 {
					s.log.WithField("error_code", code).Warn(fmt.Sprintf("broker refused %s", kmsg.Key(item.req.Key()).Name()))
				}
				if item.onResponse != nil {
					item.onResponse(resp)
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

// mergeUpdateMetadata folds newer into older, both for the same broker in
// the same term: the live brokers are newer's, the partition states the
// union, newer's winning for a partition in both (a deletion, leader -2,
// included). The result is what the broker's cache holds after applying
// older then newer.
func mergeUpdateMetadata(older, newer *kmsg.UpdateMetadataRequest) *kmsg.UpdateMetadataRequest {
	out := *newer
	type key struct {
		topic     string
		partition int32
	}
	states := map[key]kmsg.UpdateMetadataRequestTopicPartition{}
	ids := map[string][16]byte{}
	for _, r := range []*kmsg.UpdateMetadataRequest{older, newer} {
		for _, ts := range r.TopicStates {
			if ts.TopicID != ([16]byte{}) {
				ids[ts.Topic] = ts.TopicID
			} else if _, ok := ids[ts.Topic]; !ok {
				ids[ts.Topic] = ts.TopicID
			}
			for _, ps := range ts.PartitionStates {
				ps.Topic = ts.Topic
				states[key{ts.Topic, ps.Partition}] = ps
			}
		}
	}
	keys := slices.SortedFunc(maps.Keys(states), func(a, b key) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition) - int(b.partition)
	})
	out.TopicStates = nil
	for _, k := range keys {
		if n := len(out.TopicStates); n == 0 || out.TopicStates[n-1].Topic != k.topic {
			ts := kmsg.NewUpdateMetadataRequestTopicState()
			ts.Topic, ts.TopicID = k.topic, ids[k.topic]
			out.TopicStates = append(out.TopicStates, ts)
		}
		ts := &out.TopicStates[len(out.TopicStates)-1]
		ts.PartitionStates = append(ts.PartitionStates, states[k])
	}
	return &out
}
