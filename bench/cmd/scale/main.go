// Command scale measures the memory and scale figures of issue 6 on Gregor
// brokers run as child processes (built from the source tree without the
// race detector) on one ZooKeeper server (internal/zktest).
//
// Memory. One broker, a topic of -mem-partitions partitions (RF 1) and
// -mem-bytes bytes of records in total, produced partition after
// partition with franz-go (acks=1, no compression, idempotence off,
// batches of up to 1 MB of -mem-record-size records). Then one Fetch per
// partition, at the middle offset of each, so that every partition's
// offset index is looked up (and so mapped: logstore maps an index on its
// first lookup, not when it opens it). It prints the broker's resident set
// (VmRSS), its peak (VmHWM), the anonymous and file-backed parts, its open
// descriptors and its memory mappings (all of them, and those of .index
// and .timeindex files) after the topic is created, after the produce and
// after the fetches, against the target of issue 6: at most 300 MiB while
// serving 1,000 partitions holding 10 GiB.
//
// Scale. Three brokers with zookeeper.session.timeout.ms
// -zk-session-timeout and a topic of -partitions partitions with
// replication factor -rf. In order:
//
//  1. create: from the CreateTopics request until every broker's Metadata
//     shows a leader for every partition, and until every ISR is full;
//  2. controller failover: kill -9 of the controller until both survivors'
//     Metadata shows a new controller and a live leader for every
//     partition (target 5 s). A killed broker's ZooKeeper session, and so
//     its /controller and /brokers/ids znodes, live until ZooKeeper has
//     heard nothing from it for the session timeout, so that part is
//     printed apart: the moment the survivors first show another
//     controller. The killed broker is started again once its
//     registration is gone, and the next step waits for full ISRs;
//  3. controlled shutdown: SIGTERM to the non-controller broker leading
//     the most partitions, until the others' Metadata shows it leading
//     nothing (target 2 s), and until its process exits;
//  4. clean restart of that broker: from its start until it answers
//     Metadata as one of the three live brokers, and until every broker's
//     Metadata shows it back in the ISR of every partition it is a
//     replica of (target 10 s, on the latter);
//  5. restart after kill -9: -unflushed bytes produced with acks=all to
//     the partitions of which a non-controller broker is a replica, then
//     kill -9 of it (nothing is flushed: log.flush.interval.messages and
//     log.flush.interval.ms are off by default, so its recovery point is
//     where the log started and it recovers all of it), a start once its
//     registration is gone, and the same two times as in 4.
//
// With -rf 1 steps 2 and 3 are skipped (a partition whose only replica is
// gone has no leader to move to), and step 4 restarts a broker stopped
// with SIGTERM.
//
// With -profile DIR, a CPU profile of every broker is taken through its
// pprof listener (gregor.pprof.listener) for -profile-seconds from the
// CreateTopics request, and another from the controller kill, written to
// DIR.
//
// Each broker's open descriptors and mappings are printed after the
// topic is created: every segment holds its .log, .index and .timeindex
// files open, so a broker needs about 3 descriptors per replica it hosts,
// against RLIMIT_NOFILE (Go raises the soft limit to the hard one). The
// command first raises its own limit, which the brokers inherit, to -nofile
// (100,000 by default, Kafka's advice for brokers) when it may.
//
// Every wait is bounded, -timeout bounds the whole run, every broker is
// stopped by PID at the end and the scratch directory (with all the data)
// is removed unless -keep. Run it from the bench module:
//
//	cd bench && go run ./cmd/scale -src ..
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"github.com/gregor-broker/gregor/bench/internal/procstat"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type config struct {
	memPartitions   int
	memBytes        int64
	memRecordSize   int
	memSegmentBytes int64

	partitions       int
	rf               int
	zkSessionTimeout time.Duration
	unflushed        int64
	profileDir       string
	profileSeconds   int
	openFiles        uint64

	cluster.Source
	timeout time.Duration
}

const (
	numBrokers = 3
	mib        = 1 << 20
	gib        = 1 << 30

	targetRSS        = 300 * mib
	targetFailover   = 5 * time.Second
	targetShutdown   = 2 * time.Second
	targetRestart    = 10 * time.Second
	fullMemBytes     = 10 * gib
	fullMemPartition = 1000
)

func main() {
	var cfg config
	flag.IntVar(&cfg.memPartitions, "mem-partitions", 1000, "partitions of the memory run's topic (0 skips the memory run)")
	flag.Int64Var(&cfg.memBytes, "mem-bytes", 10*gib, "bytes of record values produced in the memory run, spread evenly over its partitions")
	flag.IntVar(&cfg.memRecordSize, "mem-record-size", 64<<10, "bytes of each record's value in the memory run")
	flag.Int64Var(&cfg.memSegmentBytes, "mem-segment-bytes", 0, "segment.bytes of the memory run's topic (0: the broker's default, 1 GiB)")
	flag.IntVar(&cfg.partitions, "partitions", 10000, "partitions of the scale run's topic (0 skips the scale run)")
	flag.IntVar(&cfg.rf, "rf", 3, "replication factor of the scale run's topic")
	flag.DurationVar(&cfg.zkSessionTimeout, "zk-session-timeout", 6*time.Second, "the brokers' zookeeper.session.timeout.ms in the scale run")
	flag.Int64Var(&cfg.unflushed, "unflushed", gib, "bytes produced to a broker's partitions before it is killed with kill -9 and restarted")
	flag.Uint64Var(&cfg.openFiles, "nofile", kafkaAdvisedOpenFiles, "raise RLIMIT_NOFILE (inherited by the brokers) to at least this, if permitted")
	flag.StringVar(&cfg.profileDir, "profile", "", "write CPU profiles of the brokers during the creation and the failover to this directory")
	flag.IntVar(&cfg.profileSeconds, "profile-seconds", 20, "length of each CPU profile")
	cfg.Source.RegisterFlags()
	flag.DurationVar(&cfg.timeout, "timeout", 30*time.Minute, "give up (and stop everything) after this long")
	flag.Parse()
	if cfg.memPartitions < 0 || cfg.memBytes < 0 || cfg.memRecordSize <= 0 || cfg.memRecordSize > 900_000 || cfg.memSegmentBytes < 0 ||
		cfg.partitions < 0 || cfg.rf < 1 || cfg.rf > numBrokers || cfg.zkSessionTimeout <= 0 || cfg.unflushed < 0 || cfg.profileSeconds <= 0 {
		fmt.Fprintln(os.Stderr, "scale: a flag is out of range (-rf 1 to 3, -mem-record-size 1 to 900000, sizes and counts not negative)")
		os.Exit(2)
	}
	fmt.Println(raiseOpenFiles(cfg.openFiles))
	cluster.Main("scale", cfg.timeout, func(ctx context.Context) error { return run(ctx, cfg) })
}

func run(ctx context.Context, cfg config) error {
	env, err := cfg.Setup(ctx, "gregor-bench-scale-")
	if err != nil {
		return err
	}
	defer env.Close()
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	mapCount, _ := os.ReadFile("/proc/sys/vm/max_map_count")
	fmt.Printf("gregor scale: %s, GOMAXPROCS %d, RLIMIT_NOFILE %d (hard %d), vm.max_map_count %s\n",
		runtime.Version(), runtime.GOMAXPROCS(0), lim.Cur, lim.Max, strings.TrimSpace(string(mapCount)))
	if cfg.memPartitions > 0 {
		if err := memory(ctx, cfg, env); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
	}
	if cfg.partitions > 0 {
		if err := scale(ctx, cfg, env); err != nil {
			return fmt.Errorf("scale: %w", err)
		}
	}
	if len(pollRounds) > 0 {
		rounds := slices.Clone(pollRounds)
		fmt.Printf("Metadata polls: %d rounds (one Metadata request to each broker watched), median %v, max %v: each time above is late by up to a round and 50 ms\n",
			len(rounds), cluster.Median(rounds).Round(time.Millisecond), cluster.Pct(rounds, 100).Round(time.Millisecond))
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average at the end: %s", load)
	}
	return nil
}

// stopAll stops c and adds the tail of each broker's log to err, if any.
func stopAll(c cluster.Cluster, err error) error {
	err = errors.Join(err, c.Stop())
	if err != nil {
		for _, b := range c {
			err = fmt.Errorf("%w\nlast lines of %s:\n%s", err, b.LogPath, cluster.Tail(b.LogPath, 15))
		}
	}
	return err
}

// memory runs the memory measurement on one broker.
func memory(ctx context.Context, cfg config, env *cluster.Env) (err error) {
	dir := filepath.Join(env.Dir, "memory")
	pprofAddr, err := cluster.FreeAddr()
	if err != nil {
		return err
	}
	b, err := cluster.NewBroker(env.Bin, dir, 1, env.ZKConnect, "gregor.pprof.listener="+pprofAddr)
	if err != nil {
		return err
	}
	heap := func(when string) {
		printHeap(ctx, pprofAddr)
		if cfg.profileDir != "" {
			saveHeapProfile(ctx, pprofAddr, filepath.Join(cfg.profileDir, "memory-heap-"+when+".pprof"))
		}
	}
	c := cluster.Cluster{b}
	defer func() {
		err = stopAll(c, err)
		// The data can be gigabytes: remove it now, not at the end.
		if !cfg.Keep {
			os.RemoveAll(dir)
		}
	}()
	if err := b.Start(); err != nil {
		return err
	}
	if err := cluster.WaitBrokers(ctx, b, 1, 0); err != nil {
		return err
	}
	perPartition := max(cfg.memBytes/int64(cfg.memPartitions)/int64(cfg.memRecordSize), 1)
	total := perPartition * int64(cfg.memPartitions) * int64(cfg.memRecordSize)
	fmt.Printf("memory: 1 broker, %d partitions (issue 6: %d), RF 1, %d records of %d B each = %.2f GiB in total (%.1f%% of issue 6's 10 GiB)\n",
		cfg.memPartitions, fullMemPartition, perPartition, cfg.memRecordSize, float64(total)/gib, 100*float64(total)/fullMemBytes)

	const topic = "bench-memory"
	var configs []string
	if cfg.memSegmentBytes > 0 {
		configs = append(configs, "segment.bytes", strconv.FormatInt(cfg.memSegmentBytes, 10))
	}
	t0 := time.Now()
	if _, err := createTopic(ctx, c, topic, cfg.memPartitions, 1, configs...); err != nil {
		return err
	}
	if _, err := waitLeaders(ctx, c, topic, cfg.memPartitions, 5*time.Minute); err != nil {
		return err
	}
	fmt.Printf("  created and led in %v\n", time.Since(t0).Round(time.Millisecond))
	if err := printMemory("after creating the topic", b.PID()); err != nil {
		return err
	}

	elapsed, err := produceEvenly(ctx, c, topic, seq(cfg.memPartitions), perPartition, cfg.memRecordSize, kgo.LeaderAck())
	if err != nil {
		return err
	}
	fmt.Printf("  produced %.2f GiB in %v: %.0f MB/s (acks=1, no compression, batches up to 1 MB)\n",
		float64(total)/gib, elapsed.Round(time.Millisecond), float64(total)/1e6/elapsed.Seconds())
	if err := printMemory("after the produce", b.PID()); err != nil {
		return err
	}
	heap("produce")
	peakProduce, err := procstat.PeakRSS(b.PID())
	if err != nil {
		return err
	}
	if err := procstat.ResetPeak(b.PID()); err != nil {
		return err
	}

	t0 = time.Now()
	fetched, err := fetchSample(ctx, b, topic, cfg.memPartitions, perPartition/2, 1_100_000)
	if err != nil {
		return err
	}
	fmt.Printf("  fetched %d partitions once each at their middle offset (%d), %.1f MiB in %v\n",
		cfg.memPartitions, perPartition/2, float64(fetched)/mib, time.Since(t0).Round(time.Millisecond))
	if err := printMemory("after the fetches", b.PID()); err != nil {
		return err
	}
	heap("fetch")
	m, err := procstat.MemoryOf(b.PID())
	if err != nil {
		return err
	}
	peak := max(peakProduce, m.Peak)
	fmt.Printf("  RSS now %.1f MiB, peak %.1f MiB over the whole run (produce %.1f MiB, fetches %.1f MiB): target ≤ %d MiB: %s\n",
		float64(m.RSS)/mib, float64(peak)/mib, float64(peakProduce)/mib, float64(m.Peak)/mib, targetRSS/mib, holds(peak <= targetRSS))
	return nil
}

// printMemory prints pid's resident memory, open descriptors and mappings.
func printMemory(when string, pid int) error {
	m, err := procstat.MemoryOf(pid)
	if err != nil {
		return err
	}
	fds, err := procstat.OpenFiles(pid)
	if err != nil {
		return err
	}
	maps, idx, err := procstat.Mappings(pid, ".index", ".timeindex")
	if err != nil {
		return err
	}
	fmt.Printf("  %-26s VmRSS %6.1f MiB  VmHWM %6.1f MiB  (anon %6.1f, file %6.1f)  threads %d  fds %d  mappings %d (%d of index files)\n",
		when+":", float64(m.RSS)/mib, float64(m.Peak)/mib, float64(m.Anon)/mib, float64(m.File)/mib, m.Threads, fds, maps, idx)
	return nil
}

func seq(n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(i)
	}
	return s
}

// produceEvenly produces perPartition records of size bytes to each of
// partitions of topic, one partition after the other so that batches
// fill, and returns the time until all are acknowledged.
func produceEvenly(ctx context.Context, c cluster.Cluster, topic string, partitions []int32, perPartition int64, size int, acks kgo.Acks) (time.Duration, error) {
	cl, err := c.Client(
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(acks),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(1_000_000),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedBytes(256*mib),
		kgo.MaxBufferedRecords(1_000_000),
		kgo.RecordDeliveryTimeout(2*time.Minute),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i*7 + i>>8)
	}
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	start := time.Now()
	for _, p := range partitions {
		for range perPartition {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Partition: p, Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					errOnce.Do(func() { first = err })
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	if first != nil {
		return 0, fmt.Errorf("produce: %w", first)
	}
	return time.Since(start), nil
}

// fetchSample fetches every partition of topic from broker b once, at
// offset, up to maxBytes each (more than a batch: a partition other than
// the first of a response gets nothing when its first batch is larger),
// 20 partitions a request, and returns the
// bytes of record batches received. A partition that returns an error or
// no records is an error.
func fetchSample(ctx context.Context, b *cluster.Broker, topic string, partitions int, offset int64, maxBytes int) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	const perRequest = 20
	var total int64
	for from := 0; from < partitions; from += perRequest {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID = -1
		req.MaxWaitMillis = 500
		req.MinBytes = 1
		req.MaxBytes = perRequest * int32(maxBytes)
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for p := from; p < min(from+perRequest, partitions); p++ {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = int32(p)
			rp.FetchOffset = offset
			rp.CurrentLeaderEpoch = -1
			rp.LogStartOffset = -1
			rp.PartitionMaxBytes = int32(maxBytes)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := req.RequestWith(rctx, cl)
		cancel()
		if err != nil {
			return total, fmt.Errorf("fetch of partitions %d-%d: %w", from, from+len(rt.Partitions)-1, err)
		}
		if resp.ErrorCode != 0 {
			return total, fmt.Errorf("fetch: %w", kerr.ErrorForCode(resp.ErrorCode))
		}
		got := 0
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return total, fmt.Errorf("fetch of partition %d: %w", p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
				if len(p.RecordBatches) == 0 {
					return total, fmt.Errorf("fetch of partition %d at offset %d: no records (high watermark %d)", p.Partition, offset, p.HighWatermark)
				}
				total += int64(len(p.RecordBatches))
				got++
			}
		}
		if got != len(rt.Partitions) {
			return total, fmt.Errorf("fetch of %d partitions answered %d", len(rt.Partitions), got)
		}
	}
	return total, nil
}

// createTopic asks the cluster to create topic (configs are key, value
// pairs) and returns the time until the CreateTopics response, which
// Gregor, like Kafka, sends once the assignment is written to ZooKeeper,
// not once the partitions are led.
func createTopic(ctx context.Context, c cluster.Cluster, topic string, partitions, rf int, configs ...string) (time.Duration, error) {
	cl, err := c.Client()
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, int32(partitions), int16(rf)
	for i := 0; i+1 < len(configs); i += 2 {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = configs[i], kmsg.StringPtr(configs[i+1])
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 120_000
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	t0 := time.Now()
	resp, err := req.RequestWith(rctx, cl)
	if err != nil {
		return 0, fmt.Errorf("CreateTopics %s: %w", topic, err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		msg := ""
		if m := resp.Topics[0].ErrorMessage; m != nil {
			msg = ": " + *m
		}
		return 0, fmt.Errorf("CreateTopics %s: %w%s", topic, kerr.ErrorForCode(code), msg)
	}
	return time.Since(t0), nil
}

// partition is one partition as a broker's Metadata shows it.
type partition struct {
	leader        int32
	replicas, isr []int32
	code          int16
}

// view is a broker's Metadata for one topic.
type view struct {
	controller int32
	brokers    []int32
	parts      []partition // by partition id; missing ones have leader -1
}

func metadata(ctx context.Context, b *cluster.Broker, topic string, partitions int) (view, error) {
	resp, err := cluster.Metadata(ctx, b, topic)
	if err != nil {
		return view{}, err
	}
	v := view{controller: resp.ControllerID, parts: make([]partition, partitions)}
	for _, br := range resp.Brokers {
		v.brokers = append(v.brokers, br.NodeID)
	}
	slices.Sort(v.brokers)
	for i := range v.parts {
		v.parts[i].leader = -1
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.Partition >= 0 && int(p.Partition) < partitions {
				v.parts[p.Partition] = partition{leader: p.Leader, replicas: p.Replicas, isr: p.ISR, code: p.ErrorCode}
			}
		}
	}
	return v, nil
}

// pollRounds holds the duration of every round of pollViews: a time it
// measures is late by up to one round plus Poll's 50 ms tick.
var pollRounds []time.Duration

// pollViews polls the Metadata of every broker of c until cond holds for
// every one, for at most timeout; cond describes what it saw when it does
// not hold. It returns the time from the call until it held.
func pollViews(ctx context.Context, c cluster.Cluster, topic string, partitions int, timeout time.Duration, what string,
	cond func(b *cluster.Broker, v view) (bool, string)) (time.Duration, error) {
	t0 := time.Now()
	err := cluster.Poll(ctx, timeout, what, c, func(ctx context.Context) (bool, string) {
		r0 := time.Now()
		defer func() { pollRounds = append(pollRounds, time.Since(r0)) }()
		for _, b := range c {
			v, err := metadata(ctx, b, topic, partitions)
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", b.ID, err)
			}
			if ok, saw := cond(b, v); !ok {
				return false, fmt.Sprintf("broker %d: %s", b.ID, saw)
			}
		}
		return true, ""
	})
	return time.Since(t0), err
}

// waitLeaders waits until every broker of c shows a leader for each
// partition, and returns the time that took.
func waitLeaders(ctx context.Context, c cluster.Cluster, topic string, partitions int, timeout time.Duration) (time.Duration, error) {
	return pollViews(ctx, c, topic, partitions, timeout, "a leader for every partition of "+topic, func(_ *cluster.Broker, v view) (bool, string) {
		led := 0
		for _, p := range v.parts {
			if p.code == 0 && p.leader >= 0 {
				led++
			}
		}
		return led == partitions, fmt.Sprintf("%d of %d partitions led", led, partitions)
	})
}

// waitFullIsr waits until every broker of c shows every replica of every
// partition in its ISR.
func waitFullIsr(ctx context.Context, c cluster.Cluster, topic string, partitions, rf int, timeout time.Duration) (time.Duration, error) {
	return pollViews(ctx, c, topic, partitions, timeout, "a full ISR for every partition of "+topic, func(_ *cluster.Broker, v view) (bool, string) {
		full := 0
		for _, p := range v.parts {
			if p.code == 0 && p.leader >= 0 && len(p.isr) == rf {
				full++
			}
		}
		return full == partitions, fmt.Sprintf("%d of %d partitions with a full ISR", full, partitions)
	})
}

func holds(ok bool) string {
	if ok {
		return "holds"
	}
	return "DOES NOT HOLD"
}

// profile takes a CPU profile of seconds from the pprof listener at addr
// and writes it to path, in the background; wait for the returned
// function before removing anything.
func profile(ctx context.Context, addr string, seconds int, path string) func() {
	var wg sync.WaitGroup
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, time.Duration(seconds+30)*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(os.Stderr, "profile %s: %v\n", path, err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "profile %s: %v\n", path, err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			fmt.Fprintf(os.Stderr, "profile %s: %v\n", path, err)
		}
	})
	return wg.Wait
}

// printHeap prints the Go heap figures of the broker whose pprof listener
// is addr (runtime.MemStats, from /debug/pprof/heap?debug=1): what is live,
// and what the runtime holds without having returned it to the kernel yet,
// which VmRSS counts too.
func printHeap(ctx context.Context, addr string) {
	body, err := httpGet(ctx, "http://"+addr+"/debug/pprof/heap?debug=1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "heap figures:", err)
		return
	}
	stats := map[string]int64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), " = ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			stats[k] = n
		}
	}
	fmt.Printf("  %-26s Go heap: HeapAlloc %6.1f MiB (live and not yet collected), HeapInuse %6.1f MiB, idle not returned to the kernel %6.1f MiB, Sys %6.1f MiB, NumGC %d\n",
		"", float64(stats["HeapAlloc"])/mib, float64(stats["HeapInuse"])/mib,
		float64(stats["HeapIdle"]-stats["HeapReleased"])/mib, float64(stats["Sys"])/mib, stats["NumGC"])
}

// saveHeapProfile writes the broker's heap profile to path.
func saveHeapProfile(ctx context.Context, addr, path string) {
	body, err := httpGet(ctx, "http://"+addr+"/debug/pprof/heap")
	if err == nil {
		err = os.WriteFile(path, body, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "heap profile:", err)
	}
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
