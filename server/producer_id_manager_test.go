package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
)

// fakeClaimer hands out consecutive blocks of size ids, as
// /latest_producer_id_block would to one broker, and fails while err is set.
type fakeClaimer struct {
	size int64

	mu     sync.Mutex // guards the fields below
	next   int64
	claims int
	err    error
	block  chan struct{} // when set, claims wait for it to close
}

func (f *fakeClaimer) ClaimProducerIDBlock(ctx context.Context, brokerID int32) (zkutil.ProducerIDBlock, error) {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return zkutil.ProducerIDBlock{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return zkutil.ProducerIDBlock{}, f.err
	}
	b := zkutil.ProducerIDBlock{BrokerID: brokerID, Start: f.next, End: f.next + f.size - 1}
	f.next += f.size
	f.claims++
	return b, nil
}

func (f *fakeClaimer) claimCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.claims
}

func TestProducerIDManagerHandsOutIDsInOrderAcrossBlocks(t *testing.T) {
	f := &fakeClaimer{size: zkutil.ProducerIDBlockSize}
	m := newProducerIDManager(1, f, discardLogger())
	ctx := context.Background()
	for want := int64(0); want < 2500; want++ {
		id, err := m.generate(ctx)
		if err != nil || id != want {
			t.Fatalf("id %d (%v), want %d", id, err, want)
		}
		// The first block is claimed on demand; each next one once 90%
		// of the current one is used, before it runs out.
		switch {
		case want == 0 && f.claimCount() != 1,
			want == 899 && f.claimCount() != 1,
			want == 900 && f.claimCount() != 2,
			want == 1900 && f.claimCount() != 3:
			t.Fatalf("after id %d: %d claims", want, f.claimCount())
		}
	}
}

func TestProducerIDManagerClaimFailure(t *testing.T) {
	f := &fakeClaimer{size: 10, err: errors.New("zookeeper unreachable")}
	m := newProducerIDManager(1, f, discardLogger())
	ctx := context.Background()
	if id, err := m.generate(ctx); err == nil || id != -1 {
		t.Fatalf("generate without a block: %d %v", id, err)
	}

	// A block that was claimed is still used up while claiming ahead
	// fails, then the failure surfaces.
	f.mu.Lock()
	f.err = nil
	f.mu.Unlock()
	if id, err := m.generate(ctx); err != nil || id != 0 {
		t.Fatalf("after recovery: %d %v", id, err)
	}
	f.mu.Lock()
	f.err = errors.New("zookeeper unreachable")
	f.mu.Unlock()
	for want := int64(1); want < 10; want++ {
		if id, err := m.generate(ctx); err != nil || id != want {
			t.Fatalf("id %d (%v), want %d", id, err, want)
		}
	}
	if _, err := m.generate(ctx); err == nil {
		t.Fatal("block used up and the claim failed, yet an id was handed out")
	}

	f.mu.Lock()
	f.err = zkutil.ErrProducerIDsExhausted
	f.mu.Unlock()
	if _, err := m.generate(ctx); !errors.Is(err, zkutil.ErrProducerIDsExhausted) {
		t.Fatalf("exhausted: %v", err)
	}
}

// A claim that hangs (ZooKeeper gone, zkutil retrying) ends at the claim
// timeout, and a waiting caller at its own context's end.
func TestProducerIDManagerClaimTimesOut(t *testing.T) {
	f := &fakeClaimer{size: 10, block: make(chan struct{})}
	m := newProducerIDManager(1, f, discardLogger())
	m.claimTimeout = 50 * time.Millisecond
	if _, err := m.generate(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung claim: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.generate(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(f.block)
	if id, err := m.generate(context.Background()); err != nil || id != 0 {
		t.Fatalf("after ZooKeeper is back: %d %v", id, err)
	}
}

// Concurrent callers get distinct ids and, with claims serialised, no
// block is claimed and then wasted: ids stay dense.
func TestProducerIDManagerConcurrentCallersGetDistinctIDs(t *testing.T) {
	// Small blocks, for many claims under contention: without claiming
	// ahead (a tenth of 7 is 0) and with it.
	for _, size := range []int64{7, 50} {
		t.Run(fmt.Sprintf("block_size_%d", size), func(t *testing.T) {
			testProducerIDManagerConcurrent(t, size)
		})
	}
}

func testProducerIDManagerConcurrent(t *testing.T, size int64) {
	f := &fakeClaimer{size: size}
	m := newProducerIDManager(1, f, discardLogger())
	const callers, each = 16, 200
	ids := make(chan int64, callers*each)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id, err := m.generate(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		seen[id] = true
	}
	if len(seen) != callers*each {
		t.Fatalf("%d ids, want %d", len(seen), callers*each)
	}
	// At most the block claimed ahead goes unused.
	if claimed := int64(f.claimCount()) * f.size; claimed > callers*each+2*f.size {
		t.Fatalf("%d ids claimed for %d handed out", claimed, callers*each)
	}
}
