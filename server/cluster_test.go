package server

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterMetadataWithFranzGo runs three brokers against one ZooKeeper:
// one becomes controller and tells every broker of the others, so that a
// real client (franz-go) bootstrapping from any broker sees all three and
// the same controller.
func TestClusterMetadataWithFranzGo(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	var brokers []*Broker
	for id := int32(1); id <= 3; id++ {
		brokers = append(brokers, runBroker(t, testBrokerConfig(t, id, zkConnect)))
	}
	for _, b := range brokers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
			cancel()
			var ids []int32
			if err == nil {
				for _, br := range resp.Brokers {
					ids = append(ids, br.NodeID)
				}
				slices.Sort(ids)
			}
			if err == nil && slices.Equal(ids, []int32{1, 2, 3}) && resp.ControllerID >= 1 && resp.ControllerID <= 3 &&
				resp.ClusterID != nil && *resp.ClusterID == b.ClusterID() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %s: metadata never listed all brokers and a controller: %+v %v", b.Addrs()[0], resp, err)
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
		cl.Close()
	}
}
