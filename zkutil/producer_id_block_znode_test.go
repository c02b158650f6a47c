package zkutil

import (
	"sort"
	"sync"
	"testing"

	"github.com/go-zookeeper/zk"
)

// TestProducerIDBlocks has several brokers claim blocks at once: the
// blocks never overlap and leave no gap.
func TestProducerIDBlocks(t *testing.T) {
	t.Parallel()
	const brokers, claims = 4, 15
	cs := clients(t, brokers)
	ctx := testContext(t)
	// Kafka creates the znode empty at start-up; the first block is 0-999.
	if _, err := cs[0].createWithParents(ctx, producerIDBlockPath, nil, zk.FlagPersistent); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var blocks []ProducerIDBlock
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range claims {
				b, err := c.ClaimProducerIDBlock(ctx, int32(i+1))
				if err != nil {
					t.Error(err)
					return
				}
				if b.BrokerID != int32(i+1) || b.End-b.Start != ProducerIDBlockSize-1 {
					t.Errorf("broker %d got %+v", i+1, b)
				}
				mu.Lock()
				blocks = append(blocks, b)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].Start < blocks[j].Start })
	if len(blocks) != brokers*claims {
		t.Fatalf("%d blocks, want %d", len(blocks), brokers*claims)
	}
	for i, b := range blocks {
		if want := int64(i) * ProducerIDBlockSize; b.Start != want {
			t.Fatalf("block %d starts at %d, want %d (overlap or gap)", i, b.Start, want)
		}
	}
}

// TestProducerIDBlockWithoutZNode claims on a cluster where nothing created
// the znode.
func TestProducerIDBlockWithoutZNode(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx := testContext(t)
	b, err := c.ClaimProducerIDBlock(ctx, 3)
	if err != nil || b != (ProducerIDBlock{BrokerID: 3, Start: 0, End: 999}) {
		t.Fatalf("first claim = %+v, %v", b, err)
	}
	b, err = c.ClaimProducerIDBlock(ctx, 3)
	if err != nil || b.Start != 1000 {
		t.Fatalf("second claim = %+v, %v", b, err)
	}
}
