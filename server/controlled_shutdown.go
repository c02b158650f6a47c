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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	info, ok, err := zkc.Controller(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading /controller: %w", err)
	}
	if !ok {
		return 0, errors.New("no controller")
	}
	reg, err := zkc.Broker(ctx, info.BrokerID)
	if err != nil {
		return 0, fmt.Errorf("reading controller %d's registration: %w", info.BrokerID, err)
	}
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
