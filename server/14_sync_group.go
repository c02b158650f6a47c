package server

// SyncGroup (key 14): versions 0-5.
//
// Served by the group coordinator (coordinator/group), which parks a
// follower's request until the leader's assignment is stored. Per version:
// v1 adds throttle time; v3 the group instance id (KIP-345); v4 is
// flexible; v5 adds the protocol type and name (KIP-559).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.SyncGroup, 0, 5, (*handlers).handleSyncGroup) }

func (h *handlers) handleSyncGroup(_ context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.SyncGroupRequest)
	h.groups.SyncGroup(req, func(resp *kmsg.SyncGroupResponse) {
		resp.Version = req.Version
		respond(resp)
	})
	return nil
}
