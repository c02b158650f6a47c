package zktest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds on waiting for a server. A JVM starts in about a second on an idle
// machine; the bounds leave room for a loaded CI runner.
const (
	startTimeout = 60 * time.Second // until a started server answers srvr
	stopTimeout  = 10 * time.Second // from SIGTERM until SIGKILL
	pollInterval = 25 * time.Millisecond
)

// The JVM main classes: a standalone server, and a quorum peer.
const (
	standaloneMain = "org.apache.zookeeper.server.ZooKeeperServerMain"
	quorumMain     = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
)

// Server is one ZooKeeper server process. Its methods are safe for
// concurrent use.
type Server struct {
	inst      Installation
	dir       string // holds zoo.cfg, data/ and zookeeper.log
	mainClass string
	myID      int // id in an ensemble; 0 when standalone

	mu     sync.Mutex // guards the fields below
	port   int        // client port; fixed once the server first starts
	cfg    string     // the zoo.cfg text; fixed once the server first starts
	proc   *process   // nil while the server is down
	closed bool       // Stop was called
}

// process is one run of a server's JVM.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the JVM has exited and been reaped
}

// Start starts a standalone server for t and stops it when t ends. It skips
// or fails t, per Require, when ZooKeeper is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	Require(t)
	s, err := StartServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("zktest: last lines of %s:\n%s", s.LogPath(), s.logTail(40))
		}
		s.Stop()
	})
	return s
}

// StartServer starts a standalone server and waits until it serves. The
// caller stops it with Stop. It suits TestMain, where there is no t; when
// ZooKeeper is not installed the error wraps ErrNotInstalled.
func StartServer() (*Server, error) {
	inst, err := Find()
	if err != nil {
		return nil, err
	}
	s, err := newServer(inst, standaloneMain, 0)
	if err != nil {
		return nil, err
	}
	// A free port found now may be taken by the time the JVM binds it;
	// then try again with another.
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(1)
		if err != nil {
			s.removeDir()
			return nil, err
		}
		s.setConfig(ports[0], standaloneConfig(s.dataDir(), ports[0]))
		err = s.start()
		if err == nil {
			return s, nil
		}
		if attempt == 3 || !s.portClash(err) {
			s.Stop()
			return nil, err
		}
	}
}

func newServer(inst Installation, mainClass string, myID int) (*Server, error) {
	dir, err := os.MkdirTemp("", "gregor-zktest-")
	if err != nil {
		return nil, fmt.Errorf("zktest: %w", err)
	}
	s := &Server{inst: inst, dir: dir, mainClass: mainClass, myID: myID}
	if err := os.MkdirAll(s.dataDir(), 0o755); err != nil {
		s.removeDir()
		return nil, fmt.Errorf("zktest: %w", err)
	}
	if myID > 0 {
		if err := os.WriteFile(filepath.Join(s.dataDir(), "myid"), []byte(strconv.Itoa(myID)+"\n"), 0o644); err != nil {
			s.removeDir()
			return nil, fmt.Errorf("zktest: %w", err)
		}
	}
	return s, nil
}

// standaloneConfig is the zoo.cfg of a standalone test server.
func standaloneConfig(dataDir string, port int) string {
	return commonConfig(dataDir, port)
}

// commonConfig holds the settings every test server shares (see the package
// comment for why).
func commonConfig(dataDir string, port int) string {
	return strings.Join([]string{
		"tickTime=100",
		"minSessionTimeout=200",
		"maxSessionTimeout=60000",
		"dataDir=" + dataDir,
		"clientPort=" + strconv.Itoa(port),
		"clientPortAddress=127.0.0.1",
		"admin.enableServer=false",
		"4lw.commands.whitelist=*",
		"forceSync=no",
		"preAllocSize=4096", // KiB: the default preallocates 64 MiB per transaction log
		"maxClientCnxns=0",
	}, "\n") + "\n"
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) cfgPath() string { return filepath.Join(s.dir, "zoo.cfg") }

// LogPath is the file the server's JVM writes its output to.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "zookeeper.log") }

func (s *Server) setConfig(port int, cfg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.port, s.cfg = port, cfg
}

// Addr is the server's client address, 127.0.0.1:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Connect is the connect string of the server without a chroot.
func (s *Server) Connect() string { return s.Addr() }

// Chroot returns a connect string with a chroot of t's own,
// "127.0.0.1:port/test-<name>-<random>", so that tests sharing the server
// never see each other's znodes.
func (s *Server) Chroot(t testing.TB) string {
	return s.Connect() + ChrootPath(t)
}

// ChrootPath returns a fresh chroot path for t: "/test-<name>-<random>",
// with t's name reduced to characters that are safe in a znode name.
func ChrootPath(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("zktest: crypto/rand failed: " + err.Error())
	}
	name := []byte(t.Name())
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			name[i] = '_'
		}
	}
	if len(name) > 100 {
		name = name[:100]
	}
	return "/test-" + string(name) + "-" + hex.EncodeToString(b[:])
}

// start launches the JVM and waits until the server serves; a JVM that
// does not serve in time is killed, so that start may be tried again.
func (s *Server) start() error {
	if err := s.launch(); err != nil {
		return err
	}
	if err := s.waitServing(time.Now().Add(startTimeout)); err != nil {
		_ = s.halt(false)
		return err
	}
	return nil
}

// launch writes zoo.cfg and starts the JVM, without waiting for it to serve.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("zktest: server was stopped")
	}
	if s.proc != nil {
		return errors.New("zktest: server is already running")
	}
	if err := os.WriteFile(s.cfgPath(), []byte(s.cfg), 0o644); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	logFile, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	fmt.Fprintf(logFile, "==== zktest: starting %s on port %d at %s\n", s.mainClass, s.port, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(s.inst.Java, s.inst.javaArgs(s.mainClass, s.cfgPath())...)
	cmd.Dir = s.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcAttr(cmd)
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	// The goroutine lives exactly as long as the JVM and reaps it. It holds
	// its OS thread because on Linux the JVM gets SIGKILL when the thread
	// that started it exits (setProcAttr), which is what should happen when
	// the test binary dies, and only then.
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(p.done)
		defer logFile.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		fmt.Fprintf(logFile, "==== zktest: JVM exited: %v\n", err)
	}()
	if err := <-started; err != nil {
		<-p.done
		return fmt.Errorf("zktest: start %s: %w", s.inst.Java, err)
	}
	s.proc = p
	return nil
}

// waitServing polls srvr until the server reports a mode (standalone,
// leader or follower), the JVM exits, or the deadline passes.
func (s *Server) waitServing(deadline time.Time) error {
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		return errors.New("zktest: server is not running")
	}
	for {
		out, err := s.FourLetterWord("srvr")
		if err == nil && strings.Contains(out, "Mode: ") {
			// Make sure it is this server that answers, not another
			// process that took the port after freePorts saw it free.
			if conf, err := s.FourLetterWord("conf"); err == nil && !strings.Contains(conf, s.dataDir()) {
				return fmt.Errorf("zktest: %w: %s answers for another data directory", errPortTaken, s.Addr())
			}
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("zktest: ZooKeeper on %s exited during start-up; last lines of %s:\n%s",
				s.Addr(), s.LogPath(), s.logTail(30))
		case <-time.After(pollInterval):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("zktest: ZooKeeper on %s did not serve within %v (last srvr: %q, %v); last lines of %s:\n%s",
				s.Addr(), startTimeout, out, err, s.LogPath(), s.logTail(30))
		}
	}
}

// Serving reports whether the server answers srvr with a mode right now.
func (s *Server) Serving() bool {
	out, err := s.FourLetterWord("srvr")
	return err == nil && strings.Contains(out, "Mode: ")
}

// Mode is the server's mode as srvr reports it: "standalone", "leader" or
// "follower", or "" when it does not serve.
func (s *Server) Mode() string {
	out, err := s.FourLetterWord("srvr")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(out, "\n") {
		if mode, ok := strings.CutPrefix(line, "Mode: "); ok {
			return strings.TrimSpace(mode)
		}
	}
	return ""
}

// FourLetterWord sends one of ZooKeeper's four-letter commands (ruok, srvr,
// stat, cons, mntr, ...) and returns the answer.
func (s *Server) FourLetterWord(cmd string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(conn, cmd); err != nil {
		return "", err
	}
	out, err := io.ReadAll(conn)
	return string(out), err
}

// Kill crashes the server: SIGKILL, no clean shutdown. Its port and data
// stay, so Restart brings it back as it was. Killing a server that is down
// does nothing.
func (s *Server) Kill() error {
	return s.halt(false)
}

// Restart brings the server back on the same port with the same data: after
// Kill it just starts the JVM; a running server is first stopped cleanly.
// It returns once the server serves again (for an ensemble member, once it
// has rejoined a quorum).
func (s *Server) Restart() error {
	if err := s.halt(true); err != nil {
		return err
	}
	return s.start()
}

// Pause freezes the server's JVM (SIGSTOP): connections stay open but
// nothing is answered, as with a server stuck in a long GC pause. Clients
// time out after two thirds of their session timeout; sessions expire once
// the server runs again and notices their time has passed.
func (s *Server) Pause() error { return s.signal(syscall.SIGSTOP) }

// Continue resumes a paused server (SIGCONT).
func (s *Server) Continue() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return errors.New("zktest: server is not running")
	}
	return s.proc.cmd.Process.Signal(sig)
}

// Stop stops the server for good and removes its directory. It is safe to
// call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	_ = s.halt(true)
	s.removeDir()
}

func (s *Server) removeDir() {
	if os.Getenv("GREGOR_ZKTEST_KEEP") != "" {
		return // for debugging: keep the log and data
	}
	_ = os.RemoveAll(s.dir)
}

// halt stops the JVM, gracefully (SIGTERM, then SIGKILL after stopTimeout)
// or not (SIGKILL), and waits until it has been reaped.
func (s *Server) halt(graceful bool) error {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	default:
	}
	// A paused JVM ignores SIGTERM until it runs again.
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	if graceful {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return nil
		case <-time.After(stopTimeout):
		}
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("zktest: ZooKeeper pid %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

// errPortTaken: another server answers on the port this one was given.
var errPortTaken = errors.New("port taken")

// portClash reports whether a start that failed with err failed because a
// port was taken.
func (s *Server) portClash(err error) bool {
	return errors.Is(err, errPortTaken) || strings.Contains(s.logTail(200), "Address already in use")
}

// logTail returns the last n lines of the server's log.
func (s *Server) logTail(n int) string {
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("zktest: find a free port: %w", err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
