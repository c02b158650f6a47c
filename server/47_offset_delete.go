package server

// OffsetDelete (key 47): version 0 (KIP-496).
//
// Served by the group coordinator (coordinator/group), which answers once
// the offsets' tombstones are written.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.OffsetDelete, 0, 0, (*handlers).handleOffsetDelete) }

func (h *handlers) handleOffsetDelete(_ context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.OffsetDeleteRequest)
	h.groups.OffsetDelete(req, func(resp *kmsg.OffsetDeleteResponse) {
		resp.Version = req.Version
		respond(resp)
	})
	return nil
}
