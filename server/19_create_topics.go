package server

// CreateTopics (key 19): versions 0-7.
//
// As in Kafka 2.8's ZooKeeper mode, only the controller serves it (every
// topic of a request to another broker gets NOT_CONTROLLER, and the client
// asks the controller that Metadata names). Gregor takes "controller" from
// the metadata cache, which is also what clients route by; Kafka asks its
// local controller. The broker validates each topic, computes the replica
// assignment (Kafka's AdminUtils layout, rack-aware when every live broker
// has a broker.rack, controller.AssignReplicasToBrokers) over the live
// brokers of the metadata cache, and writes /config/topics/<t>
// then /brokers/topics/<t> with a new topic id (AdminZkClient
// .createTopicWithAssignment); the controller sees the new znode and brings
// the partitions online.
//
// Checks, in Kafka's order (ZkAdminManager.createTopics, then
// AdminZkClient.validateTopicCreate), each failing only its topic:
//   - a name given twice in the request: INVALID_REQUEST on every entry;
//   - a topic in the metadata cache: TOPIC_ALREADY_EXISTS;
//   - a config with a null value, or an explicit assignment together with
//     a partition count or replication factor other than -1:
//     INVALID_REQUEST;
//   - partitions < 1: INVALID_PARTITIONS; replication factor < 1 or above
//     the live brokers: INVALID_REPLICATION_FACTOR; -1 means num.partitions
//     and default.replication.factor (KIP-464; Kafka's broker accepts -1 at
//     every version, only its client refuses it before v4, and so do we);
//   - an illegal name, or one colliding with an existing topic once '.' and
//     '_' are treated alike: INVALID_TOPIC_EXCEPTION; a topic in ZooKeeper
//     or marked for deletion: TOPIC_ALREADY_EXISTS;
//   - explicit assignments whose partitions differ in replica count, repeat
//     a broker, or are not exactly 0..n-1: INVALID_REPLICA_ASSIGNMENT. As
//     in Kafka 2.8 (it follows TopicCommand), the brokers of an explicit
//     assignment need not exist;
//   - an unknown topic config or a bad value: INVALID_CONFIG.
//
// validate_only (v1+) runs every check and writes nothing. Messages (v1+)
// are Kafka's. From v5 (KIP-525) a topic created or validated reports its
// partition count, replication factor and every topic config with its
// source; a failed one -1, -1 and no configs. v7 (KIP-516) returns the new
// topic id.
//
// A topic created waits, as in Kafka (DelayedCreatePartitions), until the
// metadata cache shows a leader for each of its partitions, or until the
// request's timeout: then it gets REQUEST_TIMED_OUT (admin_purgatory.go).
// So a client can produce to a topic as soon as CreateTopics succeeded.
// With a timeout <= 0 nothing waits and every topic created is
// REQUEST_TIMED_OUT; validate_only never waits. A topic answered
// REQUEST_TIMED_OUT reports -1, -1 and no configs (v5+), as a failure
// does, but keeps its topic id (v7), as Kafka's does.
// Live brokers with and without racks mixed fail the topic with
// UNKNOWN_SERVER_ERROR and no message, as Kafka's AdminOperationException
// does. TODO(issue 3): the authorizer, and the controller mutation quota (v6,
// KIP-599: throttle time stays 0).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.CreateTopics, 0, 7, (*handlers).handleCreateTopics) }

func (h *handlers) handleCreateTopics(ctx context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	isController := h.topics != nil && h.metadata.ControllerID() == h.brokerID
	seen := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		seen[req.Topics[i].Topic]++
	}
	brokers := h.aliveBrokerMetadata()
	var waits []topicWait // the topics created, to wait for
	var waiting []int     // their indexes in resp.Topics
	for i := range req.Topics {
		t := &req.Topics[i]
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		var err error
		switch {
		case !isController:
			err = kerr.NotController
		case seen[t.Topic] > 1:
			err = &adminError{kerr.InvalidRequest, "Found multiple entries for this topic."}
		default:
			err = h.createTopic(ctx, t, brokers, req.ValidateOnly, &rt)
		}
		if err != nil {
			failCreatedTopic(h, &rt, err)
		} else if !req.ValidateOnly {
			waits = append(waits, topicWait{topic: rt.Topic, partitions: rt.NumPartitions})
			waiting = append(waiting, len(resp.Topics))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	h.answerAfterTopics(waits, waiting, req.TimeoutMillis,
		func(i int, err error) { failCreatedTopic(h, &resp.Topics[i], err) },
		func() { respond(resp) })
	return nil
}

// failCreatedTopic answers a topic of CreateTopics with err: its code, its
// message if it is an adminError, and none of the v5+ details.
func failCreatedTopic(h *handlers, rt *kmsg.CreateTopicsResponseTopic, err error) {
	rt.ErrorCode = errorCode(h.log, err)
	rt.ErrorMessage = nil
	var ae *adminError
	if errors.As(err, &ae) {
		rt.ErrorMessage = kmsg.StringPtr(ae.msg)
	}
	rt.NumPartitions, rt.ReplicationFactor, rt.Configs, rt.ConfigErrorCode = -1, -1, nil, 0
}

// adminError is an expected failure of one topic of an admin request: its
// code, and the message Kafka sends with it.
type adminError struct {
	code *kerr.Error
	msg  string
}

func (e *adminError) Error() string { return e.msg }
func (e *adminError) Unwrap() error { return e.code }

// createTopic validates one topic and, unless validateOnly, writes it to
// ZooKeeper; it fills rt's v5+ fields (and v7's topic id) as it goes.
func (h *handlers) createTopic(ctx context.Context, t *kmsg.CreateTopicsRequestTopic, brokers []controller.BrokerMetadata, validateOnly bool, rt *kmsg.CreateTopicsResponseTopic) error {
	name := t.Topic
	if h.metadata.Contains(name) {
		return &adminError{kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", name)}
	}
	overrides := make(map[string]string, len(t.Configs))
	var nullConfigs []string
	for _, c := range t.Configs {
		if c.Value == nil {
			nullConfigs = append(nullConfigs, c.Name)
			continue
		}
		overrides[c.Name] = *c.Value
	}
	if len(nullConfigs) > 0 {
		return &adminError{kerr.InvalidRequest, "Null value not supported for topic configs : " + strings.Join(nullConfigs, ",")}
	}
	if (t.NumPartitions != -1 || t.ReplicationFactor != -1) && len(t.ReplicaAssignment) > 0 {
		return &adminError{kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. " +
			"Both cannot be used at the same time."}
	}

	var assignment map[int32][]int32
	if len(t.ReplicaAssignment) == 0 {
		partitions, rf := int(t.NumPartitions), int(t.ReplicationFactor)
		if partitions == -1 {
			partitions = int(h.cfg.NumPartitions)
		}
		if rf == -1 {
			rf = int(h.cfg.DefaultReplicationFactor)
		}
		var err error
		if assignment, err = h.assignReplicas(brokers, partitions, rf, -1, 0); err != nil {
			return err
		}
	} else {
		assignment = make(map[int32][]int32, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			assignment[a.Partition] = a.Replicas // a repeated partition: the last wins, as in Kafka
		}
	}

	tc, err := h.validateTopicCreate(ctx, name, assignment, overrides)
	if err != nil {
		return err
	}
	rt.NumPartitions = int32(len(assignment))
	rt.ReplicationFactor = int16(len(assignment[0]))
	rt.Configs = createdTopicConfigs(tc)
	if validateOnly {
		return nil
	}

	id, err := h.writeTopic(ctx, name, assignment, overrides)
	if err != nil {
		return err
	}
	rt.TopicID = id
	return nil
}

// aliveBrokerMetadata lists the live brokers of the metadata cache with
// their racks, what Kafka 2.8's ZkAdminManager hands AdminUtils.
func (h *handlers) aliveBrokerMetadata() []controller.BrokerMetadata {
	alive := h.metadata.AliveBrokers()
	out := make([]controller.BrokerMetadata, 0, len(alive))
	for _, b := range alive {
		out = append(out, controller.BrokerMetadata{ID: b.ID, Rack: b.Rack})
	}
	return out
}

// assignReplicas lays out partitions with rf replicas each over the live
// brokers, rack-aware when every broker has a rack (Kafka's
// AdminUtils.assignReplicasToBrokers; see controller.AssignReplicasToBrokers
// for fixedStart and startPartition), failing with the error and message
// Kafka answers. Brokers with and without racks mixed: Kafka throws
// AdminOperationException, which ApiError.fromThrowable answers
// UNKNOWN_SERVER_ERROR with no message; Gregor does the same and logs why.
func (h *handlers) assignReplicas(brokers []controller.BrokerMetadata, partitions, rf, fixedStart, startPartition int) (map[int32][]int32, error) {
	rnd := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	assignment, err := controller.AssignReplicasToBrokers(brokers, partitions, rf, fixedStart, startPartition, rnd)
	switch {
	case errors.Is(err, controller.ErrInvalidPartitions):
		return nil, &adminError{kerr.InvalidPartitions, "Number of partitions must be larger than 0."}
	case errors.Is(err, controller.ErrInvalidReplicationFactor) && rf <= 0:
		return nil, &adminError{kerr.InvalidReplicationFactor, "Replication factor must be larger than 0."}
	case errors.Is(err, controller.ErrInvalidReplicationFactor):
		return nil, &adminError{kerr.InvalidReplicationFactor,
			fmt.Sprintf("Replication factor: %d larger than available brokers: %d.", rf, len(brokers))}
	case errors.Is(err, controller.ErrIncompleteRackInfo):
		h.log.WithError(err).Error("cannot assign replicas: set broker.rack on every broker or on none")
		return nil, fmt.Errorf("%w: %w", kerr.UnknownServerError, err)
	case err != nil:
		return nil, err
	}
	return assignment, nil
}

// writeTopic writes a validated topic to ZooKeeper, its config first so
// that the controller never sees the topic without it
// (AdminZkClient.createTopicWithAssignment), and returns its new id. A
// topic created meanwhile fails with TOPIC_ALREADY_EXISTS.
func (h *handlers) writeTopic(ctx context.Context, name string, assignment map[int32][]int32, overrides map[string]string) ([16]byte, error) {
	var none [16]byte
	if err := h.topics.SetEntityConfig(ctx, zkutil.ConfigTopics, name, overrides); err != nil {
		return none, fmt.Errorf("create topic %s: write config: %w", name, err)
	}
	id := zkutil.NewUUID()
	err := h.topics.CreateTopic(ctx, name, zkutil.TopicAssignment{TopicID: id, Partitions: assignment})
	if errors.Is(err, zkutil.ErrNodeExists) {
		return none, &adminError{kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", name)}
	}
	if err != nil {
		return none, fmt.Errorf("create topic %s: %w", name, err)
	}
	h.log.WithField("topic", name).WithField("partitions", len(assignment)).Info("created topic")
	return id, nil
}

// validateTopicCreate is Kafka's AdminZkClient.validateTopicCreate: the
// name, the topics already in ZooKeeper, the assignment and the config.
// It returns the topic's config.
func (h *handlers) validateTopicCreate(ctx context.Context, name string, assignment map[int32][]int32, overrides map[string]string) (conf.TopicConfig, error) {
	var none conf.TopicConfig
	if msg := topicNameProblem(name); msg != "" {
		return none, &adminError{kerr.InvalidTopicException, msg}
	}
	deletions, err := h.topics.TopicDeletions(ctx)
	if err != nil {
		return none, fmt.Errorf("create topic %s: %w", name, err)
	}
	if slices.Contains(deletions, name) {
		return none, &adminError{kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' is marked for deletion.", name)}
	}
	exists, err := h.topics.TopicExists(ctx, name)
	if err != nil {
		return none, fmt.Errorf("create topic %s: %w", name, err)
	}
	if exists {
		return none, &adminError{kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", name)}
	}
	if strings.ContainsAny(name, "._") {
		all, err := h.topics.Topics(ctx)
		if err != nil {
			return none, fmt.Errorf("create topic %s: %w", name, err)
		}
		if slices.Contains(all, name) { // created meanwhile
			return none, &adminError{kerr.TopicAlreadyExists, fmt.Sprintf("Topic '%s' already exists.", name)}
		}
		var colliding []string
		for _, other := range all {
			if collisionName(other) == collisionName(name) {
				colliding = append(colliding, other)
			}
		}
		if len(colliding) > 0 {
			return none, &adminError{kerr.InvalidTopicException,
				fmt.Sprintf("Topic '%s' collides with existing topics: %s", name, strings.Join(colliding, ", "))}
		}
	}

	partitions := make([]int32, 0, len(assignment))
	for p := range assignment {
		partitions = append(partitions, p)
	}
	slices.Sort(partitions)
	for _, p := range partitions {
		if len(assignment[p]) != len(assignment[partitions[0]]) {
			return none, &adminError{kerr.InvalidReplicaAssignment, "All partitions should have the same number of replicas"}
		}
	}
	for _, p := range partitions {
		replicas := slices.Clone(assignment[p])
		slices.Sort(replicas)
		if len(slices.Compact(replicas)) != len(assignment[p]) {
			return none, &adminError{kerr.InvalidReplicaAssignment,
				fmt.Sprintf("Duplicate replica assignment found: partition %d: %v", p, assignment[p])}
		}
	}
	for i, p := range partitions {
		if p != int32(i) {
			return none, &adminError{kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence"}
		}
	}

	tc, err := h.cfg.TopicDefaults().WithOverrides(overrides)
	if err != nil {
		return none, &adminError{kerr.InvalidConfig, err.Error()}
	}
	return tc, nil
}

// collisionName is what Kafka compares to find topics whose metric names
// would collide: '.' and '_' are the same.
func collisionName(topic string) string { return strings.ReplaceAll(topic, ".", "_") }

// createdTopicConfigs lists every topic config with its value and source,
// as CreateTopics v5+ reports them (KIP-525).
func createdTopicConfigs(tc conf.TopicConfig) []kmsg.CreateTopicsResponseTopicConfig {
	entries := tc.Describe()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Source, c.IsSensitive = e.Name, int8(e.Source), e.Sensitive
		if !e.Sensitive {
			c.Value = e.Value
		}
		out = append(out, c)
	}
	return out
}
