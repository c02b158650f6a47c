package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gregor-broker/gregor/conf"
)

// MetaProperties is a log directory's meta.properties, in Kafka's format (a
// Java properties file with version=0, broker.id and cluster.id). It ties the
// directory to one broker of one cluster, so that a disk moved to the wrong
// broker, or pointed at another cluster's ZooKeeper, is refused at start-up
// instead of serving someone else's data.
type MetaProperties struct {
	Version   int
	BrokerID  int32
	ClusterID string // empty when not yet known
}

// ReadMetaProperties reads <dir>/meta.properties. exists is false when the
// file is missing. Garbage in the file is an error wrapping ErrCorrupt that
// names the file and the bad key.
func ReadMetaProperties(fsys FS, dir string) (mp MetaProperties, exists bool, err error) {
	path := filepath.Join(dir, MetaPropertiesFile)
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return mp, false, nil
	}
	if err != nil {
		return mp, false, storageErr("open "+path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return mp, true, storageErr("read "+path, err)
	}
	props, err := conf.ParseProperties(data)
	if err != nil {
		return mp, true, Corruptf("%s: %w", path, err)
	}
	version, err := strconv.Atoi(props["version"])
	if err != nil || version != 0 {
		return mp, true, Corruptf("%s: version=%q: must be 0", path, props["version"])
	}
	id, err := strconv.ParseInt(props["broker.id"], 10, 32)
	if err != nil || id < 0 {
		return mp, true, Corruptf("%s: broker.id=%q: must be a non-negative int", path, props["broker.id"])
	}
	return MetaProperties{Version: version, BrokerID: int32(id), ClusterID: props["cluster.id"]}, true, nil
}

// WriteMetaProperties writes <dir>/meta.properties atomically.
func WriteMetaProperties(fsys FS, dir string, mp MetaProperties, now time.Time) error {
	var b strings.Builder
	fmt.Fprintf(&b, "#\n#%s\n", now.UTC().Format("Mon Jan 02 15:04:05 MST 2006"))
	if mp.ClusterID != "" {
		fmt.Fprintf(&b, "cluster.id=%s\n", mp.ClusterID)
	}
	fmt.Fprintf(&b, "version=%d\nbroker.id=%d\n", mp.Version, mp.BrokerID)
	_, err := writeFileAtomic(fsys, filepath.Join(dir, MetaPropertiesFile), []byte(b.String()))
	return err
}

// EnsureMetaProperties checks every online log directory's meta.properties
// against the broker's id and the cluster's id, and writes it where it is
// missing (or lacks the cluster id). A directory that belongs to another
// broker or cluster fails start-up, as Kafka's InconsistentBrokerIdException
// and InconsistentClusterIdException do.
func (m *Manager) EnsureMetaProperties(brokerID int32, clusterID string) error {
	var errs []error
	for _, dir := range m.cfg.Dirs {
		m.mu.Lock()
		_, off := m.offline[dir]
		m.mu.Unlock()
		if off {
			continue
		}
		mp, exists, err := ReadMetaProperties(m.fs, dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if exists && mp.BrokerID != brokerID {
			errs = append(errs, fmt.Errorf("logstore: configured broker.id %d does not match broker.id %d stored in %s",
				brokerID, mp.BrokerID, filepath.Join(dir, MetaPropertiesFile)))
			continue
		}
		if exists && mp.ClusterID != "" && clusterID != "" && mp.ClusterID != clusterID {
			errs = append(errs, fmt.Errorf("logstore: cluster id %s does not match cluster.id %s stored in %s: the log directory belongs to another cluster",
				clusterID, mp.ClusterID, filepath.Join(dir, MetaPropertiesFile)))
			continue
		}
		if !exists || (mp.ClusterID == "" && clusterID != "") {
			err := WriteMetaProperties(m.fs, dir, MetaProperties{BrokerID: brokerID, ClusterID: clusterID}, m.cfg.Now())
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
