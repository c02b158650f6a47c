package server

// AlterPartition (key 56): version 0 only, which is Kafka 2.8's AlterIsr
// (KIP-497).
//
// A partition leader asks the controller to change the partition's ISR
// (isr_change_sender.go sends it). Only the controller serves it: on any
// other broker, or on the controller before its term has started, the
// whole request is NOT_CONTROLLER, which makes the leader look the
// controller up again and retry. The controller's checks and answers are
// documented on controller.Controller.AlterISR. The request waits for the
// controller's loop at most controller.socket.timeout.ms, then gets
// REQUEST_TIMED_OUT (also retried by the leader). Versions 1+ (leader
// recovery state, topic ids, broker epochs per ISR member) are later
// Kafka's and not served.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.AlterPartition, 0, 0, (*handlers).handleAlterPartition) }

func (h *handlers) handleAlterPartition(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterPartitionRequest)
	return askController(ctx, h, req, controllerRequests.AlterISR,
		func(resp *kmsg.AlterPartitionResponse, code int16) { resp.ErrorCode = code }), nil
}
