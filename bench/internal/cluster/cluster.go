// Package cluster runs Gregor brokers as child processes for the
// benchmarks in bench/cmd: it builds the gregor binary from the source
// tree, writes each broker's server.properties, starts, kills and stops
// brokers by PID, polls them with deadlines through Metadata requests,
// creates topics, and summarises the durations it measures.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Binary returns the gregor binary to run: bin if it is not empty, else
// one built from the module at src (go build ./cmd/gregor, without the
// race detector) into dir.
func Binary(ctx context.Context, bin, src, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "gregor")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gregor")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gregor in %s: %v\n%s", src, err, out)
	}
	return bin, nil
}

// Broker is one gregor broker, run as a child process; it can be killed
// and started again on the same port and directory.
type Broker struct {
	ID        int32
	Addr      string // host:port of its PLAINTEXT listener
	LogPath   string // its stdout and stderr, appended to on every start
	bin       string
	dir       string
	propsPath string

	cmd    *exec.Cmd     // nil before the first start
	done   chan struct{} // closed once cmd has been waited for
	err    error         // cmd.Wait's result, once done is closed
	killed bool          // Kill stopped the current process
}

// NewBroker prepares broker id in dir (created if missing): it picks a
// free loopback port and writes server.properties with broker.id,
// listeners, log.dirs (dir/logs), zookeeper.connect,
// replica.fetch.backoff.ms=100 and then the extra key=value lines props.
// It does not start the broker.
//
// The backoff: the controller sends LeaderAndIsr for a new topic to the
// leader and its followers at once, so a follower often asks the leader
// before the leader has heard it leads, gets UNKNOWN_TOPIC_OR_PARTITION
// and waits out replica.fetch.backoff.ms, as Kafka's fetcher does. With
// Kafka's default of 1 s, acks=all on a topic created a moment earlier
// stalls for a second, which a run of a few seconds measures as a large
// part of its time. Every run here starts on a new topic, so the brokers
// retry after 100 ms: the figures are those of a cluster in its steady
// state, not of its first second.
func NewBroker(bin, dir string, id int32, zkConnect string, props ...string) (*Broker, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	lines := append([]string{
		"broker.id=" + strconv.Itoa(int(id)),
		"listeners=PLAINTEXT://" + addr,
		"log.dirs=" + filepath.Join(dir, "logs"),
		"zookeeper.connect=" + zkConnect,
		"replica.fetch.backoff.ms=100",
	}, props...)
	b := &Broker{ID: id, Addr: addr, bin: bin, dir: dir,
		propsPath: filepath.Join(dir, "server.properties"), LogPath: filepath.Join(dir, "broker.log")}
	if err := os.WriteFile(b.propsPath, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return b, nil
}

// Start runs the broker, appending to its log file.
func (b *Broker) Start() error {
	logf, err := os.OpenFile(b.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(b.bin, "server", "start", b.propsPath, "--log-level", logLevel())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = b.dir
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting broker %d: %w", b.ID, err)
	}
	done := make(chan struct{})
	b.cmd, b.done, b.killed = cmd, done, false
	go func() {
		b.err = cmd.Wait()
		close(done)
	}()
	return nil
}

// Running reports whether the broker's process has not exited.
func (b *Broker) Running() bool {
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

// Kill sends SIGKILL to the broker's PID and waits for it to exit.
func (b *Broker) Kill() error {
	if !b.Running() {
		return fmt.Errorf("broker %d is not running: %v", b.ID, b.err)
	}
	if err := syscall.Kill(b.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill -9 broker %d: %w", b.ID, err)
	}
	b.killed = true
	<-b.done
	return nil
}

// Stop sends SIGTERM to the broker's PID and waits for it to exit,
// sending SIGKILL after 30 s. It reports an unclean exit, and a broker
// that had exited by itself. A broker that was never started, or stopped
// by Kill and not started again, is no error.
func (b *Broker) Stop() error {
	if b.cmd == nil {
		return nil
	}
	select {
	case <-b.done:
		if !b.killed {
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

// Cluster is a set of brokers of one cluster, indexed by broker id - 1 by
// convention of its users.
type Cluster []*Broker

// Addrs returns the brokers' addresses.
func (c Cluster) Addrs() []string {
	var a []string
	for _, b := range c {
		a = append(a, b.Addr)
	}
	return a
}

// Client returns a client seeded with every broker of c.
func (c Cluster) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...)
}

// Stop stops the brokers together (each controlled shutdown waits on the
// controller, so one at a time would add up) and joins their errors.
func (c Cluster) Stop() error {
	errs := make([]error, len(c))
	var wg sync.WaitGroup
	for i, b := range c {
		wg.Go(func() { errs[i] = b.Stop() })
	}
	wg.Wait()
	for i, b := range c {
		if errs[i] != nil {
			errs[i] = fmt.Errorf("broker %d: %w", b.ID, errs[i])
		}
	}
	return errors.Join(errs...)
}

// Poll runs cond every 50 ms, each time with a context of at most 5 s,
// until it returns true, ctx ends or timeout passes. It gives up early
// if one of the brokers in watch, which must be running, exits. The
// string cond returns describes what it saw, for the error.
func Poll(ctx context.Context, timeout time.Duration, what string, watch Cluster, cond func(ctx context.Context) (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, b := range watch {
			if !b.Running() {
				return fmt.Errorf("waiting for %s: broker %d exited: %v", what, b.ID, b.err)
			}
		}
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

// Metadata asks broker b alone for the brokers and, if topic is not
// empty, that topic.
func Metadata(ctx context.Context, b *Broker, topic string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr))
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

// WaitBrokers waits until broker via lists exactly n live brokers, with a
// controller, none of which is the broker with id absent (0: none). It
// gives up if via exits.
func WaitBrokers(ctx context.Context, via *Broker, n int, absent int32) error {
	what := fmt.Sprintf("%d live brokers", n)
	if absent != 0 {
		what += fmt.Sprintf(" without broker %d", absent)
	}
	return Poll(ctx, 60*time.Second, what, Cluster{via}, func(ctx context.Context) (bool, string) {
		resp, err := Metadata(ctx, via, "")
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

// CreateTopic creates topic with replication factor rf (and
// min.insync.replicas minIsr unless empty) and waits until every broker
// of c sees every partition with a leader and a full ISR. A topic that
// already exists is no error. It gives up if a broker of c exits.
func (c Cluster) CreateTopic(ctx context.Context, topic string, partitions int32, rf int16, minIsr string) error {
	cl, err := c.Client()
	if err != nil {
		return err
	}
	defer cl.Close()
	err = Poll(ctx, 30*time.Second, "topic "+topic+" created", c, func(ctx context.Context) (bool, string) {
		req := CreateTopicRequest(topic, partitions, rf, minIsr)
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
	return Poll(ctx, 30*time.Second, "topic "+topic+" online", c, func(ctx context.Context) (bool, string) {
		for _, b := range c {
			resp, err := Metadata(ctx, b, topic)
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", b.ID, err)
			}
			if len(resp.Topics) != 1 {
				return false, fmt.Sprintf("broker %d: %d topics", b.ID, len(resp.Topics))
			}
			ready := 0
			for _, p := range resp.Topics[0].Partitions {
				if p.ErrorCode == 0 && p.Leader >= 0 && len(p.ISR) == int(rf) {
					ready++
				}
			}
			if int32(ready) != partitions {
				return false, fmt.Sprintf("broker %d: %d of %d partitions led with a full ISR", b.ID, ready, partitions)
			}
		}
		return true, ""
	})
}

// Produce produces records records of size bytes (the same pseudo-random
// value, no key) with cl to its default topic, as fast as cl takes them,
// and returns the time from the first Produce call until every record is
// acknowledged, and each record's latency from its Produce call to its
// promise. It returns the first error a record failed with.
func Produce(ctx context.Context, cl *kgo.Client, records, size int) (elapsed time.Duration, latency []time.Duration, err error) {
	value := make([]byte, size)
	rng := rand.NewChaCha8([32]byte{})
	rng.Read(value)

	latency = make([]time.Duration, records)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	wg.Add(records)
	start := time.Now()
	for i := range records {
		t0 := time.Now()
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			latency[i] = time.Since(t0)
			if err != nil {
				errOnce.Do(func() { firstErr = err })
			}
			wg.Done()
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	if firstErr != nil {
		return elapsed, latency, fmt.Errorf("produce: %w", firstErr)
	}
	return elapsed, latency, nil
}

// Pct returns the p-th percentile of ds (nearest rank), sorting ds,
// rounded to 10 µs.
func Pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := (len(ds)*p+99)/100 - 1
	return ds[max(i, 0)].Round(10 * time.Microsecond)
}

// Median returns the median of ds (the mean of the middle two for an even
// count), sorting ds.
func Median(ds []time.Duration) time.Duration {
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

// Tail returns the last n lines of the file at path.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// handedOut holds the addresses FreeAddr returned, so that it never
// returns one twice: the kernel may give a port just closed to the next
// Listen on port 0, and two brokers prepared before either starts would
// then share it.
var handedOut sync.Map

// FreeAddr returns a loopback host:port that was free a moment ago and
// that it has not returned before, for a broker's listener or an extra
// one (gregor.pprof.listener).
func FreeAddr() (string, error) {
	var held []net.Listener // ports seen before, kept open to get others
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		if _, seen := handedOut.LoadOrStore(addr, true); seen {
			held = append(held, l)
			continue
		}
		l.Close()
		return addr, nil
	}
	return "", errors.New("no loopback port not handed out before in 100 tries")
}

// PID returns the process id of the broker's current process, 0 if it
// was never started.
func (b *Broker) PID() int {
	if b.cmd == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// SetProcAttr gives cmd what a broker gets (its own process group, and on
// Linux death with this program), for the other servers the benchmarks
// start.
func SetProcAttr(cmd *exec.Cmd) { setProcAttr(cmd) }

// logLevel is the brokers' --log-level: GREGOR_BENCH_LOG_LEVEL, or info.
func logLevel() string {
	if l := os.Getenv("GREGOR_BENCH_LOG_LEVEL"); l != "" {
		return l
	}
	return "info"
}

// Start prepares brokers 1..n in dir/broker<id> on zkConnect with the extra
// server.properties lines props, starts them, and waits until the first
// lists all n. On an error it stops what it started.
func Start(ctx context.Context, bin, dir, zkConnect string, n int, props ...string) (Cluster, error) {
	c := make(Cluster, 0, n)
	for id := 1; id <= n; id++ {
		b, err := NewBroker(bin, filepath.Join(dir, "broker"+strconv.Itoa(id)), int32(id), zkConnect, props...)
		if err != nil {
			return nil, errors.Join(err, c.Stop())
		}
		c = append(c, b)
		if err := b.Start(); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
	}
	if err := WaitBrokers(ctx, c[0], n, 0); err != nil {
		return nil, c.StopWithTails(err)
	}
	return c, nil
}

// StopWithTails stops every broker of c and returns err joined with what
// stopping them returned; when the result is an error, the last lines of
// each broker's log are added to it. Commands defer it over their error.
func (c Cluster) StopWithTails(err error) error {
	err = errors.Join(err, c.Stop())
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, c.Tails(15))
	}
	return err
}

// Tails returns the last n lines of each broker's log, headed by its path.
func (c Cluster) Tails(n int) string {
	var sb strings.Builder
	for _, b := range c {
		fmt.Fprintf(&sb, "last lines of %s:\n%s\n", b.LogPath, Tail(b.LogPath, n))
	}
	return sb.String()
}

// CreateTopicRequest is a CreateTopics request for topic with replication
// factor rf and, unless minIsr is empty, min.insync.replicas minIsr.
func CreateTopicRequest(topic string, partitions int32, rf int16, minIsr string) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	if minIsr != "" {
		rc := kmsg.NewCreateTopicsRequestTopicConfig()
		rc.Name, rc.Value = "min.insync.replicas", kmsg.StringPtr(minIsr)
		rt.Configs = append(rt.Configs, rc)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	return req
}
