// Package bench holds Gregor's end-to-end benchmarks: programs that start
// a real ZooKeeper and real brokers as child processes and drive them with
// real clients. It is a module of its own, so that the broker's go.mod
// does not grow with what only the benchmarks need; a replace directive
// points it at the broker's source in the parent directory.
//
// `make bench` runs, after the storage engine's figures, cmd/produce-consume
// (one broker: a million 1 KiB records produced and consumed) and
// cmd/replication (three brokers: RF 3 acks=all against RF 1 acks=1, and
// leader failover time), then cmd/suite: Gregor with one and three brokers
// side by side with kfake (github.com/twmb/franz-go/pkg/kfake, run by
// cmd/kfake-server as a child process) under the same franz-go workloads,
// in one table with the ratios and the targets of issue 6.
// internal/cluster holds what they share: building the binary, starting,
// killing and stopping brokers by PID, polling with deadlines,
// percentiles; internal/procstat reads a process's CPU time and peak RSS
// from /proc. docs/BENCHMARKS.md records the results.
package bench
