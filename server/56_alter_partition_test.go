package server

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// interBrokerClient is an inter-broker client to b, closed with the test.
func interBrokerClient(t *testing.T, b *Broker) *network.Client {
	t.Helper()
	c, err := network.NewClient(network.ClientConfig{
		Addr: b.Addrs()[0].String(), ClientID: "test", DialTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second,
		ReconnectBackoff: 50 * time.Millisecond, ReconnectBackoffMax: time.Second, Logger: discardLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestControllerOnlyAPIs checks the answers of AlterPartition v0 (AlterIsr)
// and ControlledShutdown v0-3 that the handlers give without the
// controller's loop deciding anything about partitions: NOT_CONTROLLER
// away from the controller, and the controller's refusals of stale or
// unknown brokers.
func TestControllerOnlyAPIs(t *testing.T) {
	brokers, seeds := startCluster(t, 2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 2)
	var ctl, other *Broker
	deadline := time.Now().Add(30 * time.Second)
	for ctl == nil {
		for _, b := range brokers {
			if ok, _ := b.handlers.controller.(interface{ IsController() (bool, int32) }).IsController(); ok {
				ctl = b
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no controller")
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	for _, b := range brokers {
		if b != ctl {
			other = b
		}
	}
	otherEpoch := other.handlers.brokerEpoch.Load()

	alter := func(broker int32, epoch int64) *kmsg.AlterPartitionRequest {
		req := kmsg.NewPtrAlterPartitionRequest()
		req.BrokerID, req.BrokerEpoch = broker, epoch
		return req
	}
	shutdown := func(version int16, broker int32, epoch int64) *kmsg.ControlledShutdownRequest {
		req := kmsg.NewPtrControlledShutdownRequest()
		req.Version, req.BrokerID, req.BrokerEpoch = version, broker, epoch
		return req
	}
	tests := []struct {
		name string
		to   *Broker
		req  kmsg.Request
		want int16
	}{
		{name: "AlterIsr at a non-controller", to: other, req: alter(other.BrokerID(), otherEpoch), want: kerr.NotController.Code},
		{name: "AlterIsr with a stale broker epoch", to: ctl, req: alter(other.BrokerID(), otherEpoch-1), want: kerr.StaleBrokerEpoch.Code},
		{name: "AlterIsr accepted (nothing to change)", to: ctl, req: alter(other.BrokerID(), otherEpoch), want: 0},
		{name: "ControlledShutdown v0 at a non-controller", to: other, req: shutdown(0, other.BrokerID(), -1), want: kerr.NotController.Code},
		{name: "ControlledShutdown v3 at a non-controller", to: other, req: shutdown(3, other.BrokerID(), otherEpoch), want: kerr.NotController.Code},
		{name: "ControlledShutdown v2 with a stale broker epoch", to: ctl, req: shutdown(2, other.BrokerID(), otherEpoch-1), want: kerr.StaleBrokerEpoch.Code},
		{name: "ControlledShutdown v1 of an unknown broker", to: ctl, req: shutdown(1, 42, -1), want: kerr.BrokerNotAvailable.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := interBrokerClient(t, tt.to).Request(ctx, tt.req)
			if err != nil {
				t.Fatal(err)
			}
			var got int16
			switch r := resp.(type) {
			case *kmsg.AlterPartitionResponse:
				got = r.ErrorCode
			case *kmsg.ControlledShutdownResponse:
				got = r.ErrorCode
				if r.Version != tt.req.GetVersion() {
					t.Fatalf("answered v%d to v%d", r.Version, tt.req.GetVersion())
				}
			}
			if got != tt.want {
				t.Fatalf("error %d, want %d", got, tt.want)
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int16][2]int16{int16(kmsg.AlterPartition): {0, 0}, int16(kmsg.ControlledShutdown): {0, 3}}
	for _, k := range av.ApiKeys {
		if w, ok := want[k.ApiKey]; ok {
			if k.MinVersion != w[0] || k.MaxVersion != w[1] {
				t.Fatalf("ApiVersions gives key %d v%d-v%d, want v%d-v%d", k.ApiKey, k.MinVersion, k.MaxVersion, w[0], w[1])
			}
			delete(want, k.ApiKey)
		}
	}
	if len(want) != 0 {
		t.Fatalf("ApiVersions lacks %v", want)
	}
}
