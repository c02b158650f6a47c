package zkutil

import (
	"fmt"
	"sync"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// SessionEventType says what happened to the client's ZooKeeper session.
type SessionEventType int

// The session events, in the order they can occur: Disconnected, then
// either Reconnected (same session) or Expired followed by NewSession.
const (
	// SessionDisconnected: the connection to ZooKeeper was lost. The
	// session, its ephemeral znodes and its watches live on in ZooKeeper
	// for up to the session timeout; the client is reconnecting.
	SessionDisconnected SessionEventType = iota + 1
	// SessionReconnected: the connection is back, same session: nothing
	// was lost, watches set before the drop are kept.
	SessionReconnected
	// SessionExpired: ZooKeeper expired the session. Its ephemeral znodes
	// (broker registration, /controller) are gone and every watch of the
	// session has fired WatchLost. A NewSession event follows once the
	// client has a new session.
	SessionExpired
	// SessionNew: the client has a new session after an expiry. The
	// owner of each ephemeral znode re-creates it (RegisterBroker again,
	// re-run controller election) and every watcher re-reads and re-arms.
	SessionNew
	// SessionAuthFailed: ZooKeeper refused the client's credentials.
	SessionAuthFailed
)

func (t SessionEventType) String() string {
	switch t {
	case SessionDisconnected:
		return "disconnected"
	case SessionReconnected:
		return "reconnected"
	case SessionExpired:
		return "expired"
	case SessionNew:
		return "new session"
	case SessionAuthFailed:
		return "authentication failed"
	}
	return fmt.Sprintf("SessionEventType(%d)", int(t))
}

// SessionEvent is a change of the client's session. zkutil only reports
// it: re-registering, resigning or re-electing is for the broker and the
// controller to decide, as with Kafka's StateChangeHandler.
type SessionEvent struct {
	Type SessionEventType
	// SessionID is the session the event is about: for SessionNew the new
	// one, otherwise the one that was disconnected, reconnected or expired.
	SessionID int64
}

// sessionState turns go-zookeeper's connection states into SessionEvents
// and hands them to the subscribers.
type sessionState struct {
	first chan struct{} // closed when the first session is established

	mu        sync.Mutex // guards the fields below
	id        int64      // the current (or last) session; 0 before the first
	connected bool       // has a connection with session id
	expired   bool       // id expired and no new session yet
	closed    bool       // subscribers were closed; no new ones
	subs      map[*sessionSub]struct{}
}

func (s *sessionState) init() {
	s.first = make(chan struct{})
	s.subs = make(map[*sessionSub]struct{})
}

// onEvent is go-zookeeper's event callback. It runs on go-zookeeper's
// goroutines and must not block: it only queues events.
func (c *Client) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	<-c.connReady // c.conn is needed for the session id, and may not be set yet
	var out []SessionEvent
	s := &c.session
	s.mu.Lock()
	switch ev.State {
	case zk.StateHasSession:
		// go-zookeeper sets the new session id before this callback.
		id := c.conn.SessionID()
		switch {
		case s.id == 0:
			s.id = id
			close(s.first)
		case id == s.id && !s.expired:
			if !s.connected {
				out = append(out, SessionEvent{SessionReconnected, id})
			}
		default:
			if !s.expired {
				out = append(out, SessionEvent{SessionExpired, s.id})
			}
			s.id, s.expired = id, false
			out = append(out, SessionEvent{SessionNew, id})
		}
		s.connected = true
	case zk.StateDisconnected:
		if s.connected && !c.closed() {
			out = append(out, SessionEvent{SessionDisconnected, s.id})
		}
		s.connected = false
	case zk.StateExpired:
		if s.id != 0 && !s.expired {
			s.expired = true
			out = append(out, SessionEvent{SessionExpired, s.id})
		}
		s.connected = false
	case zk.StateAuthFailed:
		out = append(out, SessionEvent{SessionAuthFailed, s.id})
	}
	for sub := range s.subs {
		sub.push(out)
	}
	s.mu.Unlock()
	for _, e := range out {
		entry := c.log.WithFields(logrus.Fields{"zk_session_id": fmt.Sprintf("0x%x", e.SessionID), "zk_server": ev.Server})
		switch e.Type {
		case SessionReconnected, SessionNew:
			entry.Info("zookeeper session " + e.Type.String())
		default:
			entry.Warn("zookeeper session " + e.Type.String())
		}
	}
}

// SessionEvents subscribes to the session's events from now on. Each
// subscriber gets every event, in order, through its own channel; events
// queue (without bound, they are rare) until read, so a slow reader never
// stalls the ZooKeeper connection or other subscribers. The channel is
// closed by stop or when the client closes; stop waits for the
// subscription's goroutine and may be called more than once.
func (c *Client) SessionEvents() (events <-chan SessionEvent, stop func()) {
	sub := &sessionSub{
		out:  make(chan SessionEvent),
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	s := &c.session
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(sub.out)
		return sub.out, func() {}
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	go sub.run()
	return sub.out, func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
		sub.stop()
	}
}

// closeSubscribers ends every subscription, for Close.
func (s *sessionState) closeSubscribers() {
	s.mu.Lock()
	s.closed = true
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	for sub := range subs {
		sub.stop()
	}
}

// sessionSub is one subscriber: a queue and the goroutine that feeds the
// subscriber's channel from it.
type sessionSub struct {
	out  chan SessionEvent // unbuffered; closed when run returns
	wake chan struct{}     // capacity 1: the queue grew
	quit chan struct{}     // closed by stop
	done chan struct{}     // closed when run has returned

	stopOnce sync.Once

	mu    sync.Mutex // guards queue
	queue []SessionEvent
}

func (s *sessionSub) push(evs []SessionEvent) {
	if len(evs) == 0 {
		return
	}
	s.mu.Lock()
	s.queue = append(s.queue, evs...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sessionSub) run() {
	defer close(s.done)
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.quit:
				return
			}
		}
		ev := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.out <- ev:
		case <-s.quit:
			return
		}
	}
}

// stop ends the subscription and waits for its goroutine. Both the
// subscriber and Close may call it.
func (s *sessionSub) stop() {
	s.stopOnce.Do(func() { close(s.quit) })
	<-s.done
}
