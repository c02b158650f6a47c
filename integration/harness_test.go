package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// startTimeout bounds a broker's start, from exec to being listed in
	// Metadata (the binary is built with -race, so it starts slower).
	startTimeout = 60 * time.Second
	// stopTimeout bounds a SIGTERM'd broker's shutdown before SIGKILL.
	stopTimeout = 20 * time.Second
	// pollInterval is how often the waits below poll.
	pollInterval = 50 * time.Millisecond
)

// buildDir holds the gregor binary, built once per run by gregorBinary and
// removed by TestMain.
var (
	buildDir  string
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	maybeRunMember() // the test binary re-executed as a group member
	dir, err := os.MkdirTemp("", "gregor-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := zktest.RunMain(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

// gregorBinary builds ./cmd/gregor with the race detector on first use, so
// that every `make test` runs the broker with -race at least once, and
// returns its path.
func gregorBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildPath = filepath.Join(buildDir, "gregor")
		cmd := exec.Command("go", "build", "-race", "-o", buildPath, "./cmd/gregor")
		cmd.Dir = ".." // the module root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build -race ./cmd/gregor: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Broker is one gregor broker running as a child process.
type Broker struct {
	t       testing.TB
	ID      int32
	Addr    string // host:port of its PLAINTEXT listener
	Dir     string // holds server.properties, broker.log and logs/
	Props   string // the server.properties path
	LogPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	err  error         // cmd.Wait's result, once done is closed
}

// Cluster is a set of brokers sharing one ZooKeeper chroot.
type Cluster struct {
	t         testing.TB
	ZKConnect string
	Brokers   []*Broker
}

// freePort picks a loopback port that is free now, below Linux's ephemeral
// range (32768 and up), where the kernel never places the client side of
// a connection nor a listener on port 0: between this check and the broker
// binding the port, only another explicit bind could take it. Ports are
// drawn at random so that parallel test binaries rarely try the same one.
func freePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free loopback port between 20000 and 32000")
	return 0
}

// StartCluster starts n brokers (ids 1..n) as child processes on a chroot
// of the shared ZooKeeper, waits until Metadata lists all n, and stops them
// when t ends. extra server.properties lines apply to every broker.
func StartCluster(t testing.TB, n int, extra ...string) *Cluster {
	t.Helper()
	return StartClusterOn(t, zktest.Shared(t).Chroot(t), n, extra...)
}

// StartClusterOn is StartCluster on the ZooKeeper connect string zkConnect
// (with its chroot), e.g. that of an ensemble of the test's own.
func StartClusterOn(t testing.TB, zkConnect string, n int, extra ...string) *Cluster {
	t.Helper()
	c := &Cluster{t: t, ZKConnect: zkConnect}
	bin := gregorBinary(t)
	for id := int32(1); id <= int32(n); id++ {
		dir := t.TempDir()
		b := &Broker{
			t:       t,
			ID:      id,
			Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
			Dir:     dir,
			Props:   filepath.Join(dir, "server.properties"),
			LogPath: filepath.Join(dir, "broker.log"),
		}
		props := []string{
			fmt.Sprintf("broker.id=%d", id),
			"listeners=PLAINTEXT://" + b.Addr,
			"log.dirs=" + filepath.Join(dir, "logs"),
			"zookeeper.connect=" + c.ZKConnect,
			"zookeeper.session.timeout.ms=6000",
			"zookeeper.connection.timeout.ms=3000",
		}
		props = append(props, extra...)
		if err := os.WriteFile(b.Props, []byte(strings.Join(props, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		c.Brokers = append(c.Brokers, b)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, b := range c.Brokers {
				t.Logf("last lines of broker %d's log %s:\n%s", b.ID, b.LogPath, b.logTail(40))
			}
		}
		var wg sync.WaitGroup
		for _, b := range c.Brokers {
			wg.Add(1)
			go func() { defer wg.Done(); b.Stop() }()
		}
		wg.Wait()
	})
	for _, b := range c.Brokers {
		b.start(bin)
	}
	c.WaitBrokers(n)
	return c
}

// For returns c with its helpers reporting to t, a subtest of the test
// that started c (FailNow must run on the failing test's goroutine).
func (c *Cluster) For(t testing.TB) *Cluster {
	c2 := *c
	c2.t = t
	return &c2
}

// produceOpts are a producer's options for topic: franz-go's defaults
// (idempotent) with acks=all.
func (c *Cluster) produceOpts(topic string) []kgo.Opt {
	return []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks())}
}

// Seeds returns every broker's address.
func (c *Cluster) Seeds() []string {
	var s []string
	for _, b := range c.Brokers {
		s = append(s, b.Addr)
	}
	return s
}

// Client returns a franz-go client seeded with every broker, closed when
// the test ends.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Seeds()...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// WaitBrokers waits until Metadata, asked of any broker, lists n brokers
// and a controller.
func (c *Cluster) WaitBrokers(n int) {
	c.t.Helper()
	cl := c.Client()
	defer cl.Close()
	var last string
	c.waitFor(startTimeout, fmt.Sprintf("Metadata listing %d brokers", n), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			last = err.Error()
			return false
		}
		var ids []int
		for _, b := range resp.Brokers {
			ids = append(ids, int(b.NodeID))
		}
		sort.Ints(ids)
		last = fmt.Sprintf("brokers %v, controller %d", ids, resp.ControllerID)
		return len(resp.Brokers) == n && resp.ControllerID >= 0
	}, &last)
}

// waitFor polls cond every pollInterval until it holds, and fails the test
// after timeout, saying what it waited for and *last, the latest state seen.
// Each poll also checks that no broker has exited unexpectedly.
func (c *Cluster) waitFor(timeout time.Duration, what string, cond func() bool, last *string) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if cond() {
			return
		}
		for _, b := range c.Brokers {
			if err := b.exited(); err != nil {
				c.t.Fatalf("waiting for %s: broker %d exited: %v", what, b.ID, err)
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %s after %v; last seen: %s", what, timeout, *last)
		}
		<-tick.C
	}
}

// CreateTopic creates topic with replication factor 1 and waits until every
// partition has a leader.
func (c *Cluster) CreateTopic(topic string, partitions int32) {
	c.t.Helper()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, 1
	c.createTopic(rt, 30*time.Second)
	c.WaitOnline(topic, partitions)
}

// createTopic sends CreateTopics for rt until the topic is created or
// already exists, for at most timeout. Callers wait for what else they need
// (leaders, a full ISR).
func (c *Cluster) createTopic(rt kmsg.CreateTopicsRequestTopic, timeout time.Duration) {
	c.t.Helper()
	cl := c.Client()
	defer cl.Close()
	var last string
	c.waitFor(timeout, "topic "+rt.Topic+" created", func() bool {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 10000
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			last = err.Error()
			return false
		}
		code := resp.Topics[0].ErrorCode
		last = fmt.Sprint(kerr.ErrorForCode(code))
		return code == 0 || code == kerr.TopicAlreadyExists.Code
	}, &last)
}

// WaitOnline waits until Metadata shows a leader for each of topic's
// partitions and returns the leader of each.
func (c *Cluster) WaitOnline(topic string, partitions int32) map[int32]int32 {
	c.t.Helper()
	cl := c.Client()
	defer cl.Close()
	var last string
	leaders := map[int32]int32{}
	c.waitFor(30*time.Second, fmt.Sprintf("%d partitions of %s online", partitions, topic), func() bool {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			last = err.Error()
			return false
		}
		clear(leaders)
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			last = fmt.Sprintf("topics %+v", resp.Topics)
			return false
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode == 0 && p.Leader >= 0 {
				leaders[p.Partition] = p.Leader
			}
		}
		last = fmt.Sprintf("leaders %v", leaders)
		return int32(len(leaders)) == partitions
	}, &last)
	return leaders
}

// Broker returns the broker with id.
func (c *Cluster) Broker(id int32) *Broker {
	for _, b := range c.Brokers {
		if b.ID == id {
			return b
		}
	}
	c.t.Fatalf("no broker %d", id)
	return nil
}

// start runs the broker's process, its output appended to LogPath.
func (b *Broker) start(bin string) {
	b.t.Helper()
	logf, err := os.OpenFile(b.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "server", "start", b.Props, "--log-level", "debug")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = b.Dir
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("starting broker %d: %v", b.ID, err)
	}
	done := make(chan struct{})
	b.mu.Lock()
	b.cmd, b.done, b.err = cmd, done, nil
	b.mu.Unlock()
	go func() {
		err := cmd.Wait()
		b.mu.Lock()
		b.err = err
		b.mu.Unlock()
		close(done)
	}()
}

// Restart starts the broker again, with the same configuration and data,
// after Stop or Kill.
func (b *Broker) Restart() {
	b.t.Helper()
	b.mu.Lock()
	running := b.cmd != nil
	b.mu.Unlock()
	if running {
		b.t.Fatalf("broker %d is still running", b.ID)
	}
	b.start(gregorBinary(b.t))
}

// exited returns an error when the broker's process ended without Stop or
// Kill having been asked for, and nil otherwise.
func (b *Broker) exited() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return nil
	}
	select {
	case <-b.done:
		if b.err == nil {
			return errors.New("exit status 0")
		}
		return b.err
	default:
		return nil
	}
}

// Stop sends SIGTERM to the broker's PID and waits for it to exit, sending
// SIGKILL after stopTimeout. It fails the test if the broker did not exit
// cleanly on SIGTERM. It does nothing when the broker is not running.
func (b *Broker) Stop() {
	b.t.Helper()
	if err := b.signalAndWait(syscall.SIGTERM); err != nil {
		b.t.Errorf("broker %d: %v", b.ID, err)
	}
}

// Kill sends SIGKILL to the broker's PID (kill -9) and waits for it to die.
func (b *Broker) Kill() {
	b.t.Helper()
	b.signalAndWait(syscall.SIGKILL)
}

func (b *Broker) signalAndWait(sig syscall.Signal) error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		b.mu.Lock()
		err := b.err
		b.mu.Unlock()
		if err != nil {
			return fmt.Errorf("had already exited: %v", err)
		}
		return errors.New("had already exited with status 0")
	default:
	}
	// Signal the PID only: a broker started no children of its own.
	_ = syscall.Kill(cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("did not exit within %v of %v; killed", stopTimeout, sig)
	}
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	if sig == syscall.SIGTERM && err != nil {
		return fmt.Errorf("exited with %v on SIGTERM", err)
	}
	return nil
}

// logTail returns the last n lines of the broker's log.
func (b *Broker) logTail(n int) string {
	data, err := os.ReadFile(b.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
