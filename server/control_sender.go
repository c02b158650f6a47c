package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/network"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// controlSender delivers the controller's requests (LeaderAndIsr,
// UpdateMetadata, StopReplica) to brokers over the inter-broker listener,
// itself included: the controller reaches every broker the same way, so an
// in-process cluster behaves as a real one. It keeps one network.Client per
// broker, which reconnects by itself, and replaces it when the broker
// registers again with another epoch or address.
//
// Safe for concurrent use: the controller calls Send from one sender
// goroutine per broker.
type controlSender struct {
	listener string // inter-broker listener name; immutable
	clientID string // immutable
	timeout  time.Duration
	log      *logrus.Entry

	mu      sync.Mutex // guards clients
	clients map[int32]*brokerClient
}

type brokerClient struct {
	epoch  int64
	addr   string
	client *network.Client
}

func newControlSender(listener string, brokerID int32, timeout time.Duration, log *logrus.Entry) *controlSender {
	return &controlSender{
		listener: listener,
		clientID: "broker-" + strconv.Itoa(int(brokerID)) + "-controller",
		timeout:  timeout,
		log:      log,
		clients:  map[int32]*brokerClient{},
	}
}

// Send implements controller.Sender.
func (s *controlSender) Send(ctx context.Context, broker zkutil.BrokerRegistration, req kmsg.Request) (kmsg.Response, error) {
	client, err := s.clientFor(broker)
	if err != nil {
		return nil, err
	}
	return client.Request(ctx, req)
}

func (s *controlSender) clientFor(broker zkutil.BrokerRegistration) (*network.Client, error) {
	addr := ""
	for _, ep := range broker.Info.Endpoints {
		if ep.Name == s.listener {
			addr = net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
		}
	}
	if addr == "" {
		return nil, fmt.Errorf("server: broker %d has no endpoint on inter-broker listener %s", broker.Info.ID, s.listener)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if bc, ok := s.clients[broker.Info.ID]; ok {
		if bc.epoch == broker.Epoch && bc.addr == addr {
			return bc.client, nil
		}
		bc.client.Close()
		delete(s.clients, broker.Info.ID)
	}
	client, err := network.NewClient(network.ClientConfig{
		Addr:                addr,
		ClientID:            s.clientID,
		DialTimeout:         s.timeout,
		RequestTimeout:      s.timeout,
		ReconnectBackoff:    50 * time.Millisecond,
		ReconnectBackoffMax: time.Second,
		Logger:              s.log,
	})
	if err != nil {
		return nil, err
	}
	s.clients[broker.Info.ID] = &brokerClient{epoch: broker.Epoch, addr: addr, client: client}
	return client, nil
}

// Close closes every client.
func (s *controlSender) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, bc := range s.clients {
		bc.client.Close()
		delete(s.clients, id)
	}
}
