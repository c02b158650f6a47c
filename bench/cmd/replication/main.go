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
	"strconv"
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
	records          int
	size             int
	partitions       int
	linger           time.Duration
	maxBuffered      int
	trials           int
	zkSessionTimeout time.Duration
	src              string
	gregor           string
	keep             bool
	timeout          time.Duration
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
	flag.StringVar(&cfg.src, "src", "..", "the gregor module's root directory, where ./cmd/gregor is built")
	flag.StringVar(&cfg.gregor, "gregor", "", "a gregor binary to run instead of building one from -src")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the brokers' directories (server.properties, broker.log, logs/)")
	flag.DurationVar(&cfg.timeout, "timeout", 20*time.Minute, "give up (and stop everything) after this long")
	flag.Parse()
	if cfg.records < 0 || cfg.size <= 0 || cfg.partitions <= 0 || cfg.maxBuffered <= 0 || cfg.trials < 0 || cfg.zkSessionTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "replication: -size, -partitions, -max-buffered and -zk-session-timeout must be positive, -records and -trials not negative")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "replication:", err)
		os.Exit(1)
	}
}

// cluster is the brokers, indexed by broker id - 1.
type cluster struct {
	brokers [numBrokers]*broker
}

func (c *cluster) addrs() []string {
	var a []string
	for _, b := range c.brokers {
		a = append(a, b.addr)
	}
	return a
}

func (c *cluster) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.addrs()...)}, opts...)...)
}

func run(ctx context.Context, cfg config) (err error) {
	dir, err := os.MkdirTemp("", "gregor-bench-rf-")
	if err != nil {
		return err
	}
	if cfg.keep {
		fmt.Println("cluster directory:", dir)
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

	var c cluster
	for i := range c.brokers {
		b, err := newBroker(bin, filepath.Join(dir, "broker"+strconv.Itoa(i+1)), int32(i+1), zk.Connect()+"/gregor-bench", cfg.zkSessionTimeout)
		if err != nil {
			return err
		}
		c.brokers[i] = b
	}
	defer func() {
		// Stop the brokers together: each controlled shutdown waits on
		// the controller, so one at a time would add up.
		errs := make([]error, numBrokers)
		var wg sync.WaitGroup
		for i, b := range c.brokers {
			wg.Go(func() { errs[i] = b.stop() })
		}
		wg.Wait()
		for i, b := range c.brokers {
			if errs[i] != nil {
				errs[i] = fmt.Errorf("broker %d: %w", b.id, errs[i])
			}
		}
		err = errors.Join(append([]error{err}, errs...)...)
		if err != nil {
			for _, b := range c.brokers {
				err = fmt.Errorf("%w\nlast lines of %s:\n%s", err, b.logPath, tail(b.logPath, 15))
			}
		}
	}()
	for _, b := range c.brokers {
		if err := b.start(); err != nil {
			return err
		}
	}
	if err := c.waitBrokers(ctx, c.brokers[0], numBrokers, 0); err != nil {
		return err
	}

	fmt.Printf("gregor replication: %d brokers, %s, GOMAXPROCS %d, zookeeper.session.timeout.ms %d\n",
		numBrokers, runtime.Version(), runtime.GOMAXPROCS(0), cfg.zkSessionTimeout.Milliseconds())
	if cfg.records > 0 {
		if err := throughput(ctx, cfg, &c); err != nil {
			return err
		}
	}
	if cfg.trials > 0 {
		if err := failover(ctx, cfg, &c); err != nil {
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
func throughput(ctx context.Context, cfg config, c *cluster) error {
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
		if err := c.createTopic(ctx, r.topic, int32(cfg.partitions), r.rf, r.minIsr); err != nil {
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
			pct(p.latency, 50), pct(p.latency, 99), pct(p.latency, 100))
	}
	fmt.Printf("  ratio (a)/(b), records/s: %.2f\n", rates[0]/rates[1])
	return nil
}

// failover kills the leader of a one-partition RF 3 topic cfg.trials times
// and prints the median and maximum time until an acks=all produce succeeds.
func failover(ctx context.Context, cfg config, c *cluster) error {
	const topic = "bench-failover"
	if err := c.createTopic(ctx, topic, 1, numBrokers, "2"); err != nil {
		return err
	}
	cl, err := c.client(
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
		isr, leader, err := c.waitFullIsr(ctx, topic)
		if err != nil {
			return fmt.Errorf("trial %d: %w", trial+1, err)
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = cl.ProduceSync(pctx, &kgo.Record{Value: value}).FirstErr()
		cancel()
		if err != nil {
			return fmt.Errorf("trial %d: produce before the kill: %w", trial+1, err)
		}
		victim := c.brokers[leader-1]
		t0 := time.Now()
		if err := victim.kill(); err != nil {
			return err
		}
		d, err := firstAck(ctx, cl, value, t0)
		if err != nil {
			return fmt.Errorf("trial %d, leader %d killed: %w", trial+1, leader, err)
		}
		_, newLeader, _ := c.partition(ctx, c.brokers[leader%numBrokers], topic)
		fmt.Printf("  trial %2d: ISR %v, killed leader %d, new leader %d, first acks=all produce after %v\n",
			trial+1, isr, leader, newLeader, d.Round(time.Millisecond))
		times = append(times, d)

		// Restart the killed broker once its old session has expired
		// (else its registration would clash with the old one).
		survivor := c.brokers[leader%numBrokers]
		if err := c.waitBrokers(ctx, survivor, numBrokers-1, leader); err != nil {
			return fmt.Errorf("trial %d: %w", trial+1, err)
		}
		if err := victim.start(); err != nil {
			return err
		}
	}
	if _, _, err := c.waitFullIsr(ctx, topic); err != nil {
		return err
	}
	fmt.Printf("  failover time: median %v  max %v  (detection is bounded by zookeeper.session.timeout.ms %d)\n",
		median(times).Round(time.Millisecond), slices.Max(times).Round(time.Millisecond), cfg.zkSessionTimeout.Milliseconds())
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

// median returns the median of ds (the mean of the middle two for an even
// count), sorting ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	n := len(ds)
	if n%2 == 1 {
		return ds[n/2]
	}
	return (ds[n/2-1] + ds[n/2]) / 2
}

// broker is one gregor broker, run as a child process; it can be killed
// and started again on the same port and directory.
type broker struct {
	id        int32
	addr      string
	bin       string
	dir       string
	propsPath string
	logPath   string

	cmd  *exec.Cmd     // nil before the first start
	done chan struct{} // closed once cmd has been waited for
	err  error         // cmd.Wait's result, once done is closed
}

func newBroker(bin, dir string, id int32, zkConnect string, sessionTimeout time.Duration) (*broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	props := strings.Join([]string{
		"broker.id=" + strconv.Itoa(int(id)),
		"listeners=PLAINTEXT://" + addr,
		"log.dirs=" + filepath.Join(dir, "logs"),
		"zookeeper.connect=" + zkConnect,
		"zookeeper.session.timeout.ms=" + strconv.FormatInt(sessionTimeout.Milliseconds(), 10),
	}, "\n") + "\n"
	b := &broker{id: id, addr: addr, bin: bin, dir: dir,
		propsPath: filepath.Join(dir, "server.properties"), logPath: filepath.Join(dir, "broker.log")}
	if err := os.WriteFile(b.propsPath, []byte(props), 0o644); err != nil {
		return nil, err
	}
	return b, nil
}

// start runs the broker, appending to its log file.
func (b *broker) start() error {
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(b.bin, "server", "start", b.propsPath, "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = b.dir
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting broker %d: %w", b.id, err)
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	go func() {
		b.err = cmd.Wait()
		close(done)
	}()
	return nil
}

// running reports whether the broker's process has not exited.
func (b *broker) running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL to the broker's PID and waits for it to exit.
func (b *broker) kill() error {
	if !b.running() {
		return fmt.Errorf("broker %d is not running: %v", b.id, b.err)
	}
	if err := syscall.Kill(b.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 broker %d: %w", b.id, err)
	}
	<-b.done
	return nil
}

// stop sends SIGTERM to the broker's PID and waits for it to exit,
// sending SIGKILL after 30 s. It reports an unclean exit. A broker that
// was never started, or killed on purpose and not restarted, is no error.
func (b *broker) stop() error {
	if b.cmd == nil {
		return nil
	}
	select {
	case <-b.done:
		if b.err != nil && !isKilled(b.err) {
			return fmt.Errorf("the broker had exited: %v", b.err)
		}
		return nil
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

// isKilled reports whether err is the exit of a process killed by SIGKILL.
func isKilled(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// poll runs cond every 50 ms until it returns true, ctx ends or timeout
// passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		ok, last := cond(rctx)
		rcancel()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no %s within %v (%w); last seen: %s", what, timeout, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// metadata asks broker b alone for the brokers and, if topic is not empty,
// that topic.
func metadata(ctx context.Context, b *broker, topic string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	// A request to the seed broker itself, not to any broker of the
	// cluster: this is that broker's view.
	return req.RequestWith(ctx, cl)
}

// waitBrokers waits until broker via lists exactly n live brokers, with a
// controller, none of which is the broker with id absent (0: none).
func (c *cluster) waitBrokers(ctx context.Context, via *broker, n int, absent int32) error {
	what := fmt.Sprintf("%d live brokers", n)
	if absent != 0 {
		what += fmt.Sprintf(" without broker %d", absent)
	}
	return poll(ctx, 60*time.Second, what, func(ctx context.Context) (bool, string) {
		resp, err := metadata(ctx, via, "")
		if err != nil {
			return false, err.Error()
		}
		var ids []int32
		for _, b := range resp.Brokers {
			ids = append(ids, b.NodeID)
		}
		slices.Sort(ids)
		return len(ids) == n && !slices.Contains(ids, absent) && resp.ControllerID >= 0,
			fmt.Sprintf("brokers %v, controller %d", ids, resp.ControllerID)
	})
}

// partition returns partition 0 of topic's ISR and leader as broker b sees
// them.
func (c *cluster) partition(ctx context.Context, b *broker, topic string) (isr []int32, leader int32, err error) {
	resp, err := metadata(ctx, b, topic)
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
func (c *cluster) waitFullIsr(ctx context.Context, topic string) (isr []int32, leader int32, err error) {
	err = poll(ctx, 60*time.Second, "full ISR of "+topic, func(ctx context.Context) (bool, string) {
		for _, b := range c.brokers {
			i, l, err := c.partition(ctx, b, topic)
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", b.id, err)
			}
			if len(i) != numBrokers || l < 1 || l > numBrokers {
				return false, fmt.Sprintf("broker %d: leader %d, ISR %v", b.id, l, i)
			}
			isr, leader = i, l
		}
		return true, ""
	})
	return isr, leader, err
}

// createTopic creates topic with replication factor rf (and
// min.insync.replicas minIsr unless empty) and waits until every broker
// sees every partition with a leader and a full ISR.
func (c *cluster) createTopic(ctx context.Context, topic string, partitions int32, rf int16, minIsr string) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	err = poll(ctx, 30*time.Second, "topic "+topic+" created", func(ctx context.Context) (bool, string) {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
		if minIsr != "" {
			rc := kmsg.NewCreateTopicsRequestTopicConfig()
			rc.Name, rc.Value = "min.insync.replicas", kmsg.StringPtr(minIsr)
			rt.Configs = append(rt.Configs, rc)
		}
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 4000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return false, err.Error()
		}
		code := resp.Topics[0].ErrorCode
		return code == 0 || code == kerr.TopicAlreadyExists.Code, fmt.Sprint(kerr.ErrorForCode(code))
	})
	if err != nil {
		return err
	}
	return poll(ctx, 30*time.Second, "topic "+topic+" online", func(ctx context.Context) (bool, string) {
		for _, b := range c.brokers {
			resp, err := metadata(ctx, b, topic)
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", b.id, err)
			}
			if len(resp.Topics) != 1 {
				return false, fmt.Sprintf("broker %d: %d topics", b.id, len(resp.Topics))
			}
			ready := 0
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode == 0 && p.Leader >= 0 && len(p.ISR) == int(rf) {
					ready++
				}
			}
			if int32(ready) != partitions {
				return false, fmt.Sprintf("broker %d: %d of %d partitions led with a full ISR", b.id, ready, partitions)
			}
		}
		return true, ""
	})
}

type produceResult struct {
	elapsed time.Duration
	latency []time.Duration // per record, Produce call to promise
}

func produce(ctx context.Context, cfg config, c *cluster, topic string, acks kgo.Acks) (produceResult, error) {
	cl, err := c.client(
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
