package zkutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
)

// /brokers/topics/<topic> holds a topic's replica assignment. Kafka 2.8
// writes version 3, which adds the topic id (KIP-516) to version 2's
// reassignment state (KIP-455):
//
//	{"version":3,"topic_id":"<22-char base64 UUID>",
//	 "partitions":{"0":[1,2,3],"1":[2,3,1]},
//	 "adding_replicas":{"0":[3]},"removing_replicas":{"0":[4]}}
//
// Version 1 has only "partitions", as topics created by old tools still
// do; it and version 2 are read. adding_replicas and removing_replicas
// list only partitions being reassigned; topic_id is left out when the
// topic has none.
const topicsPath = "/brokers/topics"

func topicPath(topic string) string { return topicsPath + "/" + topic }

// TopicAssignment is the content of a topic's znode.
type TopicAssignment struct {
	// TopicID is the topic's id; zero for a topic created before topic ids.
	TopicID UUID
	// Partitions maps each partition to its replicas, preferred leader
	// first.
	Partitions map[int32][]int32
	// AddingReplicas and RemovingReplicas map the partitions being
	// reassigned to the replicas being added and removed; partitions not
	// being reassigned are absent.
	AddingReplicas   map[int32][]int32
	RemovingReplicas map[int32][]int32
}

type topicJSON struct {
	Version          int          `json:"version"`
	TopicID          string       `json:"topic_id,omitempty"`
	Partitions       partitionMap `json:"partitions"`
	AddingReplicas   partitionMap `json:"adding_replicas"`
	RemovingReplicas partitionMap `json:"removing_replicas"`
}

const topicJSONVersion = 3

func encodeTopic(a TopicAssignment) []byte {
	v := topicJSON{
		Version:          topicJSONVersion,
		Partitions:       partitionMap(a.Partitions),
		AddingReplicas:   nonEmpty(a.AddingReplicas),
		RemovingReplicas: nonEmpty(a.RemovingReplicas),
	}
	if !a.TopicID.IsZero() {
		v.TopicID = a.TopicID.String()
	}
	return marshal(v)
}

// nonEmpty drops partitions with no replicas listed: Kafka writes only
// partitions with adding or removing replicas.
func nonEmpty(m map[int32][]int32) partitionMap {
	out := make(partitionMap, len(m))
	for p, replicas := range m {
		if len(replicas) > 0 {
			out[p] = replicas
		}
	}
	return out
}

// decodeTopic reads versions 1 to 3. As Kafka does, it reads the adding
// and removing replicas only of partitions that are in "partitions", and
// the topic id whatever the version.
func decodeTopic(topic string, data []byte) (TopicAssignment, error) {
	var v struct {
		Version          *int          `json:"version"`
		TopicID          *string       `json:"topic_id"`
		Partitions       *partitionMap `json:"partitions"`
		AddingReplicas   *partitionMap `json:"adding_replicas"`
		RemovingReplicas *partitionMap `json:"removing_replicas"`
	}
	what := "topic " + topic
	if err := unmarshal(what, data, &v); err != nil {
		return TopicAssignment{}, err
	}
	switch {
	case v.Version == nil || *v.Version < 1 || *v.Version > topicJSONVersion:
		return TopicAssignment{}, malformed(what, errors.New("version is not 1, 2 or 3"))
	case v.Partitions == nil:
		return TopicAssignment{}, malformed(what, errors.New("no partitions"))
	}
	a := TopicAssignment{
		Partitions:       *v.Partitions,
		AddingReplicas:   map[int32][]int32{},
		RemovingReplicas: map[int32][]int32{},
	}
	if v.TopicID != nil {
		id, err := ParseUUID(*v.TopicID)
		if err != nil {
			return TopicAssignment{}, malformed(what, err)
		}
		a.TopicID = id
	}
	for p := range a.Partitions {
		if v.AddingReplicas != nil && len((*v.AddingReplicas)[p]) > 0 {
			a.AddingReplicas[p] = (*v.AddingReplicas)[p]
		}
		if v.RemovingReplicas != nil && len((*v.RemovingReplicas)[p]) > 0 {
			a.RemovingReplicas[p] = (*v.RemovingReplicas)[p]
		}
	}
	return a, nil
}

// CreateTopic creates a topic's znode; ErrNodeExists when the topic
// exists. The controller sees it through WatchTopics and creates the
// partitions. Write the topic's config (SetEntityConfig) first, as Kafka's
// AdminZkClient does, so that the controller never sees a topic without it.
func (c *Client) CreateTopic(ctx context.Context, topic string, a TopicAssignment) error {
	if err := checkName("topic", topic); err != nil {
		return err
	}
	_, err := c.createWithParents(ctx, topicPath(topic), encodeTopic(a), zk.FlagPersistent)
	return err
}

// SetTopicAssignment rewrites a topic's znode, if its version is expected
// (MatchAnyVersion: whatever it is), behind f: the controller passes its
// fence when it completes a reassignment, an admin request adding
// partitions passes NoFence.
func (c *Client) SetTopicAssignment(ctx context.Context, f Fence, topic string, a TopicAssignment, expected int32) (Stat, error) {
	if err := checkName("topic", topic); err != nil {
		return Stat{}, err
	}
	return c.fencedSet(ctx, f, topicPath(topic), encodeTopic(a), expected)
}

// TopicAssignment reads a topic's znode and its stat (Version is the
// expected version of a later SetTopicAssignment); ErrNoNode when the
// topic does not exist.
func (c *Client) TopicAssignment(ctx context.Context, topic string) (TopicAssignment, Stat, error) {
	if err := checkName("topic", topic); err != nil {
		return TopicAssignment{}, Stat{}, err
	}
	data, st, err := c.get(ctx, topicPath(topic))
	if err != nil {
		return TopicAssignment{}, Stat{}, err
	}
	a, err := decodeTopic(topic, data)
	if err != nil {
		return TopicAssignment{}, Stat{}, fmt.Errorf("zkutil: %s: %w", topicPath(topic), err)
	}
	return a, st, nil
}

// WatchTopicAssignment reads a topic's znode and sets a watch that fires
// when it changes or goes (Kafka's PartitionModificationsHandler).
func (c *Client) WatchTopicAssignment(ctx context.Context, topic string) (TopicAssignment, Stat, <-chan WatchEvent, error) {
	if err := checkName("topic", topic); err != nil {
		return TopicAssignment{}, Stat{}, nil, err
	}
	data, st, watch, err := c.getW(ctx, topicPath(topic))
	if err != nil {
		return TopicAssignment{}, Stat{}, nil, err
	}
	a, err := decodeTopic(topic, data)
	if err != nil {
		return TopicAssignment{}, Stat{}, watch, fmt.Errorf("zkutil: %s: %w", topicPath(topic), err)
	}
	return a, st, watch, nil
}

// WatchTopicAssignments reads several topics' znodes at once, as
// TopicAssignments does, and sets a watch on each, as WatchTopicAssignment
// does. Topics that do not exist are absent from both maps.
func (c *Client) WatchTopicAssignments(ctx context.Context, topics []string) (map[string]TopicAssignment, map[string]<-chan WatchEvent, error) {
	as := make([]TopicAssignment, len(topics))
	ws := make([]<-chan WatchEvent, len(topics))
	errs := make([]error, len(topics))
	c.parallel(len(topics), func(i int) { as[i], _, ws[i], errs[i] = c.WatchTopicAssignment(ctx, topics[i]) })
	out := make(map[string]TopicAssignment, len(topics))
	watches := make(map[string]<-chan WatchEvent, len(topics))
	for i, topic := range topics {
		switch {
		case errors.Is(errs[i], ErrNoNode):
		case errs[i] != nil:
			return nil, nil, errs[i]
		default:
			out[topic] = as[i]
			watches[topic] = ws[i]
		}
	}
	return out, watches, nil
}

// TopicAssignments reads several topics' znodes at once. Topics that do
// not exist are absent from the result.
func (c *Client) TopicAssignments(ctx context.Context, topics []string) (map[string]TopicAssignment, error) {
	as := make([]TopicAssignment, len(topics))
	errs := make([]error, len(topics))
	c.parallel(len(topics), func(i int) { as[i], _, errs[i] = c.TopicAssignment(ctx, topics[i]) })
	out := make(map[string]TopicAssignment, len(topics))
	for i, topic := range topics {
		switch {
		case errors.Is(errs[i], ErrNoNode):
		case errs[i] != nil:
			return nil, errs[i]
		default:
			out[topic] = as[i]
		}
	}
	return out, nil
}

// Topics lists the topics, sorted.
func (c *Client) Topics(ctx context.Context) ([]string, error) {
	topics, err := c.children(ctx, topicsPath)
	if errors.Is(err, ErrNoNode) {
		return []string{}, nil
	}
	return topics, err
}

// WatchTopics lists the topics and sets a watch that fires when one is
// created or deleted (Kafka's TopicChangeHandler).
func (c *Client) WatchTopics(ctx context.Context) ([]string, <-chan WatchEvent, error) {
	return c.childrenW(ctx, topicsPath)
}

// TopicExists reports whether the topic's znode exists.
func (c *Client) TopicExists(ctx context.Context, topic string) (bool, error) {
	if err := checkName("topic", topic); err != nil {
		return false, err
	}
	ok, _, err := c.exists(ctx, topicPath(topic))
	return ok, err
}

// DeleteTopic deletes a topic's znode and everything under it (the
// partition states), behind the controller's fence: the last step of a
// topic deletion, before the topic's config and deletion request go.
func (c *Client) DeleteTopic(ctx context.Context, f Fence, topic string) error {
	if err := checkName("topic", topic); err != nil {
		return err
	}
	return c.deleteRecursive(ctx, f, topicPath(topic))
}
