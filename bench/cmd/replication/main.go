// Command replication measures replication on a cluster of three Gregor
// brokers over the loopback interface. It starts a ZooKeeper server
// (internal/zktest) and three brokers, built from the source tree without
// the race detector, as child processes, and runs two measurements.
//
// Throughput. The same -records records of -size bytes are produced with
// franz-go (idempotence off, no compression, linger -linger) to two topics
// of -partitions partitions on the same cluster:
//
//	(a) replication factor 3, min.insync.replicas 2, acks=all: a record is
//	    acknowledged once every replica in the ISR has it;
//	(b) replication factor 1, acks=1: acknowledged once the leader has it.
//
// For each it prints records/s, MB/s (10^6 bytes of record values per
// second) and the per-record latency p50/p99 (Produce call to promise),
// then the ratio (a)/(b) of the throughputs.
//
// Failover. A topic of one partition, replication factor 3 and
// min.insync.replicas 2. In each of -trials trials the partition's leader
// is killed with SIGKILL and the time is measured from the kill until the
// first acks=all produce to the partition that was issued after the kill
// succeeds. The client refreshes metadata at most every 50 ms and backs
// off 50 ms between retries, so that the client adds little to the time.
// A killed broker's ZooKeeper session lives on until ZooKeeper has heard
// nothing from it for zookeeper.session.timeout.ms (-zk-session-timeout),
// and only then does the controller see it gone and elect a new leader.
// The client pings every third of the timeout, so detection takes between
// two thirds of the timeout and all of it, and the timeout bounds the
// failover time. The killed broker is restarted once
// its registration is gone (the old session has expired), and the next
// trial starts once it is back in the partition's ISR. The median and the
// maximum are printed.
//
// Each wait is bounded, and -timeout bounds the whole run. Every broker
// still running at the end is stopped by PID (SIGTERM, SIGKILL after
// 30 s). Run it from the bench module:
//
//	cd bench && go run ./cmd/replication -src .. -records 300000 -trials 10
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

type config struct {
	records          int
	size             int
	partitions       int
	linger           time.Duration
	maxBuffered      int
	trials           int
	zkSessionTimeout time.Duration
	cluster.Source
	timeout time.Duration
}

const numBrokers = 3

func main() {
	var cfg config
	flag.IntVar(&cfg.records, "records", 300_000, "records to produce to each of the two throughput topics (0 skips the throughput runs)")
	flag.IntVar(&cfg.size, "size", 1024, "bytes of each record's value (records have no key)")
	flag.IntVar(&cfg.partitions, "partitions", 6, "partitions of the throughput topics")
	flag.DurationVar(&cfg.linger, "linger", time.Millisecond, "producer linger (kgo.ProducerLinger)")
	flag.IntVar(&cfg.maxBuffered, "max-buffered", 10_000, "records the producer buffers before Produce blocks (kgo.MaxBufferedRecords)")
	flag.IntVar(&cfg.trials, "trials", 10, "leader failover trials (0 skips them)")
	flag.DurationVar(&cfg.zkSessionTimeout, "zk-session-timeout", 6*time.Second, "the brokers' zookeeper.session.timeout.ms; it bounds how fast a killed leader is detected")
	cfg.Source.RegisterFlags()
	flag.DurationVar(&cfg.timeout, "timeout", 20*time.Minute, "give up (and stop everything) after this long")
	flag.Parse()
	if cfg.records < 0 || cfg.size <= 0 || cfg.partitions <= 0 || cfg.maxBuffered <= 0 || cfg.trials < 0 || cfg.zkSessionTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "replication: -size, -partitions, -max-buffered and -zk-session-timeout must be positive, -records and -trials not negative")
		os.Exit(2)
	}
	cluster.Main("replication", cfg.timeout, func(ctx context.Context) error { return run(ctx, cfg) })
}

func run(ctx context.Context, cfg config) (err error) {
	env, err := cfg.Setup(ctx, "gregor-bench-rf-")
	if err != nil {
		return err
	}
	defer env.Close()

	// The brokers, indexed by broker id - 1.
	c, err := cluster.Start(ctx, env.Bin, env.Dir, env.ZKConnect, numBrokers,
		"zookeeper.session.timeout.ms="+strconv.FormatInt(cfg.zkSessionTimeout.Milliseconds(), 10))
	if err != nil {
		return err
	}
	defer func() { err = c.StopWithTails(err) }()

	fmt.Printf("gregor replication: %d brokers, %s, GOMAXPROCS %d, zookeeper.session.timeout.ms %d\n",
		numBrokers, runtime.Version(), runtime.GOMAXPROCS(0), cfg.zkSessionTimeout.Milliseconds())
	if cfg.records > 0 {
		if err := throughput(ctx, cfg, c); err != nil {
			return err
		}
	}
	if cfg.trials > 0 {
		if err := failover(ctx, cfg, c); err != nil {
			return err
		}
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s", load)
	}
	return nil
}

// throughput produces the same records to an RF 3 topic with acks=all and
// to an RF 1 topic with acks=1, and prints both and their ratio.
func throughput(ctx context.Context, cfg config, c cluster.Cluster) error {
	runs := []struct {
		name   string
		topic  string
		rf     int16
		minIsr string
		acks   kgo.Acks
		desc   string
	}{
		{"(a)", "bench-rf3", 3, "2", kgo.AllISRAcks(), "RF 3, min.insync.replicas 2, acks=all"},
		{"(b)", "bench-rf1", 1, "", kgo.LeaderAck(), "RF 1, acks=1"},
	}
	fmt.Printf("throughput: %d records of %d B, %d partitions, idempotence off, no compression, linger %v, max %d buffered\n",
		cfg.records, cfg.size, cfg.partitions, cfg.linger, cfg.maxBuffered)
	var rates []float64
	for _, r := range runs {
		if err := c.CreateTopic(ctx, r.topic, int32(cfg.partitions), r.rf, r.minIsr); err != nil {
			return err
		}
		p, err := produce(ctx, cfg, c, r.topic, r.acks)
		if err != nil {
			return fmt.Errorf("%s %s: %w", r.name, r.desc, err)
		}
		rate := float64(cfg.records) / p.elapsed.Seconds()
		rates = append(rates, rate)
		mb := float64(cfg.records) * float64(cfg.size) / 1e6
		fmt.Printf("  %s %s: %.0f records/s  %.1f MB/s  (%v)  latency p50 %v  p99 %v  max %v\n",
			r.name, r.desc, rate, mb/p.elapsed.Seconds(), p.elapsed.Round(time.Millisecond),
			cluster.Pct(p.latency, 50), cluster.Pct(p.latency, 99), cluster.Pct(p.latency, 100))
	}
	fmt.Printf("  ratio (a)/(b), records/s: %.2f\n", rates[0]/rates[1])
	return nil
}

// failover kills the leader of a one-partition RF 3 topic cfg.trials times
// and prints the median and maximum time until an acks=all produce succeeds.
func failover(ctx context.Context, cfg config, c cluster.Cluster) error {
	const topic = "bench-failover"
	if err := c.CreateTopic(ctx, topic, 1, numBrokers, "2"); err != nil {
		return err
	}
	cl, err := c.Client(
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerLinger(0),
		kgo.MetadataMinAge(50*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RecordDeliveryTimeout(30*time.Second),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	value := make([]byte, cfg.size)
	fmt.Printf("failover: %d trials, 1 partition, RF 3, min.insync.replicas 2, acks=all; kill -9 the leader, time to the first acknowledged produce\n", cfg.trials)
	var times []time.Duration
	for trial := range cfg.trials {
		// Before each kill: every replica in the ISR, and a produce
		// acknowledged, so that the client knows the current leader.
		isr, leader, err := waitFullIsr(ctx, c, topic)
		if err != nil {
			return fmt.Errorf("trial %d: %w", trial+1, err)
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = cl.ProduceSync(pctx, &kgo.Record{Value: value}).FirstErr()
		cancel()
		if err != nil {
			return fmt.Errorf("trial %d: produce before the kill: %w", trial+1, err)
		}
		victim := c[leader-1]
		t0 := time.Now()
		if err := victim.Kill(); err != nil {
			return err
		}
		d, err := firstAck(ctx, cl, value, t0)
		if err != nil {
			return fmt.Errorf("trial %d, leader %d killed: %w", trial+1, leader, err)
		}
		_, newLeader, _ := partition(ctx, c[leader%numBrokers], topic)
		fmt.Printf("  trial %2d: ISR %v, killed leader %d, new leader %d, first acks=all produce after %v\n",
			trial+1, isr, leader, newLeader, d.Round(time.Millisecond))
		times = append(times, d)

		// Restart the killed broker once its old session has expired
		// (else its registration would clash with the old one).
		survivor := c[leader%numBrokers]
		if err := cluster.WaitBrokers(ctx, survivor, numBrokers-1, leader); err != nil {
			return fmt.Errorf("trial %d: %w", trial+1, err)
		}
		if err := victim.Start(); err != nil {
			return err
		}
	}
	if _, _, err := waitFullIsr(ctx, c, topic); err != nil {
		return err
	}
	fmt.Printf("  failover time: median %v  max %v  (detection is bounded by zookeeper.session.timeout.ms %d)\n",
		cluster.Median(times).Round(time.Millisecond), slices.Max(times).Round(time.Millisecond), cfg.zkSessionTimeout.Milliseconds())
	return nil
}

// firstAck produces one record at a time until one is acknowledged, and
// returns the time from t0 until then. Every record is issued after t0.
func firstAck(ctx context.Context, cl *kgo.Client, value []byte, t0 time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr()
		if err == nil {
			return time.Since(t0), nil
		}
		last = err
	}
	return 0, fmt.Errorf("no acknowledged produce within 90 s of the kill: %v", last)
}

// partition returns partition 0 of topic's ISR and leader as broker b sees
// them.
func partition(ctx context.Context, b *cluster.Broker, topic string) (isr []int32, leader int32, err error) {
	resp, err := cluster.Metadata(ctx, b, topic)
	if err != nil {
		return nil, -1, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) == 0 {
		return nil, -1, fmt.Errorf("topic %s not in metadata", topic)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.Partition == 0 {
			if p.ErrorCode != 0 {
				return p.ISR, p.Leader, kerr.ErrorForCode(p.ErrorCode)
			}
			return p.ISR, p.Leader, nil
		}
	}
	return nil, -1, fmt.Errorf("topic %s has no partition 0", topic)
}

// waitFullIsr waits until every broker reports every replica of partition
// 0 of topic in its ISR, under a leader, and returns the ISR and leader.
func waitFullIsr(ctx context.Context, c cluster.Cluster, topic string) (isr []int32, leader int32, err error) {
	err = cluster.Poll(ctx, 60*time.Second, "full ISR of "+topic, c, func(ctx context.Context) (bool, string) {
		for _, b := range c {
			i, l, err := partition(ctx, b, topic)
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", b.ID, err)
			}
			if len(i) != numBrokers || l < 1 || l > numBrokers {
				return false, fmt.Sprintf("broker %d: leader %d, ISR %v", b.ID, l, i)
			}
			isr, leader = i, l
		}
		return true, ""
	})
	return isr, leader, err
}

type produceResult struct {
	elapsed time.Duration
	latency []time.Duration // per record, Produce call to promise
}

func produce(ctx context.Context, cfg config, c cluster.Cluster, topic string, acks kgo.Acks) (produceResult, error) {
	cl, err := c.Client(
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(acks),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(cfg.linger),
		kgo.MaxBufferedRecords(cfg.maxBuffered),
		kgo.RecordDeliveryTimeout(2*time.Minute),
	)
	if err != nil {
		return produceResult{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var res produceResult
	res.elapsed, res.latency, err = cluster.Produce(ctx, cl, cfg.records, cfg.size)
	return res, err
}
