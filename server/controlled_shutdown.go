package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/gregor-broker/gregor/network"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// controlledShutdown asks the controller to move this broker's leadership
// and ISR places elsewhere before it stops (Kafka 2.8's
// KafkaServer.controlledShutdown), while the socket server still serves, so
// that the controller's LeaderAndIsr and StopReplica reach the broker and
// clients are redirected rather than cut off.
//
// Each attempt looks the controller up in ZooKeeper (/controller and its
// /brokers/ids registration, as Kafka does: the metadata cache may lag) and
// sends ControlledShutdown v3 with the broker id and epoch over the
// inter-broker listener. An attempt fails on any error, or when the
// controller answers with partitions the broker still leads; then, after
// controlled.shutdown.retry.backoff.ms, the broker tries again, up to
// controlled.shutdown.max.retries attempts in all. It reports whether the
// controller answered with nothing left, and the attempts made; the
// shutdown goes on either way. Cancelling ctx stops it at once.
//
// When ZooKeeper cannot be reached within zookeeper.connection.timeout.ms
// to look the controller up, the broker gives up on the controlled
// shutdown at once, without further attempts: Kafka's lookup then fails
// with ZooKeeperClientTimeoutException, which ends its controlled shutdown
// (KafkaServer.shutdown swallows it and goes on). Without ZooKeeper no
// controller could move anything anyway, and retrying would hold the
// shutdown for max.retries times the timeout.
func (b *Broker) controlledShutdown(ctx context.Context, zkc *zkutil.Client) (ok bool, attempts int) {
	listener, found := b.cfg.InterBrokerListener()
	if !found {
		return false, 0
	}
	log := b.log.WithField("component", "controlled_shutdown")
	timeout := b.cfg.ControllerSocketTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	maxAttempts := max(b.cfg.ControlledShutdownMaxRetries, 1)
	for attempt := 1; ; attempt++ {
		remaining, err := b.controlledShutdownOnce(ctx, zkc, listener.Name, timeout)
		switch {
		case err == nil && remaining == 0:
			log.WithField("attempt", attempt).Info("controlled shutdown succeeded")
			return true, attempt
		case err == nil:
			log.WithFields(logrus.Fields{"attempt": attempt, "remaining_partitions": remaining}).
				Info("controlled shutdown left partitions led here")
		case errors.Is(err, errZooKeeperUnreachable):
			log.WithError(err).WithField("attempt", attempt).
				Warn("proceeding with an uncontrolled shutdown: ZooKeeper cannot be reached to find the controller")
			return false, attempt
		default:
			log.WithError(err).WithField("attempt", attempt).Warn("controlled shutdown attempt failed")
		}
		if attempt >= maxAttempts {
			log.Warn("proceeding with an uncontrolled shutdown after the last controlled shutdown attempt")
			return false, attempt
		}
		t := time.NewTimer(b.cfg.ControlledShutdownRetryBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false, attempt
		case <-t.C:
		}
	}
}

// controlledShutdownOnce makes one attempt and returns the number of
// partitions the controller says the broker still leads.
func (b *Broker) controlledShutdownOnce(ctx context.Context, zkc *zkutil.Client, listener string, timeout time.Duration) (int, error) {
	info, reg, err := b.lookUpController(ctx, zkc)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var addr string
	for _, ep := range reg.Info.Endpoints {
		if ep.Name == listener {
			addr = net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port))
		}
	}
	if addr == "" {
		return 0, fmt.Errorf("controller %d has no endpoint on listener %s", info.BrokerID, listener)
	}
	client, err := network.NewClient(network.ClientConfig{
		Addr:                addr,
		ClientID:            "broker-" + strconv.Itoa(int(b.cfg.BrokerID)) + "-controlled-shutdown",
		DialTimeout:         timeout,
		RequestTimeout:      timeout,
		ReconnectBackoff:    50 * time.Millisecond,
		ReconnectBackoffMax: time.Second,
		Logger:              b.log,
	})
	if err != nil {
		return 0, err
	}
	defer client.Close()
	req := kmsg.NewPtrControlledShutdownRequest()
	req.Version = 3
	req.BrokerID = b.cfg.BrokerID
	req.BrokerEpoch = b.handlers.brokerEpoch.Load()
	kresp, err := client.Request(ctx, req)
	if err != nil {
		return 0, err
	}
	resp := kresp.(*kmsg.ControlledShutdownResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return 0, fmt.Errorf("controller %d refused: %w", info.BrokerID, err)
	}
	return len(resp.PartitionsRemaining), nil
}

// errZooKeeperUnreachable: ZooKeeper did not answer the controller lookup
// within zookeeper.connection.timeout.ms.
var errZooKeeperUnreachable = errors.New("ZooKeeper unreachable")

// lookUpController reads /controller and the controller's registration,
// waiting for ZooKeeper at most zookeeper.connection.timeout.ms (Kafka's
// ZooKeeperClient waits that long for a connection before failing a
// request); beyond that the error matches errZooKeeperUnreachable.
func (b *Broker) lookUpController(ctx context.Context, zkc *zkutil.Client) (zkutil.ControllerInfo, zkutil.BrokerRegistration, error) {
	wait := b.cfg.ZooKeeperConnectionTimeout
	if wait <= 0 {
		wait = b.cfg.ZooKeeperSessionTimeout
	}
	if wait <= 0 {
		wait = 18 * time.Second
	}
	lctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	unreachable := func(what string, err error) error {
		if ctx.Err() == nil && errors.Is(lctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%w within zookeeper.connection.timeout.ms=%d: %s: %v", errZooKeeperUnreachable, wait.Milliseconds(), what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	info, ok, err := zkc.Controller(lctx)
	if err != nil {
		return info, zkutil.BrokerRegistration{}, unreachable("reading /controller", err)
	}
	if !ok {
		return info, zkutil.BrokerRegistration{}, errors.New("no controller")
	}
	reg, err := zkc.Broker(lctx, info.BrokerID)
	if err != nil {
		return info, reg, unreachable(fmt.Sprintf("reading controller %d's registration", info.BrokerID), err)
	}
	return info, reg, nil
}
