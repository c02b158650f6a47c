package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/network"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// partitionMetadata is Metadata's view of topic's partition 0.
func partitionMetadata(t *testing.T, cl *kgo.Client, topic string) (kmsg.MetadataResponseTopicPartition, int32, bool) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
		return kmsg.MetadataResponseTopicPartition{}, -1, false
	}
	return resp.Topics[0].Partitions[0], resp.ControllerID, true
}

// waitForISR polls Metadata until topic's partition 0 has a leader and an
// ISR that cond accepts.
func waitForISR(t *testing.T, cl *kgo.Client, topic string, what string, cond func(p kmsg.MetadataResponseTopicPartition) bool) kmsg.MetadataResponseTopicPartition {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, _, ok := partitionMetadata(t, cl, topic)
		if ok && p.ErrorCode == 0 && p.Leader >= 0 && cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last %+v", what, p)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// TestControlledShutdownKeepsAcksAllProducing runs three brokers and a
// topic with RF 3 and min.insync.replicas=2: a follower's clean stop
// shrinks the ISR through the controller and acks=all produces go on; it
// rejoins the ISR after a restart (AlterIsr from the leader); the leader's
// clean stop moves leadership, and every record acknowledged throughout is
// consumed afterwards.
func TestControlledShutdownKeepsAcksAllProducing(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	cfgs := map[int32]*conf.Config{}
	brokers := map[int32]*Broker{}
	stops := map[int32]func(){}
	var seeds []string
	start := func(id int32) {
		b, stop := startStoppable(t, cfgs[id])
		brokers[id], stops[id] = b, stop
	}
	for id := int32(1); id <= 3; id++ {
		cfgs[id] = testBrokerConfig(t, id, zkConnect)
		start(id)
		seeds = append(seeds, brokers[id].Addrs()[0].String())
	}
	const topic = "durable"
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(45*time.Second),
		kgo.MetadataMinAge(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 3)

	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 3
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	resp, err := req.RequestWith(ctx, cl)
	cancel()
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %+v %v", resp, err)
	}
	p := waitForISR(t, cl, topic, "ISR of 3", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })

	var mu sync.Mutex
	var acked []string
	n := 0
	produce := func(count int) error {
		for range count {
			n++
			v := strconv.Itoa(n)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
			err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()
			cancel()
			if err != nil {
				return fmt.Errorf("record %s: %w", v, err)
			}
			mu.Lock()
			acked = append(acked, v)
			mu.Unlock()
		}
		return nil
	}
	if err := produce(20); err != nil {
		t.Fatal(err)
	}

	// (a) A follower stops cleanly: the controller takes it out of the ISR
	// before it goes, and acks=all produces still succeed with two.
	_, controllerID, _ := partitionMetadata(t, cl, topic)
	var follower int32 = -1
	for _, r := range p.Replicas {
		if r != p.Leader && (follower < 0 || r != controllerID) {
			follower = r
		}
	}
	stops[follower]()
	if !brokers[follower].shutdownControlled.Load() {
		t.Fatalf("follower %d's controlled shutdown did not succeed", follower)
	}
	waitForISR(t, cl, topic, "ISR of 2 without the stopped follower", func(p kmsg.MetadataResponseTopicPartition) bool {
		return len(p.ISR) == 2 && !slices.Contains(p.ISR, follower)
	})
	if err := produce(20); err != nil {
		t.Fatalf("acks=all with two in sync: %v", err)
	}

	// (b) Restarted, it catches up and the leader brings it back into the
	// ISR through the controller.
	start(follower)
	p = waitForISR(t, cl, topic, "ISR of 3 again", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 3 })
	if err := produce(20); err != nil {
		t.Fatal(err)
	}

	// (c) The leader stops cleanly while a producer runs: leadership moves
	// with no error the producer does not retry past.
	leader := p.Leader
	produceErr := make(chan error, 1)
	stopProducing := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopProducing:
				produceErr <- nil
				return
			default:
			}
			if err := produce(1); err != nil {
				if errors.Is(err, context.DeadlineExceeded) || !kerr.IsRetriable(err) {
					produceErr <- err
					return
				}
				// A retriable error the client gave up on: that record
				// is not acknowledged, and producing goes on.
				t.Logf("retriable produce error during the leader's shutdown: %v", err)
			}
		}
	}()
	stops[leader]()
	if !brokers[leader].shutdownControlled.Load() {
		t.Fatalf("leader %d's controlled shutdown did not succeed", leader)
	}
	p = waitForISR(t, cl, topic, "a new leader", func(p kmsg.MetadataResponseTopicPartition) bool {
		return p.Leader != leader && len(p.ISR) == 2 && !slices.Contains(p.ISR, leader)
	})
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		after := len(acked)
		mu.Unlock()
		if after >= before+10 {
			break
		}
		select {
		case err := <-produceErr:
			t.Fatalf("producing across the leader's controlled shutdown: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("produces did not go on after the leader moved to %d", p.Leader)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	close(stopProducing)
	if err := <-produceErr; err != nil {
		t.Fatalf("producing across the leader's controlled shutdown: %v", err)
	}

	// Every acknowledged record is there.
	mu.Lock()
	want := slices.Clone(acked)
	mu.Unlock()
	consumer, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	seen := map[string]bool{}
	cdeadline := time.Now().Add(30 * time.Second)
	for len(seen) < len(want) && time.Now().Before(cdeadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		fetches := consumer.PollFetches(ctx)
		cancel()
		fetches.EachError(func(_ string, _ int32, err error) {
			if err != context.DeadlineExceeded && !kerr.IsRetriable(err) {
				t.Logf("fetch error: %v", err)
			}
		})
		fetches.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for _, v := range want {
		if !seen[v] {
			t.Fatalf("acknowledged record %s not consumed (%d of %d seen)", v, len(seen), len(want))
		}
	}
}

// TestControlledShutdownRetriesThenProceeds stops a broker that leads a
// replicated partition whose other replica is gone: the controller cannot
// move it, so every attempt answers it as remaining; the broker tries
// controlled.shutdown.max.retries times, then shuts down anyway. With
// controlled.shutdown.enable=false it does not ask at all.
func TestControlledShutdownRetriesThenProceeds(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	cfg1, cfg2 := testBrokerConfig(t, 1, zkConnect), testBrokerConfig(t, 2, zkConnect)
	cfg1.ControlledShutdownMaxRetries = 2
	cfg2.ControlledShutdownEnable = false
	b1, stop1 := startStoppable(t, cfg1)
	b2, stop2 := startStoppable(t, cfg2)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b1.Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 2)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.ReplicationFactor = "pinned", -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1, 2}
	rt.NumPartitions, rt.ReplicaAssignment = -1, append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	resp, err := req.RequestWith(ctx, cl)
	cancel()
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create topic: %+v %v", resp, err)
	}
	waitForISR(t, cl, "pinned", "leader 1 with ISR [1 2]", func(p kmsg.MetadataResponseTopicPartition) bool {
		return p.Leader == 1 && len(p.ISR) == 2
	})

	stop2()
	if got := b2.shutdownAttempts.Load(); got != 0 {
		t.Fatalf("with controlled.shutdown.enable=false broker 2 made %d attempts", got)
	}
	waitForISR(t, cl, "pinned", "ISR [1]", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 1 })
	stop1()
	if b1.shutdownControlled.Load() || b1.shutdownAttempts.Load() != 2 {
		t.Fatalf("broker 1: controlled %v after %d attempts, want false after 2",
			b1.shutdownControlled.Load(), b1.shutdownAttempts.Load())
	}
}

// signalHook closes fired when a message is logged.
type signalHook struct {
	message string
	fired   chan struct{}
	once    sync.Once
}

func (h *signalHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *signalHook) Fire(e *logrus.Entry) error {
	if e.Message == h.message {
		h.once.Do(func() { close(h.fired) })
	}
	return nil
}

// TestShutdownWithoutZooKeeper stops brokers whose ZooKeeper is gone. As
// in Kafka, the controller lookup waits zookeeper.connection.timeout.ms
// (3 s here) and then the controlled shutdown is given up, after one
// attempt: it is not retried controlled.shutdown.max.retries times for
// controller.socket.timeout.ms each (3 x 30 s). A request waiting for the
// controller's loop, stuck on ZooKeeper, is answered NOT_CONTROLLER when
// the controller's broker stops, rather than hold its drain for
// controller.socket.timeout.ms (30 s). Both the controller and another
// broker stop within a bound far below those.
func TestShutdownWithoutZooKeeper(t *testing.T) {
	srv := zktest.Start(t)
	zkConnect := srv.Chroot(t)
	brokers := map[int32]*Broker{}
	stops := map[int32]func(){}
	hooks := map[int32]*signalHook{}
	var seeds []string
	for id := int32(1); id <= 2; id++ {
		cfg := testBrokerConfig(t, id, zkConnect)
		cfg.ControlledShutdownRetryBackoff = 5 * time.Second // Kafka's default
		hooks[id] = &signalHook{message: "broker shutting down: moving its leadership and ISR places away", fired: make(chan struct{})}
		log := logrus.New()
		log.SetOutput(io.Discard)
		log.AddHook(hooks[id])
		b, stop := startStoppableLogged(t, cfg, logrus.NewEntry(log), nil)
		stops[id] = stop
		brokers[id] = b
		seeds = append(seeds, b.Addrs()[0].String())
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 2)
	// A replicated topic, so that both brokers lead and follow.
	createReplicatedTopic(t, cl, "replicated", 1, 2)
	waitForISR(t, cl, "replicated", "ISR of 2", func(p kmsg.MetadataResponseTopicPartition) bool { return len(p.ISR) == 2 })
	var controllerID int32
	waitFor(t, "Metadata naming the controller", func() bool {
		_, id, ok := partitionMetadata(t, cl, "replicated")
		controllerID = id
		return ok && (id == 1 || id == 2)
	})
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	// The other broker's ControlledShutdown reaches the controller, whose
	// loop then waits on ZooKeeper.
	other := 3 - controllerID
	client, err := network.NewClient(network.ClientConfig{Addr: brokers[controllerID].Addrs()[0].String(), ClientID: "test",
		DialTimeout: 5 * time.Second, RequestTimeout: 60 * time.Second, ReconnectBackoff: 50 * time.Millisecond, ReconnectBackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	answered := make(chan kmsg.Response, 1)
	go func() {
		csReq := kmsg.NewPtrControlledShutdownRequest()
		csReq.Version, csReq.BrokerID, csReq.BrokerEpoch = 3, other, brokers[other].handlers.brokerEpoch.Load()
		resp, _ := client.Request(context.Background(), csReq)
		answered <- resp
	}()
	select {
	case <-hooks[controllerID].fired:
	case <-time.After(20 * time.Second):
		t.Fatal("the controller never handled the ControlledShutdown")
	}
	order := []int32{other, controllerID} // the other broker, then the controller
	for _, id := range order {
		t0 := time.Now()
		stops[id]()
		took := time.Since(t0)
		if took > 20*time.Second {
			t.Errorf("broker %d took %v to stop without ZooKeeper, want well under 20s", id, took)
		}
		if brokers[id].shutdownControlled.Load() || brokers[id].shutdownAttempts.Load() != 1 {
			t.Errorf("broker %d: controlled %v after %d attempts; want given up after 1",
				id, brokers[id].shutdownControlled.Load(), brokers[id].shutdownAttempts.Load())
		}
		t.Logf("broker %d stopped in %v", id, took.Round(time.Millisecond))
	}
	select {
	case resp := <-answered:
		if cs, ok := resp.(*kmsg.ControlledShutdownResponse); !ok || cs.ErrorCode != kerr.NotController.Code {
			t.Errorf("the ControlledShutdown waiting at the stopped controller: %+v, want NOT_CONTROLLER", resp)
		}
	case <-time.After(10 * time.Second):
		t.Error("the ControlledShutdown waiting at the stopped controller was never answered")
	}
}
