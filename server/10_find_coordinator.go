package server

// FindCoordinator (key 10): versions 0-3.
//
// Kafka 2.8's handleFindCoordinatorRequest. A group's coordinator is the
// leader of its partition of __consumer_offsets (the coordinator's
// PartitionFor), as the metadata cache shows it, reported with its
// endpoint on the listener the request came in on. The answer is
// COORDINATOR_NOT_AVAILABLE, with node -1, host "" and port -1, when:
//
//   - __consumer_offsets does not exist yet: it is created
//     (createOffsetsTopic, whatever auto.create.topics.enable says, as in
//     Kafka), or not while fewer brokers than
//     offsets.topic.replication.factor are alive, and the client asks
//     again;
//   - the partition has no leader, or its leader has no endpoint on the
//     request's listener.
//
// Key type (v1+): 0 is a group; 1 (a transactional id) is always
// COORDINATOR_NOT_AVAILABLE, a departure from Kafka made because there is
// no transaction coordinator yet (TODO(issue 5)): the producer keeps
// looking instead of failing for good; any other type is INVALID_REQUEST,
// as Kafka's InvalidRequestException. The key is not checked: as in Kafka
// 2.8, an empty group id gets the coordinator of its partition, and
// JoinGroup and the others answer INVALID_GROUP_ID.
//
// Per version: v1 adds the key type, throttle time and the error message
// (Kafka's: the error's default message, "NONE" on success); v2 is the
// same as v1 (KIP-394 bump); v3 is flexible (KIP-482). Throttle time is
// always 0 (no quotas yet).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.FindCoordinator, 0, 3, (*handlers).handleFindCoordinator) }

// Coordinator key types (FindCoordinator v1+).
const (
	coordinatorTypeGroup       int8 = 0
	coordinatorTypeTransaction int8 = 1
)

func (h *handlers) handleFindCoordinator(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	fail := func(e *kerr.Error) (kmsg.Response, error) {
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = e.Code, -1, "", -1
		if req.Version >= 1 {
			resp.ErrorMessage = kmsg.StringPtr(e.Description)
		}
		return resp, nil
	}
	keyType := coordinatorTypeGroup
	if req.Version >= 1 {
		keyType = req.CoordinatorType
	}
	switch {
	case keyType == coordinatorTypeTransaction:
		return fail(kerr.CoordinatorNotAvailable)
	case keyType != coordinatorTypeGroup:
		return fail(kerr.InvalidRequest)
	case h.groups == nil:
		return fail(kerr.CoordinatorNotAvailable)
	}
	partition := h.groups.PartitionFor(req.CoordinatorKey)
	if !h.metadata.Contains(groupMetadataTopic) {
		h.createOffsetsTopic(ctx)
		return fail(kerr.CoordinatorNotAvailable)
	}
	ps, ok := h.metadata.PartitionInfo(groupMetadataTopic, partition)
	if !ok || ps.Leader < 0 {
		return fail(kerr.CoordinatorNotAvailable)
	}
	ep, ok := h.metadata.AliveEndpoint(ps.Leader, r.conn.ListenerName)
	if !ok || ep.Host == "" {
		return fail(kerr.CoordinatorNotAvailable)
	}
	resp.NodeID, resp.Host, resp.Port = ps.Leader, ep.Host, ep.Port
	if req.Version >= 1 {
		resp.ErrorMessage = kmsg.StringPtr("NONE")
	}
	return resp, nil
}
