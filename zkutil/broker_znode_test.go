package zkutil

import (
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/gregor-broker/gregor/conf"
)

func testBroker(id int32) BrokerInfo {
	return BrokerInfo{
		ID: id,
		Endpoints: []conf.Listener{
			{Name: "PLAINTEXT", SecurityProtocol: conf.Plaintext, Host: "127.0.0.1", Port: 9092 + int(id)},
		},
		JMXPort:  -1,
		Rack:     "r1",
		Features: map[string]FeatureRange{},
	}
}

func TestRegisterBroker(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	a, b := cs[0], cs[1]
	ctx := testContext(t)

	epoch, err := a.RegisterBroker(ctx, testBroker(1)) // no /brokers/ids yet: created on the way
	if err != nil {
		t.Fatal(err)
	}
	reg, err := b.Broker(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := testBroker(1)
	want.Timestamp = 1620000000000 // the test clock
	if !reflect.DeepEqual(reg.Info, want) || reg.Epoch != epoch || epoch <= 0 {
		t.Errorf("Broker(1) = %+v epoch %d, want %+v epoch %d", reg.Info, reg.Epoch, want, epoch)
	}

	// The same session registering again (a retry) keeps the registration
	// and its epoch, and takes the new data.
	changed := testBroker(1)
	changed.Rack = "r2"
	again, err := a.RegisterBroker(ctx, changed)
	if err != nil || again != epoch {
		t.Fatalf("re-register in the same session: epoch %d, %v; want %d", again, err, epoch)
	}
	if reg, _ := b.Broker(ctx, 1); reg.Info.Rack != "r2" {
		t.Errorf("re-register did not update the data: rack %q", reg.Info.Rack)
	}

	// Another session cannot take the id.
	_, err = b.RegisterBroker(ctx, testBroker(1))
	var taken *BrokerRegisteredError
	if !errors.As(err, &taken) || !errors.Is(err, ErrNodeExists) {
		t.Fatalf("duplicate broker id: %v, want *BrokerRegisteredError", err)
	}
	if taken.BrokerID != 1 || taken.OwnerSessionID != a.SessionID() {
		t.Errorf("BrokerRegisteredError = %+v, want broker 1 owned by 0x%x", taken, a.SessionID())
	}

	// The registration is ephemeral: it goes with a's session.
	a.Close()
	if ids, err := b.BrokerIDs(ctx); err != nil || len(ids) != 0 {
		t.Fatalf("after the session closed: BrokerIDs = %v, %v", ids, err)
	}
	if _, err := b.Broker(ctx, 1); !errors.Is(err, ErrNoNode) {
		t.Fatalf("after the session closed: Broker(1): %v", err)
	}
	newEpoch, err := b.RegisterBroker(ctx, testBroker(1))
	if err != nil || newEpoch <= epoch {
		t.Fatalf("register after the old session closed: epoch %d, %v; want more than %d", newEpoch, err, epoch)
	}
}

func TestWatchBrokers(t *testing.T) {
	t.Parallel()
	cs := clients(t, 3)
	ctx := testContext(t)
	if err := cs[0].CreateTopLevelPaths(ctx); err != nil {
		t.Fatal(err)
	}
	ids, watch, err := cs[0].WatchBrokerIDs(ctx)
	if err != nil || len(ids) != 0 {
		t.Fatalf("WatchBrokerIDs = %v, %v", ids, err)
	}
	if _, err := cs[1].RegisterBroker(ctx, testBroker(2)); err != nil {
		t.Fatal(err)
	}
	ev := waitWatch(t, watch)
	if ev.Type != NodeChildrenChanged || ev.Path != "/brokers/ids" {
		t.Errorf("watch event %+v, want children changed on /brokers/ids (relative to the chroot)", ev)
	}
	// Re-read and re-arm.
	ids, watch, err = cs[0].WatchBrokerIDs(ctx)
	if err != nil || !reflect.DeepEqual(ids, []int32{2}) {
		t.Fatalf("after a registration: %v, %v", ids, err)
	}
	reg, brokerWatch, err := cs[0].WatchBroker(ctx, 2)
	if err != nil || reg.Info.ID != 2 {
		t.Fatalf("WatchBroker(2) = %+v, %v", reg, err)
	}
	noWatch(t, watch)
	if _, err := cs[2].RegisterBroker(ctx, testBroker(10)); err != nil {
		t.Fatal(err)
	}
	waitWatch(t, watch)
	if err := cs[1].UpdateBroker(ctx, testBroker(2)); err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, brokerWatch); ev.Type != NodeDataChanged || ev.Path != "/brokers/ids/2" {
		t.Errorf("broker watch: %+v", ev)
	}
	ids, err = cs[0].BrokerIDs(ctx)
	if err != nil || !reflect.DeepEqual(ids, []int32{2, 10}) {
		t.Errorf("BrokerIDs = %v, %v; want [2 10] in numeric order", ids, err)
	}
	all, err := cs[0].Brokers(ctx)
	if err != nil || len(all) != 2 || all[0].Info.ID != 2 || all[1].Info.ID != 10 {
		t.Fatalf("Brokers = %+v, %v", all, err)
	}
	// A znode under /brokers/ids that is not a broker id is skipped.
	if _, err := cs[0].create(ctx, "/brokers/ids/not-a-broker", nil, 0); err != nil {
		t.Fatal(err)
	}
	if ids, err := cs[0].BrokerIDs(ctx); err != nil || !reflect.DeepEqual(ids, []int32{2, 10}) {
		t.Errorf("with a stray znode: BrokerIDs = %v, %v", ids, err)
	}
}

func TestNextBrokerSequenceID(t *testing.T) {
	t.Parallel()
	cs := clients(t, 4)
	ctx := testContext(t)
	var mu sync.Mutex
	seen := map[int32]bool{}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				id, err := c.NextBrokerSequenceID(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[id] {
					t.Errorf("sequence id %d handed out twice", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for id := int32(1); id <= 20; id++ {
		if !seen[id] {
			t.Errorf("sequence id %d not handed out; got %v", id, seen)
		}
	}
}
