package server

// Metadata (key 3): versions 0-11.
//
// Answered entirely from the metadata cache, so every broker answers alike
// once the controller's UpdateMetadata has reached it; before the first one
// the broker list is empty, as in Kafka.
//
// Brokers and leaders are reported on the listener the request came in on:
// a broker without an endpoint on that listener is left out of the broker
// list, and a partition whose leader lacks it has leader -1 and
// LEADER_NOT_AVAILABLE, or LISTENER_NOT_FOUND from v6 (a client on a
// listener some brokers lack should see why, not retry in the dark). Only v0
// drops replicas and ISR members without a live endpoint on the listener,
// answering REPLICA_NOT_AVAILABLE for such a partition; later versions list
// them as cached and rely on offline replicas (v5+, KIP-112).
//
// Which topics: in v0 an empty list means every topic; from v1 (KIP-4) a
// null list means every topic and an empty one none. Duplicates are answered
// once; topics come back in the order asked, or by name for all topics, and
// partitions by index. A topic not cached gets UNKNOWN_TOPIC_OR_PARTITION,
// or INVALID_TOPIC_EXCEPTION when its name breaks Kafka's rules.
//
// Auto-creation (KafkaApis.getTopicMetadata): with auto.create.topics.enable
// and allow_auto_topic_creation (v4+; implied before v4), a missing topic
// with a valid name that is not internal is created as CreateTopics would
// create it with num.partitions and default.replication.factor, over the
// live brokers of the metadata cache. As in Kafka's ZooKeeper mode, any
// broker writes it to ZooKeeper itself (AdminZkClient.createTopic), not
// only the controller. The topic is answered LEADER_NOT_AVAILABLE, also
// when it was created meanwhile (TOPIC_ALREADY_EXISTS), and the client asks
// again until the controller has brought it online; any other failure is
// answered with its code, such as INVALID_REPLICATION_FACTOR when the
// factor exceeds the live brokers. __consumer_offsets is auto-created the
// same way, but as FindCoordinator creates it (createOffsetsTopic), and
// answered INVALID_REPLICATION_FACTOR while fewer brokers than
// offsets.topic.replication.factor are alive, as Kafka 2.8's
// AutoTopicCreationManager does. __transaction_state is not created: there
// is no transaction coordinator yet.
//
// Per version: v1 adds the controller id and is_internal (KIP-4) and racks
// (KIP-36); v2 the cluster id (KIP-78); v3 throttle time; v5 offline
// replicas (KIP-112); v7 leader epochs (KIP-320); v8 authorized operations
// (KIP-430); v9 is flexible (KIP-482); v10 topic ids in the response
// (KIP-516), where, as in Kafka 2.8, a request naming a topic by id or with
// a null name is answered INVALID_REQUEST on each topic asked; v11 drops the
// cluster's authorized operations (KIP-700, DescribeCluster took them over).
//
// Authorized operations are computed as Kafka computes them without an
// authorizer: every operation the resource type supports. When not asked
// for, they are -2^31. TODO(issue 3): ask the authorizer once there is one.

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/sirupsen/logrus"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.Metadata, 0, 11, (*handlers).handleMetadata) }

func (h *handlers) handleMetadata(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	v := req.Version
	listener := r.conn.ListenerName
	allTopics := req.Topics == nil || (v == 0 && len(req.Topics) == 0)

	if !allTopics && v >= 10 {
		for _, t := range req.Topics {
			if t.Topic == nil || t.TopicID != ([16]byte{}) {
				return invalidMetadataRequest(req), nil
			}
		}
	}

	for _, b := range h.metadata.AliveBrokers() {
		ep, ok := b.endpoint(listener)
		if !ok {
			continue
		}
		rb := kmsg.NewMetadataResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.ID, ep.Host, ep.Port, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	if id := h.metadata.ClusterID(); id != "" {
		resp.ClusterID = kmsg.StringPtr(id)
	}
	resp.ControllerID = h.metadata.ControllerID()

	var names []string
	if allTopics {
		names = h.metadata.AllTopics()
	} else {
		seen := make(map[string]bool, len(req.Topics))
		for _, t := range req.Topics {
			if t.Topic != nil && !seen[*t.Topic] {
				seen[*t.Topic] = true
				names = append(names, *t.Topic)
			}
		}
	}
	cached := h.metadata.TopicMetadata(names, listener, v == 0, v >= 6)
	autoCreate := h.cfg != nil && h.cfg.AutoCreateTopicsEnable && h.topics != nil && (v < 4 || req.AllowAutoTopicCreation)
	if len(cached) == len(names) {
		resp.Topics = cached
	} else {
		byName := make(map[string]kmsg.MetadataResponseTopic, len(cached))
		for _, t := range cached {
			byName[*t.Topic] = t
		}
		resp.Topics = make([]kmsg.MetadataResponseTopic, 0, len(names))
		for _, name := range names {
			t, ok := byName[name]
			if !ok {
				t = missingTopicMetadata(name)
				switch {
				case !autoCreate || t.ErrorCode != kerr.UnknownTopicOrPartition.Code:
				case name == groupMetadataTopic:
					t.ErrorCode = h.createOffsetsTopic(ctx)
					if t.ErrorCode == kerr.CoordinatorNotAvailable.Code {
						t.ErrorCode = kerr.InvalidReplicationFactor.Code
					}
				case !t.IsInternal:
					t.ErrorCode = h.autoCreateTopic(ctx, name)
				}
			}
			resp.Topics = append(resp.Topics, t)
		}
	}

	if v >= 8 {
		if req.IncludeTopicAuthorizedOperations {
			for i := range resp.Topics {
				resp.Topics[i].AuthorizedOperations = topicAuthorizedOperations
			}
		}
		if v <= 10 && req.IncludeClusterAuthorizedOperations {
			resp.AuthorizedOperations = clusterAuthorizedOperations
		}
	}
	return resp, nil
}

// missingTopicMetadata answers a topic the cache does not hold.
func missingTopicMetadata(name string) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = kmsg.StringPtr(name)
	t.IsInternal = isInternalTopic(name)
	t.Partitions = []kmsg.MetadataResponseTopicPartition{}
	t.ErrorCode = kerr.UnknownTopicOrPartition.Code
	if !validTopicName(name) {
		t.ErrorCode = kerr.InvalidTopicException.Code
	}
	return t
}

// autoCreateTopic creates a missing topic with the broker's defaults and
// returns the error code Metadata answers for it.
func (h *handlers) autoCreateTopic(ctx context.Context, name string) int16 {
	brokers := h.aliveBrokerMetadata()
	err := func() error {
		assignment, err := h.assignReplicas(brokers, int(h.cfg.NumPartitions), int(h.cfg.DefaultReplicationFactor), -1, 0)
		if err != nil {
			return err
		}
		overrides := map[string]string{}
		if _, err := h.validateTopicCreate(ctx, name, assignment, overrides); err != nil {
			return err
		}
		_, err = h.writeTopic(ctx, name, assignment, overrides)
		return err
	}()
	switch {
	case err == nil:
		h.log.WithField("topic", name).Info("auto-created topic")
	case errors.Is(err, kerr.TopicAlreadyExists): // another broker created it
	default:
		return errorCode(h.log, err)
	}
	return kerr.LeaderNotAvailable.Code
}

// offsetsTopicConfig is the config __consumer_offsets is created with
// (Kafka's GroupCoordinator.offsetsTopicConfigs): compacted, batches kept
// as the coordinator compressed them, segments of offsets.topic.segment.bytes.
func offsetsTopicConfig(cfg *conf.Config) map[string]string {
	return map[string]string{
		"cleanup.policy":   "compact",
		"compression.type": "producer",
		"segment.bytes":    strconv.FormatInt(cfg.OffsetsTopicSegmentBytes, 10),
	}
}

// createOffsetsTopic creates __consumer_offsets with
// offsets.topic.num.partitions partitions of offsets.topic.replication.factor
// replicas over the live brokers, and returns the code its metadata is
// answered with, as Kafka 2.8's AutoTopicCreationManager does for it:
// COORDINATOR_NOT_AVAILABLE (logged) while fewer brokers than the
// replication factor are alive, so that a cluster starting up does not get
// an offsets topic with too few replicas forever; LEADER_NOT_AVAILABLE once
// created, or when another broker created it meanwhile; the failure's code
// otherwise. As in Kafka's RackAwareMode.Safe, racks are ignored unless
// every live broker has one.
func (h *handlers) createOffsetsTopic(ctx context.Context) int16 {
	if h.cfg == nil || h.topics == nil {
		return kerr.CoordinatorNotAvailable.Code
	}
	brokers := h.aliveBrokerMetadata()
	rf := int(h.cfg.OffsetsTopicReplicationFactor)
	if len(brokers) < rf {
		h.log.WithFields(logrus.Fields{"alive_brokers": len(brokers), "offsets.topic.replication.factor": rf}).Error(
			"too few live brokers for the replication factor of " + groupMetadataTopic +
				"; this can be ignored while the cluster is starting up and not all brokers are up yet")
		return kerr.CoordinatorNotAvailable.Code
	}
	if slices.ContainsFunc(brokers, func(b controller.BrokerMetadata) bool { return b.Rack == nil }) {
		for i := range brokers {
			brokers[i].Rack = nil
		}
	}
	err := func() error {
		assignment, err := h.assignReplicas(brokers, int(h.cfg.OffsetsTopicNumPartitions), rf, -1, 0)
		if err != nil {
			return err
		}
		overrides := offsetsTopicConfig(h.cfg)
		if _, err := h.validateTopicCreate(ctx, groupMetadataTopic, assignment, overrides); err != nil {
			return err
		}
		_, err = h.writeTopic(ctx, groupMetadataTopic, assignment, overrides)
		return err
	}()
	switch {
	case err == nil:
		h.log.WithField("topic", groupMetadataTopic).Info("created the offsets topic")
	case errors.Is(err, kerr.TopicAlreadyExists): // another broker created it
	default:
		h.log.WithError(err).Error("cannot create " + groupMetadataTopic)
		return errorCode(h.log, err)
	}
	return kerr.LeaderNotAvailable.Code
}

// invalidMetadataRequest answers INVALID_REQUEST on every topic asked, as
// Kafka's MetadataRequest.getErrorResponse does (a null name becomes "").
func invalidMetadataRequest(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr("")
		if rt.Topic != nil {
			t.Topic = kmsg.StringPtr(*rt.Topic)
		}
		t.TopicID = rt.TopicID
		t.ErrorCode = kerr.InvalidRequest.Code
		t.Partitions = []kmsg.MetadataResponseTopicPartition{}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// Authorized operations without an authorizer: every operation the resource
// type supports (Kafka's AclEntry.supportedOperations), as a bit field with
// bit n set for operation code n.
var (
	topicAuthorizedOperations = aclBits(kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate,
		kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs)
	clusterAuthorizedOperations = aclBits(kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction,
		kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
		kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe)
)

// notRequestedAuthorizedOperations is what a response carries when the
// client did not ask for authorized operations.
const notRequestedAuthorizedOperations int32 = math.MinInt32

func aclBits(ops ...kmsg.ACLOperation) int32 {
	var bits int32
	for _, op := range ops {
		bits |= 1 << op
	}
	return bits
}
