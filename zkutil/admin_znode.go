package zkutil

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"
)

// Admin requests the controller carries out, written by tools and by the
// brokers' admin request handlers:
//
//	/admin/delete_topics/<topic>          empty: delete the topic
//	/admin/reassign_partitions            {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}
//	/admin/preferred_replica_election     {"version":1,"partitions":[{"topic":"t","partition":0}]}
//
// The controller watches them, acts, and deletes the request znode behind
// its fence when done. (Kafka 2.4 and later prefer the AlterPartitionReassignments
// and ElectLeaders APIs, but still honour the znodes, as Gregor does.)
const (
	adminPath                    = "/admin"
	deleteTopicsPath             = "/admin/delete_topics"
	reassignPartitionsPath       = "/admin/reassign_partitions"
	preferredReplicaElectionPath = "/admin/preferred_replica_election"
)

// RequestTopicDeletion asks the controller to delete a topic. ErrNodeExists
// when a deletion of the topic is already pending.
func (c *Client) RequestTopicDeletion(ctx context.Context, topic string) error {
	if err := checkName("topic", topic); err != nil {
		return err
	}
	_, err := c.createWithParents(ctx, deleteTopicsPath+"/"+topic, nil, zk.FlagPersistent)
	return err
}

// TopicDeletions lists the topics whose deletion is pending, sorted.
func (c *Client) TopicDeletions(ctx context.Context) ([]string, error) {
	topics, err := c.children(ctx, deleteTopicsPath)
	if errors.Is(err, ErrNoNode) {
		return []string{}, nil
	}
	return topics, err
}

// WatchTopicDeletions lists the pending deletions and sets a watch that
// fires when one is requested or removed (Kafka's
// TopicDeletionHandler).
func (c *Client) WatchTopicDeletions(ctx context.Context) ([]string, <-chan WatchEvent, error) {
	return c.childrenW(ctx, deleteTopicsPath)
}

// DeleteTopicDeletion removes a topic's deletion request, behind f: the
// controller's last step of a deletion (or its refusal of one). One already
// gone is not an error.
func (c *Client) DeleteTopicDeletion(ctx context.Context, f Fence, topic string) error {
	if err := checkName("topic", topic); err != nil {
		return err
	}
	err := c.fencedDelete(ctx, f, deleteTopicsPath+"/"+topic, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

type reassignmentJSON struct {
	Version    int                         `json:"version"`
	Partitions []partitionReassignmentJSON `json:"partitions"`
}

type partitionReassignmentJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Replicas  int32s `json:"replicas"`
}

// encodeReassignment writes the partitions sorted by topic and partition,
// so that equal requests are equal bytes.
func encodeReassignment(m map[TopicPartition][]int32) []byte {
	v := reassignmentJSON{Version: 1, Partitions: []partitionReassignmentJSON{}}
	for _, tp := range sortedPartitions(m) {
		v.Partitions = append(v.Partitions, partitionReassignmentJSON{Topic: tp.Topic, Partition: tp.Partition, Replicas: m[tp]})
	}
	return marshal(v)
}

// decodeReassignment reads a reassignment request. A partition listed
// twice takes its last replicas, as Kafka's toMap does.
func decodeReassignment(data []byte) (map[TopicPartition][]int32, error) {
	var v struct {
		Version    *int `json:"version"`
		Partitions *[]struct {
			Topic     *string `json:"topic"`
			Partition *int32  `json:"partition"`
			Replicas  *int32s `json:"replicas"`
		} `json:"partitions"`
	}
	if err := unmarshal("partition reassignment", data, &v); err != nil {
		return nil, err
	}
	switch {
	case v.Version == nil || *v.Version != 1:
		return nil, malformed("partition reassignment", errors.New("version is not 1"))
	case v.Partitions == nil:
		return nil, malformed("partition reassignment", errors.New("no partitions"))
	}
	out := make(map[TopicPartition][]int32, len(*v.Partitions))
	for _, p := range *v.Partitions {
		if p.Topic == nil || p.Partition == nil || p.Replicas == nil {
			return nil, malformed("partition reassignment", errors.New("an entry lacks topic, partition or replicas"))
		}
		tp := TopicPartition{Topic: *p.Topic, Partition: *p.Partition}
		if err := checkTopicPartition(tp); err != nil {
			return nil, malformed("partition reassignment", err)
		}
		out[tp] = []int32(*p.Replicas)
	}
	return out, nil
}

// checkTopicPartition checks what a request may name: a topic that can be
// a znode name and a partition that is not negative.
func checkTopicPartition(tp TopicPartition) error {
	if err := checkName("topic", tp.Topic); err != nil {
		return err
	}
	if tp.Partition < 0 {
		return fmt.Errorf("partition %d of topic %q is negative", tp.Partition, tp.Topic)
	}
	return nil
}

// PartitionReassignment reads the pending reassignment request; ok is
// false when there is none.
func (c *Client) PartitionReassignment(ctx context.Context) (m map[TopicPartition][]int32, ok bool, err error) {
	data, _, err := c.get(ctx, reassignPartitionsPath)
	if errors.Is(err, ErrNoNode) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	m, err = decodeReassignment(data)
	if err != nil {
		return nil, false, fmt.Errorf("zkutil: %s: %w", reassignPartitionsPath, err)
	}
	return m, true, nil
}

// WatchPartitionReassignment reads the pending request like
// PartitionReassignment and sets a watch that fires when one is created,
// changed or deleted (Kafka's PartitionReassignmentHandler).
func (c *Client) WatchPartitionReassignment(ctx context.Context) (m map[TopicPartition][]int32, ok bool, watch <-chan WatchEvent, err error) {
	exists, _, watch, err := c.existsW(ctx, reassignPartitionsPath)
	if err != nil || !exists {
		return nil, false, watch, err
	}
	m, ok, err = c.PartitionReassignment(ctx)
	return m, ok, watch, err
}

// CreatePartitionReassignment writes a reassignment request;
// ErrNodeExists while another is pending.
func (c *Client) CreatePartitionReassignment(ctx context.Context, m map[TopicPartition][]int32) error {
	for tp := range m {
		if err := checkTopicPartition(tp); err != nil {
			return err
		}
	}
	_, err := c.createWithParents(ctx, reassignPartitionsPath, encodeReassignment(m), zk.FlagPersistent)
	return err
}

// DeletePartitionReassignment removes the reassignment request, behind f,
// once the controller has carried it out. One already gone is not an
// error.
func (c *Client) DeletePartitionReassignment(ctx context.Context, f Fence) error {
	err := c.fencedDelete(ctx, f, reassignPartitionsPath, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

type preferredReplicaElectionJSON struct {
	Version    int                  `json:"version"`
	Partitions []topicPartitionJSON `json:"partitions"`
}

type topicPartitionJSON struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

// encodePreferredReplicaElection writes the partitions sorted, once each.
func encodePreferredReplicaElection(tps []TopicPartition) []byte {
	v := preferredReplicaElectionJSON{Version: 1, Partitions: []topicPartitionJSON{}}
	for _, tp := range dedupPartitions(tps) {
		v.Partitions = append(v.Partitions, topicPartitionJSON{Topic: tp.Topic, Partition: tp.Partition})
	}
	return marshal(v)
}

// decodePreferredReplicaElection reads the request as the set of its
// partitions, sorted.
func decodePreferredReplicaElection(data []byte) ([]TopicPartition, error) {
	var v struct {
		Version    *int `json:"version"`
		Partitions *[]struct {
			Topic     *string `json:"topic"`
			Partition *int32  `json:"partition"`
		} `json:"partitions"`
	}
	if err := unmarshal("preferred replica election", data, &v); err != nil {
		return nil, err
	}
	switch {
	case v.Version == nil || *v.Version != 1:
		return nil, malformed("preferred replica election", errors.New("version is not 1"))
	case v.Partitions == nil:
		return nil, malformed("preferred replica election", errors.New("no partitions"))
	}
	tps := make([]TopicPartition, 0, len(*v.Partitions))
	for _, p := range *v.Partitions {
		if p.Topic == nil || p.Partition == nil {
			return nil, malformed("preferred replica election", errors.New("an entry lacks topic or partition"))
		}
		tp := TopicPartition{Topic: *p.Topic, Partition: *p.Partition}
		if err := checkTopicPartition(tp); err != nil {
			return nil, malformed("preferred replica election", err)
		}
		tps = append(tps, tp)
	}
	return dedupPartitions(tps), nil
}

// PreferredReplicaElection reads the pending request; ok is false when
// there is none.
func (c *Client) PreferredReplicaElection(ctx context.Context) (tps []TopicPartition, ok bool, err error) {
	data, _, err := c.get(ctx, preferredReplicaElectionPath)
	if errors.Is(err, ErrNoNode) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	tps, err = decodePreferredReplicaElection(data)
	if err != nil {
		return nil, false, fmt.Errorf("zkutil: %s: %w", preferredReplicaElectionPath, err)
	}
	return tps, true, nil
}

// WatchPreferredReplicaElection reads the pending request and sets a watch
// that fires when one is created, changed or deleted (Kafka's
// PreferredReplicaElectionHandler).
func (c *Client) WatchPreferredReplicaElection(ctx context.Context) (tps []TopicPartition, ok bool, watch <-chan WatchEvent, err error) {
	exists, _, watch, err := c.existsW(ctx, preferredReplicaElectionPath)
	if err != nil || !exists {
		return nil, false, watch, err
	}
	tps, ok, err = c.PreferredReplicaElection(ctx)
	return tps, ok, watch, err
}

// CreatePreferredReplicaElection writes a preferred replica election
// request; ErrNodeExists while another is pending.
func (c *Client) CreatePreferredReplicaElection(ctx context.Context, tps []TopicPartition) error {
	for _, tp := range tps {
		if err := checkTopicPartition(tp); err != nil {
			return err
		}
	}
	_, err := c.createWithParents(ctx, preferredReplicaElectionPath, encodePreferredReplicaElection(tps), zk.FlagPersistent)
	return err
}

// DeletePreferredReplicaElection removes the request, behind f, once the
// controller has carried it out. One already gone is not an error.
func (c *Client) DeletePreferredReplicaElection(ctx context.Context, f Fence) error {
	err := c.fencedDelete(ctx, f, preferredReplicaElectionPath, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	return err
}

func compareTopicPartitions(a, b TopicPartition) int {
	if a.Topic != b.Topic {
		if a.Topic < b.Topic {
			return -1
		}
		return 1
	}
	return int(a.Partition) - int(b.Partition)
}

func sortedPartitions[V any](m map[TopicPartition]V) []TopicPartition {
	tps := make([]TopicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, compareTopicPartitions)
	return tps
}

func dedupPartitions(tps []TopicPartition) []TopicPartition {
	out := slices.Clone(tps)
	slices.SortFunc(out, compareTopicPartitions)
	return slices.Compact(out)
}
