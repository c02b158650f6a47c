package zkutil

import (
	"errors"
	"sync"
	"testing"
)

// TestClusterIDCreatedOnce starts several brokers at once on an empty
// cluster: they all end up with the one id that was created.
func TestClusterIDCreatedOnce(t *testing.T) {
	t.Parallel()
	cs := clients(t, 8)
	ctx := testContext(t)
	if _, err := cs[0].ClusterID(ctx); !errors.Is(err, ErrNoNode) {
		t.Fatalf("ClusterID on an empty cluster: %v, want ErrNoNode", err)
	}
	ids := make([]string, len(cs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var err error
			if ids[i], err = c.GetOrCreateClusterID(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("broker %d got cluster id %q, broker 0 got %q", i, id, ids[0])
		}
	}
	if _, err := ParseUUID(ids[0]); err != nil {
		t.Errorf("cluster id %q: %v", ids[0], err)
	}
	if id, err := cs[3].ClusterID(ctx); err != nil || id != ids[0] {
		t.Errorf("ClusterID = %q, %v", id, err)
	}
	_, st, err := cs[0].get(ctx, clusterIDPath)
	if err != nil || st.Version != 0 {
		t.Errorf("/cluster/id was written more than once: %+v, %v", st, err)
	}
}
