// Command kfake-server runs a kfake cluster (github.com/twmb/franz-go/pkg/kfake:
// an in-memory fake Kafka cluster) in a process of its own, so that the
// benchmark suite can measure its CPU time and memory from /proc the same
// way as a Gregor broker's, and so that it does not share a Go runtime
// (scheduler, garbage collector) with the benchmark's clients.
//
// It listens on 127.0.0.1 at the given ports, one broker per port, prints
// "listening <addr> ..." on stdout once every broker listens, and runs
// until SIGTERM or SIGINT, then closes the cluster and exits 0.
//
//	kfake-server -ports 9092,9093,9094
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, sig))
}

// run is the program: it returns the exit code, 2 for bad arguments, 1
// if the cluster cannot start, 0 after stop delivers a value.
func run(args []string, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	fs := flag.NewFlagSet("kfake-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ports := fs.String("ports", "", "comma-separated ports, one broker each (required; 0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var ps []int
	for s := range strings.SplitSeq(*ports, ",") {
		p, err := strconv.Atoi(s)
		if err != nil || p < 0 || p > 65535 {
			fmt.Fprintf(stderr, "kfake-server: bad port %q in -ports %q\n", s, *ports)
			return 2
		}
		ps = append(ps, p)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(len(ps)), kfake.Ports(ps...))
	if err != nil {
		fmt.Fprintln(stderr, "kfake-server:", err)
		return 1
	}
	fmt.Fprintln(stdout, "listening", strings.Join(c.ListenAddrs(), " "))
	<-stop
	c.Close()
	return 0
}
