package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// memberEnv names the environment variable that turns the test binary into
// a group member (see maybeRunMember): the tests re-execute themselves to
// have a member they can kill -9.
const memberEnv = "GREGOR_ITEST_GROUP_MEMBER"

// memberConfig describes one group member: which client and assignor it
// uses, and its timeouts. Name is its client id, so that DescribeGroups
// rows can be matched to members.
type memberConfig struct {
	Name       string   `json:"name"`
	Client     string   `json:"client"`   // "franz-go" or "sarama"
	Assignor   string   `json:"assignor"` // Kafka's protocol name: range, roundrobin, sticky, cooperative-sticky
	Group      string   `json:"group"`
	Topic      string   `json:"topic"`
	Seeds      []string `json:"seeds"`
	InstanceID string   `json:"instance_id,omitempty"` // group.instance.id (KIP-345) when not empty
	Session    time.Duration
	Heartbeat  time.Duration
	Rebalance  time.Duration
}

// groupEvent is one thing a member did, as the tests observe it. A member
// in a child process prints its events to stdout as JSON lines.
type groupEvent struct {
	Kind       string          `json:"kind"` // assigned, revoked, lost, processed, committed, commit_error, error
	Member     string          `json:"member"`
	Generation int32           `json:"generation,omitempty"`
	Partitions []int32         `json:"partitions,omitempty"`
	Partition  int32           `json:"partition,omitempty"`
	Offset     int64           `json:"offset,omitempty"`
	Offsets    map[int32]int64 `json:"offsets,omitempty"` // committed: the next offset to read, per partition
	Err        string          `json:"err,omitempty"`
}

// runMember consumes cfg.Topic in cfg.Group until ctx ends, then closes
// its client (a dynamic member leaves the group; a static one does not,
// per KIP-345). It reports every assignment, revocation, processed record
// and acknowledged commit to emit. Commits are synchronous and made after
// each batch, before the member lets a rebalance proceed, so a clean
// rebalance never hands a partition over with processed records
// uncommitted.
func runMember(ctx context.Context, cfg memberConfig, emit func(groupEvent)) error {
	switch cfg.Client {
	case "franz-go":
		return runFranzMember(ctx, cfg, emit)
	case "sarama":
		return runSaramaMember(ctx, cfg, emit)
	}
	return fmt.Errorf("unknown client %q", cfg.Client)
}

func franzBalancer(name string) (kgo.GroupBalancer, error) {
	switch name {
	case "range":
		return kgo.RangeBalancer(), nil
	case "roundrobin":
		return kgo.RoundRobinBalancer(), nil
	case "sticky":
		return kgo.StickyBalancer(), nil
	case "cooperative-sticky":
		return kgo.CooperativeStickyBalancer(), nil
	}
	return nil, fmt.Errorf("franz-go: unknown assignor %q", name)
}

// runFranzMember is a franz-go group consumer with BlockRebalanceOnPoll:
// each polled batch is processed and committed (CommitRecords, synchronous)
// before AllowRebalance, so revocation only happens between batches.
func runFranzMember(ctx context.Context, cfg memberConfig, emit func(groupEvent)) error {
	bal, err := franzBalancer(cfg.Assignor)
	if err != nil {
		return err
	}
	parts := func(m map[string][]int32) []int32 { return m[cfg.Topic] }
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Seeds...),
		kgo.ClientID(cfg.Name),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.Balancers(bal),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.SessionTimeout(cfg.Session),
		kgo.HeartbeatInterval(cfg.Heartbeat),
		kgo.RebalanceTimeout(cfg.Rebalance),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.OnPartitionsAssigned(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			_, gen := cl.GroupMetadata()
			emit(groupEvent{Kind: "assigned", Generation: gen, Partitions: parts(m)})
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			_, gen := cl.GroupMetadata()
			emit(groupEvent{Kind: "revoked", Generation: gen, Partitions: parts(m)})
		}),
		kgo.OnPartitionsLost(func(_ context.Context, cl *kgo.Client, m map[string][]int32) {
			emit(groupEvent{Kind: "lost", Partitions: parts(m)})
		}),
	}
	if cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(cfg.InstanceID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 200)
		fs.EachError(func(topic string, p int32, err error) {
			if ctx.Err() == nil {
				emit(groupEvent{Kind: "error", Partition: p, Err: err.Error()})
			}
		})
		recs := fs.Records()
		if len(recs) > 0 {
			next := map[int32]int64{}
			for _, r := range recs {
				emit(groupEvent{Kind: "processed", Partition: r.Partition, Offset: r.Offset})
				next[r.Partition] = r.Offset + 1
			}
			// Not ctx: a member asked to stop still commits what it
			// processed before it leaves.
			cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.CommitRecords(cctx, recs...)
			cancel()
			if err != nil {
				emit(groupEvent{Kind: "commit_error", Offsets: next, Err: err.Error()})
			} else {
				emit(groupEvent{Kind: "committed", Offsets: next})
			}
		}
		cl.AllowRebalance()
	}
	return nil
}

func saramaStrategy(name string) (sarama.BalanceStrategy, error) {
	switch name {
	case "range":
		return sarama.NewBalanceStrategyRange(), nil
	case "roundrobin":
		return sarama.NewBalanceStrategyRoundRobin(), nil
	case "sticky":
		return sarama.NewBalanceStrategySticky(), nil
	}
	return nil, fmt.Errorf("sarama: unknown assignor %q", name)
}

// runSaramaMember is a sarama ConsumerGroup with auto-commit off: each
// claim marks what it processed and commits (Commit is synchronous) when
// its buffer is drained, and Cleanup commits again before the session ends,
// that is before sarama rejoins.
func runSaramaMember(ctx context.Context, cfg memberConfig, emit func(groupEvent)) error {
	strategy, err := saramaStrategy(cfg.Assignor)
	if err != nil {
		return err
	}
	sc := saramaConfig()
	sc.ClientID = cfg.Name
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Group.Session.Timeout = cfg.Session
	sc.Consumer.Group.Heartbeat.Interval = cfg.Heartbeat
	sc.Consumer.Group.Rebalance.Timeout = cfg.Rebalance
	sc.Consumer.Group.Rebalance.Retry.Backoff = 100 * time.Millisecond
	sc.Consumer.Offsets.Retry.Max = 10
	if cfg.InstanceID != "" {
		sc.Consumer.Group.InstanceId = cfg.InstanceID
	}
	group, err := sarama.NewConsumerGroup(cfg.Seeds, cfg.Group, sc)
	if err != nil {
		return err
	}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range group.Errors() {
			if ctx.Err() == nil {
				emit(groupEvent{Kind: "commit_error", Err: err.Error()})
			}
		}
	}()
	h := &saramaHandler{topic: cfg.Topic, emit: emit}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, []string{cfg.Topic}, h); err != nil && ctx.Err() == nil {
			emit(groupEvent{Kind: "error", Err: err.Error()})
		}
	}
	err = group.Close()
	<-errsDone
	return err
}

// saramaHandler is the sarama ConsumerGroupHandler of runSaramaMember.
type saramaHandler struct {
	topic string
	emit  func(groupEvent)

	mu     sync.Mutex // guards marked
	marked map[int32]int64
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.marked = map[int32]int64{}
	h.mu.Unlock()
	h.emit(groupEvent{Kind: "assigned", Generation: s.GenerationID(), Partitions: s.Claims()[h.topic]})
	return nil
}

func (h *saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.commit(s)
	h.emit(groupEvent{Kind: "revoked", Generation: s.GenerationID(), Partitions: s.Claims()[h.topic]})
	return nil
}

// commit commits the session's marked offsets synchronously and reports
// what it committed. sarama reports a failed commit on its Errors channel.
func (h *saramaHandler) commit(s sarama.ConsumerGroupSession) {
	h.mu.Lock()
	next := make(map[int32]int64, len(h.marked))
	for p, o := range h.marked {
		next[p] = o
	}
	h.mu.Unlock()
	if len(next) == 0 {
		return
	}
	s.Commit()
	h.emit(groupEvent{Kind: "committed", Offsets: next})
}

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.emit(groupEvent{Kind: "processed", Partition: m.Partition, Offset: m.Offset})
			s.MarkMessage(m, "")
			h.mu.Lock()
			h.marked[m.Partition] = m.Offset + 1
			h.mu.Unlock()
			if len(claim.Messages()) == 0 {
				h.commit(s)
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

// maybeRunMember runs a group member and exits when the test binary was
// started as one (memberEnv holds its memberConfig as JSON); it returns
// otherwise. The member prints its events as JSON lines and stops on
// SIGTERM; the tests kill it with SIGKILL to simulate a crash.
func maybeRunMember() {
	spec := os.Getenv(memberEnv)
	if spec == "" {
		return
	}
	var cfg memberConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sarama.Logger = log.New(io.Discard, "", 0)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	err := runMember(ctx, cfg, func(e groupEvent) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// memberProc is a group member running in a child process (the test
// binary re-executed with memberEnv set).
type memberProc struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{} // closed once stdout is drained and the process waited for
	stderr bytes.Buffer
	mu     sync.Mutex // guards stderr
}

// startMemberProc starts cfg as a child process, feeding its events to tr.
// The process is killed when the test ends.
func startMemberProc(t *testing.T, cfg memberConfig, tr *groupTracker) *memberProc {
	t.Helper()
	spec, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), memberEnv+"="+string(spec))
	setProcAttr(cmd)
	p := &memberProc{name: cfg.Name, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e groupEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				continue
			}
			e.Member = cfg.Name
			tr.emit(e)
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.mu.Lock()
			t.Logf("member %s's stderr:\n%s", p.name, p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

// kill sends SIGKILL to the member's process and waits for it to end.
func (p *memberProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// memberHandle is a member running in the test process.
type memberHandle struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	once   sync.Once
}

// startMember runs cfg in a goroutine of the test process, feeding its
// events to tr. It is stopped (cleanly) when the test ends, if not before.
func startMember(t *testing.T, cfg memberConfig, tr *groupTracker) *memberHandle {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &memberHandle{name: cfg.Name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		h.err = runMember(ctx, cfg, func(e groupEvent) {
			e.Member = cfg.Name
			tr.emit(e)
		})
	}()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop closes the member's client and waits for it, bounded.
func (h *memberHandle) stop(t *testing.T) {
	t.Helper()
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("member %s did not stop within 60s", h.name)
	}
	h.once.Do(func() {
		if h.err != nil {
			t.Errorf("member %s: %v", h.name, h.err)
		}
	})
}
