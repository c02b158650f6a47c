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
// SIGKILL after a bound. Broker.Kill is kill -9 for crash tests, and
// Broker.signal sends SIGSTOP and SIGCONT to freeze a broker past its
// ZooKeeper session timeout (6 s in every test's configuration).
// Cluster.ZK reads the cluster's znodes under its chroot, and
// Cluster.Without gives a view of the cluster whose clients avoid a dead
// broker. When a test fails, the last lines of every broker's log are
// printed.
//
// The tests, by what they cover: produce and consume of 100,000 keyed
// records per compression codec with franz-go and with sarama's
// idempotent producer (franzgo_test.go, sarama_scale_test.go), kcat,
// broker restart and kill -9 (restart_test.go), controller failover
// (failover_test.go) and ZooKeeper session expiry (session_test.go).
// Consumer groups (groups_test.go, on __consumer_offsets with replication
// factor 3): sarama and franz-go members with each assignor through a
// clean leave, a kill -9 (the member runs in a child process: the test
// binary re-executed with GREGOR_ITEST_GROUP_MEMBER set, see
// groups_member_test.go) and a restart, exactly-once processing with
// synchronous commits across rebalances, coordinator failover, kcat -G,
// and static membership (KIP-345). With
// the brokers built with -race the package takes about 30 s on two CPUs,
// and about a minute when the test binary has -race too.
//
// Without ZooKeeper (or kcat, for the kcat test) the tests skip with the
// reason, unless GREGOR_CI=1, when they fail.
package integration
