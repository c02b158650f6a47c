package server

// Heartbeat (key 12): versions 0-4.
//
// Served by the group coordinator (coordinator/group). Per version: v1 adds
// throttle time; v3 the group instance id (KIP-345); v4 is flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.Heartbeat, 0, 4, (*handlers).handleHeartbeat) }

func (h *handlers) handleHeartbeat(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.HeartbeatRequest)
	resp := h.groups.Heartbeat(req)
	resp.Version = req.Version
	return resp, nil
}
