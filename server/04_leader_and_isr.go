package server

// LeaderAndIsr (key 4): versions 0-5.
//
// Sent by the controller to the replicas of partitions whose leader, ISR or
// assignment changed; the broker becomes leader or follower of each
// (replica_manager.go, partition.go). A leader starts its epoch at its log
// end offset and counts the followers' fetches towards the high watermark;
// a follower truncates to where its log agrees with the leader's and
// fetches from it (replica_fetcher.go), from the address of the request's
// live leaders.
//
// Refused as a whole, with nothing applied and every partition answered
// with the same code (Kafka's LeaderAndIsrRequest.getErrorResponse):
//   - STALE_BROKER_EPOCH (v2+, KIP-380) when meant for an earlier
//     registration of this broker;
//   - STALE_CONTROLLER_EPOCH when the controller epoch is older than the
//     latest accepted from any control request.
//
// Per partition, as Kafka 2.8 answers (subtle): a leader epoch older than
// or equal to the current one is STALE_CONTROLLER_EPOCH, not
// FENCED_LEADER_EPOCH (2.8 uses that one only in StopReplica); a partition
// whose assignment does not name this broker is UNKNOWN_TOPIC_OR_PARTITION;
// a log that cannot be created is KAFKA_STORAGE_ERROR.
//
// Per version: v1 adds is_new (KIP-112), v2 the broker epoch and groups
// partition states by topic (KIP-380), v3 adding and removing replicas
// (KIP-455), v4 is flexible (KIP-482), v5 adds the type and topic ids and
// answers per topic id (KIP-516). Topic ids are not checked against the
// log yet (Kafka's INCONSISTENT_TOPIC_ID needs the partition.metadata file;
// TODO(issue 3)). v6+ (KRaft migration) is not served.
//
// Like Kafka without an authorizer, anyone may send it.

import (
	"context"
	"net"
	"strconv"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.LeaderAndISR, 0, 5, (*handlers).handleLeaderAndISR) }

func (h *handlers) handleLeaderAndISR(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.LeaderAndISRRequest)
	states := leaderAndISRPartitionStates(req)
	fields := logrus.Fields{
		"controller_id":    req.ControllerID,
		"controller_epoch": req.ControllerEpoch,
		"correlation_id":   r.header.CorrelationID,
	}
	if req.Version >= 2 && h.brokerEpochStale(req.BrokerEpoch) {
		h.log.WithFields(fields).WithFields(logrus.Fields{
			"request_broker_epoch": req.BrokerEpoch,
			"broker_epoch":         h.brokerEpoch.Load(),
		}).Info("ignoring LeaderAndIsr meant for an earlier registration of this broker")
		return leaderAndISRResponse(req, states, kerr.StaleBrokerEpoch.Code, nil), nil
	}
	var codes map[logstore.TopicPartition]int16
	err := h.controllerEpoch.apply(req.ControllerEpoch, func() {
		codes = h.replicas.becomeLeaderOrFollower(req.ControllerID, states, h.leaderAddrs(req))
	})
	if err != nil {
		h.log.WithFields(fields).WithError(err).Warn("ignoring LeaderAndIsr from an old controller")
		return leaderAndISRResponse(req, states, errorCode(h.log, err), nil), nil
	}
	return leaderAndISRResponse(req, states, 0, codes), nil
}

// leaderAddrs maps the live leaders of a LeaderAndIsr request to the
// host:port followers fetch from: the request's live leaders (the
// controller's inter-broker endpoints), and for a leader it omits, the
// metadata cache's endpoint on the inter-broker listener.
func (h *handlers) leaderAddrs(req *kmsg.LeaderAndISRRequest) map[int32]string {
	addrs := map[int32]string{}
	for _, ll := range req.LiveLeaders {
		addrs[ll.BrokerID] = net.JoinHostPort(ll.Host, strconv.Itoa(int(ll.Port)))
	}
	for _, st := range leaderAndISRPartitionStates(req) {
		if _, ok := addrs[st.Leader]; ok || st.Leader < 0 || h.cfg == nil {
			continue
		}
		if l, ok := h.cfg.InterBrokerListener(); ok {
			if ep, ok := h.metadata.AliveEndpoint(st.Leader, l.Name); ok {
				addrs[st.Leader] = net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
			}
		}
	}
	return addrs
}

// leaderAndISRPartitionStates lists the partition states of a request of
// any version, each with its topic (Kafka's LeaderAndIsrRequest.
// partitionStates normalises v2+ the same way).
func leaderAndISRPartitionStates(req *kmsg.LeaderAndISRRequest) []kmsg.LeaderAndISRRequestTopicPartition {
	if req.Version < 2 {
		return req.PartitionStates
	}
	var out []kmsg.LeaderAndISRRequestTopicPartition
	for _, ts := range req.TopicStates {
		for _, ps := range ts.PartitionStates {
			ps.Topic = ts.Topic
			out = append(out, ps)
		}
	}
	return out
}

// leaderAndISRResponse answers every partition of the request, in request
// order: with the request-wide errorCode when it is set, otherwise with
// the partition's code from codes. v0-v4 list partitions with their topic,
// v5 groups them by topic id.
func leaderAndISRResponse(req *kmsg.LeaderAndISRRequest, states []kmsg.LeaderAndISRRequestTopicPartition, errorCode int16, codes map[logstore.TopicPartition]int16) *kmsg.LeaderAndISRResponse {
	resp := req.ResponseKind().(*kmsg.LeaderAndISRResponse)
	resp.ErrorCode = errorCode
	partitionError := func(topic string, partition int32) kmsg.LeaderAndISRResponseTopicPartition {
		pe := kmsg.NewLeaderAndISRResponseTopicPartition()
		pe.Topic, pe.Partition, pe.ErrorCode = topic, partition, errorCode
		if errorCode == 0 {
			pe.ErrorCode = codes[logstore.TopicPartition{Topic: topic, Partition: partition}]
		}
		return pe
	}
	if req.Version < 5 {
		for _, st := range states {
			resp.Partitions = append(resp.Partitions, partitionError(st.Topic, st.Partition))
		}
		return resp
	}
	for _, ts := range req.TopicStates {
		te := kmsg.NewLeaderAndISRResponseTopic()
		te.TopicID = ts.TopicID
		for _, ps := range ts.PartitionStates {
			te.Partitions = append(te.Partitions, partitionError(ts.Topic, ps.Partition))
		}
		resp.Topics = append(resp.Topics, te)
	}
	return resp
}
