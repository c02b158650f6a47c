package server

// CreatePartitions (key 37): versions 0-3 (v2+ flexible, KIP-482).
//
// As in Kafka 2.8's ZooKeeper mode, only the controller serves it: on any
// other broker every topic gets NOT_CONTROLLER ("controller" from the
// metadata cache, as in CreateTopics). The broker adds partitions by
// rewriting /brokers/topics/<t> with the old assignment plus the new
// partitions (AdminZkClient.createPartitionsWithAssignment); the
// controller sees the znode change and brings the new partitions online.
// Gregor writes the znode conditionally on the version it read, where
// Kafka overwrites it; a concurrent change makes it read and validate
// again (a few times, then UNKNOWN_SERVER_ERROR).
//
// Checks, in Kafka's order (KafkaApis.handleCreatePartitionsRequest, then
// ZkAdminManager.createPartitions and AdminZkClient
// .createNewPartitionsAssignment), each failing only its topic:
//   - a name given twice in the request: INVALID_REQUEST ("Duplicate topic
//     in request.") on every entry;
//   - a topic whose deletion is pending (/admin/delete_topics/<t>; Kafka
//     asks its controller's TopicDeletionManager): INVALID_TOPIC_EXCEPTION;
//   - a topic not in ZooKeeper: UNKNOWN_TOPIC_OR_PARTITION;
//   - a partition of the topic being reassigned: REASSIGNMENT_IN_PROGRESS;
//   - a count not above the current one: INVALID_PARTITIONS;
//   - explicit assignments naming a broker that is not live, not one per
//     new partition, empty, repeating a broker, or with a replica count
//     other than partition 0's: INVALID_REPLICA_ASSIGNMENT. Kafka checks
//     the brokers registered in ZooKeeper; Gregor the live brokers of the
//     metadata cache, which the controller derives from the same znodes.
//
// Without explicit assignments the new partitions continue Kafka's layout
// (AdminUtils.assignReplicasToBrokers with a fixed start, rack-aware when
// every live broker has a rack; mixed: UNKNOWN_SERVER_ERROR, as Kafka's
// AdminOperationException): the start index
// and the follower shift are the position of partition 0's first replica
// among the sorted live brokers, and the partition ids continue from the
// current count, so the leaders of old and new partitions stay spread. A
// replication factor above the live brokers is INVALID_REPLICATION_FACTOR.
//
// validate_only runs every check and writes nothing. Once written, the
// request waits (DelayedCreatePartitions, admin_purgatory.go) until the
// metadata cache shows a leader for every partition of the topic, old and
// new, or until timeout_ms: REQUEST_TIMED_OUT for a topic still waiting
// then, and for every topic written when timeout_ms <= 0. Messages are
// Kafka's. TODO(issue 3): the authorizer (TOPIC_AUTHORIZATION_FAILED),
// rack-aware layout, and the controller mutation quota (v3, KIP-599:
// throttle time stays 0).

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.CreatePartitions, 0, 3, (*handlers).handleCreatePartitions) }

// createPartitionsAttempts bounds the read-validate-write rounds of one
// topic when its znode keeps changing under the request.
const createPartitionsAttempts = 3

func (h *handlers) handleCreatePartitions(ctx context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	isController := h.topics != nil && h.metadata.ControllerID() == h.brokerID
	seen := make(map[string]int, len(req.Topics))
	for i := range req.Topics {
		seen[req.Topics[i].Topic]++
	}
	var deleting []string
	var deletionsErr error // ZooKeeper failed: every topic gets it
	if isController && len(req.Topics) > 0 {
		if deleting, deletionsErr = h.topics.TopicDeletions(ctx); deletionsErr != nil {
			deletionsErr = fmt.Errorf("create partitions: %w", deletionsErr)
		}
	}
	var waits []topicWait
	var waiting []int
	for i := range req.Topics {
		t := &req.Topics[i]
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = t.Topic
		var err error
		switch {
		case !isController:
			err = kerr.NotController
		case seen[t.Topic] > 1:
			err = &adminError{kerr.InvalidRequest, "Duplicate topic in request."}
		case deletionsErr != nil:
			err = deletionsErr
		case slices.Contains(deleting, t.Topic):
			err = &adminError{kerr.InvalidTopicException, "The topic is queued for deletion."}
		default:
			err = h.createPartitions(ctx, t, req.ValidateOnly)
		}
		if err != nil {
			failPartitionsTopic(h, &rt, err)
		} else if !req.ValidateOnly {
			waits = append(waits, topicWait{topic: t.Topic, partitions: t.Count})
			waiting = append(waiting, len(resp.Topics))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	h.answerAfterTopics(waits, waiting, req.TimeoutMillis,
		func(i int, err error) { failPartitionsTopic(h, &resp.Topics[i], err) },
		func() { respond(resp) })
	return nil
}

// failPartitionsTopic answers a topic of CreatePartitions with err.
func failPartitionsTopic(h *handlers, rt *kmsg.CreatePartitionsResponseTopic, err error) {
	rt.ErrorCode = errorCode(h.log, err)
	var ae *adminError
	if errors.As(err, &ae) {
		rt.ErrorMessage = kmsg.StringPtr(ae.msg)
	}
}

// createPartitions validates one topic's request and, unless validateOnly,
// writes the grown assignment; it reads again when the znode changed
// between the read and the write.
func (h *handlers) createPartitions(ctx context.Context, t *kmsg.CreatePartitionsRequestTopic, validateOnly bool) error {
	for attempt := 1; ; attempt++ {
		current, st, err := h.topics.TopicAssignment(ctx, t.Topic)
		switch {
		case errors.Is(err, zkutil.ErrNoNode), errors.Is(err, zkutil.ErrInvalidName):
			return &adminError{kerr.UnknownTopicOrPartition, fmt.Sprintf("The topic '%s' does not exist.", t.Topic)}
		case err != nil:
			return fmt.Errorf("create partitions %s: %w", t.Topic, err)
		}
		added, err := h.newPartitionsAssignment(t, current)
		if err != nil || validateOnly {
			return err
		}
		grown := current
		grown.Partitions = make(map[int32][]int32, len(current.Partitions)+len(added))
		for p, replicas := range current.Partitions {
			grown.Partitions[p] = replicas
		}
		for p, replicas := range added {
			grown.Partitions[p] = replicas
		}
		_, err = h.topics.SetTopicAssignment(ctx, zkutil.NoFence, t.Topic, grown, st.Version)
		switch {
		case errors.Is(err, zkutil.ErrNoNode):
			return &adminError{kerr.UnknownTopicOrPartition, fmt.Sprintf("The topic '%s' does not exist.", t.Topic)}
		case errors.Is(err, zkutil.ErrVersionConflict) && attempt < createPartitionsAttempts:
			continue // changed since read: validate against the new state
		case err != nil:
			return fmt.Errorf("create partitions %s: %w", t.Topic, err)
		}
		h.log.WithField("topic", t.Topic).WithField("partitions", len(grown.Partitions)).
			WithField("added", added).Info("added partitions")
		return nil
	}
}

// newPartitionsAssignment checks a request against the topic's current
// assignment and returns the replicas of the partitions to add.
func (h *handlers) newPartitionsAssignment(t *kmsg.CreatePartitionsRequestTopic, current zkutil.TopicAssignment) (map[int32][]int32, error) {
	if len(current.AddingReplicas) > 0 || len(current.RemovingReplicas) > 0 {
		return nil, &adminError{kerr.ReassignmentInProgress,
			fmt.Sprintf("A partition reassignment is in progress for the topic '%s'.", t.Topic)}
	}
	if len(current.Partitions) == 0 {
		return nil, &adminError{kerr.UnknownTopicOrPartition, fmt.Sprintf("The topic '%s' does not exist.", t.Topic)}
	}
	old := int32(len(current.Partitions))
	switch {
	case t.Count < old:
		return nil, &adminError{kerr.InvalidPartitions,
			fmt.Sprintf("Topic currently has %d partitions, which is higher than the requested %d.", old, t.Count)}
	case t.Count == old:
		return nil, &adminError{kerr.InvalidPartitions, fmt.Sprintf("Topic already has %d partitions.", old)}
	}
	increment := t.Count - old
	brokers := h.aliveBrokerMetadata()
	live := make([]int32, len(brokers))
	for i, b := range brokers {
		live[i] = b.ID
	}
	partition0, ok := current.Partitions[0]
	if !ok {
		return nil, fmt.Errorf("create partitions %s: partition 0 is missing from the assignment %v", t.Topic, current.Partitions)
	}

	if t.Assignment == nil { // null: the broker lays them out
		return h.continueAssignment(brokers, partition0, int(old), int(increment))
	}
	var unknown []int32
	for _, a := range t.Assignment {
		for _, id := range a.Replicas {
			if !slices.Contains(live, id) && !slices.Contains(unknown, id) {
				unknown = append(unknown, id)
			}
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, &adminError{kerr.InvalidReplicaAssignment,
			fmt.Sprintf("Unknown broker(s) in replica assignment: %s.", joinInt32s(unknown))}
	}
	if int32(len(t.Assignment)) != increment {
		return nil, &adminError{kerr.InvalidReplicaAssignment,
			fmt.Sprintf("Increasing the number of partitions by %d but %d assignments provided.", increment, len(t.Assignment))}
	}
	added := make(map[int32][]int32, len(t.Assignment))
	var badPartitions, badFactors []string
	for i, a := range t.Assignment {
		p := old + int32(i)
		if len(a.Replicas) == 0 {
			return nil, &adminError{kerr.InvalidReplicaAssignment,
				fmt.Sprintf("Cannot have replication factor of 0 for partition id %d.", p)}
		}
		sorted := slices.Clone(a.Replicas)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(a.Replicas) {
			return nil, &adminError{kerr.InvalidReplicaAssignment,
				fmt.Sprintf("Duplicate brokers not allowed in replica assignment: %s for partition id %d.", joinInt32s(a.Replicas), p)}
		}
		if len(a.Replicas) != len(partition0) {
			badPartitions = append(badPartitions, strconv.Itoa(int(p)))
			badFactors = append(badFactors, strconv.Itoa(len(a.Replicas)))
		}
		added[p] = slices.Clone(a.Replicas)
	}
	if len(badPartitions) > 0 {
		return nil, &adminError{kerr.InvalidReplicaAssignment,
			fmt.Sprintf("Inconsistent replication factor between partitions, partition 0 has %d while partitions [%s] have replication factors [%s], respectively.",
				len(partition0), strings.Join(badPartitions, ", "), strings.Join(badFactors, ", "))}
	}
	return added, nil
}

// continueAssignment lays out add partitions, numbered from start, with
// partition 0's replication factor, as Kafka's AdminZkClient
// .createNewPartitionsAssignment does: AdminUtils' layout (rack-aware when
// every live broker has a rack) with the start index and the first
// follower shift both fixed at the position, among the live brokers
// sorted by id, of the first broker with an id at least partition 0's
// leader's (or 0).
func (h *handlers) continueAssignment(live []controller.BrokerMetadata, partition0 []int32, start, add int) (map[int32][]int32, error) {
	sorted := slices.Clone(live)
	slices.SortFunc(sorted, func(a, b controller.BrokerMetadata) int { return cmp.Compare(a.ID, b.ID) })
	fixed := max(0, slices.IndexFunc(sorted, func(b controller.BrokerMetadata) bool { return b.ID >= partition0[0] }))
	return h.assignReplicas(sorted, add, len(partition0), fixed, start)
}

// joinInt32s prints ids as Kafka's mkString(", ").
func joinInt32s(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ", ")
}
