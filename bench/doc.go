// Package bench holds Gregor's end-to-end benchmarks: programs that start
// a real ZooKeeper and real brokers as child processes and drive them with
// real clients. It is a module of its own, so that the broker's go.mod
// does not grow with what only the benchmarks need; a replace directive
// points it at the broker's source in the parent directory.
//
// `make bench` runs cmd/produce-consume after the storage engine's figures;
// docs/BENCHMARKS.md records the results.
package bench
