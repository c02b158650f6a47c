package server

// ListPartitionReassignments (key 46): version 0 only (flexible), KIP-455.
//
// Lists the reassignments in progress, from the controller's memory
// (Controller.ListReassignments): null topics lists all of them, otherwise
// only those of the partitions asked that are being reassigned (partitions
// not being reassigned, or unknown, are left out, as Kafka does). Each
// comes with its full replica set and the replicas being added and
// removed. Only the controller serves it: elsewhere the top-level error is
// NOT_CONTROLLER. TODO(issue 3): no authorization (Kafka requires DESCRIBE
// on the cluster).

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerSyncAPI(kmsg.ListPartitionReassignments, 0, 0, (*handlers).handleListPartitionReassignments)
}

func (h *handlers) handleListPartitionReassignments(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	var asked []zkutil.TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			asked = append(asked, zkutil.TopicPartition{Topic: t.Topic, Partition: p})
		}
	}
	ctrl := h.elector.Load()
	if ctrl == nil {
		resp.ErrorCode = kerr.NotController.Code
		return resp, nil
	}
	cctx, cancel := context.WithTimeout(ctx, controllerCallTimeout(h, req.TimeoutMillis))
	found, err := ctrl.ListReassignments(cctx, asked, req.Topics == nil)
	cancel()
	if err != nil {
		if !errors.Is(err, kerr.NotController) {
			h.log.WithError(err).Warn("the controller did not list the reassignments in time")
		}
		resp.ErrorCode = controllerErrorCode(err)
		return resp, nil
	}
	for _, tp := range slices.SortedFunc(maps.Keys(found), compareTopicPartitions) {
		if n := len(resp.Topics); n == 0 || resp.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = tp.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		ra := found[tp]
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = tp.Partition
		rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = ra.Replicas, ra.Adding, ra.Removing
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	return resp, nil
}
