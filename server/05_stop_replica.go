package server

// StopReplica (key 5): versions 0-3.
//
// Sent by the controller when a replica leaves a broker: on reassignment,
// controlled shutdown of a follower, and topic deletion (with delete set).
// With delete the partition is no longer hosted and its log is deleted;
// without, the partition stays hosted with its state and only stops
// replicating, as in Kafka 2.8 (replica_manager.go, stopReplicas).
//
// Refused as a whole, with nothing applied and every partition answered
// with the same code (Kafka's StopReplicaRequest.getErrorResponse):
//   - STALE_BROKER_EPOCH (v1+, KIP-380) when meant for an earlier
//     registration of this broker;
//   - STALE_CONTROLLER_EPOCH when the controller epoch is older than the
//     latest accepted from any control request.
//
// Per partition (v3, KIP-570): a leader epoch older than or equal to the
// hosted one is FENCED_LEADER_EPOCH and the replica keeps running; -2
// (topic deletion, whose leader epoch is not bumped) and -1 (no epoch)
// stop it regardless.
//
// Per version: v0 lists (topic, partition) pairs and one delete flag; v1
// adds the broker epoch and groups partitions by topic (KIP-380); v2 is
// flexible (KIP-482); v3 gives each partition its own leader epoch and
// delete flag (KIP-570). The response lists partitions with their topic in
// every version. v4 (KRaft migration) is not served.

import (
	"context"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.StopReplica, 0, 3, (*handlers).handleStopReplica) }

func (h *handlers) handleStopReplica(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.StopReplicaRequest)
	partitions := stopReplicaPartitions(req)
	fields := logrus.Fields{
		"controller_id":    req.ControllerID,
		"controller_epoch": req.ControllerEpoch,
		"correlation_id":   r.header.CorrelationID,
	}
	if req.Version >= 1 && h.brokerEpochStale(req.BrokerEpoch) {
		h.log.WithFields(fields).WithFields(logrus.Fields{
			"request_broker_epoch": req.BrokerEpoch,
			"broker_epoch":         h.brokerEpoch.Load(),
		}).Info("ignoring StopReplica meant for an earlier registration of this broker")
		return stopReplicaResponse(req, partitions, kerr.StaleBrokerEpoch.Code, nil), nil
	}
	var codes map[logstore.TopicPartition]int16
	err := h.controllerEpoch.apply(req.ControllerEpoch, func() {
		codes = h.replicas.stopReplicas(partitions)
	})
	if err != nil {
		h.log.WithFields(fields).WithError(err).Warn("ignoring StopReplica from an old controller")
		return stopReplicaResponse(req, partitions, errorCode(h.log, err), nil), nil
	}
	return stopReplicaResponse(req, partitions, 0, codes), nil
}

// stopReplicaPartitions lists the partitions of a request of any version,
// with the leader epoch (-1 before v3) and delete flag of each.
func stopReplicaPartitions(req *kmsg.StopReplicaRequest) []stopReplicaPartition {
	var out []stopReplicaPartition
	for _, t := range req.Topics {
		switch {
		case req.Version == 0:
			out = append(out, stopReplicaPartition{
				tp:          logstore.TopicPartition{Topic: t.Topic, Partition: t.Partition},
				leaderEpoch: stopReplicaNoEpoch,
				delete:      req.DeletePartitions,
			})
		case req.Version <= 2:
			for _, p := range t.Partitions {
				out = append(out, stopReplicaPartition{
					tp:          logstore.TopicPartition{Topic: t.Topic, Partition: p},
					leaderEpoch: stopReplicaNoEpoch,
					delete:      req.DeletePartitions,
				})
			}
		default:
			for _, ps := range t.PartitionStates {
				out = append(out, stopReplicaPartition{
					tp:          logstore.TopicPartition{Topic: t.Topic, Partition: ps.Partition},
					leaderEpoch: ps.LeaderEpoch,
					delete:      ps.Delete,
				})
			}
		}
	}
	return out
}

// stopReplicaResponse answers every partition, in request order: with the
// request-wide errorCode when it is set, otherwise with the partition's
// code from codes.
func stopReplicaResponse(req *kmsg.StopReplicaRequest, partitions []stopReplicaPartition, errorCode int16, codes map[logstore.TopicPartition]int16) *kmsg.StopReplicaResponse {
	resp := req.ResponseKind().(*kmsg.StopReplicaResponse)
	resp.ErrorCode = errorCode
	for _, sp := range partitions {
		pe := kmsg.NewStopReplicaResponsePartition()
		pe.Topic, pe.Partition, pe.ErrorCode = sp.tp.Topic, sp.tp.Partition, errorCode
		if errorCode == 0 {
			pe.ErrorCode = codes[sp.tp]
		}
		resp.Partitions = append(resp.Partitions, pe)
	}
	return resp
}
