// Command produce-consume measures one Gregor broker end to end over the
// loopback interface. It starts a ZooKeeper server (internal/zktest: the
// installed Apache ZooKeeper jars in a child JVM) and one broker, built
// from the source tree without the race detector, as a child process. It
// creates a topic, produces -records records of -size bytes with franz-go
// (acks=1, idempotence off, no compression, linger -linger), consumes them
// all back from the start, and prints:
//
//   - produce records/s and MB/s (10^6 bytes of record values per second),
//     from the first Produce call until every record is acknowledged;
//   - produce latency p50/p99/max per record, from its Produce call to its
//     promise. A producer that runs flat out keeps its buffer full, so by
//     Little's law this is mostly time queued in the client:
//     -max-buffered records divided by the throughput;
//   - the round trip of Produce requests p50/p99/max (franz-go's
//     HookBrokerE2E: from writing a request to reading its response), the
//     broker's share of the above;
//   - consume records/s and MB/s, from the first fetch until every record
//     has been read.
//
// The broker is stopped by PID (SIGTERM, SIGKILL after 30 s) and its
// directory removed unless -keep is given. Run it from the bench module:
//
//	cd bench && go run ./cmd/produce-consume -src .. -records 1000000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type config struct {
	records     int
	size        int
	partitions  int
	linger      time.Duration
	maxBuffered int
	cluster.Source
}

func main() {
	var cfg config
	flag.IntVar(&cfg.records, "records", 1_000_000, "records to produce and consume")
	flag.IntVar(&cfg.size, "size", 1024, "bytes of each record's value (records have no key)")
	flag.IntVar(&cfg.partitions, "partitions", 6, "partitions of the topic")
	flag.DurationVar(&cfg.linger, "linger", time.Millisecond, "producer linger (kgo.ProducerLinger)")
	flag.IntVar(&cfg.maxBuffered, "max-buffered", 10_000, "records the producer buffers before Produce blocks (kgo.MaxBufferedRecords)")
	cfg.Source.RegisterFlags()
	flag.Parse()
	if cfg.records <= 0 || cfg.size <= 0 || cfg.partitions <= 0 || cfg.maxBuffered <= 0 {
		fmt.Fprintln(os.Stderr, "produce-consume: -records, -size, -partitions and -max-buffered must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "produce-consume:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) (err error) {
	env, err := cfg.Setup(ctx, "gregor-bench-")
	if err != nil {
		return err
	}
	defer env.Close()

	b, err := cluster.NewBroker(env.Bin, env.Dir, 1, env.ZKConnect)
	if err != nil {
		return err
	}
	defer func() {
		if serr := b.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		if err != nil {
			err = fmt.Errorf("%w\nlast lines of %s:\n%s", err, b.LogPath, cluster.Tail(b.LogPath, 20))
		}
	}()
	if err := b.Start(); err != nil {
		return err
	}
	if err := cluster.WaitBrokers(ctx, b, 1, 0); err != nil {
		return err
	}
	const topic = "bench"
	if err := (cluster.Cluster{b}).CreateTopic(ctx, topic, int32(cfg.partitions), 1, ""); err != nil {
		return err
	}

	p, err := produce(ctx, cfg, b.Addr, topic)
	if err != nil {
		return err
	}
	c, err := consume(ctx, cfg, b.Addr, topic)
	if err != nil {
		return err
	}
	mb := float64(cfg.records) * float64(cfg.size) / 1e6
	fmt.Printf("gregor produce-consume: %d records of %d B, %d partitions, one broker, %s, GOMAXPROCS %d\n",
		cfg.records, cfg.size, cfg.partitions, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Printf("produce (acks=1, no idempotence, no compression, linger %v, max %d buffered):\n", cfg.linger, cfg.maxBuffered)
	fmt.Printf("  %.0f records/s  %.1f MB/s  (%v)\n", float64(cfg.records)/p.elapsed.Seconds(), mb/p.elapsed.Seconds(), p.elapsed.Round(time.Millisecond))
	fmt.Printf("  per-record latency, Produce call to promise: p50 %v  p99 %v  max %v\n", cluster.Pct(p.latency, 50), cluster.Pct(p.latency, 99), cluster.Pct(p.latency, 100))
	fmt.Printf("  Produce request round trip (%d requests): p50 %v  p99 %v  max %v\n", len(p.requests), cluster.Pct(p.requests, 50), cluster.Pct(p.requests, 99), cluster.Pct(p.requests, 100))
	fmt.Printf("consume (from the start, all partitions):\n")
	fmt.Printf("  %.0f records/s  %.1f MB/s  (%v)\n", float64(cfg.records)/c.elapsed.Seconds(), mb/c.elapsed.Seconds(), c.elapsed.Round(time.Millisecond))
	fmt.Printf("  Fetch request round trip (%d requests): p50 %v  p99 %v  max %v\n", len(c.fetches), cluster.Pct(c.fetches, 50), cluster.Pct(c.fetches, 99), cluster.Pct(c.fetches, 100))
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s", load)
	}
	return nil
}

type produceResult struct {
	elapsed  time.Duration
	latency  []time.Duration // per record, Produce call to promise
	requests []time.Duration // per Produce request, write to response read
}

// requestTimes collects the round trip of every request with one key.
type requestTimes struct {
	key int16 // immutable

	mu sync.Mutex // guards the field below
	d  []time.Duration
}

func (r *requestTimes) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if key != r.key || e2e.Err() != nil {
		return
	}
	r.mu.Lock()
	r.d = append(r.d, e2e.DurationE2E())
	r.mu.Unlock()
}

func produce(ctx context.Context, cfg config, addr, topic string) (produceResult, error) {
	reqs := requestTimes{key: int16(kmsg.Produce)}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(cfg.linger),
		kgo.MaxBufferedRecords(cfg.maxBuffered),
		kgo.WithHooks(&reqs),
	)
	if err != nil {
		return produceResult{}, err
	}
	defer cl.Close()
	var res produceResult
	res.elapsed, res.latency, err = cluster.Produce(ctx, cl, cfg.records, cfg.size)
	if err != nil {
		return res, err
	}
	reqs.mu.Lock()
	res.requests = reqs.d
	reqs.mu.Unlock()
	return res, nil
}

type consumeResult struct {
	elapsed time.Duration
	fetches []time.Duration // per Fetch request, write to response read
}

// consume reads topic from the start until it has every record.
func consume(ctx context.Context, cfg config, addr, topic string) (consumeResult, error) {
	var res consumeResult
	reqs := requestTimes{key: int16(kmsg.Fetch)}
	parts := map[int32]kgo.Offset{}
	for p := range int32(cfg.partitions) {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.WithHooks(&reqs),
	)
	if err != nil {
		return res, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	got := 0
	start := time.Now()
	for got < cfg.records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("consume: %d of %d records: %w", got, cfg.records, err)
		}
		for _, e := range fs.Errors() {
			return res, fmt.Errorf("consume: partition %d: %w", e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) != cfg.size {
				err = fmt.Errorf("partition %d, offset %d: value of %d bytes, want %d", r.Partition, r.Offset, len(r.Value), cfg.size)
			}
			got++
		})
		if err != nil {
			return res, err
		}
	}
	res.elapsed = time.Since(start)
	if got != cfg.records {
		return res, fmt.Errorf("consume: %d records, %d produced", got, cfg.records)
	}
	reqs.mu.Lock()
	res.fetches = reqs.d
	reqs.mu.Unlock()
	return res, nil
}
