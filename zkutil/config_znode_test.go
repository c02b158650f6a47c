package zkutil

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-zookeeper/zk"
)

func TestEntityConfigAndNotifications(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	admin, broker := cs[0], cs[1]
	ctx := testContext(t)

	if cfg, err := broker.EntityConfig(ctx, ConfigTopics, "orders"); err != nil || len(cfg) != 0 || cfg == nil {
		t.Fatalf("config of an entity without overrides: %v, %v", cfg, err)
	}
	want := map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact"}
	if err := admin.SetEntityConfig(ctx, ConfigTopics, "orders", want); err != nil { // creates /config/topics on the way
		t.Fatal(err)
	}
	if err := admin.SetEntityConfig(ctx, ConfigUsers, "alice/clients/app", map[string]string{"producer_byte_rate": "1024"}); err != nil {
		t.Fatal(err)
	}
	if err := broker.CreateTopLevelPaths(ctx); err != nil {
		t.Fatal(err)
	}
	changes, watch, err := broker.WatchConfigChanges(ctx)
	if err != nil || len(changes) != 0 {
		t.Fatalf("WatchConfigChanges = %v, %v", changes, err)
	}
	node, err := admin.NotifyConfigChange(ctx, ConfigTopics, "orders")
	if err != nil || !strings.HasPrefix(node, ConfigChangePrefix) || len(node) != len(ConfigChangePrefix)+10 {
		t.Fatalf("NotifyConfigChange = %q, %v", node, err)
	}
	if ev := waitWatch(t, watch); ev.Type != NodeChildrenChanged || ev.Path != "/config/changes" {
		t.Errorf("change watch: %+v", ev)
	}
	node2, err := admin.NotifyConfigChange(ctx, ConfigUsers, "alice/clients/app")
	if err != nil {
		t.Fatal(err)
	}
	changes, err = broker.ConfigChanges(ctx)
	if err != nil || !reflect.DeepEqual(changes, []string{node, node2}) {
		t.Fatalf("ConfigChanges = %v, %v; want [%s %s]", changes, err, node, node2)
	}
	cc, st, err := broker.ConfigChangeNotification(ctx, node)
	if err != nil || cc.EntityPath != "topics/orders" || st.Ctime == 0 {
		t.Fatalf("ConfigChangeNotification = %+v, %v", cc, err)
	}
	typ, name := cc.Entity()
	cfg, err := broker.EntityConfig(ctx, typ, name)
	if err != nil || !reflect.DeepEqual(cfg, want) {
		t.Errorf("EntityConfig(%s, %s) = %v, %v", typ, name, cfg, err)
	}
	cc, _, err = broker.ConfigChangeNotification(ctx, node2)
	if typ, name := cc.Entity(); err != nil || typ != ConfigUsers || name != "alice/clients/app" {
		t.Errorf("second notification: %+v, %v", cc, err)
	}
	if names, err := broker.ConfigEntities(ctx, ConfigTopics); err != nil || !reflect.DeepEqual(names, []string{"orders"}) {
		t.Errorf("ConfigEntities(topics) = %v, %v", names, err)
	}
	// A notification Kafka would not write is reported with its stat, so
	// that a broker can skip it and still purge it once old.
	bad, err := admin.createWithParents(ctx, configChangesPath+"/"+ConfigChangePrefix, []byte(`{"version":2}`), zk.FlagPersistent|zk.FlagSequence)
	if err != nil {
		t.Fatal(err)
	}
	bad = bad[strings.LastIndexByte(bad, '/')+1:]
	if _, st, err := broker.ConfigChangeNotification(ctx, bad); !errors.Is(err, ErrMalformed) || st.Ctime == 0 {
		t.Errorf("malformed notification: stat %+v, %v; want ErrMalformed with the stat", st, err)
	}
	for _, n := range []string{node, node, node2, bad} { // deleting twice is harmless
		if err := broker.DeleteConfigChangeNotification(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.SetEntityConfig(ctx, ConfigTopics, "orders", nil); err != nil {
		t.Fatal(err)
	}
	if cfg, err := broker.EntityConfig(ctx, ConfigTopics, "orders"); err != nil || len(cfg) != 0 {
		t.Errorf("after clearing: %v, %v", cfg, err)
	}
	if err := admin.DeleteEntityConfig(ctx, NoFence, ConfigTopics, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := admin.DeleteEntityConfig(ctx, NoFence, ConfigTopics, "orders"); err != nil {
		t.Errorf("deleting a deleted config: %v", err)
	}
	if err := admin.SetEntityConfig(ctx, ConfigTopics, "a/../../b", want); !errors.Is(err, ErrInvalidName) {
		t.Errorf("an entity name climbing out of /config: %v", err)
	}
}

func TestAdminRequests(t *testing.T) {
	t.Parallel()
	cs := clients(t, 2)
	tool, controller := cs[0], cs[1]
	ctx := testContext(t)
	e, err := controller.RegisterController(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.CreateTopLevelPaths(ctx); err != nil {
		t.Fatal(err)
	}

	// Topic deletion.
	pending, watch, err := controller.WatchTopicDeletions(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("WatchTopicDeletions = %v, %v", pending, err)
	}
	if err := tool.RequestTopicDeletion(ctx, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := tool.RequestTopicDeletion(ctx, "orders"); !errors.Is(err, ErrNodeExists) {
		t.Errorf("requesting a deletion twice: %v, want ErrNodeExists", err)
	}
	waitWatch(t, watch)
	if pending, err := controller.TopicDeletions(ctx); err != nil || !reflect.DeepEqual(pending, []string{"orders"}) {
		t.Errorf("TopicDeletions = %v, %v", pending, err)
	}
	if err := controller.DeleteTopicDeletion(ctx, e.Fence(), "orders"); err != nil {
		t.Fatal(err)
	}

	// Partition reassignment.
	_, ok, watch, err := controller.WatchPartitionReassignment(ctx)
	if err != nil || ok {
		t.Fatalf("WatchPartitionReassignment with none pending: ok=%v, %v", ok, err)
	}
	want := map[TopicPartition][]int32{{"orders", 0}: {2, 3}, {"orders", 1}: {3, 1}}
	if err := tool.CreatePartitionReassignment(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := tool.CreatePartitionReassignment(ctx, want); !errors.Is(err, ErrNodeExists) {
		t.Errorf("a second reassignment while one is pending: %v", err)
	}
	if ev := waitWatch(t, watch); ev.Type != NodeCreated {
		t.Errorf("reassignment watch: %+v", ev)
	}
	got, ok, watch, err := controller.WatchPartitionReassignment(ctx)
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("PartitionReassignment = %v, %v, %v", got, ok, err)
	}
	if err := controller.DeletePartitionReassignment(ctx, e.Fence()); err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, watch); ev.Type != NodeDeleted {
		t.Errorf("reassignment watch: %+v", ev)
	}

	// Preferred replica election.
	tps := []TopicPartition{{"orders", 1}, {"orders", 0}}
	if err := tool.CreatePreferredReplicaElection(ctx, tps); err != nil {
		t.Fatal(err)
	}
	gotTPs, ok, _, err := controller.WatchPreferredReplicaElection(ctx)
	if err != nil || !ok || !reflect.DeepEqual(gotTPs, []TopicPartition{{"orders", 0}, {"orders", 1}}) {
		t.Fatalf("PreferredReplicaElection = %v, %v, %v", gotTPs, ok, err)
	}
	if err := controller.DeletePreferredReplicaElection(ctx, e.Fence()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := controller.PreferredReplicaElection(ctx); err != nil || ok {
		t.Errorf("after the delete: ok=%v, %v", ok, err)
	}
	if err := tool.CreatePreferredReplicaElection(ctx, []TopicPartition{{"orders", -1}}); err == nil {
		t.Error("a negative partition was accepted")
	}
}

func TestConsumerOffsets(t *testing.T) {
	t.Parallel()
	c := testClient(t)
	ctx := testContext(t)
	tp := TopicPartition{"orders", 4}
	if _, ok, err := c.ConsumerOffset(ctx, "g", tp); err != nil || ok {
		t.Fatalf("no offset yet: ok=%v, %v", ok, err)
	}
	for _, offset := range []int64{42, 43, -1} {
		if err := c.SetConsumerOffset(ctx, "g", tp, offset); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := c.ConsumerOffset(ctx, "g", tp); err != nil || !ok || got != offset {
			t.Fatalf("ConsumerOffset = %d, %v, %v; want %d", got, ok, err, offset)
		}
	}
	if data, _, err := c.get(ctx, "/consumers/g/offsets/orders/4"); err != nil || string(data) != "-1" {
		t.Errorf("the znode holds %q, %v", data, err)
	}
	if err := c.SetConsumerOffset(ctx, "a/b", tp, 1); !errors.Is(err, ErrInvalidName) {
		t.Errorf("a group with '/': %v", err)
	}
}
