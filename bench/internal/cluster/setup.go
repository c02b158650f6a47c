package cluster

import (
	"context"
	"flag"
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

// Source is where a command gets its gregor binary from, and whether it
// keeps its scratch directory: the -src, -gregor and -keep flags every
// command shares.
type Source struct {
	Src    string // the gregor module's root directory, where ./cmd/gregor is built
	Gregor string // a gregor binary to run instead of building one
	Keep   bool   // keep the scratch directory
}

// RegisterFlags registers -src, -gregor and -keep on the command line.
func (s *Source) RegisterFlags() {
	flag.StringVar(&s.Src, "src", "..", "the gregor module's root directory, where ./cmd/gregor is built")
	flag.StringVar(&s.Gregor, "gregor", "", "a gregor binary to run instead of building one from -src")
	flag.BoolVar(&s.Keep, "keep", false, "keep the scratch directory (the brokers' configs, logs and data)")
}

// Setup is Setup with s's binary and directory settings.
func (s Source) Setup(ctx context.Context, prefix string) (*Env, error) {
	return Setup(ctx, prefix, s.Keep, s.Gregor, s.Src)
}
