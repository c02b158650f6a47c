package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/network"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func initProducerID(t *testing.T, h *handlers, v int16, txnID *string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.TransactionalID, req.TransactionTimeoutMillis = v, txnID, 60000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return callOnListener(t, h, "PLAINTEXT", req).(*kmsg.InitProducerIDResponse)
}

func TestInitProducerIDVersions(t *testing.T) {
	h := newHandlers(1, discardLogger())
	f := &fakeClaimer{size: zkutil.ProducerIDBlockSize}
	h.producerIDs = newProducerIDManager(1, f, discardLogger())
	want := int64(0)
	for v := int16(0); v <= 4; v++ {
		resp := initProducerID(t, h, v, nil, -1, -1)
		if resp.ErrorCode != 0 || resp.ProducerID != want || resp.ProducerEpoch != 0 {
			t.Fatalf("v%d: %+v, want producer id %d epoch 0", v, resp, want)
		}
		want++
		if v < 3 {
			continue
		}
		// KIP-360: an idempotent producer that already has an id and
		// epoch gets a new id with epoch 0, as in Kafka 2.8.
		resp = initProducerID(t, h, v, nil, 0, 5)
		if resp.ErrorCode != 0 || resp.ProducerID != want || resp.ProducerEpoch != 0 {
			t.Fatalf("v%d with producer id 0 epoch 5: %+v, want producer id %d epoch 0", v, resp, want)
		}
		want++
		for _, bad := range [][2]int64{{-1, 3}, {7, -1}} {
			resp = initProducerID(t, h, v, nil, bad[0], int16(bad[1]))
			if resp.ErrorCode != kerr.InvalidRequest.Code || resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
				t.Fatalf("v%d with producer id %d epoch %d: %+v", v, bad[0], bad[1], resp)
			}
		}
	}
}

func TestInitProducerIDErrors(t *testing.T) {
	h := newHandlers(1, discardLogger())
	f := &fakeClaimer{size: zkutil.ProducerIDBlockSize}
	h.producerIDs = newProducerIDManager(1, f, discardLogger())
	for _, tt := range []struct {
		name  string
		txnID *string
		err   error
		want  *kerr.Error
	}{
		// TODO(txn issue): the transaction coordinator.
		{"transactional", kmsg.StringPtr("txn"), nil, kerr.InvalidRequest},
		{"empty transactional id", kmsg.StringPtr(""), nil, kerr.InvalidRequest},
		{"zookeeper down", nil, errors.New("zookeeper unreachable"), kerr.CoordinatorLoadInProgress},
		{"ids exhausted", nil, zkutil.ErrProducerIDsExhausted, kerr.UnknownServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.err = tt.err
			f.mu.Unlock()
			for v := int16(0); v <= 4; v++ {
				resp := initProducerID(t, h, v, tt.txnID, -1, -1)
				if resp.ErrorCode != tt.want.Code || resp.ProducerID != -1 || resp.ProducerEpoch != -1 {
					t.Fatalf("v%d: %+v, want %s", v, resp, tt.want.Message)
				}
			}
		})
	}
}

// Two brokers claiming from the same ZooKeeper hand out disjoint ids, even
// when their claims race, and across several blocks each.
func TestInitProducerIDTwoBrokersOnZooKeeperDisjoint(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	var hs []*handlers
	for id := int32(1); id <= 2; id++ {
		h := newHandlers(id, discardLogger())
		h.producerIDs = newProducerIDManager(id, connectZK(t, zkConnect), discardLogger())
		hs = append(hs, h)
	}
	const each = 2500 // three blocks per broker
	results := make([][]int64, len(hs))
	done := make(chan struct{})
	for i, h := range hs {
		go func() {
			defer func() { done <- struct{}{} }()
			for range each {
				id, err := h.producerIDs.generate(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = append(results[i], id)
			}
		}()
	}
	for range hs {
		<-done
	}
	seen := map[int64]int{}
	for i, ids := range results {
		if len(ids) != each {
			t.Fatalf("broker %d handed out %d ids", i+1, len(ids))
		}
		for _, id := range ids {
			if prev, dup := seen[id]; dup {
				t.Fatalf("id %d handed out by broker %d and broker %d", id, prev+1, i+1)
			}
			seen[id] = i
		}
	}
	// And through the API, on the wire format.
	for v := int16(0); v <= 4; v++ {
		for i, h := range hs {
			resp := initProducerID(t, h, v, nil, -1, -1)
			if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 {
				t.Fatalf("broker %d v%d: %+v", i+1, v, resp)
			}
			if _, dup := seen[resp.ProducerID]; dup {
				t.Fatalf("broker %d v%d: id %d handed out before", i+1, v, resp.ProducerID)
			}
			seen[resp.ProducerID] = i
		}
	}
}

// Real brokers create their producer id manager once connected to
// ZooKeeper and answer InitProducerId over the wire with disjoint ids.
func TestBrokersAnswerInitProducerID(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	seen := map[int64]bool{}
	for id := int32(1); id <= 2; id++ {
		b := runBroker(t, testBrokerConfig(t, id, zkConnect))
		client, err := network.NewClient(network.ClientConfig{Addr: b.Addrs()[0].String(), ClientID: "test", DialTimeout: 5 * time.Second, RequestTimeout: 10 * time.Second, ReconnectBackoff: 50 * time.Millisecond, ReconnectBackoffMax: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		for v := int16(0); v <= 4; v++ {
			req := kmsg.NewPtrInitProducerIDRequest()
			req.Version = v
			kresp, err := client.Request(context.Background(), req)
			if err != nil {
				t.Fatalf("broker %d v%d: %v", id, v, err)
			}
			resp := kresp.(*kmsg.InitProducerIDResponse)
			if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] {
				t.Fatalf("broker %d v%d: %+v (ids so far %v)", id, v, resp, seen)
			}
			seen[resp.ProducerID] = true
		}
	}
}

// franz-go, which asks for a producer id before its first idempotent
// produce, gets one from a real broker. (Producing itself waits for
// Produce.)
func TestInitProducerIDWithFranzGo(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	b := runBroker(t, testBrokerConfig(t, 1, zkConnect))
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
		t.Fatalf("%+v %v", resp, err)
	}
	if resp.GetVersion() != 4 {
		t.Fatalf("negotiated v%d, want v4", resp.GetVersion())
	}
}
