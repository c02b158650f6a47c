package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// faultPartitions and faultRF are the shape of every fault test's topic.
	faultPartitions = 6
	faultRF         = 3
	// faultTimeout bounds each wait of a fault test: a broker's death is
	// seen once ZooKeeper expires its session (zookeeper.session.timeout.ms
	// 6000) and the controller acts on it.
	faultTimeout = 40 * time.Second
	// faultRate is the producer's records a second.
	faultRate = 200
)

// faultRun is one fault test: a ZooKeeper ensemble of its own, three
// brokers, one topic and a verifiable producer writing to it.
type faultRun struct {
	t     *testing.T
	start time.Time
	c     *Cluster
	topic string
	prod  *verifiableProducerProc
}

// startFault starts a 3-member ZooKeeper ensemble and three brokers on it
// with replica.lag.time.max.ms=3000 (so a stalled follower leaves the ISR
// quickly) and the extra server.properties lines.
func startFault(t *testing.T, extra ...string) *faultRun {
	t.Helper()
	start := time.Now()
	zk := zktest.StartEnsemble(t, 3)
	// The last broker stopped at the end of verify has nowhere to move its
	// leaderships: its controlled shutdown retries, by default 3 times 5s
	// apart. A shorter backoff keeps the cases short.
	props := append([]string{"replica.lag.time.max.ms=3000", "controlled.shutdown.retry.backoff.ms=1000"}, extra...)
	c := StartClusterOn(t, zk.Chroot(t), 3, props...)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// The debug lines of the harness's log tail are mostly requests;
		// show the broker's own story too.
		for _, b := range c.Brokers {
			data, _ := os.ReadFile(b.LogPath)
			var keep []string
			for _, l := range strings.Split(string(data), "\n") {
				if l != "" && !strings.Contains(l, "level=debug") && !strings.Contains(l, "expanding the ISR") && !strings.Contains(l, "refused the ISR change") {
					keep = append(keep, l)
				}
			}
			keep = keep[max(0, len(keep)-100):]
			t.Logf("broker %d's log without debug lines (last %d):\n%s", b.ID, len(keep), strings.Join(keep, "\n"))
		}
	})
	t.Logf("ensemble and brokers up in %v", time.Since(start).Round(time.Millisecond))
	return &faultRun{t: t, c: c, topic: "fault", start: time.Now()}
}

// createTopic creates the topic with 6 partitions, replication factor 3 and
// min.insync.replicas=2, placed by the controller or, when assign is not
// nil, by assign (partition -> replicas, the first the preferred leader),
// and waits until every partition has a leader and all 3 replicas in sync.
func (f *faultRun) createTopic(assign map[int32][]int32) {
	f.t.Helper()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = f.topic, faultPartitions, faultRF
	if assign != nil {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for p := range int32(faultPartitions) {
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = p, assign[p]
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		}
	}
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, cfg)
	f.c.createTopic(rt, faultTimeout)
	f.waitISR(f.c, 3, -1)
}

// partState is a partition's leader and ISR as Metadata reports them.
type partState struct {
	Leader int32
	ISR    []int32
}

// state asks c (a view of the live brokers) for the topic's partitions.
func (f *faultRun) state(c *Cluster) (map[int32]partState, error) {
	resp, err := c.Metadata(f.topic)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return nil, err
	}
	st := map[int32]partState{}
	for _, p := range resp.Topics[0].Partitions {
		isr := slices.Clone(p.ISR)
		slices.Sort(isr)
		st[p.Partition] = partState{Leader: p.Leader, ISR: isr}
	}
	if len(st) != faultPartitions {
		return nil, fmt.Errorf("%d partitions", len(st))
	}
	return st, nil
}

// waitState waits until cond holds of the topic's partitions, as c sees
// them, and returns them.
func (f *faultRun) waitState(c *Cluster, what string, cond func(map[int32]partState) bool) map[int32]partState {
	f.t.Helper()
	var last string
	var st map[int32]partState
	c.waitFor(faultTimeout, what, func() bool {
		var err error
		st, err = f.state(c)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%+v", st)
		return cond(st)
	}, &last)
	return st
}

// waitISR waits until every partition has a live leader and an ISR of n
// replicas, none of them broker without (-1: no exclusion).
func (f *faultRun) waitISR(c *Cluster, n int, without int32) map[int32]partState {
	f.t.Helper()
	return f.waitState(c, fmt.Sprintf("ISR of %d replicas (without %d) in every partition", n, without), func(st map[int32]partState) bool {
		for _, p := range st {
			if p.Leader < 0 || p.Leader == without || len(p.ISR) != n || slices.Contains(p.ISR, without) {
				return false
			}
		}
		return true
	})
}

// verifiableProducerProc is `gregor verifiable-producer` as a child
// process, its JSON events collected as they come.
type verifiableProducerProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed once stdout is drained and the process waited for
	err  error         // the process's exit, once done is closed

	mu       sync.Mutex
	acks     []producerEvent
	errs     []producerEvent
	shutdown bool
	stderr   bytes.Buffer
}

// producerEvent is one line of the tool's output; At is when the test read
// it.
type producerEvent struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Exception string `json:"exception"`
	Message   string `json:"message"`
	At        time.Time
}

// startProducer runs the verifiable producer at faultRate records a second
// with acks=all and idempotence. retries and backoff bound how long sarama
// retries a record before it reports producer_send_error.
func (f *faultRun) startProducer(retries int, backoff time.Duration) {
	f.t.Helper()
	cfgPath := filepath.Join(f.t.TempDir(), "producer.properties")
	cfg := fmt.Sprintf("acks=all\nenable.idempotence=true\nretries=%d\nretry.backoff.ms=%d\nlinger.ms=5\nrequest.timeout.ms=10000\n",
		retries, backoff.Milliseconds())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(gregorBinary(f.t), "verifiable-producer",
		"--bootstrap-server", strings.Join(f.c.Seeds(), ","), "--topic", f.topic,
		"--throughput", fmt.Sprint(faultRate), "--producer.config", cfgPath)
	p := &verifiableProducerProc{t: f.t, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	setProcAttr(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e producerEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue
			}
			e.At = time.Now()
			p.mu.Lock()
			switch e.Name {
			case "producer_send_success":
				p.acks = append(p.acks, e)
			case "producer_send_error":
				p.errs = append(p.errs, e)
			case "shutdown_complete":
				p.shutdown = true
			}
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.done)
	}()
	f.prod = p
	f.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	f.waitAcks(f.c, 20)
}

// lockedWriter serialises writes to w with mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// counts returns how many records were acknowledged and failed so far.
func (p *verifiableProducerProc) counts() (acks, errs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks), len(p.errs)
}

// waitAcks waits until the producer has had n more records acknowledged
// (c's waits check that its brokers are alive).
func (f *faultRun) waitAcks(c *Cluster, n int) {
	f.t.Helper()
	from, _ := f.prod.counts()
	var last string
	c.waitFor(faultTimeout, fmt.Sprintf("%d more acknowledged records", n), func() bool {
		a, e := f.prod.counts()
		last = fmt.Sprintf("%d acknowledged (%d before), %d failed", a, from, e)
		return a >= from+n
	}, &last)
}

// stopProducer stops the producer with SIGTERM and waits for it to answer
// every record in flight and exit 0.
func (f *faultRun) stopProducer() {
	f.t.Helper()
	p := f.prod
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(faultTimeout):
		f.t.Fatalf("verifiable-producer did not exit within %v of SIGTERM", faultTimeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || !p.shutdown {
		f.t.Fatalf("verifiable-producer: exit %v, shutdown_complete printed: %v; stderr:\n%s", p.err, p.shutdown, p.stderr.String())
	}
	f.t.Logf("verifiable-producer: %d acknowledged, %d failed", len(p.acks), len(p.errs))
}

// verify is the end of every fault test. It stops the producer, waits until
// every replica is back in sync, and checks that
//   - each partition's log holds offsets 0..HW-1 with no gap;
//   - every acknowledged record is there, at the offset it was
//     acknowledged at, and no value is in the topic twice (idempotence:
//     retries wrote nothing twice);
//   - the three replicas of each partition hold byte-identical batches
//     below the high watermark: the brokers are stopped cleanly and their
//     segment files read with logstore.ScanBatches.
func (f *faultRun) verify() {
	f.t.Helper()
	f.t.Logf("faults done after %v", time.Since(f.start).Round(time.Millisecond))
	f.stopProducer()
	f.waitISR(f.c, 3, -1)
	hw := f.c.endOffsets(f.topic, faultPartitions) // the high watermarks
	recs := f.consumeTo(hw)
	f.t.Logf("in sync and consumed %v after the faults", time.Since(f.start).Round(time.Millisecond))

	where := map[string]string{}
	for p, rs := range recs {
		for i, r := range rs {
			if r.Offset != int64(i) {
				f.t.Fatalf("partition %d: record %d has offset %d: a gap", p, i, r.Offset)
			}
			at := fmt.Sprintf("%d/%d", p, r.Offset)
			if prev, ok := where[string(r.Value)]; ok {
				f.t.Fatalf("value %q is in the topic twice: at %s and %s", r.Value, prev, at)
			}
			where[string(r.Value)] = at
		}
	}
	p := f.prod
	p.mu.Lock()
	acks, errs := slices.Clone(p.acks), len(p.errs)
	p.mu.Unlock()
	ackedValues := map[string]bool{}
	for _, a := range acks {
		if ackedValues[a.Value] {
			f.t.Fatalf("value %q acknowledged twice", a.Value)
		}
		ackedValues[a.Value] = true
		rs := recs[a.Partition]
		if a.Offset < 0 || a.Offset >= int64(len(rs)) {
			f.t.Fatalf("value %q acknowledged at %d/%d is not in the log (high watermark %d)", a.Value, a.Partition, a.Offset, hw[a.Partition])
		}
		if got := string(rs[a.Offset].Value); got != a.Value {
			f.t.Fatalf("value %q acknowledged at %d/%d, but the log holds %q there", a.Value, a.Partition, a.Offset, got)
		}
	}
	unacked := len(where) - len(acks)
	kinds := map[string]int{}
	p.mu.Lock()
	for _, e := range p.errs {
		kinds[strings.TrimPrefix(e.Exception, "class org.apache.kafka.common.")+": "+e.Message]++
	}
	p.mu.Unlock()
	if len(kinds) > 0 {
		f.t.Logf("send errors: %v", kinds)
	}
	f.t.Logf("%d records acknowledged, %d failed, %d in the log without an acknowledgement; high watermarks %v", len(acks), errs, unacked, hw)

	// Stop the brokers cleanly so that their segment files are complete,
	// then compare the replicas.
	stopAt := time.Now()
	var wg sync.WaitGroup
	for _, b := range f.c.Brokers {
		wg.Add(1)
		go func() { defer wg.Done(); b.Stop() }()
	}
	wg.Wait()
	f.t.Logf("brokers stopped in %v", time.Since(stopAt).Round(time.Millisecond))
	for part := range int32(faultPartitions) {
		var ref []byte
		var refID int32
		for _, b := range f.c.Brokers {
			got := replicaBatches(f.t, b, f.topic, part, hw[part])
			if ref == nil {
				ref, refID = got, b.ID
				continue
			}
			if !bytes.Equal(ref, got) {
				f.t.Fatalf("partition %d: broker %d's batches below the high watermark %d (%d bytes) differ from broker %d's (%d bytes), first at byte %d",
					part, b.ID, hw[part], len(got), refID, len(ref), firstDiff(ref, got))
			}
		}
	}
}

// firstDiff is the index of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// consumeTo reads every partition from offset 0 up to hw with franz-go.
func (f *faultRun) consumeTo(hw map[int32]int64) map[int32][]*kgo.Record {
	f.t.Helper()
	parts := map[int32]kgo.Offset{}
	for p := range hw {
		parts[p] = kgo.NewOffset().At(0)
	}
	cl := f.c.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{f.topic: parts}), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), faultTimeout)
	defer cancel()
	got := map[int32][]*kgo.Record{}
	done := func() bool {
		for p, h := range hw {
			if int64(len(got[p])) < h {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			counts := map[int32]int{}
			for p, rs := range got {
				counts[p] = len(rs)
			}
			f.t.Fatalf("consuming %s: got %v records per partition after %v, high watermarks %v", f.topic, counts, faultTimeout, hw)
		}
		fs.EachError(func(topic string, p int32, err error) {
			f.t.Logf("consuming %s: partition %d: %v", topic, p, err)
		})
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.HighWatermark != hw[p.Partition] {
				f.t.Fatalf("partition %d: fetch reports high watermark %d, ListOffsets %d, with the producer stopped", p.Partition, p.HighWatermark, hw[p.Partition])
			}
			got[p.Partition] = append(got[p.Partition], p.Records...)
		})
	}
	for p, h := range hw {
		if int64(len(got[p])) != h {
			f.t.Fatalf("partition %d: %d records consumed, high watermark %d", p, len(got[p]), h)
		}
	}
	return got
}

// replicaBatches returns the batches of b's replica of topic-part that
// start below hw, read from its segment files in offset order (the broker
// must be stopped). It fails the test unless they run from offset 0 to
// exactly hw without a gap: an in-sync replica holds everything below the
// high watermark, and batch boundaries are the same on every replica.
func replicaBatches(t *testing.T, b *Broker, topic string, part int32, hw int64) []byte {
	t.Helper()
	dir := filepath.Join(b.Dir, "logs", fmt.Sprintf("%s-%d", topic, part))
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("broker %d: no segments in %s (%v)", b.ID, dir, err)
	}
	slices.Sort(segs) // the names are 20-digit base offsets
	var out []byte
	next := int64(0)
	for _, seg := range segs {
		fh, err := os.Open(seg)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := fh.Stat()
		if err != nil {
			t.Fatal(err)
		}
		var perr error
		err = logstore.ScanBatches(fh, fi.Size(), func(_ int64, batch []byte) bool {
			h, err := logstore.ParseBatchHeader(batch)
			if err != nil {
				perr = err
				return false
			}
			if h.BaseOffset >= hw {
				return false
			}
			if h.BaseOffset != next {
				perr = fmt.Errorf("batch at offset %d after offset %d", h.BaseOffset, next-1)
				return false
			}
			out = append(out, batch...)
			next = h.NextOffset()
			return true
		})
		fh.Close()
		if err == nil {
			err = perr
		}
		if err != nil {
			t.Fatalf("broker %d: %s: %v", b.ID, seg, err)
		}
	}
	if next != hw {
		t.Fatalf("broker %d: partition %d's batches below the high watermark %d end at offset %d", b.ID, part, hw, next)
	}
	return out
}

// diskLogEnd is the offset after the last whole batch of b's replica of
// topic-part, read from its segment files. b may be running: a batch being
// written at that moment is not counted.
func diskLogEnd(t *testing.T, b *Broker, topic string, part int32) int64 {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(b.Dir, "logs", fmt.Sprintf("%s-%d", topic, part), "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(segs)
	end := int64(0)
	for _, seg := range segs {
		fh, err := os.Open(seg)
		if err != nil {
			continue // removed by a roll or retention meanwhile
		}
		if fi, err := fh.Stat(); err == nil {
			// A torn last batch ends the scan with an error: the end of the
			// batch before it is what counts.
			_ = logstore.ScanBatches(fh, fi.Size(), func(_ int64, batch []byte) bool {
				if h, err := logstore.ParseBatchHeader(batch); err == nil {
					end = max(end, h.NextOffset())
				}
				return true
			})
		}
		fh.Close()
	}
	return end
}
