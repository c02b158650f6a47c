package controller

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
)

// RebalanceConfig is Kafka's automatic preferred leader rebalance.
type RebalanceConfig struct {
	// Enable is auto.leader.rebalance.enable (Kafka's default: true).
	Enable bool
	// PerBrokerPercentage is leader.imbalance.per.broker.percentage
	// (Kafka's default: 10).
	PerBrokerPercentage int
	// CheckInterval is leader.imbalance.check.interval.seconds (Kafka's
	// default: 300 seconds).
	CheckInterval time.Duration
}

// firstRebalanceDelay is how long after a term starts the first imbalance
// check runs (Kafka's onControllerFailover schedules it after 5 seconds),
// or the check interval if shorter.
const firstRebalanceDelay = 5 * time.Second

// scheduleRebalance arms the next imbalance check, if rebalancing is on.
func (e *elections) scheduleRebalance(first bool) {
	rc := e.t.c.cfg.AutoLeaderRebalance
	if !rc.Enable || rc.CheckInterval <= 0 {
		return
	}
	d := rc.CheckInterval
	if first {
		d = min(d, firstRebalanceDelay)
	}
	e.after(d, e.onRebalanceCheck)
}

// onRebalanceCheck is Kafka's checkAndTriggerAutoLeaderRebalance: for each
// broker, the partitions whose preferred replica (first assigned) it is
// are counted, and those it does not lead; when the share it does not lead
// is above leader.imbalance.per.broker.percentage, those whose preferred
// replica can lead (alive and in the ISR) move back to it by a preferred
// replica election. Topics being deleted are left out. The next check is
// armed whatever happened.
func (e *elections) onRebalanceCheck(ctx context.Context) error {
	defer e.scheduleRebalance(false)
	t := e.t
	results, err := t.electPartitions(ctx, e.imbalanced(), t.preferredDecision)
	if err != nil {
		return err
	}
	logElectionFailures(t, results)
	return nil
}

// imbalanced lists the partitions a rebalance would move, sorted.
func (e *elections) imbalanced() []zkutil.TopicPartition {
	t := e.t
	owned := map[int32]int{}                      // preferred broker -> partitions it should lead
	notLed := map[int32][]zkutil.TopicPartition{} // of those, the ones it does not lead
	for _, tp := range t.sortedPartitions() {
		p := t.partition(tp)
		if t.topics[tp.Topic].deletion != nil || !p.hasState || len(p.replicas) == 0 {
			continue
		}
		preferred := p.replicas[0]
		owned[preferred]++
		if p.state.Leader != preferred {
			notLed[preferred] = append(notLed[preferred], tp)
		}
	}
	limit := float64(t.c.cfg.AutoLeaderRebalance.PerBrokerPercentage) / 100
	var out []zkutil.TopicPartition
	for _, broker := range slices.Sorted(maps.Keys(notLed)) {
		tps := notLed[broker]
		ratio := float64(len(tps)) / float64(owned[broker])
		if ratio <= limit {
			continue
		}
		t.log.WithField("broker_id", broker).WithField("imbalance_ratio", ratio).Info("leader imbalance above the limit; electing preferred leaders")
		for _, tp := range tps {
			p := t.partition(tp)
			if _, ok := ElectPreferredLeader(p.replicas, p.state.ISR, t.alive); ok {
				out = append(out, tp)
			}
		}
	}
	return out
}
