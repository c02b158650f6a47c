package integration

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// ZK opens a ZooKeeper session of the test's own on the cluster's chroot,
// closed when the test ends, to look at the znodes the brokers write.
func (c *Cluster) ZK() *ClusterZK {
	c.t.Helper()
	servers, chroot, _ := strings.Cut(c.ZKConnect, "/")
	conn, _, err := zk.Connect(strings.Split(servers, ","), 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		c.t.Fatalf("connecting to ZooKeeper at %s: %v", servers, err)
	}
	c.t.Cleanup(conn.Close)
	return &ClusterZK{conn: conn, chroot: "/" + chroot}
}

// ClusterZK reads a cluster's znodes under its chroot.
type ClusterZK struct {
	conn   *zk.Conn
	chroot string
}

// BrokerIDs returns the ids registered under /brokers/ids, sorted.
func (z *ClusterZK) BrokerIDs() ([]int32, error) {
	names, _, err := z.conn.Children(z.chroot + "/brokers/ids")
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, n := range names {
		id, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			return nil, err
		}
		ids = append(ids, int32(id))
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// BrokerCzxid returns the czxid of /brokers/ids/<id> (the broker epoch),
// or 0 when the broker is not registered.
func (z *ClusterZK) BrokerCzxid(id int32) (int64, error) {
	_, st, err := z.conn.Get(z.chroot + "/brokers/ids/" + strconv.Itoa(int(id)))
	if errors.Is(err, zk.ErrNoNode) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return st.Czxid, nil
}

// RestartAfterExpiry restarts b once its old registration is gone from
// /brokers/ids. After kill -9 the znode lives until ZooKeeper expires the
// dead process's session, and a broker started before that refuses to
// register, as Kafka's does; a leader elsewhere is no proof of the expiry
// (leadership can move for other reasons).
func (c *Cluster) RestartAfterExpiry(b *Broker) {
	c.t.Helper()
	z := c.ZK()
	var last string
	c.waitFor(60*time.Second, fmt.Sprintf("broker %d's old registration to expire", b.ID), func() bool {
		ids, err := z.BrokerIDs()
		last = fmt.Sprint(ids, err)
		return err == nil && !slices.Contains(ids, b.ID)
	}, &last)
	b.Restart()
}
