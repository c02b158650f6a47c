package zktest

import (
	"sync"
	"testing"
)

// The package's shared server, started by the first Shared call and
// stopped by RunMain.
var (
	sharedMu      sync.Mutex // guards the fields below
	sharedServer  *Server
	sharedErr     error
	sharedStarted bool
)

// RunMain runs a package's tests (m.Run) and afterwards stops the server
// Shared started, if any. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(zktest.RunMain(m)) }
func RunMain(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	s := sharedServer
	sharedServer, sharedStarted = nil, false
	sharedMu.Unlock()
	if s != nil {
		s.Stop()
	}
	return code
}

// Shared returns the package's shared standalone server, starting it on
// first use. It skips or fails t, per Require, when ZooKeeper is not
// installed, and fails t when it is installed but did not start. Tests
// must not kill, pause or restart it: use Start for that.
func Shared(t testing.TB) *Server {
	t.Helper()
	Require(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if !sharedStarted {
		sharedStarted = true
		sharedServer, sharedErr = StartServer()
	}
	if sharedErr != nil {
		t.Fatalf("zktest: the shared ZooKeeper did not start: %v", sharedErr)
	}
	if !sharedServer.Serving() {
		t.Fatalf("zktest: the shared ZooKeeper on %s does not serve; last lines of %s:\n%s",
			sharedServer.Addr(), sharedServer.LogPath(), sharedServer.logTail(30))
	}
	return sharedServer
}
