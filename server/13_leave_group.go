package server

// LeaveGroup (key 13): versions 0-4.
//
// Served by the group coordinator (coordinator/group), which answers once
// the departure is settled. Per version: v1 adds throttle time; v3 leaves
// several members at once, each with its own error (KIP-345); v4 is
// flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.LeaveGroup, 0, 4, (*handlers).handleLeaveGroup) }

func (h *handlers) handleLeaveGroup(_ context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.LeaveGroupRequest)
	h.groups.LeaveGroup(req, func(resp *kmsg.LeaveGroupResponse) {
		resp.Version = req.Version
		respond(resp)
	})
	return nil
}
