package zkutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
)

// /cluster/id holds the cluster id, created by the first broker that
// starts and never changed:
//
//	{"version":"1","id":"<22-char base64 UUID>"}
//
// (Kafka writes the version as a string here, and only here.) Every
// broker's meta.properties records the id, so that a log directory is never
// served to another cluster.
const (
	clusterPath   = "/cluster"
	clusterIDPath = "/cluster/id"
)

type clusterIDJSON struct {
	Version string `json:"version"`
	ID      string `json:"id"`
}

func encodeClusterID(id string) []byte {
	return marshal(clusterIDJSON{Version: "1", ID: id})
}

// decodeClusterID reads the id. Kafka reads any string: an id is not
// required to be a UUID (an operator may have written one), only to be
// non-empty.
func decodeClusterID(data []byte) (string, error) {
	var v struct {
		Version *string `json:"version"`
		ID      *string `json:"id"`
	}
	if err := unmarshal("cluster id", data, &v); err != nil {
		return "", err
	}
	switch {
	case v.Version == nil || *v.Version != "1":
		return "", malformed("cluster id", errors.New(`version is not "1"`))
	case v.ID == nil || *v.ID == "":
		return "", malformed("cluster id", errors.New("no id"))
	}
	return *v.ID, nil
}

// ClusterID reads the cluster id; ErrNoNode if none was created yet.
func (c *Client) ClusterID(ctx context.Context) (string, error) {
	data, _, err := c.get(ctx, clusterIDPath)
	if err != nil {
		return "", err
	}
	id, err := decodeClusterID(data)
	if err != nil {
		return "", fmt.Errorf("zkutil: %s: %w", clusterIDPath, err)
	}
	return id, nil
}

// GetOrCreateClusterID returns the cluster id, creating it with a new
// random UUID if there is none yet. Brokers starting at once all get the
// same id: exactly one create wins and the others read its id.
func (c *Client) GetOrCreateClusterID(ctx context.Context) (string, error) {
	id, err := c.ClusterID(ctx)
	if !errors.Is(err, ErrNoNode) {
		return id, err
	}
	proposed := NewUUID().String()
	_, err = c.createWithParents(ctx, clusterIDPath, encodeClusterID(proposed), zk.FlagPersistent)
	switch {
	case err == nil:
		c.log.WithField("cluster_id", proposed).Info("created cluster id")
		return proposed, nil
	case errors.Is(err, ErrNodeExists):
		return c.ClusterID(ctx)
	}
	return "", err
}
