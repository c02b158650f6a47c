package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// createTopicWithConfigs creates a one-partition topic with the given
// overrides through CreateTopics and waits until this broker hosts its log.
func createTopicWithConfigs(t *testing.T, b *Broker, cl *kgo.Client, topic string, configs map[string]string) *logstore.Log {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	var l *logstore.Log
	waitFor(t, "topic "+topic+" created", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return false
		}
		if code := resp.Topics[0].ErrorCode; code != 0 && code != kerr.TopicAlreadyExists.Code {
			return false
		}
		var ok bool
		l, ok = b.logs.GetLog(logstore.TopicPartition{Topic: topic, Partition: 0})
		return ok
	})
	return l
}

func segmentFiles(t *testing.T, l *logstore.Log) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(l.Dir(), "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// Overrides given to CreateTopics reach the topic's log; a change written
// as kafka-configs --zookeeper writes it (the config znode, then a change
// notification) reaches the live log, and DescribeConfigs reports it as a
// dynamic topic config.
func TestTopicConfigsAppliedToLogs(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	b, _ := startStoppable(t, testBrokerConfig(t, 1, zkConnect))
	zkc := connectZK(t, zkConnect)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.DefaultProduceTopic("small-segments"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 1)
	l := createTopicWithConfigs(t, b, cl, "small-segments", map[string]string{
		"segment.bytes": "1024", "retention.ms": "3600000", "cleanup.policy": "delete",
	})
	if c := l.Config(); c.SegmentBytes != 1024 || c.RetentionMs != time.Hour {
		t.Fatalf("log created with segment.bytes=%d retention=%v, want 1024 and 1h", c.SegmentBytes, c.RetentionMs)
	}
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat(fmt.Sprint(i%10), 200))}).FirstErr()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	rolled := segmentFiles(t, l)
	if rolled < 3 {
		t.Fatalf("%d segments after 20 batches of 200 bytes with segment.bytes=1024, want several", rolled)
	}

	// kafka-configs --zookeeper --alter: the znode, then the notification.
	ctx := context.Background()
	if err := zkc.SetEntityConfig(ctx, zkutil.ConfigTopics, "small-segments", map[string]string{
		"segment.bytes": "1048576", "retention.ms": "7200000",
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := zkc.NotifyConfigChange(ctx, zkutil.ConfigTopics, "small-segments"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the live log to get the new config", func() bool {
		c := l.Config()
		return c.SegmentBytes == 1<<20 && c.RetentionMs == 2*time.Hour
	})
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(strings.Repeat("x", 200))}).FirstErr()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := segmentFiles(t, l); n > rolled {
		t.Fatalf("%d segments after the change, %d before: the log still rolls at 1024 bytes", n, rolled)
	}

	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = kmsg.ConfigResourceTypeTopic, "small-segments", []string{"segment.bytes", "cleanup.policy"}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	seg := findConfig(t, resp.Resources[0], "segment.bytes")
	if seg.Source != kmsg.ConfigSourceDynamicTopicConfig || seg.Value == nil || *seg.Value != "1048576" {
		t.Fatalf("segment.bytes described as %v from %v, want 1048576 from DYNAMIC_TOPIC_CONFIG", seg.Value, seg.Source)
	}
	// cleanup.policy was dropped by the change: back to the default.
	if cp := findConfig(t, resp.Resources[0], "cleanup.policy"); cp.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy source %v after the override was removed, want DEFAULT_CONFIG", cp.Source)
	}
}

// After a ZooKeeper session expiry the broker watches /config/changes
// again: a change made afterwards still reaches the log.
func TestTopicConfigChangesAfterSessionExpiry(t *testing.T) {
	zk := zktest.Shared(t)
	zkConnect := zk.Chroot(t)
	b, _ := startStoppable(t, testBrokerConfig(t, 1, zkConnect))
	zkc := connectZK(t, zkConnect)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addrs()[0].String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 1)
	l := createTopicWithConfigs(t, b, cl, "expiring", map[string]string{"retention.ms": "1000000"})

	b.mu.Lock()
	session := b.zk.SessionID()
	b.mu.Unlock()
	if err := zk.ExpireSession(context.Background(), session); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Two changes, each waited for: the second can only be seen through a
	// watch set on the new session (the first may also be picked up by the
	// re-read that follows the expiry).
	for _, retention := range []time.Duration{2000 * time.Second, 3000 * time.Second} {
		ms := fmt.Sprint(retention.Milliseconds())
		if err := zkc.SetEntityConfig(ctx, zkutil.ConfigTopics, "expiring", map[string]string{"retention.ms": ms}); err != nil {
			t.Fatal(err)
		}
		if _, err := zkc.NotifyConfigChange(ctx, zkutil.ConfigTopics, "expiring"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "retention.ms="+ms+" on the log", func() bool { return l.Config().RetentionMs == retention })
	}
}

// topicConfigsForTest is a cache over a real ZooKeeper chroot and a log
// manager in a temporary folder; known says whether the metadata cache
// knows a topic.
func topicConfigsForTest(t *testing.T) (*topicConfigs, *zkutil.Client, *atomic.Bool) {
	t.Helper()
	zkConnect := zktest.Shared(t).Chroot(t)
	zkc := connectZK(t, zkConnect)
	if err := zkc.CreateTopLevelPaths(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := conf.Parse(map[string]string{"broker.id": "1", "log.dirs": t.TempDir(), "zookeeper.connect": zkConnect})
	if err != nil {
		t.Fatal(err)
	}
	logs, err := logstore.NewManager(logstore.ManagerConfig{Dirs: cfg.LogDirs, DefaultLogConfig: logstore.DefaultLogConfig()})
	if err != nil {
		t.Fatal(err)
	}
	if err := logs.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Shutdown() })
	known := &atomic.Bool{}
	c := newTopicConfigs(cfg, logs, func(string) bool { return known.Load() }, discardLogger())
	c.zk.Store(zkc)
	return c, zkc, known
}

// The cache answers from memory while the metadata cache knows the topic,
// and reads ZooKeeper again for a topic it does not know (created anew,
// perhaps with other overrides, which no notification announces).
func TestTopicConfigCacheTrustedWhileTopicKnown(t *testing.T) {
	c, zkc, known := topicConfigsForTest(t)
	ctx := context.Background()
	set := func(segmentBytes string) {
		t.Helper()
		if err := zkc.SetEntityConfig(ctx, zkutil.ConfigTopics, "t", map[string]string{"segment.bytes": segmentBytes}); err != nil {
			t.Fatal(err)
		}
	}
	set("2048")
	if got := c.logConfig("t").SegmentBytes; got != 2048 {
		t.Fatalf("first use: segment.bytes %d, want 2048 from ZooKeeper", got)
	}
	known.Store(true)
	set("4096") // no notification
	if got := c.logConfig("t").SegmentBytes; got != 2048 {
		t.Fatalf("known topic: segment.bytes %d, want the cached 2048", got)
	}
	known.Store(false) // deleted, then created again
	if got := c.logConfig("t").SegmentBytes; got != 4096 {
		t.Fatalf("unknown topic: segment.bytes %d, want 4096 read again", got)
	}
	set("not-a-number")
	if got := c.logConfig("t").SegmentBytes; got != 4096 {
		t.Fatalf("bad override: segment.bytes %d, want the last good 4096", got)
	}
	// Never read successfully: the broker's defaults.
	if err := zkc.SetEntityConfig(ctx, zkutil.ConfigTopics, "u", map[string]string{"segment.bytes": "1"}); err != nil {
		t.Fatal(err)
	}
	if got, want := c.logConfig("u").SegmentBytes, c.broker.TopicDefaults().SegmentBytes; got != want {
		t.Fatalf("bad override, nothing cached: segment.bytes %d, want the default %d", got, want)
	}
}

// Notifications are processed once each, in order, and purged once older
// than 15 minutes; younger ones are left for the other brokers.
func TestConfigChangesProcessedAndPurged(t *testing.T) {
	c, zkc, _ := topicConfigsForTest(t)
	ctx := context.Background()
	l, err := c.logs.GetOrCreateLog(logstore.TopicPartition{Topic: "t", Partition: 0}, logstore.DefaultLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := zkc.SetEntityConfig(ctx, zkutil.ConfigTopics, "t", map[string]string{"retention.ms": "5000"}); err != nil {
		t.Fatal(err)
	}
	old, err := zkc.NotifyConfigChange(ctx, zkutil.ConfigTopics, "t")
	if err != nil {
		t.Fatal(err)
	}
	_, oldStat, err := zkc.ConfigChangeNotification(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	// A notification Kafka would not write is skipped, not retried for
	// ever, and does not hold up the ones after it.
	writeRawNotification(t, c.broker.ZooKeeper, []byte(`{"version":2,"entity_path":"nonsense"}`))
	if err := zkc.SetEntityConfig(ctx, zkutil.ConfigTopics, "v", map[string]string{"retention.ms": "7000"}); err != nil {
		t.Fatal(err)
	}
	if _, err := zkc.NotifyConfigChange(ctx, zkutil.ConfigTopics, "v"); err != nil {
		t.Fatal(err)
	}
	lv, err := c.logs.GetOrCreateLog(logstore.TopicPartition{Topic: "v", Partition: 0}, logstore.DefaultLogConfig())
	if err != nil {
		t.Fatal(err)
	}
	// A second notification created at least a millisecond later; extra
	// ones made within the same millisecond are as old as the first.
	var young string
	for {
		young, err = zkc.NotifyConfigChange(ctx, zkutil.ConfigBrokers, "<default>")
		if err != nil {
			t.Fatal(err)
		}
		_, st, err := zkc.ConfigChangeNotification(ctx, young)
		if err != nil {
			t.Fatal(err)
		}
		if st.Ctime > oldStat.Ctime {
			break
		}
	}
	// 15 minutes and 1 ms after the first: only the first is obsolete
	// (and any created in its millisecond).
	c.now = func() time.Time { return time.UnixMilli(oldStat.Ctime).Add(configChangeExpiration + time.Millisecond) }
	names, err := zkc.ConfigChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.processChanges(ctx, names)
	if got := l.Config().RetentionMs; got != 5*time.Second {
		t.Fatalf("retention %v after the notification, want 5s", got)
	}
	if got := lv.Config().RetentionMs; got != 7*time.Second {
		t.Fatalf("retention %v after a notification behind a malformed one, want 7s", got)
	}
	left, err := zkc.ConfigChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) == 0 || left[len(left)-1] != young || left[0] == old {
		t.Fatalf("notifications left %v: want %s purged and %s kept", left, old, young)
	}

	// Processed notifications are not processed again: a config changed
	// without a notification stays unapplied.
	if err := zkc.SetEntityConfig(ctx, zkutil.ConfigTopics, "t", map[string]string{"retention.ms": "6000"}); err != nil {
		t.Fatal(err)
	}
	c.processChanges(ctx, left)
	if got := l.Config().RetentionMs; got != 5*time.Second {
		t.Fatalf("retention %v: a processed notification was processed again", got)
	}
	// Once everything is old enough, the rest go too.
	c.now = func() time.Time { return time.Now().Add(configChangeExpiration + time.Minute) }
	c.processChanges(ctx, left)
	if left, err := zkc.ConfigChanges(ctx); err != nil || len(left) != 0 {
		t.Fatalf("notifications left %v %v, want none", left, err)
	}
}

// writeRawNotification writes a change notification with the given bytes,
// as a tool other than Kafka's might.
func writeRawNotification(t *testing.T, zkc conf.ZooKeeper, data []byte) {
	t.Helper()
	conn, _, err := zk.Connect(zkc.Servers, 6*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Create(zkc.Chroot+"/config/changes/"+zkutil.ConfigChangePrefix, data, zk.FlagSequence, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
}
