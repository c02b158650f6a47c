package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/network"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// isrProposal is a leader's proposed ISR for one partition.
type isrProposal struct {
	p           *Partition
	leaderEpoch int32
	isr         []int32
	zkVersion   int32
}

// isrChangeSender delivers leaders' ISR proposals to the controller with
// AlterIsr (AlterPartition v0, Kafka 2.8's AlterIsrManager): proposals
// queue up per partition (a newer one replaces an unsent older one), one
// goroutine sends what is queued in one request, hands each partition the
// controller's answer, and sends again after a backoff what could not be
// delivered (no controller known, a broken connection, NOT_CONTROLLER or
// STALE_BROKER_EPOCH for the whole request).
//
// Safe for concurrent use: propose is called by partitions with their lock
// held, and only queues.
type isrChangeSender struct {
	brokerID    int32
	brokerEpoch func() int64
	metadata    *MetadataCache
	listener    string // the inter-broker listener's name
	timeout     time.Duration
	backoff     time.Duration
	log         *logrus.Entry
	// answered is called with each partition's answer applied, when the
	// high watermark moved: the replica manager wakes what waits.
	answered func(logstore.TopicPartition)

	wake chan struct{} // capacity one

	mu      sync.Mutex // guards pending
	pending map[logstore.TopicPartition]isrProposal

	client     *network.Client // owned by run
	clientAddr string
}

func newISRChangeSender(s *isrChangeSender) *isrChangeSender {
	s.wake = make(chan struct{}, 1)
	s.pending = map[logstore.TopicPartition]isrProposal{}
	return s
}

// propose queues a partition's proposal; it never blocks.
func (s *isrChangeSender) propose(p *Partition, leaderEpoch int32, isr []int32, zkVersion int32) {
	s.mu.Lock()
	s.pending[p.TopicPartition()] = isrProposal{p: p, leaderEpoch: leaderEpoch, isr: isr, zkVersion: zkVersion}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run sends queued proposals until ctx ends.
func (s *isrChangeSender) run(ctx context.Context) {
	defer func() {
		if s.client != nil {
			s.client.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = map[logstore.TopicPartition]isrProposal{}
		s.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		if err := s.send(ctx, batch); err != nil {
			s.log.WithError(err).Info("sending ISR changes to the controller failed; retrying")
			s.requeue(batch)
			t := time.NewTimer(s.backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
}

// requeue puts back the proposals no newer one replaced, and wakes run.
func (s *isrChangeSender) requeue(batch map[logstore.TopicPartition]isrProposal) {
	s.mu.Lock()
	for tp, pr := range batch {
		if _, newer := s.pending[tp]; !newer {
			s.pending[tp] = pr
		}
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// send delivers one batch and applies the answers.
func (s *isrChangeSender) send(ctx context.Context, batch map[logstore.TopicPartition]isrProposal) error {
	client, err := s.controllerClient()
	if err != nil {
		return err
	}
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 0
	req.BrokerID = s.brokerID
	req.BrokerEpoch = s.brokerEpoch()
	for _, tp := range sortedTPs(batch) {
		pr := batch[tp]
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewAlterPartitionRequestTopic()
			t.Topic = tp.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewAlterPartitionRequestTopicPartition()
		rp.Partition, rp.LeaderEpoch, rp.NewISR, rp.PartitionEpoch = tp.Partition, pr.leaderEpoch, pr.isr, pr.zkVersion
		req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, rp)
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	kresp, err := client.Request(rctx, req)
	if err != nil {
		return err
	}
	resp := kresp.(*kmsg.AlterPartitionResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("controller refused AlterIsr: %w", err)
	}
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			tp := logstore.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			pr, ok := batch[tp]
			if !ok {
				continue
			}
			delete(batch, tp)
			if pr.p.onISRChangeAnswered(pr.leaderEpoch, rp.ISR, rp.PartitionEpoch, kerr.ErrorForCode(rp.ErrorCode)) && s.answered != nil {
				s.answered(tp)
			}
		}
	}
	for tp, pr := range batch { // not answered: the proposal is made again later
		pr.p.onISRChangeAnswered(pr.leaderEpoch, nil, 0, fmt.Errorf("the controller did not answer for %s", tp))
	}
	return nil
}

// controllerClient returns a client to the controller's inter-broker
// endpoint, as the metadata cache knows it.
func (s *isrChangeSender) controllerClient() (*network.Client, error) {
	id := s.metadata.ControllerID()
	if id < 0 {
		return nil, fmt.Errorf("no controller known: %w", kerr.NotController)
	}
	ep, ok := s.metadata.AliveEndpoint(id, s.listener)
	if !ok {
		return nil, fmt.Errorf("controller %d has no endpoint on listener %s: %w", id, s.listener, kerr.NotController)
	}
	addr := net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	if s.client != nil && s.clientAddr == addr {
		return s.client, nil
	}
	if s.client != nil {
		s.client.Close()
	}
	c, err := network.NewClient(network.ClientConfig{
		Addr:                addr,
		ClientID:            "broker-" + strconv.Itoa(int(s.brokerID)) + "-alter-isr",
		DialTimeout:         s.timeout,
		RequestTimeout:      s.timeout,
		ReconnectBackoff:    50 * time.Millisecond,
		ReconnectBackoffMax: time.Second,
		Logger:              s.log,
	})
	if err != nil {
		return nil, err
	}
	s.client, s.clientAddr = c, addr
	return c, nil
}
