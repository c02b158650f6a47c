package server

// AlterPartitionReassignments (key 45): version 0 only (flexible), KIP-455.
//
// Starts or cancels partition reassignments. As in Kafka 2.8's ZooKeeper
// mode the controller does the work in its loop
// (coordinator/controller: Controller.AlterReassignments), so only the
// controller serves it: elsewhere the top-level error is NOT_CONTROLLER,
// which makes clients look the controller up and retry. The answer comes
// once the reassignments have started, not finished: clients follow them
// with ListPartitionReassignments.
//
// Per partition: a null replica list cancels the partition's reassignment
// (NO_REASSIGNMENT_IN_PROGRESS when there is none);
// UNKNOWN_TOPIC_OR_PARTITION for a partition the controller does not know;
// INVALID_REPLICA_ASSIGNMENT for an empty list, duplicates or a broker that
// is not alive. A partition listed twice takes its last entry. v1 (KIP-860,
// allow_replication_factor_change) is later Kafka's and not served.
// TODO(issue 3): no authorization (Kafka requires ALTER on the cluster).

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerSyncAPI(kmsg.AlterPartitionAssignments, 0, 0, (*handlers).handleAlterPartitionReassignments)
}

func (h *handlers) handleAlterPartitionReassignments(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	var reqs []controller.ReassignmentRequest
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			reqs = append(reqs, controller.ReassignmentRequest{
				TopicPartition: zkutil.TopicPartition{Topic: t.Topic, Partition: p.Partition},
				Replicas:       p.Replicas,
			})
		}
	}
	ctrl := h.elector.Load()
	if ctrl == nil {
		resp.ErrorCode = kerr.NotController.Code
		return resp, nil
	}
	cctx, cancel := context.WithTimeout(ctx, controllerCallTimeout(h, req.TimeoutMillis))
	results, err := ctrl.AlterReassignments(cctx, reqs)
	cancel()
	if err != nil {
		if !errors.Is(err, kerr.NotController) {
			h.log.WithError(err).Warn("the controller did not start the reassignments in time")
		}
		resp.ErrorCode = controllerErrorCode(err)
		return resp, nil
	}
	for _, tp := range slices.SortedFunc(maps.Keys(results), compareTopicPartitions) {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		rp.Partition = tp.Partition
		rp.ErrorCode = errorCode(h.log, results[tp])
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	return resp, nil
}

// controllerCallTimeout bounds how long an admin request waits for the
// controller's loop: the request's timeout_ms, at least
// controller.socket.timeout.ms when configured, else 30 seconds.
func controllerCallTimeout(h *handlers, timeoutMillis int32) time.Duration {
	d := time.Duration(timeoutMillis) * time.Millisecond
	if h.cfg != nil && h.cfg.ControllerSocketTimeout > d {
		d = h.cfg.ControllerSocketTimeout
	}
	if d <= 0 {
		d = 30 * time.Second
	}
	return d
}

func compareTopicPartitions(a, b zkutil.TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}
