package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFault runs the replication fault cases of Kafka's system tests
// (replication_test.py, kafkatest's clean/hard bounce) against three
// brokers on a ZooKeeper ensemble of three: a topic of 6 partitions,
// replication factor 3 and min.insync.replicas=2 takes records from
// `gregor verifiable-producer` (acks=all, idempotent, 200 records a
// second) while a broker is bounced, killed or frozen. At the end of
// each case (faultRun.verify) every acknowledged record is in the log
// exactly once at the offset it was acknowledged at, offsets have no
// gaps, and the replicas' batches below the high watermark are
// byte-identical.
//
// The cases run one after the other: each starts four JVMs' worth of
// processes and three -race brokers, more than two cores run in parallel.
func TestFault(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra []string
		run   func(*faultRun)
	}{
		{"clean-bounce", nil, faultCleanBounce},
		{"hard-bounce-leader", nil, faultHardBounceLeader},
		{"hard-bounce-controller", nil, faultHardBounceController},
		// A longer session so that the frozen follower leaves the ISR
		// (replica.lag.time.max.ms=3000) well before ZooKeeper expires it.
		{"pause-follower", []string{"zookeeper.session.timeout.ms=15000"}, faultPauseFollower},
		{"two-down", nil, faultTwoDown},
		{"divergence", nil, faultDivergence},
		{"leader-session-expiry", nil, faultLeaderSessionExpiry},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			f := startFault(t, tt.extra...)
			tt.run(f)
			f.verify()
			t.Logf("%s: %v", tt.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// faultCleanBounce stops each broker in turn with SIGTERM (a controlled
// shutdown: its leaderships move first), twice round. Records keep being
// acknowledged while it is down (2 replicas in sync still meet
// min.insync.replicas), and it rejoins the ISR after its restart.
func faultCleanBounce(f *faultRun) {
	f.createTopic(nil)
	f.startProducer(30, 250*time.Millisecond)
	for range 2 {
		for _, b := range f.c.Brokers {
			b.Stop()
			s := f.c.Without(b.ID)
			f.waitState(s, "no leadership on the stopped broker", func(st map[int32]partState) bool {
				for _, p := range st {
					if p.Leader < 0 || p.Leader == b.ID {
						return false
					}
				}
				return true
			})
			f.waitAcks(s, 50)
			b.Restart()
			f.waitISR(f.c, 3, -1)
		}
	}
}

// faultHardBounceLeader kills partition 0's leader with SIGKILL three
// times. Once ZooKeeper expires its session the controller elects a
// leader from the ISR; the producer, after retrying, goes on. The killed
// broker restarts once its old registration is gone and truncates
// to the new leader's epochs before it rejoins the ISR.
func faultHardBounceLeader(f *faultRun) {
	f.createTopic(nil)
	f.startProducer(60, 250*time.Millisecond)
	for range 3 {
		old := f.waitISR(f.c, 3, -1)[0].Leader
		b := f.c.Broker(old)
		b.Kill()
		s := f.c.Without(old)
		f.waitState(s, "a new leader for partition 0", func(st map[int32]partState) bool {
			return st[0].Leader >= 0 && st[0].Leader != old
		})
		f.waitAcks(s, 50)
		f.c.RestartAfterExpiry(b)
		f.waitISR(f.c, 3, -1)
	}
}

// faultHardBounceController kills the controller with SIGKILL: a survivor
// wins the /controller election, moves the dead broker's leaderships and
// shrinks its ISRs; the producer goes on, and the old controller rejoins
// as a plain broker.
func faultHardBounceController(f *faultRun) {
	f.createTopic(nil)
	f.startProducer(60, 250*time.Millisecond)
	old := f.c.Controller()
	b := f.c.Broker(old)
	b.Kill()
	s := f.c.Without(old)
	var last string
	s.waitFor(faultTimeout, "a new controller", func() bool {
		resp, err := s.Metadata()
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("controller %d, %d brokers", resp.ControllerID, len(resp.Brokers))
		return resp.ControllerID >= 0 && resp.ControllerID != old && len(resp.Brokers) == 2
	}, &last)
	f.waitISR(s, 2, old)
	f.waitAcks(s, 50)
	f.c.RestartAfterExpiry(b)
	f.waitISR(f.c, 3, -1)
}

// faultPauseFollower freezes (SIGSTOP) a broker that is neither the
// controller nor a leader, beyond replica.lag.time.max.ms: the leaders
// drop it from their ISRs (AlterIsr), which Metadata shows as 2 replicas,
// and acks=all goes on with 2 in sync. After SIGCONT it catches up and the
// leaders add it back: ISR 3 again.
func faultPauseFollower(f *faultRun) {
	ctrl := f.c.Controller()
	var others []int32
	var frozen *Broker
	for _, b := range f.c.Brokers {
		if b.ID != ctrl && frozen == nil {
			frozen = b
			continue
		}
		others = append(others, b.ID)
	}
	// Leaders alternate between the two others; the frozen broker follows
	// everywhere, so no partition goes offline and the controller, which
	// handles AlterIsr, keeps running.
	assign := map[int32][]int32{}
	for p := range int32(faultPartitions) {
		a, b := others[p%2], others[1-p%2]
		assign[p] = []int32{a, b, frozen.ID}
		if p >= 2 {
			assign[p] = []int32{a, frozen.ID, b}
		}
	}
	f.createTopic(assign)
	f.startProducer(60, 250*time.Millisecond)

	resume := frozen.Freeze()
	paused := time.Now()
	s := f.c.Without(frozen.ID)
	f.waitISR(s, 2, frozen.ID)
	f.t.Logf("broker %d left every ISR %v after SIGSTOP", frozen.ID, time.Since(paused).Round(time.Millisecond))
	f.waitAcks(s, 100)
	resume()
	f.waitISR(f.c, 3, -1)
	f.t.Logf("broker %d back in every ISR %v after SIGSTOP", frozen.ID, time.Since(paused).Round(time.Millisecond))
}

// faultLeaderSessionExpiry freezes a broker that leads partitions (not the
// controller) with SIGSTOP beyond zookeeper.session.timeout.ms: ZooKeeper
// expires its session, the controller moves its leaderships to the other
// ISR members and acks=all goes on with two. On SIGCONT the broker still
// believes it leads until it learns of the expiry; it cannot acknowledge
// anything meanwhile (no follower fetches from it at its old epoch), then
// registers again, follows, truncates to the new leaders' epochs and
// rejoins every ISR.
func faultLeaderSessionExpiry(f *faultRun) {
	f.createTopic(nil)
	f.startProducer(60, 250*time.Millisecond)
	st := f.waitISR(f.c, 3, -1)
	ctrl := f.c.Controller()
	var frozen *Broker
	for _, p := range st {
		if p.Leader != ctrl {
			frozen = f.c.Broker(p.Leader)
			break
		}
	}
	if frozen == nil {
		f.t.Fatalf("the controller %d leads every partition: %+v", ctrl, st)
	}
	resume := frozen.Freeze()
	s := f.c.Without(frozen.ID)
	f.waitState(s, "no leadership on the frozen broker", func(st map[int32]partState) bool {
		for _, p := range st {
			if p.Leader < 0 || p.Leader == frozen.ID {
				return false
			}
		}
		return true
	})
	f.waitAcks(s, 50)
	resume()
	f.waitISR(f.c, 3, -1)
	f.waitAcks(f.c, 50)
}

// faultTwoDown kills both brokers other than the controller. Once the
// controller has seen them go, the survivor leads every partition with an
// ISR of itself alone, below min.insync.replicas=2: produce requests fail
// with NOT_ENOUGH_REPLICAS (the producer prints producer_send_error with
// NotEnoughReplicasException) and none is acknowledged. When the two come
// back and rejoin the ISR, acknowledgements resume.
func faultTwoDown(f *faultRun) {
	f.createTopic(nil)
	// Few retries, so that a record fails within ~1s of NOT_ENOUGH_REPLICAS.
	f.startProducer(3, 250*time.Millisecond)
	ctrl := f.c.Controller()
	var killed []*Broker
	for _, b := range f.c.Brokers {
		if b.ID != ctrl {
			b.Kill()
			killed = append(killed, b)
		}
	}
	s := f.c.Without(killed[0].ID).Without(killed[1].ID)
	f.waitState(s, "every partition led by the survivor alone", func(st map[int32]partState) bool {
		for _, p := range st {
			if p.Leader != ctrl || !slices.Equal(p.ISR, []int32{ctrl}) {
				return false
			}
		}
		return true
	})
	alone := time.Now()
	_, errsBefore := f.prod.counts()
	var last string
	s.waitFor(faultTimeout, "producer_send_error NotEnoughReplicas", func() bool {
		f.prod.mu.Lock()
		defer f.prod.mu.Unlock()
		for _, e := range f.prod.errs[errsBefore:] {
			last = e.Exception + ": " + e.Message
			if strings.HasSuffix(e.Exception, ".NotEnoughReplicasException") {
				return true
			}
		}
		return false
	}, &last)
	// Records answered after the ISR was seen shrunk (plus a second for
	// answers already on their way) must all be failures.
	quiet := alone.Add(time.Second)
	before := time.Now()
	for _, b := range killed {
		f.c.RestartAfterExpiry(b)
	}
	f.prod.mu.Lock()
	for _, a := range f.prod.acks {
		if a.At.After(quiet) && a.At.Before(before) {
			f.prod.mu.Unlock()
			f.t.Fatalf("value %q acknowledged at %d/%d while the ISR was [%d] (%v after it shrank)", a.Value, a.Partition, a.Offset, ctrl, a.At.Sub(alone))
		}
	}
	f.prod.mu.Unlock()
	f.waitISR(f.c, 3, -1)
	f.waitAcks(f.c, 50)
}

// faultDivergence stages the scenario of KIP-101 (and KIP-279's second
// failure) in which truncating to the high watermark loses data or leaves
// replicas diverged. Brokers A and B lead the partitions and follow each
// other; C, the controller, follows everywhere and never leads:
//
//  1. C is frozen (SIGSTOP, shorter than replica.lag.time.max.ms, so it
//     stays in every ISR). The leaders go on appending and their
//     followers fetch the records, but the high watermark cannot pass C:
//     once partitions of both leaders have records on their follower that
//     C lacks (nobody acknowledged them), the next step comes.
//  2. A and B are killed at once (SIGKILL) and C resumes: it becomes the
//     leader of every partition at a new epoch, alone in the ISR, and once
//     a second replica is back it writes new records at the very offsets
//     where A and B hold the old, unacknowledged ones.
//  3. B restarts. It must drop its divergent suffix by asking C for the end
//     of its last epoch (OffsetForLeaderEpoch), not keep it because it is
//     below C's log end; the ISR grows to {B, C} and acks=all goes on.
//  4. The second failure: C is killed. B, now in sync, leads everything.
//  5. A restarts and must truncate the records of its own old leadership
//     that neither B nor C kept, by the epochs B now serves.
//  6. C restarts.
//
// verify then proves nothing acknowledged was lost and the three logs are
// byte-identical below the high watermark: the divergent suffixes are gone.
func faultDivergence(f *faultRun) {
	ctrl := f.c.Controller()
	c := f.c.Broker(ctrl)
	var a, b *Broker
	for _, x := range f.c.Brokers {
		switch {
		case x.ID == ctrl:
		case a == nil:
			a = x
		default:
			b = x
		}
	}
	assign := map[int32][]int32{}
	for p := range int32(faultPartitions) {
		assign[p] = []int32{a.ID, b.ID, c.ID}
		if p%2 == 1 {
			assign[p] = []int32{b.ID, a.ID, c.ID}
		}
	}
	f.createTopic(assign)
	f.startProducer(120, 250*time.Millisecond)

	// 1. Freeze C until some follower holds records C lacks.
	resume := c.Freeze()
	frozenAt := time.Now()
	follower := func(p int32) *Broker { return f.c.Broker(assign[p][1]) }
	var last string
	f.c.waitFor(2*time.Second, "followers of both leaders to fetch records the frozen broker lacks", func() bool {
		ahead := map[int32]bool{} // by leader
		for p := range int32(faultPartitions) {
			if diskLogEnd(f.t, follower(p), f.topic, p) > diskLogEnd(f.t, c, f.topic, p) {
				ahead[assign[p][0]] = true
			}
		}
		last = fmt.Sprintf("followers ahead of the frozen broker, by leader: %v", ahead)
		return len(ahead) == 2
	}, &last)

	// 2. Kill both, then let C go on.
	a.Kill()
	b.Kill()
	diverged := 0
	for p := range int32(faultPartitions) {
		ce, ae, be := diskLogEnd(f.t, c, f.topic, p), diskLogEnd(f.t, a, f.topic, p), diskLogEnd(f.t, b, f.topic, p)
		if ae > ce || be > ce {
			diverged++
			f.t.Logf("partition %d: log end %d on %d, %d on %d, %d on the survivor %d", p, ae, a.ID, be, b.ID, ce, c.ID)
		}
	}
	if diverged == 0 {
		f.t.Fatalf("no partition holds records beyond the survivor's log end after the kill")
	}
	resume()
	f.t.Logf("broker %d frozen for %v; %d partitions diverged", c.ID, time.Since(frozenAt).Round(time.Millisecond), diverged)
	onlyC := f.c.Without(a.ID).Without(b.ID)
	f.waitState(onlyC, "every partition led by the survivor alone", func(st map[int32]partState) bool {
		for _, p := range st {
			if p.Leader != c.ID || !slices.Equal(p.ISR, []int32{c.ID}) {
				return false
			}
		}
		return true
	})

	// 3. B comes back, truncates and joins C.
	f.c.RestartAfterExpiry(b)
	withB := f.c.Without(a.ID)
	f.waitISR(withB, 2, a.ID)
	f.waitAcks(withB, 50)

	// 4. The second failure: C, now the leader of everything.
	c.Kill()
	onlyB := withB.Without(c.ID)
	f.waitState(onlyB, "every partition led by "+fmt.Sprint(b.ID), func(st map[int32]partState) bool {
		for _, p := range st {
			if p.Leader != b.ID {
				return false
			}
		}
		return true
	})

	// 5, 6. A, then C.
	f.c.RestartAfterExpiry(a)
	f.waitISR(f.c.Without(c.ID), 2, c.ID)
	f.waitAcks(f.c.Without(c.ID), 50)
	f.c.RestartAfterExpiry(c)
	f.waitISR(f.c, 3, -1)
}
