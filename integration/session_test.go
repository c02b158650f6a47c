package integration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestZooKeeperSessionExpiry freezes a broker (SIGSTOP) for longer than
// zookeeper.session.timeout.ms (6000 in StartCluster), so that ZooKeeper
// expires its session and removes /brokers/ids/<id>; the controller then
// takes the broker's partitions offline. After SIGCONT the broker finds
// its session expired, opens a new one and registers again with a new
// broker epoch (Kafka 2.8's KafkaZkClient re-registration on
// StateChangeHandler.afterInitializingSession), the controller gives it
// back the leadership of its partitions, and it serves produce and fetch
// for them, with the data written before the pause.
//
// Once the frozen broker is the controller: its /controller znode goes
// with the session, a survivor is elected, and the resumed broker follows
// the new controller instead of claiming the role again.
func TestZooKeeperSessionExpiry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		controller bool // freeze the controller rather than another broker
	}{
		{"broker", false},
		{"controller", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testSessionExpiry(t, tt.controller)
		})
	}
}

func testSessionExpiry(t *testing.T, freezeController bool) {
	c := StartCluster(t, 3)
	topic, partitions := "session-expiry", int32(6)
	want, counts := produceBeforeBounce(t, c, topic, partitions)
	leaders := c.WaitOnline(topic, partitions)

	ctrl := c.Controller()
	var b *Broker
	for _, x := range c.Brokers {
		if (x.ID == ctrl) == freezeController {
			b = x
			break
		}
	}
	var led []int32
	for p, l := range leaders {
		if l == b.ID {
			led = append(led, p)
		}
	}
	if len(led) == 0 {
		t.Fatalf("broker %d leads none of %s's partitions: %v", b.ID, topic, leaders)
	}
	slices.Sort(led)

	z := c.ZK()
	epoch, err := z.BrokerCzxid(b.ID)
	if err != nil || epoch == 0 {
		t.Fatalf("broker %d's znode before the pause: czxid %d, %v", b.ID, epoch, err)
	}

	resume := b.Freeze()
	var last string
	c.waitFor(failoverTimeout, fmt.Sprintf("/brokers/ids/%d removed by ZooKeeper", b.ID), func() bool {
		ids, err := z.BrokerIDs()
		last = fmt.Sprintf("ids %v, err %v", ids, err)
		return err == nil && !slices.Contains(ids, b.ID)
	}, &last)
	s := c.Without(b.ID)
	s.waitFor(failoverTimeout, "the paused broker's partitions offline", func() bool {
		got, err := s.Leaders(topic)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("leaders %v", got)
		for _, p := range led {
			if got[p] != -1 {
				return false
			}
		}
		return true
	}, &last)

	newCtrl := ctrl
	if freezeController {
		s.waitFor(failoverTimeout, "a survivor elected controller", func() bool {
			resp, err := s.Metadata()
			if err != nil {
				last = err.Error()
				return false
			}
			newCtrl = resp.ControllerID
			last = fmt.Sprintf("controller %d", newCtrl)
			return newCtrl >= 0 && newCtrl != b.ID
		}, &last)
	}

	resume()
	c.waitFor(failoverTimeout, fmt.Sprintf("broker %d registered again", b.ID), func() bool {
		e, err := z.BrokerCzxid(b.ID)
		last = fmt.Sprintf("czxid %d (was %d), err %v", e, epoch, err)
		return err == nil && e != 0 && e != epoch
	}, &last)
	c.WaitBrokers(3)
	c.waitFor(failoverTimeout, fmt.Sprintf("broker %d leading %v again", b.ID, led), func() bool {
		got, err := c.Leaders(topic)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("leaders %v", got)
		for _, p := range led {
			if got[p] != b.ID {
				return false
			}
		}
		return true
	}, &last)

	// The resumed broker itself names the controller of the new session.
	only := &Cluster{t: c.t, ZKConnect: c.ZKConnect, Brokers: []*Broker{b}}
	only.waitFor(failoverTimeout, fmt.Sprintf("broker %d naming controller %d", b.ID, newCtrl), func() bool {
		resp, err := only.Metadata()
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("controller %d", resp.ControllerID)
		return resp.ControllerID == newCtrl
	}, &last)
	if id := c.Controller(); id != newCtrl {
		t.Fatalf("controller %d after broker %d resumed, want %d", id, b.ID, newCtrl)
	}

	// Produce to the partitions it leads, through it, and read everything
	// back.
	cl := c.Client(append(c.produceOpts(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	var recs []*kgo.Record
	for i := range 300 {
		p := led[i%len(led)]
		recs = append(recs, &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "after-%d", i), Value: fmt.Appendf(nil, "resumed-%d", i)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce to broker %d's partitions %v after its session expired: %v", b.ID, led, err)
	}
	afterRecs, _ := byPartition(recs)
	for p, rs := range afterRecs {
		want[p] = append(want[p], rs...)
		counts[p] += len(rs)
	}
	c.checkSameRecords(want, c.ConsumeAll(topic, counts, 60*time.Second))
}

// Freeze stops the broker's process with SIGSTOP and returns the function
// that resumes it with SIGCONT. If the test ends first, its cleanup resumes
// the process, so that the cluster's cleanup can stop it.
func (b *Broker) Freeze() (resume func()) {
	b.t.Helper()
	b.signal(syscall.SIGSTOP)
	var once sync.Once
	resume = func() { once.Do(func() { b.signal(syscall.SIGCONT) }) }
	b.t.Cleanup(resume)
	return resume
}

// signal sends sig to the broker's process, which must be running.
func (b *Broker) signal(sig syscall.Signal) {
	b.t.Helper()
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd == nil {
		b.t.Fatalf("broker %d is not running", b.ID)
	}
	if err := syscall.Kill(cmd.Process.Pid, sig); err != nil {
		b.t.Fatalf("broker %d: kill -%v: %v", b.ID, sig, err)
	}
}
