package cluster

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// Env is what every benchmark run starts from: a scratch directory, the
// gregor binary and a ZooKeeper server.
type Env struct {
	Dir string // scratch directory for binaries, logs and data
	Bin string // the gregor binary
	// ZKConnect is the ZooKeeper connect string with the benchmark's
	// chroot.
	ZKConnect string

	zk   *zktest.Server
	keep bool
}

// Setup creates the scratch directory (named after prefix; kept and
// printed when keep is set), builds or finds the binary (see Binary) and
// starts ZooKeeper. Close undoes it.
func Setup(ctx context.Context, prefix string, keep bool, gregor, src string) (*Env, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, keep: keep}
	if keep {
		fmt.Println("benchmark directory:", dir)
	}
	if e.Bin, err = Binary(ctx, gregor, src, dir); err != nil {
		e.Close()
		return nil, err
	}
	if e.zk, err = zktest.StartServer(); err != nil {
		e.Close()
		return nil, fmt.Errorf("starting ZooKeeper: %w", err)
	}
	e.ZKConnect = e.zk.Connect() + "/gregor-bench"
	return e, nil
}

// Close stops ZooKeeper and removes the scratch directory unless it is
// kept. Stop the brokers first.
func (e *Env) Close() {
	if e.zk != nil {
		e.zk.Stop()
	}
	if !e.keep {
		os.RemoveAll(e.Dir)
	}
}

// Main runs a benchmark command's body: ctx ends at SIGINT or SIGTERM or
// after timeout, whichever comes first, and an error is printed as
// "name: error" with exit status 1.
func Main(name string, timeout time.Duration, run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	err := run(ctx)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
