package server

// ListGroups (key 16): versions 0-4.
//
// Served by the group coordinator (coordinator/group): the groups of the
// __consumer_offsets partitions this broker leads; clients ask every
// broker. Per version: v1 adds throttle time; v3 is flexible; v4 filters by
// state (KIP-518).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.ListGroups, 0, 4, (*handlers).handleListGroups) }

func (h *handlers) handleListGroups(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.ListGroupsRequest)
	resp := h.groups.ListGroups(req)
	resp.Version = req.Version
	return resp, nil
}
