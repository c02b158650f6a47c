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
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	ports := flag.String("ports", "", "comma-separated ports, one broker each (required)")
	flag.Parse()
	var ps []int
	for s := range strings.SplitSeq(*ports, ",") {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 || p > 65535 {
			fmt.Fprintf(os.Stderr, "kfake-server: bad port %q in -ports %q\n", s, *ports)
			os.Exit(2)
		}
		ps = append(ps, p)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	c, err := kfake.NewCluster(kfake.NumBrokers(len(ps)), kfake.Ports(ps...))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake-server:", err)
		os.Exit(1)
	}
	fmt.Println("listening", strings.Join(c.ListenAddrs(), " "))
	<-sig
	c.Close()
}
