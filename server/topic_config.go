package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
)

// configChangeExpiration is how old a change notification under
// /config/changes must be before it is deleted: Kafka's
// ZkNodeChangeNotificationListener purges them after 15 minutes, long
// enough for every broker to have read them.
const configChangeExpiration = 15 * time.Minute

// configChangeRetry is how long the change listener waits before trying
// again to set its watch when ZooKeeper cannot be reached.
const configChangeRetry = 500 * time.Millisecond

// topicConfigs is the broker's cache of topic configs: the broker's topic
// defaults with the overrides of /config/topics/<topic>, as CreateTopics
// or kafka-configs --zookeeper write them. Kafka 2.8 reads the znode each
// time it creates a log (Partition.createLog) and applies later changes
// through its dynamic config mechanism; Gregor does the same, except that
// the LeaderAndIsr path asks for a topic's config for every partition it
// names, so the answer is cached:
//
//   - An entry is filled on first use. It is trusted only while the topic
//     is in the metadata cache: a topic deleted (UpdateMetadata removes
//     it) and created again with other overrides is read afresh, since
//     neither deletion nor creation announces a change.
//   - The change listener (run) watches /config/changes, as every Kafka
//     broker does. A notification {"version":2,"entity_path":"topics/t"}
//     makes it re-read t's overrides and swap the new config into every
//     log of t (Log.UpdateConfig). Notifications older than 15 minutes
//     are deleted, as Kafka purges them. Other entity types (brokers,
//     clients, users) are not applied: Gregor has no dynamic broker
//     configs or quotas yet.
//   - After a session expiry the watch is set again on the new session,
//     and every cached topic is re-read, in case its notification was
//     purged meanwhile.
//
// A read of ZooKeeper is numbered before it is sent, and its result
// replaces an entry only if the entry came from an earlier read: reads
// of one session are answered in order, so a later read never sees an
// older config, and a slow lazy fill cannot overwrite what the listener
// stored after it.
//
// Known gap, shared with Kafka before KAFKA-8813: a log being created
// while a change is applied may be created with the config read just
// before the change.
//
// Safe for concurrent use. mu is never held across ZooKeeper reads.
type topicConfigs struct {
	broker *conf.Config                  // immutable
	logs   *logstore.Manager             // immutable
	known  func(topic string) bool       // immutable: the metadata cache knows the topic
	log    *logrus.Entry                 // component=topic_config
	now    func() time.Time              // immutable after construction; tests move it
	zk     atomic.Pointer[zkutil.Client] // set once connected

	mu       sync.Mutex // guards the fields below
	nextRead uint64
	entries  map[string]*topicConfigEntry
	lastSeq  int64            // sequence number of the last notification processed
	ctimes   map[string]int64 // notification name -> creation time, ms
}

// topicConfigEntry is an immutable snapshot of one topic's config.
type topicConfigEntry struct {
	read uint64 // number of the ZooKeeper read it came from
	tc   conf.TopicConfig
	lc   logstore.LogConfig
}

func newTopicConfigs(broker *conf.Config, logs *logstore.Manager, known func(string) bool, log *logrus.Entry) *topicConfigs {
	return &topicConfigs{
		broker:  broker,
		logs:    logs,
		known:   known,
		log:     log.WithField("component", "topic_config"),
		now:     time.Now,
		entries: map[string]*topicConfigEntry{},
		lastSeq: -1,
		ctimes:  map[string]int64{},
	}
}

// topicConfigWithOverrides applies the overrides stored for a topic to the
// broker's topic defaults. Keys that are not topic keys are ignored, as
// Kafka's LogConfig ignores them; a bad value of a topic key is an error
// (Kafka's LogConfig throws too).
func topicConfigWithOverrides(broker *conf.Config, stored map[string]string) (conf.TopicConfig, error) {
	defaults := broker.TopicDefaults()
	overrides := make(map[string]string, len(stored))
	for k, v := range stored {
		if _, ok := defaults.DescribeKey(k); ok {
			overrides[k] = v
		}
	}
	return defaults.WithOverrides(overrides)
}

// logConfig is the config a topic's new logs are created with, for the
// replica manager: the cached entry while the metadata cache knows the
// topic, otherwise read from ZooKeeper.
func (c *topicConfigs) logConfig(topic string) logstore.LogConfig {
	if e := c.cached(topic); e != nil && c.known(topic) {
		return e.lc
	}
	return c.readOrFallback(topic)
}

// loadConfig is the config of a log loaded from disk at start-up, before
// any metadata has arrived: the cached entry if any, otherwise read from
// ZooKeeper.
func (c *topicConfigs) loadConfig(topic string) logstore.LogConfig {
	if e := c.cached(topic); e != nil {
		return e.lc
	}
	return c.readOrFallback(topic)
}

func (c *topicConfigs) cached(topic string) *topicConfigEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[topic]
}

// readOrFallback reads the topic's config. When ZooKeeper cannot answer,
// the last config known is used, or the broker's defaults for a topic
// never read; Kafka would fail the partition's state change instead, which
// the callers here cannot express.
func (c *topicConfigs) readOrFallback(topic string) logstore.LogConfig {
	e, err := c.refresh(topic)
	if err == nil {
		return e.lc
	}
	if e := c.cached(topic); e != nil {
		c.log.WithError(err).WithField("topic", topic).Warn("reading topic config failed; using the last one read")
		return e.lc
	}
	c.log.WithError(err).WithField("topic", topic).Error("reading topic config failed; using the broker's defaults")
	return logConfigFor(c.broker.TopicDefaults(), c.broker)
}

// refresh reads the topic's overrides and caches the result, unless a
// later read got there first; it returns the entry now cached.
func (c *topicConfigs) refresh(topic string) (*topicConfigEntry, error) {
	zkc := c.zk.Load()
	if zkc == nil {
		return nil, errors.New("not connected to ZooKeeper")
	}
	c.mu.Lock()
	c.nextRead++
	read := c.nextRead
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), c.broker.ZooKeeperSessionTimeout)
	defer cancel()
	stored, err := zkc.EntityConfig(ctx, zkutil.ConfigTopics, topic)
	if err != nil {
		return nil, fmt.Errorf("read /config/topics/%s: %w", topic, err)
	}
	tc, err := topicConfigWithOverrides(c.broker, stored)
	if err != nil {
		return nil, fmt.Errorf("/config/topics/%s: %w", topic, err)
	}
	e := &topicConfigEntry{read: read, tc: tc, lc: logConfigFor(tc, c.broker)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[topic]; old != nil && old.read > read {
		return old, nil
	}
	c.entries[topic] = e
	return e, nil
}

// apply re-reads a topic's config and swaps it into the topic's logs.
func (c *topicConfigs) apply(topic string) error {
	e, err := c.refresh(topic)
	if err != nil {
		return err
	}
	n := 0
	for _, l := range c.logs.Logs() {
		if l.TopicPartition().Topic == topic {
			l.UpdateConfig(e.lc)
			n++
		}
	}
	if n > 0 {
		c.log.WithFields(logrus.Fields{"topic": topic, "logs": n, "overrides": e.tc.Overrides()}).Info("topic config changed")
	}
	return nil
}

// applyAll re-reads every cached topic and every topic with a log here.
func (c *topicConfigs) applyAll() error {
	c.mu.Lock()
	topics := map[string]bool{}
	for t := range c.entries {
		topics[t] = true
	}
	c.mu.Unlock()
	for _, l := range c.logs.Logs() {
		topics[l.TopicPartition().Topic] = true
	}
	var errs []error
	for _, t := range slices.Sorted(maps.Keys(topics)) {
		errs = append(errs, c.apply(t))
	}
	return errors.Join(errs...)
}

// run is the change listener: it watches /config/changes until ctx is
// done, processing new notifications and purging old ones.
func (c *topicConfigs) run(ctx context.Context) {
	zkc := c.zk.Load()
	sessions, stop := zkc.SessionEvents()
	defer stop()
	lost := false
	for {
		names, watch, err := zkc.WatchConfigChanges(ctx)
		if err == nil && lost {
			// A notification may have been purged while this broker was
			// away: re-read everything once.
			if err := c.applyAll(); err != nil {
				c.log.WithError(err).Warn("re-reading topic configs after session expiry failed")
			}
			lost = false
		}
		if err == nil {
			c.processChanges(ctx, names)
		} else {
			if ctx.Err() != nil {
				return
			}
			c.log.WithError(err).Warn("watching /config/changes failed; retrying")
			watch = nil
		}
		var retry <-chan time.Time
		var timer *time.Timer
		if watch == nil {
			timer = time.NewTimer(configChangeRetry)
			retry = timer.C
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-watch:
				if ok && ev.Type == zkutil.WatchLost {
					if errors.Is(ev.Err, zkutil.ErrClosed) {
						return
					}
					// The session expired: set the watch again, which
					// waits for the new session, and re-read everything.
					lost = true
				}
				break wait
			case ev, ok := <-sessions:
				if !ok {
					return
				}
				if ev.Type == zkutil.SessionNew {
					lost = true
					break wait
				}
			case <-retry:
				break wait
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// processChanges processes the notifications not processed yet (all of
// them the first time, as Kafka does at start-up), re-reading each topic
// named once, then deletes the notifications older than 15 minutes.
func (c *topicConfigs) processChanges(ctx context.Context, names []string) {
	zkc := c.zk.Load()
	slices.Sort(names) // ten-digit sequence numbers sort as text
	c.mu.Lock()
	last := c.lastSeq
	c.mu.Unlock()
	var topics []string
	ctimes := map[string]int64{}
	for _, name := range names {
		seq, ok := configChangeSeq(name)
		if !ok {
			continue
		}
		if seq <= last {
			continue
		}
		cc, st, err := zkc.ConfigChangeNotification(ctx, name)
		if errors.Is(err, zkutil.ErrNoNode) {
			last = seq // purged by another broker meanwhile
			continue
		}
		if err != nil {
			// A malformed notification is skipped, as Kafka logs and
			// skips it; a failed read is retried at the next change.
			if !errors.Is(err, zkutil.ErrMalformed) {
				c.log.WithError(err).WithField("notification", name).Warn("reading config change failed")
				break
			}
			c.log.WithError(err).WithField("notification", name).Warn("skipping malformed config change")
			ctimes[name] = st.Ctime
			last = seq
			continue
		}
		ctimes[name] = st.Ctime
		last = seq
		if typ, topic := cc.Entity(); typ == zkutil.ConfigTopics && !slices.Contains(topics, topic) {
			topics = append(topics, topic)
		}
	}
	for _, t := range topics {
		if err := c.apply(t); err != nil {
			c.log.WithError(err).WithField("topic", t).Warn("applying topic config change failed")
		}
	}
	c.mu.Lock()
	c.lastSeq = last
	maps.Copy(c.ctimes, ctimes)
	var purge []string
	now := c.now().UnixMilli()
	present := map[string]bool{}
	for _, name := range names {
		present[name] = true
		if ct, ok := c.ctimes[name]; ok && now-ct > configChangeExpiration.Milliseconds() {
			purge = append(purge, name)
		}
	}
	maps.DeleteFunc(c.ctimes, func(name string, _ int64) bool { return !present[name] })
	c.mu.Unlock()
	for _, name := range purge {
		if err := zkc.DeleteConfigChangeNotification(ctx, name); err != nil {
			c.log.WithError(err).WithField("notification", name).Warn("purging config change failed")
			continue
		}
		c.mu.Lock()
		delete(c.ctimes, name)
		c.mu.Unlock()
	}
}

// configChangeSeq is the sequence number of a notification's znode name.
func configChangeSeq(name string) (int64, bool) {
	digits, ok := strings.CutPrefix(name, zkutil.ConfigChangePrefix)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}
