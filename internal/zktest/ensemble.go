package zktest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Ensemble is a quorum of ZooKeeper servers on loopback ports. Kill,
// Restart and Pause its Servers one by one to test a client through leader
// changes and lost quorums.
type Ensemble struct {
	Servers []*Server // Servers[i] has myid i+1
}

// StartEnsemble starts an ensemble of n servers for t and stops it when t
// ends. It skips or fails t, per Require, when ZooKeeper is not installed.
func StartEnsemble(t testing.TB, n int) *Ensemble {
	t.Helper()
	Require(t)
	e, err := NewEnsemble(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range e.Servers {
				t.Logf("zktest: last lines of %s (myid %d):\n%s", s.LogPath(), s.myID, s.logTail(30))
			}
		}
		e.Stop()
	})
	return e
}

// NewEnsemble starts n quorum peers and waits until each serves as leader or
// follower. The caller stops them with Stop.
func NewEnsemble(n int) (*Ensemble, error) {
	if n < 1 {
		return nil, fmt.Errorf("zktest: an ensemble needs at least one server, not %d", n)
	}
	inst, err := Find()
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		e, err := startEnsemble(inst, n)
		if err == nil {
			return e, nil
		}
		clash := false
		for _, s := range e.Servers {
			clash = clash || s.portClash(err)
		}
		e.Stop()
		if attempt == 3 || !clash {
			return nil, err
		}
	}
}

// startEnsemble makes one attempt; on error the returned ensemble holds
// whatever was started, for the caller to inspect and stop.
func startEnsemble(inst Installation, n int) (*Ensemble, error) {
	e := &Ensemble{}
	ports, err := freePorts(3 * n) // client, quorum and election port of each
	if err != nil {
		return e, err
	}
	var peers []string
	for i := range n {
		peers = append(peers, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", i+1, ports[3*i+1], ports[3*i+2]))
	}
	for i := range n {
		s, err := newServer(inst, quorumMain, i+1)
		if err != nil {
			return e, err
		}
		e.Servers = append(e.Servers, s)
		s.setConfig(ports[3*i], quorumConfig(s.dataDir(), ports[3*i], peers))
	}
	// The peers must all be up to elect a leader, so launch them all before
	// waiting for any.
	for _, s := range e.Servers {
		if err := s.launch(); err != nil {
			return e, err
		}
	}
	deadline := time.Now().Add(startTimeout)
	for _, s := range e.Servers {
		if err := s.waitServing(deadline); err != nil {
			return e, err
		}
	}
	return e, nil
}

// quorumConfig is the zoo.cfg of one ensemble member. initLimit and
// syncLimit count ticks of 100ms: 5s for a follower to load the leader's
// snapshot, 2s for it to keep up.
func quorumConfig(dataDir string, port int, peers []string) string {
	return commonConfig(dataDir, port) + strings.Join(append([]string{
		"initLimit=50",
		"syncLimit=20",
		"standaloneEnabled=false",
		"reconfigEnabled=false",
	}, peers...), "\n") + "\n"
}

// Connect is the ensemble's connect string, every server's address
// separated by commas, without a chroot.
func (e *Ensemble) Connect() string {
	addrs := make([]string, len(e.Servers))
	for i, s := range e.Servers {
		addrs[i] = s.Addr()
	}
	return strings.Join(addrs, ",")
}

// Chroot returns a connect string of the whole ensemble with a chroot of
// t's own (see Server.Chroot).
func (e *Ensemble) Chroot(t testing.TB) string {
	return e.Connect() + ChrootPath(t)
}

// Leader returns the server that srvr reports as leader, or nil when none
// does (no quorum).
func (e *Ensemble) Leader() *Server {
	for _, s := range e.Servers {
		if s.Mode() == "leader" {
			return s
		}
	}
	return nil
}

// WaitQuorum waits until a leader is elected and every running member
// serves, or ctx ends.
func (e *Ensemble) WaitQuorum(ctx context.Context) error {
	for {
		ok := e.Leader() != nil
		for _, s := range e.Servers {
			s.mu.Lock()
			running := s.proc != nil
			s.mu.Unlock()
			if running && !s.Serving() {
				ok = false
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("zktest: no quorum: %w", ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// ExpireSession ends the session on the ensemble (see the package-level
// ExpireSession), going through whichever member accepts it.
func (e *Ensemble) ExpireSession(ctx context.Context, sessionID int64) error {
	var errs []error
	for _, s := range e.Servers {
		if !s.Serving() {
			continue
		}
		err := ExpireSession(ctx, s.Addr(), sessionID)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errors.New("zktest: no member of the ensemble serves")
	}
	return errors.Join(errs...)
}

// Stop stops every server and removes their directories. It is safe to
// call more than once.
func (e *Ensemble) Stop() {
	var wg sync.WaitGroup
	for _, s := range e.Servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Stop()
		}()
	}
	wg.Wait()
}

// String names the members, for test logs.
func (e *Ensemble) String() string {
	var b strings.Builder
	for i, s := range e.Servers {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(strconv.Itoa(s.myID) + "@" + s.Addr())
	}
	return b.String()
}
