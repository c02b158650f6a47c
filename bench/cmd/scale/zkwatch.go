package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// controllerWatch polls the /controller znode, as the brokers elect the
// controller through it, to time the part of a controller failover that
// is ZooKeeper's: the killed controller's ephemeral znode lives until its
// session expires (zookeeper.session.timeout.ms after its last ping), and
// a survivor then creates it for itself.
type controllerWatch struct {
	conn *zk.Conn
	path string
}

// newControllerWatch connects to the ZooKeeper server of zkConnect
// (host:port/chroot).
func newControllerWatch(zkConnect string) (*controllerWatch, error) {
	hosts, chroot, _ := strings.Cut(zkConnect, "/")
	conn, _, err := zk.Connect(strings.Split(hosts, ","), 30*time.Second, zk.WithLogInfo(false))
	if err != nil {
		return nil, err
	}
	return &controllerWatch{conn: conn, path: "/" + chroot + "/controller"}, nil
}

func (w *controllerWatch) Close() { w.conn.Close() }

// controller returns the broker id in the znode, -1 if there is none.
func (w *controllerWatch) controller() (int32, error) {
	data, _, err := w.conn.Get(w.path)
	if errors.Is(err, zk.ErrNoNode) {
		return -1, nil
	}
	if err != nil {
		return -1, err
	}
	var v struct {
		BrokerID int32 `json:"brokerid"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return -1, err
	}
	return v.BrokerID, nil
}

// watch polls every 10 ms from now until ctx ends or the znode names a
// broker other than old; the returned function waits for that and
// returns the times since t0 at which the znode was first seen gone and
// first seen naming another broker (0 if never).
func (w *controllerWatch) watch(ctx context.Context, old int32, t0 time.Time) func() (gone, elected time.Duration) {
	var (
		wg            sync.WaitGroup
		gone, elected time.Duration
	)
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			id, err := w.controller()
			if err == nil {
				if id != old && gone == 0 {
					gone = time.Since(t0)
				}
				if id >= 0 && id != old {
					elected = time.Since(t0)
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	return func() (time.Duration, time.Duration) {
		wg.Wait()
		return gone, elected
	}
}
