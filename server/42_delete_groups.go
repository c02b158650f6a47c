package server

// DeleteGroups (key 42): versions 0-2.
//
// Served by the group coordinator (coordinator/group), which answers once
// the groups' tombstones are written. Per version: v1 means the client
// honours throttle time; v2 is flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.DeleteGroups, 0, 2, (*handlers).handleDeleteGroups) }

func (h *handlers) handleDeleteGroups(_ context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.DeleteGroupsRequest)
	h.groups.DeleteGroups(req, func(resp *kmsg.DeleteGroupsResponse) {
		resp.Version = req.Version
		respond(resp)
	})
	return nil
}
