// Command groups measures the group coordinator on a cluster of three
// Gregor brokers over the loopback interface (ZooKeeper from
// internal/zktest, brokers built from the source tree without the race
// detector, as child processes). __consumer_offsets has Kafka's default
// shape: 50 partitions, replication factor 3, so every commit is an
// acks=all append replicated to two followers.
//
// Join. -members franz-go group consumers (eager range assignor) of a
// fresh group subscribe to a topic of -partitions partitions at the same
// moment. The time is from the moment the clients are started until every
// member holds a non-empty share of the partitions and the shares cover
// every partition exactly once: the group is Stable and everyone knows its
// assignment. It includes FindCoordinator, the member id round trip of
// KIP-394 and the rebalances needed while members trickle in. The brokers
// run with group.initial.rebalance.delay.ms=-initial-delay (Kafka's default
// is 3 s, which would add up to that much to every trial). Median and
// maximum over -join-trials trials, each with a new group.
//
// Commit. -committers goroutines send OffsetCommit requests back to back
// for -commit-duration, each request committing one partition, then each
// committing 100 partitions of a 100-partition topic, as a standalone
// (generation -1) group. It prints requests/s, offsets/s and the request
// latency p50/p99.
//
// Every wait is bounded and -timeout bounds the whole run; the brokers are
// stopped by PID at the end. Run it from the bench module:
//
//	cd bench && go run ./cmd/groups -src ..
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type config struct {
	members        int
	partitions     int
	joinTrials     int
	initialDelay   time.Duration
	committers     int
	commitDuration time.Duration
	cluster.Source
	timeout time.Duration
}

const numBrokers = 3

func main() {
	var cfg config
	flag.IntVar(&cfg.members, "members", 10, "members of the joining group")
	flag.IntVar(&cfg.partitions, "partitions", 20, "partitions of the topic the group consumes")
	flag.IntVar(&cfg.joinTrials, "join-trials", 5, "join trials, each with a new group (0 skips them)")
	flag.DurationVar(&cfg.initialDelay, "initial-delay", 0, "the brokers' group.initial.rebalance.delay.ms")
	flag.IntVar(&cfg.committers, "committers", 8, "goroutines sending OffsetCommit requests back to back")
	flag.DurationVar(&cfg.commitDuration, "commit-duration", 5*time.Second, "how long each commit run lasts (0 skips them)")
	cfg.Source.RegisterFlags()
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "give up (and stop everything) after this long")
	flag.Parse()
	if cfg.members <= 0 || cfg.partitions < cfg.members || cfg.joinTrials < 0 || cfg.committers <= 0 || cfg.commitDuration < 0 || cfg.initialDelay < 0 {
		fmt.Fprintln(os.Stderr, "groups: -members and -committers must be positive, -partitions at least -members, the rest not negative")
		os.Exit(2)
	}
	cluster.Main("groups", cfg.timeout, func(ctx context.Context) error { return run(ctx, cfg) })
}

func run(ctx context.Context, cfg config) (err error) {
	env, err := cfg.Setup(ctx, "gregor-bench-groups-")
	if err != nil {
		return err
	}
	defer env.Close()
	c, err := cluster.Start(ctx, env.Bin, env.Dir, env.ZKConnect, numBrokers,
		"group.initial.rebalance.delay.ms="+strconv.FormatInt(cfg.initialDelay.Milliseconds(), 10))
	if err != nil {
		return err
	}
	defer func() { err = c.StopWithTails(err) }()
	fmt.Printf("gregor groups: %d brokers, %s, GOMAXPROCS %d, group.initial.rebalance.delay.ms %d, __consumer_offsets 50 partitions RF 3\n",
		numBrokers, runtime.Version(), runtime.GOMAXPROCS(0), cfg.initialDelay.Milliseconds())
	if err := warmUp(ctx, c); err != nil {
		return err
	}
	if cfg.joinTrials > 0 {
		if err := joins(ctx, cfg, c); err != nil {
			return err
		}
	}
	if cfg.commitDuration > 0 {
		if err := commits(ctx, cfg, c); err != nil {
			return err
		}
	}
	return nil
}

// warmUp has __consumer_offsets created (by a FindCoordinator) and waits
// until a group's coordinator answers, so that neither measurement pays
// for the topic's creation.
func warmUp(ctx context.Context, c cluster.Cluster) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return cluster.Poll(ctx, time.Minute, "a group coordinator", c, func(ctx context.Context) (bool, string) {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = "warm-up"
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return false, err.Error()
		}
		return resp.ErrorCode == 0, fmt.Sprint(kerr.ErrorForCode(resp.ErrorCode))
	})
}

// joins runs the join trials and prints their median and maximum.
func joins(ctx context.Context, cfg config, c cluster.Cluster) error {
	const topic = "bench-groups"
	if err := c.CreateTopic(ctx, topic, int32(cfg.partitions), 1, ""); err != nil {
		return err
	}
	var times []time.Duration
	for trial := range cfg.joinTrials {
		d, err := join(ctx, cfg, c, topic, fmt.Sprintf("bench-join-%d", trial))
		if err != nil {
			return fmt.Errorf("join trial %d: %w", trial+1, err)
		}
		times = append(times, d)
	}
	fmt.Printf("join: %d members, %d partitions, range assignor, %d trials: median %v, max %v\n",
		cfg.members, cfg.partitions, len(times), cluster.Median(times).Round(time.Millisecond), cluster.Pct(times, 100).Round(time.Millisecond))
	return nil
}

// join starts cfg.members consumers of group and returns the time until
// their assignments partition the topic.
func join(ctx context.Context, cfg config, c cluster.Cluster, topic, group string) (time.Duration, error) {
	var (
		mu       sync.Mutex
		assigned = make([]map[int32]bool, cfg.members)
		changed  = make(chan struct{}, 1)
	)
	set := func(i int, parts map[string][]int32, add bool) {
		mu.Lock()
		if assigned[i] == nil {
			assigned[i] = map[int32]bool{}
		}
		for _, p := range parts[topic] {
			if add {
				assigned[i][p] = true
			} else {
				delete(assigned[i], p)
			}
		}
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	stable := func() bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[int32]bool{}
		for _, a := range assigned {
			if len(a) == 0 {
				return false
			}
			for p := range a {
				if seen[p] {
					return false
				}
				seen[p] = true
			}
		}
		return len(seen) == cfg.partitions
	}

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var clients []*kgo.Client
	var wg sync.WaitGroup
	defer func() {
		cancel()
		for _, cl := range clients {
			cl.Close()
		}
		wg.Wait()
	}()
	start := time.Now()
	for i := range cfg.members {
		cl, err := c.Client(
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(kgo.RangeBalancer()),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { set(i, p, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { set(i, p, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, p map[string][]int32) { set(i, p, false) }),
		)
		if err != nil {
			return 0, err
		}
		clients = append(clients, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cl.PollFetches(ctx)
			}
		}()
	}
	for !stable() {
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, fmt.Errorf("group %s not stable: %w", group, ctx.Err())
		}
	}
	return time.Since(start), nil
}

// commits runs the two commit measurements.
func commits(ctx context.Context, cfg config, c cluster.Cluster) error {
	const topic = "bench-commits"
	if err := c.CreateTopic(ctx, topic, 100, 1, ""); err != nil {
		return err
	}
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, per := range []int{1, 100} {
		if err := commitRun(ctx, cfg, cl, topic, per); err != nil {
			return err
		}
	}
	return nil
}

// commitRun sends OffsetCommit requests of per partitions each from
// cfg.committers goroutines for cfg.commitDuration and prints the rates.
func commitRun(ctx context.Context, cfg config, cl *kgo.Client, topic string, per int) error {
	group := fmt.Sprintf("bench-commit-%d", per)
	var (
		mu       sync.Mutex
		latency  []time.Duration
		firstErr error
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(cfg.commitDuration)
	start := time.Now()
	for w := range cfg.committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for n := int64(0); time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group, req.Generation = group, -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = topic
				for i := range per {
					rp := kmsg.NewOffsetCommitRequestTopicPartition()
					rp.Partition = int32((w*per + i) % 100)
					rp.Offset = n
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
				t0 := time.Now()
				resp, err := req.RequestWith(ctx, cl)
				if err == nil {
					for _, t := range resp.Topics {
						for _, p := range t.Partitions {
							if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
								err = e
							}
						}
					}
				}
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latency = append(latency, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return fmt.Errorf("commit, %d partitions a request: %w", per, firstErr)
	}
	rate := float64(len(latency)) / elapsed.Seconds()
	fmt.Printf("commit: %d partition(s) a request, %d goroutines, %v: %.0f requests/s, %.0f offsets/s, latency p50 %v p99 %v\n",
		per, cfg.committers, elapsed.Round(time.Millisecond), rate, rate*float64(per), cluster.Pct(latency, 50), cluster.Pct(latency, 99))
	return nil
}

// cmpOr returns a unless it is nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
