package zkutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/gregor-broker/gregor/conf"
)

// Config is what a Client needs. The server builds it from conf.Config;
// tests build it directly.
type Config struct {
	// ZooKeeper is zookeeper.connect: the servers and the optional chroot
	// under which every znode lives.
	ZooKeeper conf.ZooKeeper
	// SessionTimeout is zookeeper.session.timeout.ms; zero means Kafka's
	// 18s. ZooKeeper bounds it by its min/maxSessionTimeout.
	SessionTimeout time.Duration
	// ConnectionTimeout is zookeeper.connection.timeout.ms: how long
	// Connect waits for a session; zero means SessionTimeout.
	ConnectionTimeout time.Duration
	// MaxInFlightRequests is zookeeper.max.in.flight.requests: the batch
	// calls keep at most this many requests outstanding; zero means 10.
	MaxInFlightRequests int
	// Log receives the client's log lines; nil discards them.
	Log *logrus.Entry
	// Now is the clock for the timestamps written into znodes; nil means
	// time.Now.
	Now func() time.Time
}

// Defaults of Config's zero fields, Kafka 2.8's.
const (
	defaultSessionTimeout      = 18 * time.Second
	defaultMaxInFlightRequests = 10
)

// Client is a ZooKeeper session with typed access to Kafka's znodes. It is
// safe for concurrent use.
//
// Every call that talks to ZooKeeper takes a context and checks it before
// each ZooKeeper request; a request already sent is not abandoned (the
// ZooKeeper client has no cancellation), so a call may outlive its
// context by one request's round trip. Calls retry through a lost
// connection until the context ends: reads always, writes where a retry
// is safe, which thanks to znode versions is nearly everywhere (see
// doWrite).
type Client struct {
	cfg    Config // immutable after Connect
	chroot string // immutable: "" or "/path", prefixed to every path
	log    *logrus.Entry
	conn   *zk.Conn
	// connReady is closed once conn is set: go-zookeeper may call back
	// before zk.Connect has returned it.
	connReady chan struct{}
	zkDone    chan struct{} // closed once go-zookeeper's goroutines have exited

	closeOnce sync.Once
	closing   chan struct{}  // closed by Close
	watchers  sync.WaitGroup // goroutines forwarding one watch each

	session sessionState // session bookkeeping and event subscribers
}

// Connect opens a ZooKeeper session and waits until it is established (or
// ctx ends, or ConnectionTimeout passes), then makes sure the chroot
// exists, as Kafka does on start-up (createChrootIfNecessary).
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("zkutil: connect to %s: %w", cfg.ZooKeeper, err)
	}
	if len(cfg.ZooKeeper.Servers) == 0 {
		return nil, errors.New("zkutil: no ZooKeeper servers in the configuration")
	}
	if cfg.ZooKeeper.Chroot != "" {
		if err := checkPath(cfg.ZooKeeper.Chroot); err != nil {
			return nil, fmt.Errorf("zkutil: chroot: %w", err)
		}
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = defaultSessionTimeout
	}
	if cfg.ConnectionTimeout <= 0 {
		cfg.ConnectionTimeout = cfg.SessionTimeout
	}
	if cfg.MaxInFlightRequests <= 0 {
		cfg.MaxInFlightRequests = defaultMaxInFlightRequests
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		discard := logrus.New()
		discard.SetOutput(io.Discard)
		log = logrus.NewEntry(discard)
	}
	c := &Client{
		cfg:       cfg,
		chroot:    cfg.ZooKeeper.Chroot,
		log:       log.WithField("component", "zkutil"),
		connReady: make(chan struct{}),
		zkDone:    make(chan struct{}),
		closing:   make(chan struct{}),
	}
	c.session.init()
	// Bound the session handshake (see dialer.go) so that every server
	// can be tried within a third of the session timeout, leaving the rest
	// for the session to be re-established before ZooKeeper expires it; a
	// healthy server answers in milliseconds. At least a second, for a
	// loaded machine.
	handshake := max(cfg.SessionTimeout/time.Duration(3*len(cfg.ZooKeeper.Servers)), time.Second)
	conn, events, err := zk.Connect(cfg.ZooKeeper.Servers, cfg.SessionTimeout,
		zk.WithDialer(handshakeDialer(handshake)),
		zk.WithLogger(zkLogger{c.log}),
		zk.WithLogInfo(false),
		zk.WithEventCallback(c.onEvent),
	)
	if err != nil {
		return nil, fmt.Errorf("zkutil: connect to %v: %w", cfg.ZooKeeper.Servers, err)
	}
	c.conn = conn
	close(c.connReady)
	// go-zookeeper's event channel drops events nobody reads; zkutil
	// takes them from the callback instead and drains the channel only to
	// learn when go-zookeeper has stopped.
	go func() {
		for range events {
		}
		close(c.zkDone)
	}()

	timer := time.NewTimer(cfg.ConnectionTimeout)
	defer timer.Stop()
	select {
	case <-c.session.first:
	case <-ctx.Done():
		c.Close()
		return nil, fmt.Errorf("zkutil: connect to %s: %w", cfg.ZooKeeper, ctx.Err())
	case <-timer.C:
		c.Close()
		return nil, fmt.Errorf("zkutil: connect to %s: no session within %v", cfg.ZooKeeper, cfg.ConnectionTimeout)
	}
	c.log.WithFields(logrus.Fields{"zk_session_id": fmt.Sprintf("0x%x", c.SessionID()), "zk_connect": cfg.ZooKeeper.String()}).
		Info("zookeeper session established")
	if c.chroot != "" {
		if err := c.ensureChroot(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// ensureChroot creates the chroot and its ancestors if missing. It works
// on absolute paths: every other call is relative to the chroot.
func (c *Client) ensureChroot(ctx context.Context) error {
	parts := strings.Split(c.chroot[1:], "/")
	for i := range parts {
		p := "/" + strings.Join(parts[:i+1], "/")
		err := c.doWrite(ctx, func(int) error {
			_, err := c.conn.Create(p, nil, zk.FlagPersistent, zk.WorldACL(zk.PermAll))
			return err
		})
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("zkutil: create chroot %s: %w", p, classify(err))
		}
	}
	return nil
}

// Close ends the session: ZooKeeper deletes the session's ephemeral znodes
// at once, every outstanding watch fires WatchLost, and every session event
// channel is closed. It waits for the goroutines of the client. Calling it
// again does nothing.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.closing)
		c.conn.Close()
		<-c.zkDone
		c.watchers.Wait()
		c.session.closeSubscribers()
		c.log.Info("zookeeper session closed")
	})
	return nil
}

func (c *Client) closed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// SessionID is the id of the current session (0 before the first).
func (c *Client) SessionID() int64 { return c.conn.SessionID() }

// Chroot is the chroot every path is relative to, "" for none.
func (c *Client) Chroot() string { return c.chroot }

// abs turns a path relative to the chroot into the absolute path sent to
// ZooKeeper.
func (c *Client) abs(p string) string {
	if p == "/" && c.chroot != "" {
		return c.chroot
	}
	return c.chroot + p
}

// rel turns an absolute path from ZooKeeper into a path relative to the
// chroot.
func (c *Client) rel(p string) string {
	if c.chroot == "" {
		return p
	}
	r, ok := strings.CutPrefix(p, c.chroot)
	switch {
	case !ok:
		return p
	case r == "":
		return "/"
	}
	return r
}

// retriable reports whether err means the request may not have reached
// ZooKeeper, or its answer was lost: the connection dropped, no server was
// reachable, or the session moved to another server while the request was
// in flight.
func retriable(err error) bool {
	return errors.Is(err, zk.ErrConnectionClosed) || errors.Is(err, zk.ErrNoServer) || errors.Is(err, zk.ErrSessionMoved)
}

// Backoff between attempts through a lost connection.
const (
	minRetryBackoff = 10 * time.Millisecond
	maxRetryBackoff = 500 * time.Millisecond
)

// doRead runs a read, retrying through lost connections and expired
// sessions (a read depends on neither) until ctx ends or the client
// closes. It checks ctx before each attempt.
func (c *Client) doRead(ctx context.Context, call func() error) error {
	return c.retry(ctx, func(int) error { return call() }, func(err error) bool {
		return retriable(err) || errors.Is(err, zk.ErrSessionExpired)
	})
}

// doWrite runs a write, retrying through lost connections. call gets the
// attempt number: from 1 on, the previous attempt's outcome is unknown
// (ZooKeeper may have applied it before the connection dropped), and a
// conditional write may then fail against its own earlier success, which
// the caller resolves by reading back (see resolveSet and resolveCreate).
// An expired session is not retried: it takes the session's ephemeral
// znodes with it, and the caller decides what to re-create.
func (c *Client) doWrite(ctx context.Context, call func(attempt int) error) error {
	return c.retry(ctx, call, retriable)
}

func (c *Client) retry(ctx context.Context, call func(attempt int) error, again func(error) bool) error {
	backoff := minRetryBackoff
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if c.closed() {
			return ErrClosed
		}
		err := call(attempt)
		if err == nil || !again(err) {
			return err
		}
		if c.closed() {
			return ErrClosed
		}
		c.log.WithError(err).WithField("attempt", attempt+1).Debug("zookeeper request failed, retrying")
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
		case <-c.closing:
			return ErrClosed
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
}

// Stat is the metadata ZooKeeper keeps for a znode.
type Stat struct {
	Czxid          int64 // zxid of the create; a broker znode's is the broker epoch
	Mzxid          int64 // zxid of the last data change
	Pzxid          int64 // zxid of the last change of children
	Ctime          int64 // creation time, ms since the epoch
	Mtime          int64 // last modification time, ms since the epoch
	Version        int32 // number of data changes: the ZkVersion of conditional writes
	Cversion       int32 // number of changes to the children
	EphemeralOwner int64 // owning session of an ephemeral znode, else 0
	DataLength     int32
	NumChildren    int32
}

func statOf(s *zk.Stat) Stat {
	if s == nil {
		return Stat{}
	}
	return Stat{
		Czxid: s.Czxid, Mzxid: s.Mzxid, Pzxid: s.Pzxid, Ctime: s.Ctime, Mtime: s.Mtime,
		Version: s.Version, Cversion: s.Cversion, EphemeralOwner: s.EphemeralOwner,
		DataLength: s.DataLength, NumChildren: s.NumChildren,
	}
}

// MatchAnyVersion as the expected version makes a write unconditional
// (ZooKeeper's -1).
const MatchAnyVersion int32 = -1

// get reads a znode.
func (c *Client) get(ctx context.Context, p string) ([]byte, Stat, error) {
	var data []byte
	var st *zk.Stat
	err := c.doRead(ctx, func() (err error) {
		data, st, err = c.conn.Get(c.abs(p))
		return err
	})
	return data, statOf(st), opError("get", p, err)
}

// getW reads a znode and sets a data watch on it.
func (c *Client) getW(ctx context.Context, p string) ([]byte, Stat, <-chan WatchEvent, error) {
	var data []byte
	var st *zk.Stat
	var ch <-chan zk.Event
	err := c.doRead(ctx, func() (err error) {
		data, st, ch, err = c.conn.GetW(c.abs(p))
		return err
	})
	if err != nil {
		return nil, Stat{}, nil, opError("get", p, err)
	}
	return data, statOf(st), c.forward(ch), nil
}

// children lists a znode's children, sorted.
func (c *Client) children(ctx context.Context, p string) ([]string, error) {
	var names []string
	err := c.doRead(ctx, func() (err error) {
		names, _, err = c.conn.Children(c.abs(p))
		return err
	})
	return sortedStrings(names), opError("list children of", p, err)
}

// childrenW lists a znode's children, sorted, and sets a child watch.
func (c *Client) childrenW(ctx context.Context, p string) ([]string, <-chan WatchEvent, error) {
	var names []string
	var ch <-chan zk.Event
	err := c.doRead(ctx, func() (err error) {
		names, _, ch, err = c.conn.ChildrenW(c.abs(p))
		return err
	})
	if err != nil {
		return nil, nil, opError("list children of", p, err)
	}
	return sortedStrings(names), c.forward(ch), nil
}

// exists reports whether a znode exists.
func (c *Client) exists(ctx context.Context, p string) (bool, Stat, error) {
	var ok bool
	var st *zk.Stat
	err := c.doRead(ctx, func() (err error) {
		ok, st, err = c.conn.Exists(c.abs(p))
		return err
	})
	return ok, statOf(st), opError("check", p, err)
}

// existsW reports whether a znode exists and sets a watch that fires when
// it is created, changed or deleted.
func (c *Client) existsW(ctx context.Context, p string) (bool, Stat, <-chan WatchEvent, error) {
	var ok bool
	var st *zk.Stat
	var ch <-chan zk.Event
	err := c.doRead(ctx, func() (err error) {
		ok, st, ch, err = c.conn.ExistsW(c.abs(p))
		return err
	})
	if err != nil {
		return false, Stat{}, nil, opError("check", p, err)
	}
	return ok, statOf(st), c.forward(ch), nil
}

// create creates a znode with world ACLs and returns its path (which, for
// a sequential znode, has the sequence number appended). A retried
// non-sequential create that finds the znode with its data reports
// success (resolveCreate); a retried sequential create may leave a
// duplicate, which is why only notifications use them.
func (c *Client) create(ctx context.Context, p string, data []byte, flags int32) (string, error) {
	var created string
	err := c.doWrite(ctx, func(attempt int) (err error) {
		created, err = c.conn.Create(c.abs(p), data, flags, zk.WorldACL(zk.PermAll))
		if attempt > 0 && flags&zk.FlagSequence == 0 && errors.Is(err, zk.ErrNodeExists) && c.resolveCreate(ctx, p, data, flags) {
			created, err = c.abs(p), nil
		}
		return err
	})
	if err != nil {
		return "", opError("create", p, err)
	}
	return c.rel(created), nil
}

// createWithParents creates a znode, and first any missing ancestors
// (persistent, empty), as Kafka's createRecursive does.
func (c *Client) createWithParents(ctx context.Context, p string, data []byte, flags int32) (string, error) {
	created, err := c.create(ctx, p, data, flags)
	if !errors.Is(err, ErrNoNode) {
		return created, err
	}
	if err := c.ensurePath(ctx, parentOf(p)); err != nil {
		return "", err
	}
	return c.create(ctx, p, data, flags)
}

// ensurePath makes sure a persistent znode exists at p, creating it and its
// ancestors, empty, as needed. An existing znode is left as it is.
func (c *Client) ensurePath(ctx context.Context, p string) error {
	if p == "/" {
		return nil
	}
	ok, _, err := c.exists(ctx, p)
	if err != nil || ok {
		return err
	}
	if err := c.ensurePath(ctx, parentOf(p)); err != nil {
		return err
	}
	if _, err := c.create(ctx, p, nil, zk.FlagPersistent); err != nil && !errors.Is(err, ErrNodeExists) {
		return err
	}
	return nil
}

// resolveCreate decides, after a retried create found the znode, whether
// the znode is the one the lost attempt created: same data and, for an
// ephemeral znode, owned by this session.
func (c *Client) resolveCreate(ctx context.Context, p string, data []byte, flags int32) bool {
	got, st, err := c.get(ctx, p)
	if err != nil || !bytes.Equal(got, data) {
		return false
	}
	if flags&zk.FlagEphemeral != 0 {
		return st.EphemeralOwner == c.SessionID()
	}
	return true
}

// set writes a znode's data if its version is expected (MatchAnyVersion:
// whatever it is). A retried conditional set that meets a version conflict
// checks whether the conflict is its own lost write (resolveSet).
func (c *Client) set(ctx context.Context, p string, data []byte, expected int32) (Stat, error) {
	var st *zk.Stat
	err := c.doWrite(ctx, func(attempt int) (err error) {
		st, err = c.conn.Set(c.abs(p), data, expected)
		if attempt > 0 && errors.Is(err, zk.ErrBadVersion) {
			if resolved, ok := c.resolveSet(ctx, p, data, expected); ok {
				st, err = &resolved, nil
			}
		}
		return err
	})
	if err != nil {
		return Stat{}, opError("set", p, err)
	}
	return statOf(st), nil
}

// resolveSet decides, after a retried conditional set met a version
// conflict, whether the znode holds exactly the data written at exactly
// the next version, which means the lost attempt succeeded. Another writer
// producing the same bytes at that version is indistinguishable from it,
// and equivalent.
func (c *Client) resolveSet(ctx context.Context, p string, data []byte, expected int32) (zk.Stat, bool) {
	var got []byte
	var st *zk.Stat
	err := c.doRead(ctx, func() (err error) {
		got, st, err = c.conn.Get(c.abs(p))
		return err
	})
	if err != nil || st == nil || st.Version != expected+1 || !bytes.Equal(got, data) {
		return zk.Stat{}, false
	}
	return *st, true
}

// delete deletes a znode if its version is expected (MatchAnyVersion:
// whatever it is). A retried delete that finds no znode reports success.
func (c *Client) delete(ctx context.Context, p string, expected int32) error {
	err := c.doWrite(ctx, func(attempt int) error {
		err := c.conn.Delete(c.abs(p), expected)
		if attempt > 0 && errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		return err
	})
	return opError("delete", p, err)
}

// deleteRecursive deletes a znode and everything under it, each delete
// fenced by f, as Kafka's deleteRecursive does. A znode that vanishes
// meanwhile is not an error.
func (c *Client) deleteRecursive(ctx context.Context, f Fence, p string) error {
	kids, err := c.children(ctx, p)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, kid := range kids {
		if err := c.deleteRecursive(ctx, f, joinPath(p, kid)); err != nil {
			return err
		}
	}
	err = c.fencedDelete(ctx, f, p, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

// multi runs ops (*zk.CreateRequest, *zk.SetDataRequest, *zk.DeleteRequest,
// *zk.CheckVersionRequest with absolute paths) as one transaction: all or
// none. On failure it returns the index of the op that failed, or -1 when
// the transaction did not reach ZooKeeper's verdict. It does not retry; the
// fenced writes built on it do.
func (c *Client) multi(ops ...any) ([]zk.MultiResponse, int, error) {
	res, err := c.conn.Multi(ops...)
	if err == nil {
		return res, -1, nil
	}
	// A failed transaction answers every op: those before the failing one
	// with no error (or "runtime inconsistency"), the failing one with its
	// error, those after with "runtime inconsistency". go-zookeeper
	// returns the first real error as err.
	for i, r := range res {
		if r.Error != nil && errors.Is(err, r.Error) {
			return res, i, err
		}
	}
	return res, -1, err
}

// parallel runs fn(0) ... fn(n-1) with at most MaxInFlightRequests running
// at once, and returns when all have: the batch calls pipeline their
// requests on the session's connection as Kafka's do.
func (c *Client) parallel(n int, fn func(i int)) {
	sem := make(chan struct{}, c.cfg.MaxInFlightRequests)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(i)
		}()
	}
	wg.Wait()
}

// Znodes of Kafka's layout that Gregor does not use but creates, so that
// Kafka's tools find the tree they expect.
const (
	isrChangeNotificationPath   = "/isr_change_notification"
	logDirEventNotificationPath = "/log_dir_event_notification"
)

// topLevelPaths are the persistent znodes a broker makes sure exist at
// start-up, as Kafka's ZkData.PersistentZkPaths.
func topLevelPaths() []string {
	paths := []string{
		consumersPath, brokerIDsPath, topicsPath, configChangesPath, deleteTopicsPath, brokerSeqIDPath,
		isrChangeNotificationPath, producerIDBlockPath, logDirEventNotificationPath,
	}
	for _, typ := range configEntityTypes {
		paths = append(paths, configPath+"/"+string(typ))
	}
	return paths
}

// CreateTopLevelPaths makes sure the persistent znodes of Kafka's layout
// exist (empty when created), as every broker does at start-up.
func (c *Client) CreateTopLevelPaths(ctx context.Context) error {
	for _, p := range topLevelPaths() {
		if err := c.ensurePath(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// now is the current time in ms, as Kafka writes timestamps into znodes.
func (c *Client) now() int64 { return c.cfg.Now().UnixMilli() }

// zkLogger passes go-zookeeper's log lines on at debug level: they are
// about connection attempts, which zkutil reports itself as session events.
type zkLogger struct{ log *logrus.Entry }

func (l zkLogger) Printf(format string, args ...any) {
	l.log.WithField("zk_client", fmt.Sprintf(format, args...)).Debug("zookeeper client")
}
