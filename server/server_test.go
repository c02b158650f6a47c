package server

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/network"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) { os.Exit(zktest.RunMain(m)) }

// testBrokerConfig is a broker on 127.0.0.1 with a port the OS picks, data in
// a temporary folder and ZooKeeper at zkConnect.
func testBrokerConfig(t *testing.T, id int32, zkConnect string) *conf.Config {
	t.Helper()
	cfg, _, err := conf.Parse(map[string]string{
		"broker.id":                       strconv.Itoa(int(id)),
		"listeners":                       "PLAINTEXT://127.0.0.1:0",
		"log.dirs":                        filepath.Join(t.TempDir(), "logs"),
		"zookeeper.connect":               zkConnect,
		"zookeeper.session.timeout.ms":    "6000",
		"zookeeper.connection.timeout.ms": "3000",
		// A broker stopping while replicated partitions it leads have no
		// other live ISR member retries its controlled shutdown: not for
		// Kafka's 5 s at a time in tests.
		"controlled.shutdown.retry.backoff.ms": "100",
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runBroker starts a broker and waits until it serves; the broker stops when
// the test ends, and the test fails if Run returned an error.
func runBroker(t *testing.T, cfg *conf.Config) *Broker {
	t.Helper()
	b, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker %d stopped with %v", cfg.BrokerID, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("broker %d did not stop within 30s", cfg.BrokerID)
		}
	})
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("broker %d failed to start: %v", cfg.BrokerID, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("broker %d not ready within 30s", cfg.BrokerID)
	}
	return b
}

func connectZK(t *testing.T, connect string) *zkutil.Client {
	t.Helper()
	zkc, err := conf.ParseZooKeeperConnect(connect)
	if err != nil {
		t.Fatal(err)
	}
	c, err := zkutil.Connect(context.Background(), zkutil.Config{ZooKeeper: zkc, SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestBrokerStartsRegistersAndServes(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	cfg := testBrokerConfig(t, 1, zkConnect)
	b := runBroker(t, cfg)

	zkc := connectZK(t, zkConnect)
	reg, err := zkc.Broker(context.Background(), 1)
	if err != nil {
		t.Fatalf("broker not registered: %v", err)
	}
	addr := b.Addrs()[0].String()
	if len(reg.Info.Endpoints) != 1 || !strings.HasSuffix(addr, ":"+strconv.Itoa(reg.Info.Endpoints[0].Port)) {
		t.Fatalf("registered endpoints %+v, bound %s", reg.Info.Endpoints, addr)
	}
	if id, err := zkc.ClusterID(context.Background()); err != nil || id != b.ClusterID() {
		t.Fatalf("cluster id %q (%v), broker says %q", id, err, b.ClusterID())
	}

	client, err := network.NewClient(network.ClientConfig{Addr: addr, ClientID: "test", DialTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second, ReconnectBackoff: 50 * time.Millisecond, ReconnectBackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
	resp, err := client.Request(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if av := resp.(*kmsg.ApiVersionsResponse); av.ErrorCode != 0 || len(av.ApiKeys) == 0 {
		t.Fatalf("ApiVersions: error %d, %d keys", av.ErrorCode, len(av.ApiKeys))
	}

	// meta.properties ties the log directory to this broker and cluster.
	mp, err := os.ReadFile(filepath.Join(cfg.LogDirs[0], "meta.properties"))
	if err != nil || !strings.Contains(string(mp), "broker.id=1") || !strings.Contains(string(mp), "cluster.id="+b.ClusterID()) {
		t.Fatalf("meta.properties: %q, %v", mp, err)
	}
}

func TestBrokerIDAlreadyRegisteredFailsStartup(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	runBroker(t, testBrokerConfig(t, 5, zkConnect))
	b, err := New(testBrokerConfig(t, 5, zkConnect), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = b.Run(ctx)
	if !errors.Is(err, zkutil.ErrNodeExists) || !strings.Contains(err.Error(), "already registered") {
		t.Fatalf("second broker with id 5: %v", err)
	}
}

func TestUnreachableZooKeeperFailsStartup(t *testing.T) {
	cfg := testBrokerConfig(t, 1, "127.0.0.1:1")
	cfg.ZooKeeperConnectionTimeout = 500 * time.Millisecond
	b, err := New(cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err = b.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "zookeeper.connection.timeout.ms=500") {
		t.Fatalf("start without ZooKeeper: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("start-up waited %v, past its own deadline", time.Since(start))
	}
}

func TestBrokerRegistersAgainAfterSessionExpiry(t *testing.T) {
	zk := zktest.Shared(t)
	zkConnect := zk.Chroot(t)
	b := runBroker(t, testBrokerConfig(t, 2, zkConnect))
	b.mu.Lock()
	session, epoch := b.zk.SessionID(), b.handlers.brokerEpoch.Load()
	b.mu.Unlock()
	if err := zk.ExpireSession(context.Background(), session); err != nil {
		t.Fatal(err)
	}
	zkc := connectZK(t, zkConnect)
	deadline := time.Now().Add(30 * time.Second)
	for {
		reg, err := zkc.Broker(context.Background(), 2)
		if err == nil && reg.Epoch != epoch {
			return // registered again, by the new session: a new czxid
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker not registered again after its session expired: %+v %v", reg, err)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// A real broker knows nothing of the cluster until the controller's
// UpdateMetadata reaches it over the wire; then Metadata lists it, and an
// UpdateMetadata for an earlier registration of it is refused.
func TestBrokerAnswersMetadataAfterUpdateMetadata(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	b := runBroker(t, testBrokerConfig(t, 3, zkConnect))
	reg, err := connectZK(t, zkConnect).Broker(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	tcp := b.Addrs()[0].(*net.TCPAddr)
	client, err := network.NewClient(network.ClientConfig{Addr: tcp.String(), ClientID: "broker-0-controller", DialTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second, ReconnectBackoff: 50 * time.Millisecond, ReconnectBackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()

	metadata := func() *kmsg.MetadataResponse {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 11
		resp, err := client.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.MetadataResponse)
	}
	// The broker's own controller may already have sent its UpdateMetadata;
	// what is checked here is the fencing of one sent over the wire.
	if md := metadata(); md.ClusterID == nil || *md.ClusterID != b.ClusterID() {
		t.Fatalf("cluster id %v, want %s", md.ClusterID, b.ClusterID())
	}

	updateMetadata := func(brokerEpoch int64) int16 {
		t.Helper()
		req := kmsg.NewPtrUpdateMetadataRequest()
		req.Version = 7
		req.ControllerID, req.ControllerEpoch, req.BrokerEpoch = 3, 1, brokerEpoch
		lb := kmsg.NewUpdateMetadataRequestLiveBroker()
		lb.ID = 3
		ep := kmsg.NewUpdateMetadataRequestLiveBrokerEndpoint()
		ep.Host, ep.Port, ep.ListenerName, ep.SecurityProtocol = tcp.IP.String(), int32(tcp.Port), "PLAINTEXT", 0
		lb.Endpoints = append(lb.Endpoints, ep)
		req.LiveBrokers = append(req.LiveBrokers, lb)
		resp, err := client.Request(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.(*kmsg.UpdateMetadataResponse).ErrorCode
	}
	if code := updateMetadata(reg.Epoch - 1); code != kerr.StaleBrokerEpoch.Code {
		t.Fatalf("UpdateMetadata for an earlier registration: error %d", code)
	}
	if code := updateMetadata(reg.Epoch); code != 0 {
		t.Fatalf("UpdateMetadata: error %d", code)
	}
	md := metadata()
	if len(md.Brokers) != 1 || md.Brokers[0].NodeID != 3 || md.Brokers[0].Port != int32(tcp.Port) || md.ControllerID != 3 {
		t.Fatalf("after UpdateMetadata: brokers %+v controller %d", md.Brokers, md.ControllerID)
	}
}
