package server

// ControlledShutdown (key 7): versions 0-3.
//
// A broker about to stop asks the controller to move its partition
// leadership away and take it out of ISRs (controlled_shutdown.go has the
// broker's side). Only the controller serves it: elsewhere the answer is
// NOT_CONTROLLER. What the controller does and answers is documented in
// coordinator/controller/controlled_shutdown.go: BROKER_NOT_AVAILABLE for
// an unregistered broker, STALE_BROKER_EPOCH (v2+, KIP-380) for an older
// registration, otherwise NONE with the partitions it still leads.
//
// Per version: v0 uses request header v0 (no client id; network handles
// it); v1 is v0; v2 adds the broker epoch; v3 is flexible (KIP-482). The
// request waits for the controller's loop at most
// controller.socket.timeout.ms, then gets REQUEST_TIMED_OUT; when this
// broker starts shutting down meanwhile, it gets NOT_CONTROLLER at once
// (controller.Quiesce), and the sender looks for the next controller.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.ControlledShutdown, 0, 3, (*handlers).handleControlledShutdown) }

func (h *handlers) handleControlledShutdown(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ControlledShutdownRequest)
	if req.Version < 2 {
		req.BrokerEpoch = -1 // none given
	}
	return askController(ctx, h, req, controllerRequests.ControlledShutdown,
		func(resp *kmsg.ControlledShutdownResponse, code int16) { resp.ErrorCode = code }), nil
}
