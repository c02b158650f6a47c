// Package zktest runs real Apache ZooKeeper servers for tests: one standalone
// server, or an ensemble of several, each a child JVM on loopback ports with
// its data in a temporary directory.
//
// # Finding ZooKeeper
//
// Find looks, in order, at GREGOR_ZOOKEEPER_CLASSPATH (a ':'-separated
// classpath used as is), at GREGOR_ZOOKEEPER_HOME or ZOOKEEPER_HOME (an
// Apache release unpacked: its lib/*.jar and *.jar), and at Debian's
// `zookeeper` package (/usr/share/java/zookeeper.jar, whose manifest
// Class-Path names the jars it needs; Debian's zkEnv.sh builds its classpath
// from that one jar too). Java is $JAVA_HOME/bin/java or java on PATH.
//
// Debian ships ZooKeeper without an SLF4J binding on that classpath, so the
// server would log nothing; when /usr/share/java/slf4j-simple.jar is there it
// is added, and the server's log goes to zookeeper.log in its directory.
//
// # Availability
//
// Require applies STYLE.md's rule in one place: when ZooKeeper or Java is
// missing, the test is skipped with the reason, unless GREGOR_CI=1 is set
// (the CI script sets it), in which case the test fails.
//
// # Use
//
// A package whose tests share one server writes
//
//	func TestMain(m *testing.M) { os.Exit(zktest.RunMain(m)) }
//
// and each test takes its own chroot, so tests run in parallel and never
// clean up after one another:
//
//	connect := zktest.Shared(t).Chroot(t) // "127.0.0.1:34567/test-TestFoo-1f2e3d4c"
//
// The server starts on the first Shared call (so `go test -run` of unit
// tests alone starts no JVM) and RunMain stops it after the tests. Start(t)
// gives a test a server of its own, which it may kill, restart or pause;
// StartEnsemble(t, 3) gives it a quorum.
//
// A chroot is not created by zktest: zkutil creates it when it connects, as
// Kafka does.
//
// # Faults
//
// Server.Kill crashes a server (SIGKILL) and Server.Restart brings it back on
// the same port and data; Pause and Continue freeze it (SIGSTOP/SIGCONT).
// ExpireSession ends a client's session on the server the classic way: it
// opens a second connection with the same session id and password and
// closes the session from there. ZooKeeper derives a session's password
// from its id (ZooKeeperServer.generatePasswd: java.util.Random seeded with
// the id XOR a fixed constant), so only the session id is needed.
//
// The servers run with tickTime=100ms, so sessions may be as short as 200ms
// (minSessionTimeout) and as long as 60s; the admin server is off, the
// four-letter words are all allowed, and forceSync=no because test data
// need not survive a power cut.
package zktest
