package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"github.com/gregor-broker/gregor/bench/internal/procstat"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// system is one running cluster under test: Gregor brokers or a kfake
// server, each a child process whose CPU time and memory are measured.
type system struct {
	name    string // "gregor" or "kfake"
	brokers int
	addrs   []string
	pids    []int // the processes charged for the system's work
	// create creates a topic and waits until every partition has a leader
	// (and, for Gregor, a full ISR on every broker).
	create func(ctx context.Context, topic string, partitions int32, rf int16, minIsr string) error
	// alive returns an error if a process of the system has exited.
	alive func() error
	stop  func() error
	logs  func() string // the last lines of the processes' logs, for errors
}

// startGregor starts n brokers on ZooKeeper at zkConnect (a chroot of
// their own), in dir, with the extra key=value lines props, and waits
// until they form a cluster.
func startGregor(ctx context.Context, bin, dir, zkConnect string, n int, props ...string) (*system, error) {
	c, err := cluster.Start(ctx, bin, dir, zkConnect, n, props...)
	if err != nil {
		return nil, err
	}
	s := &system{
		name:    "gregor",
		brokers: n,
		addrs:   c.Addrs(),
		create: func(ctx context.Context, topic string, partitions int32, rf int16, minIsr string) error {
			return c.CreateTopic(ctx, topic, partitions, rf, minIsr)
		},
		alive: func() error {
			for _, b := range c {
				if !b.Running() {
					return fmt.Errorf("gregor broker %d exited", b.ID)
				}
			}
			return nil
		},
		stop: c.Stop,
		logs: func() string { return c.Tails(10) },
	}
	for _, b := range c {
		s.pids = append(s.pids, b.PID())
	}
	return s, nil
}

// kfakeBinary returns the kfake-server binary to run: bin if it is not
// empty, else one built into dir from this module.
func kfakeBinary(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "kfake-server")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/gregor-broker/gregor/bench/cmd/kfake-server")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build kfake-server: %v\n%s", err, out)
	}
	return bin, nil
}

// startKfake runs kfake-server with n brokers on free loopback ports and
// waits until it says it listens.
func startKfake(ctx context.Context, bin, dir string, n int) (*system, error) {
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		l.Close()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "kfake.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, "-ports", strings.Join(ports, ","))
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cluster.SetProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting kfake-server: %w", err)
	}
	done := make(chan struct{})
	var waitErr error
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
		waitErr = cmd.Wait() // after the pipe is drained, as Wait requires
		close(done)
	}()
	pid := cmd.Process.Pid
	stop := func() error {
		select {
		case <-done:
			return fmt.Errorf("kfake-server had exited: %v", waitErr)
		default:
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-done:
			return waitErr
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(pid, syscall.SIGKILL)
			<-done
			return errors.New("kfake-server did not exit within 30 s of SIGTERM; killed")
		}
	}
	s := &system{
		name:    "kfake",
		brokers: n,
		pids:    []int{pid},
		create: func(ctx context.Context, topic string, partitions int32, rf int16, minIsr string) error {
			return createTopic(ctx, nil, topic, partitions, rf, minIsr)
		},
		alive: func() error {
			select {
			case <-done:
				return fmt.Errorf("kfake-server exited: %v", waitErr)
			default:
				return nil
			}
		},
		stop: stop,
		logs: func() string { return "last lines of " + logPath + ":\n" + cluster.Tail(logPath, 10) },
	}
	select {
	case line := <-lines:
		f := strings.Fields(line)
		if len(f) != n+1 || f[0] != "listening" {
			_ = stop()
			return nil, fmt.Errorf("kfake-server said %q\n%s", line, s.logs())
		}
		s.addrs = f[1:]
	case <-ctx.Done():
		_ = stop()
		return nil, fmt.Errorf("waiting for kfake-server to listen: %w", ctx.Err())
	case <-time.After(30 * time.Second):
		_ = stop()
		return nil, errors.New("kfake-server did not listen within 30 s")
	}
	// createTopic needs the addresses; bind them now.
	addrs := s.addrs
	s.create = func(ctx context.Context, topic string, partitions int32, rf int16, minIsr string) error {
		return createTopic(ctx, addrs, topic, partitions, rf, minIsr)
	}
	return s, nil
}

// createTopic creates topic through the cluster at addrs and waits until
// the cluster's metadata lists every partition with a leader.
func createTopic(ctx context.Context, addrs []string, topic string, partitions int32, rf int16, minIsr string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := cluster.CreateTopicRequest(topic, partitions, rf, minIsr).RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	for {
		mreq := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(topic)
		mreq.Topics = append(mreq.Topics, mt)
		mresp, err := mreq.RequestWith(ctx, cl)
		if err == nil && len(mresp.Topics) == 1 && len(mresp.Topics[0].Partitions) == int(partitions) {
			led := 0
			for _, p := range mresp.Topics[0].Partitions {
				if p.ErrorCode == 0 && p.Leader >= 0 {
					led++
				}
			}
			if led == int(partitions) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s: no leader for every partition: %w (last error %v)", topic, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// deleteTopic asks the cluster at addrs to delete topic, to free the
// memory or disk it holds. Gregor deletes the files in the background.
func deleteTopic(ctx context.Context, addrs []string, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrDeleteTopicsRequest()
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.TopicNames = []string{topic}
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("deleting %s: %w", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil && !errors.Is(err, kerr.RequestTimedOut) {
		return fmt.Errorf("deleting %s: %w", topic, err)
	}
	return nil
}

// usage is what a system's processes used during one case.
type usage struct {
	CPUSeconds float64   `json:"cpu_seconds"`       // utime+stime, summed over the processes
	PeakRSSMiB float64   `json:"peak_rss_mib"`      // the largest VmHWM of one process
	PerProcess []procUse `json:"per_process"`       // each process's figures
	PeakReset  bool      `json:"peak_rss_per_case"` // VmHWM was reset at the case's start
}

type procUse struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
}

// measure runs fn and returns the CPU time each process of s used
// meanwhile and its peak RSS during fn (since it started, if the peak
// could not be reset).
func (s *system) measure(fn func() error) (usage, error) {
	u := usage{PeakReset: true}
	before := make([]time.Duration, len(s.pids))
	for i, pid := range s.pids {
		if err := procstat.ResetPeak(pid); err != nil {
			u.PeakReset = false
		}
		c, err := procstat.CPU(pid)
		if err != nil {
			return u, err
		}
		before[i] = c
	}
	if err := fn(); err != nil {
		return u, err
	}
	for i, pid := range s.pids {
		c, err := procstat.CPU(pid)
		if err != nil {
			return u, err
		}
		rss, err := procstat.PeakRSS(pid)
		if err != nil {
			return u, err
		}
		p := procUse{PID: pid, CPUSeconds: (c - before[i]).Seconds(), PeakRSSMiB: float64(rss) / (1 << 20)}
		u.PerProcess = append(u.PerProcess, p)
		u.CPUSeconds += p.CPUSeconds
		u.PeakRSSMiB = max(u.PeakRSSMiB, p.PeakRSSMiB)
	}
	return u, nil
}
