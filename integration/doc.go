// Package integration tests Gregor end to end: a real ZooKeeper (started
// once per package by zktest in TestMain, a chroot per test), real brokers
// run as child processes of the gregor binary built with -race, and real
// clients: sarama, franz-go and kcat.
//
// The harness (harness_test.go) builds the binary once per `go test` run,
// writes each broker a server.properties with a loopback port it picked and
// a log directory under t.TempDir(), starts it with `gregor server start`,
// sends its output to a log file and waits, with a deadline, until Metadata
// lists the cluster's brokers. Brokers stop by PID on cleanup: SIGTERM, then
// SIGKILL after a bound. Broker.Kill is kill -9 for crash tests. When a test
// fails, the last lines of every broker's log are printed.
//
// Without ZooKeeper (or kcat, for the kcat test) the tests skip with the
// reason, unless GREGOR_CI=1, when they fail.
package integration
