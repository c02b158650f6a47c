package zkutil

import (
	"fmt"

	"github.com/go-zookeeper/zk"
)

// WatchEventType says what a watch saw.
type WatchEventType int

// The watch events.
const (
	NodeCreated WatchEventType = iota + 1
	NodeDeleted
	NodeDataChanged
	NodeChildrenChanged
	// WatchLost: the watch will not fire because its session expired
	// (Err matches ErrSessionExpired) or the client closed (ErrClosed).
	// Re-read and re-arm on the new session.
	WatchLost
)

func (t WatchEventType) String() string {
	switch t {
	case NodeCreated:
		return "created"
	case NodeDeleted:
		return "deleted"
	case NodeDataChanged:
		return "data changed"
	case NodeChildrenChanged:
		return "children changed"
	case WatchLost:
		return "watch lost"
	}
	return fmt.Sprintf("WatchEventType(%d)", int(t))
}

// WatchEvent is what a one-shot watch delivers. Like a ZooKeeper watch it
// carries no data: the watcher re-reads the znode (which sets the next
// watch) to learn what changed, and may see several changes at once or
// none at all (a znode deleted and re-created).
type WatchEvent struct {
	Type WatchEventType
	Path string // relative to the chroot
	Err  error  // set for WatchLost
}

// A watch channel, as the *W calls return it, delivers exactly one
// WatchEvent and is then closed. A watch set before a lost connection
// survives a reconnect with the same session (the client sets it again on
// the server); a watch of an expired session fires WatchLost.
//
// forward turns one go-zookeeper watch into such a channel. Its goroutine
// ends when the watch fires, at the latest when the client closes (which
// fires every watch), and Close waits for it.
func (c *Client) forward(ch <-chan zk.Event) <-chan WatchEvent {
	out := make(chan WatchEvent, 1)
	c.watchers.Add(1)
	go func() {
		defer c.watchers.Done()
		defer close(out)
		ev, ok := <-ch
		if !ok {
			out <- WatchEvent{Type: WatchLost, Err: ErrClosed}
			return
		}
		out <- c.watchEvent(ev)
	}()
	return out
}

func (c *Client) watchEvent(ev zk.Event) WatchEvent {
	w := WatchEvent{Path: c.rel(ev.Path)}
	switch ev.Type {
	case zk.EventNodeCreated:
		w.Type = NodeCreated
	case zk.EventNodeDeleted:
		w.Type = NodeDeleted
	case zk.EventNodeDataChanged:
		w.Type = NodeDataChanged
	case zk.EventNodeChildrenChanged:
		w.Type = NodeChildrenChanged
	default: // EventNotWatching
		w.Type = WatchLost
		w.Err = classify(ev.Err)
		if w.Err == nil {
			w.Err = ErrSessionExpired
		}
	}
	return w
}
