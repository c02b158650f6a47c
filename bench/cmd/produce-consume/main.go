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
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type config struct {
	records     int
	size        int
	partitions  int
	linger      time.Duration
	maxBuffered int
	src         string
	gregor      string
	keep        bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.records, "records", 1_000_000, "records to produce and consume")
	flag.IntVar(&cfg.size, "size", 1024, "bytes of each record's value (records have no key)")
	flag.IntVar(&cfg.partitions, "partitions", 6, "partitions of the topic")
	flag.DurationVar(&cfg.linger, "linger", time.Millisecond, "producer linger (kgo.ProducerLinger)")
	flag.IntVar(&cfg.maxBuffered, "max-buffered", 10_000, "records the producer buffers before Produce blocks (kgo.MaxBufferedRecords)")
	flag.StringVar(&cfg.src, "src", "..", "the gregor module's root directory, where ./cmd/gregor is built")
	flag.StringVar(&cfg.gregor, "gregor", "", "a gregor binary to run instead of building one from -src")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the broker's directory (server.properties, broker.log, logs/)")
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
	dir, err := os.MkdirTemp("", "gregor-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Println("broker directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	bin := cfg.gregor
	if bin == "" {
		bin = filepath.Join(dir, "gregor")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gregor")
		build.Dir = cfg.src
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/gregor in %s: %v\n%s", cfg.src, err, out)
		}
	}

	zk, err := zktest.StartServer()
	if err != nil {
		return fmt.Errorf("starting ZooKeeper: %w", err)
	}
	defer zk.Stop()

	b, err := startBroker(bin, dir, zk.Connect()+"/gregor-bench")
	if err != nil {
		return err
	}
	defer func() {
		if serr := b.stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		if err != nil {
			err = fmt.Errorf("%w\nlast lines of %s:\n%s", err, b.logPath, tail(b.logPath, 20))
		}
	}()
	if err := b.waitReady(ctx); err != nil {
		return err
	}
	const topic = "bench"
	if err := createTopic(ctx, b, topic, int32(cfg.partitions)); err != nil {
		return err
	}

	p, err := produce(ctx, cfg, b.addr, topic)
	if err != nil {
		return err
	}
	c, err := consume(ctx, cfg, b.addr, topic)
	if err != nil {
		return err
	}
	mb := float64(cfg.records) * float64(cfg.size) / 1e6
	fmt.Printf("gregor produce-consume: %d records of %d B, %d partitions, one broker, %s, GOMAXPROCS %d\n",
		cfg.records, cfg.size, cfg.partitions, runtime.Version(), runtime.GOMAXPROCS(0))
	fmt.Printf("produce (acks=1, no idempotence, no compression, linger %v, max %d buffered):\n", cfg.linger, cfg.maxBuffered)
	fmt.Printf("  %.0f records/s  %.1f MB/s  (%v)\n", float64(cfg.records)/p.elapsed.Seconds(), mb/p.elapsed.Seconds(), p.elapsed.Round(time.Millisecond))
	fmt.Printf("  per-record latency, Produce call to promise: p50 %v  p99 %v  max %v\n", pct(p.latency, 50), pct(p.latency, 99), pct(p.latency, 100))
	fmt.Printf("  Produce request round trip (%d requests): p50 %v  p99 %v  max %v\n", len(p.requests), pct(p.requests, 50), pct(p.requests, 99), pct(p.requests, 100))
	fmt.Printf("consume (from the start, all partitions):\n")
	fmt.Printf("  %.0f records/s  %.1f MB/s  (%v)\n", float64(cfg.records)/c.elapsed.Seconds(), mb/c.elapsed.Seconds(), c.elapsed.Round(time.Millisecond))
	fmt.Printf("  Fetch request round trip (%d requests): p50 %v  p99 %v  max %v\n", len(c.fetches), pct(c.fetches, 50), pct(c.fetches, 99), pct(c.fetches, 100))
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s", load)
	}
	return nil
}

// broker is one gregor broker process.
type broker struct {
	addr    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once cmd has been waited for
	err     error         // cmd.Wait's result, once done is closed
}

func startBroker(bin, dir, zkConnect string) (*broker, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	props := strings.Join([]string{
		"broker.id=1",
		"listeners=PLAINTEXT://" + addr,
		"log.dirs=" + filepath.Join(dir, "logs"),
		"zookeeper.connect=" + zkConnect,
	}, "\n") + "\n"
	propsPath := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(propsPath, []byte(props), 0o644); err != nil {
		return nil, err
	}
	b := &broker{addr: addr, logPath: filepath.Join(dir, "broker.log"), done: make(chan struct{})}
	logf, err := os.Create(b.logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	b.cmd = exec.Command(bin, "server", "start", propsPath, "--log-level", "info")
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	b.cmd.Dir = dir
	setProcAttr(b.cmd)
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	return b, nil
}

// stop sends SIGTERM to the broker's PID and waits for it to exit,
// sending SIGKILL after 30 s. It reports an unclean exit.
func (b *broker) stop() error {
	select {
	case <-b.done:
		return fmt.Errorf("the broker had exited: %v", b.err)
	default:
	}
	_ = syscall.Kill(b.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-b.done:
		if b.err != nil {
			return fmt.Errorf("the broker exited with %v on SIGTERM", b.err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(b.cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
		return errors.New("the broker did not exit within 30 s of SIGTERM; killed")
	}
}

// poll runs cond every 50 ms until it returns true, the broker exits, ctx
// ends or timeout passes.
func (b *broker) poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return nil
		}
		select {
		case <-b.done:
			return fmt.Errorf("waiting for %s: the broker exited: %v", what, b.err)
		case <-ctx.Done():
			return fmt.Errorf("no %s within %v (%w); last seen: %s", what, timeout, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func (b *broker) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.addr)}, opts...)...)
}

// waitReady waits until the broker lists itself in Metadata, with a
// controller.
func (b *broker) waitReady(ctx context.Context) error {
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	return b.poll(ctx, 60*time.Second, "broker in Metadata", func() (bool, string) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(rctx, cl)
		if err != nil {
			return false, err.Error()
		}
		return len(resp.Brokers) == 1 && resp.ControllerID >= 0, fmt.Sprintf("%d brokers, controller %d", len(resp.Brokers), resp.ControllerID)
	})
}

// createTopic creates topic (replication factor 1) and waits until every
// partition has a leader.
func createTopic(ctx context.Context, b *broker, topic string, partitions int32) error {
	cl, err := b.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	err = b.poll(ctx, 30*time.Second, "topic created", func() (bool, string) {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 10000
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		resp, err := req.RequestWith(rctx, cl)
		if err != nil {
			return false, err.Error()
		}
		code := resp.Topics[0].ErrorCode
		return code == 0 || code == kerr.TopicAlreadyExists.Code, fmt.Sprint(kerr.ErrorForCode(code))
	})
	if err != nil {
		return err
	}
	return b.poll(ctx, 30*time.Second, "partitions online", func() (bool, string) {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := req.RequestWith(rctx, cl)
		if err != nil {
			return false, err.Error()
		}
		if len(resp.Topics) != 1 {
			return false, fmt.Sprintf("%d topics", len(resp.Topics))
		}
		online := 0
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode == 0 && p.Leader >= 0 {
				online++
			}
		}
		return int32(online) == partitions, fmt.Sprintf("%d of %d partitions online", online, partitions)
	})
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
	value := make([]byte, cfg.size)
	rng := rand.NewChaCha8([32]byte{})
	rng.Read(value)

	res := produceResult{latency: make([]time.Duration, cfg.records)}
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	wg.Add(cfg.records)
	start := time.Now()
	for i := range cfg.records {
		t0 := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			res.latency[i] = time.Since(t0)
			if err != nil {
				errOnce.Do(func() { firstErr = err })
			}
			wg.Done()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if firstErr != nil {
		return res, fmt.Errorf("produce: %w", firstErr)
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

// pct returns the p-th percentile of ds (nearest rank), sorting ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p+99)/100 - 1
	return ds[max(i, 0)].Round(10 * time.Microsecond)
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
