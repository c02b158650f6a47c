// Command suite is Gregor's side-by-side benchmark: in one run it drives
// Gregor and kfake (github.com/twmb/franz-go/pkg/kfake, an in-memory fake
// Kafka cluster, run as a child process by cmd/kfake-server) with the
// same franz-go workloads, and prints one table of Gregor's figure,
// kfake's figure and their ratio for each row, then whether each target
// of the performance issue holds.
//
// It starts, one after the other: ZooKeeper (internal/zktest) and one
// Gregor broker; a one-broker kfake; three Gregor brokers on the same
// ZooKeeper (another chroot); a three-broker kfake. Gregor is built from
// the source tree without the race detector. On each it runs, with
// topics of -partitions partitions:
//
//   - produce -records records of 100 B and of 1 KiB (random bytes, no
//     key, idempotence off, no compression, linger -linger, at most
//     -max-buffered records buffered), RF 1, acks=1 and acks=all:
//     records/s, MB/s (10^6 bytes of values), and each record's latency
//     from its Produce call to its promise, p50/p99/p99.9;
//   - consume the acks=1 topic of each size from the start: records/s, MB/s;
//   - end to end: -e2e-size records at -e2e-rate records/s for
//     -e2e-duration (linger 0), the send time in the value, read by a
//     consumer in the same process: latency p50/p99/p99.9;
//   - on the three-broker clusters: the same with RF 3,
//     min.insync.replicas 2 and acks=all, plus RF 1 acks=1 produce on
//     the same cluster, for the ratio of the two.
//
// kfake keeps every partition in memory, has no followers, and answers
// acks=all like acks=1, so its three-broker figures are those of the same
// single event loop behind three listeners: the side-by-side there shows
// what replication costs Gregor, not a like-for-like peer.
//
// For each case it charges each system's processes their CPU time (utime
// + stime from /proc/<pid>/stat, the difference over the case) and their
// peak RSS (VmHWM from /proc/<pid>/status, reset at the case's start by
// writing 5 to /proc/<pid>/clear_refs). ZooKeeper is not counted.
//
// Every wait is bounded, -timeout bounds the whole run, every process is
// stopped by PID (SIGTERM, SIGKILL after 30 s) and the scratch directory
// removed unless -keep. The table is also written as JSON to -json. Run
// it from the bench module:
//
//	cd bench && go run ./cmd/suite -src .. -json ../bin/bench-suite.json
//
// -quick runs it small, as a smoke test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
)

type config struct {
	records     int
	sizes       []int
	partitions  int
	linger      time.Duration
	maxBuffered int
	e2eRate     int
	e2eDuration time.Duration
	e2eSize     int
	cluster.Source
	kfake       string
	timeout     time.Duration
	caseTimeout time.Duration
	json        string
	command     string // how the suite was run, for the JSON
}

func main() {
	var cfg config
	var quick bool
	flag.IntVar(&cfg.records, "records", 2_000_000, "records produced per produce case")
	flag.IntVar(&cfg.partitions, "partitions", 6, "partitions of every topic")
	flag.DurationVar(&cfg.linger, "linger", time.Millisecond, "producer linger of the throughput cases (kgo.ProducerLinger)")
	flag.IntVar(&cfg.maxBuffered, "max-buffered", 10_000, "records the producer buffers before Produce blocks (kgo.MaxBufferedRecords)")
	flag.IntVar(&cfg.e2eRate, "e2e-rate", 10_000, "records per second of the end-to-end cases")
	flag.DurationVar(&cfg.e2eDuration, "e2e-duration", 10*time.Second, "how long the end-to-end cases send")
	flag.IntVar(&cfg.e2eSize, "e2e-size", 100, "bytes of each end-to-end record's value (at least 9)")
	cfg.Source.RegisterFlags()
	flag.StringVar(&cfg.kfake, "kfake", "", "a kfake-server binary to run instead of building ./cmd/kfake-server")
	flag.DurationVar(&cfg.timeout, "timeout", time.Hour, "give up (and stop everything) after this long")
	flag.DurationVar(&cfg.caseTimeout, "case-timeout", 10*time.Minute, "give up on one case after this long")
	flag.StringVar(&cfg.json, "json", "suite-results.json", "write the table as JSON to this file (empty: do not)")
	flag.BoolVar(&quick, "quick", false, "a smoke test: 5,000 records and 1 s of end-to-end unless -records or -e2e-duration are given")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if quick && !set["records"] {
		cfg.records = 5000
	}
	if quick && !set["e2e-duration"] {
		cfg.e2eDuration = time.Second
	}
	cfg.sizes = []int{100, 1024}
	cfg.command = strings.Join(os.Args, " ")
	if cfg.records <= 0 || cfg.partitions <= 0 || cfg.maxBuffered <= 0 || cfg.e2eRate <= 0 || cfg.e2eDuration <= 0 {
		fmt.Fprintln(os.Stderr, "suite: -records, -partitions, -max-buffered, -e2e-rate and -e2e-duration must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	res, err := run(ctx, cfg)
	if res != nil {
		res.evaluate(cfg)
		res.print(os.Stdout)
		if cfg.json != "" {
			if werr := res.writeJSON(cfg.json); werr != nil {
				err = errors.Join(err, werr)
			} else {
				fmt.Println("JSON written to", cfg.json)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		os.Exit(1)
	}
}

// step is one case of the suite, run on both systems.
type step struct {
	name   string // row label, e.g. "RF1 acks=1 100 B produce"
	kind   string // "produce", "consume" or "e2e"
	size   int
	rf     int16
	minIsr string
	acks   string
	topic  string
	create bool // create topic before the case
	delete bool // delete topic after the case
}

// plan lists the cases on a cluster of n brokers.
func plan(cfg config, n int) []step {
	var s []step
	sz := sizeLabel
	prefix := fmt.Sprintf("%d broker", n)
	if n > 1 {
		prefix += "s"
	}
	for _, size := range cfg.sizes {
		if n == 1 {
			t1 := fmt.Sprintf("rf1-acks1-%d", size)
			tall := fmt.Sprintf("rf1-acksall-%d", size)
			s = append(s,
				step{name: fmt.Sprintf("%s, RF 1, acks=1, %s: produce", prefix, sz(size)), kind: "produce", size: size, rf: 1, acks: "1", topic: t1, create: true},
				step{name: fmt.Sprintf("%s, RF 1, %s: consume", prefix, sz(size)), kind: "consume", size: size, topic: t1, delete: true},
				step{name: fmt.Sprintf("%s, RF 1, acks=all, %s: produce", prefix, sz(size)), kind: "produce", size: size, rf: 1, acks: "all", topic: tall, create: true, delete: true},
			)
		} else {
			t1 := fmt.Sprintf("rf1-acks1-%d", size)
			t3 := fmt.Sprintf("rf3-acksall-%d", size)
			s = append(s,
				step{name: fmt.Sprintf("%s, RF 1, acks=1, %s: produce", prefix, sz(size)), kind: "produce", size: size, rf: 1, acks: "1", topic: t1, create: true, delete: true},
				step{name: fmt.Sprintf("%s, RF 3, min.insync 2, acks=all, %s: produce", prefix, sz(size)), kind: "produce", size: size, rf: 3, minIsr: "2", acks: "all", topic: t3, create: true},
				step{name: fmt.Sprintf("%s, RF 3, %s: consume", prefix, sz(size)), kind: "consume", size: size, topic: t3, delete: true},
			)
		}
	}
	if n == 1 {
		s = append(s, step{name: fmt.Sprintf("%s, RF 1, acks=1, %s at %d/s: end to end", prefix, sz(cfg.e2eSize), cfg.e2eRate), kind: "e2e", size: cfg.e2eSize, rf: 1, acks: "1", topic: "e2e-rf1", create: true, delete: true})
	} else {
		s = append(s, step{name: fmt.Sprintf("%s, RF 3, min.insync 2, acks=all, %s at %d/s: end to end", prefix, sz(cfg.e2eSize), cfg.e2eRate), kind: "e2e", size: cfg.e2eSize, rf: 3, minIsr: "2", acks: "all", topic: "e2e-rf3", create: true, delete: true})
	}
	return s
}

func run(ctx context.Context, cfg config) (res *results, err error) {
	env, err := cfg.Setup(ctx, "gregor-suite-")
	if err != nil {
		return nil, err
	}
	defer env.Close()
	kbin, err := kfakeBinary(ctx, cfg.kfake, env.Dir)
	if err != nil {
		return nil, err
	}
	res = newResults(cfg)
	for _, n := range []int{1, 3} {
		steps := plan(cfg, n)
		for _, name := range []string{"gregor", "kfake"} {
			dir := filepath.Join(env.Dir, fmt.Sprintf("%s-%d", name, n))
			var s *system
			if name == "gregor" {
				s, err = startGregor(ctx, env.Bin, dir, fmt.Sprintf("%s-%d", env.ZKConnect, n), n)
			} else {
				s, err = startKfake(ctx, kbin, dir, n)
			}
			if err != nil {
				return res, fmt.Errorf("starting %s with %d brokers: %w", name, n, err)
			}
			err = runSteps(ctx, cfg, s, steps, res)
			if serr := s.stop(); serr != nil {
				err = errors.Join(err, fmt.Errorf("stopping %s: %w", name, serr))
			}
			if err != nil {
				return res, fmt.Errorf("%s with %d brokers: %w\n%s", name, n, err, s.logs())
			}
		}
		if n == 1 {
			if err := runZeroCopy(ctx, cfg, env.Bin, env.Dir, env.ZKConnect, zeroCopySize, res); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// zeroCopySize is the record size of the zero-copy comparison: the
// larger one, where the bytes moved, not the records, cost the CPU.
const zeroCopySize = 1024

func runSteps(ctx context.Context, cfg config, s *system, steps []step, res *results) error {
	for _, st := range steps {
		fmt.Fprintf(os.Stderr, "%s: %s\n", s.name, st.name)
		if st.create {
			if err := s.create(ctx, st.topic, int32(cfg.partitions), st.rf, st.minIsr); err != nil {
				return err
			}
		}
		cctx, cancel := context.WithTimeout(ctx, cfg.caseTimeout)
		var (
			p produceResult
			c time.Duration
			e e2eResult
			n = cfg.records
		)
		u, err := s.measure(func() error {
			var err error
			switch st.kind {
			case "produce":
				p, err = produce(cctx, cfg, s.addrs, st.topic, st.acks, st.size)
			case "consume":
				c, err = consume(cctx, s.addrs, st.topic, cfg.partitions, n, st.size)
			case "e2e":
				e, err = endToEnd(cctx, cfg, s.addrs, st.topic, st.acks, cfg.partitions)
			}
			return err
		})
		cancel()
		if err == nil {
			err = s.alive()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		mb := float64(n) * float64(st.size) / 1e6
		switch st.kind {
		case "produce":
			res.add(st.name, "records/s", s.name, float64(n)/p.elapsed.Seconds(), higher)
			res.add(st.name, "MB/s", s.name, mb/p.elapsed.Seconds(), higher)
			for _, q := range []float64{50, 99, 99.9} {
				res.add(st.name, fmt.Sprintf("ack latency p%g, ms", q), s.name, ms(pct(p.latency, q)), lower)
			}
		case "consume":
			res.add(st.name, "records/s", s.name, float64(n)/c.Seconds(), higher)
			res.add(st.name, "MB/s", s.name, mb/c.Seconds(), higher)
		case "e2e":
			res.add(st.name, "records/s sent", s.name, e.sentRate, higher)
			for _, q := range []float64{50, 99, 99.9} {
				res.add(st.name, fmt.Sprintf("latency p%g, ms", q), s.name, ms(pct(e.latency, q)), lower)
			}
		}
		res.add(st.name, "broker CPU s", s.name, u.CPUSeconds, lower)
		res.add(st.name, "broker peak RSS, MiB", s.name, u.PeakRSSMiB, lower)
		res.usage = append(res.usage, caseUsage{Case: st.name, System: s.name, Usage: u})
		if st.delete {
			if err := deleteTopic(ctx, s.addrs, st.topic); err != nil {
				return err
			}
		}
	}
	return nil
}

// sizeLabel names a record size in the table: "100 B", "1 KiB".
func sizeLabel(size int) string {
	if size%1024 == 0 {
		return fmt.Sprintf("%d KiB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
