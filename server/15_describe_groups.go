package server

// DescribeGroups (key 15): versions 0-5.
//
// Served by the group coordinator (coordinator/group), each group on its
// own (NOT_COORDINATOR for a group another broker coordinates). Per
// version: v1 adds throttle time; v3 authorized operations (KIP-430); v4
// group instance ids (KIP-345); v5 is flexible.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.DescribeGroups, 0, 5, (*handlers).handleDescribeGroups) }

func (h *handlers) handleDescribeGroups(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeGroupsRequest)
	resp := h.groups.DescribeGroups(req)
	resp.Version = req.Version
	return resp, nil
}
