package server

// InitProducerId (key 22): versions 0-4, idempotent producers only.
//
// With a null transactional id, every request gets a new producer id with
// epoch 0 from the producer id manager, whatever producer id and epoch it
// carries: Kafka 2.8's TransactionCoordinator.handleInitProducerId "always
// blindly accepts the request" in that case, and so does Gregor. Any
// broker answers; transaction_timeout_ms is ignored.
//
// Per-version notes: v1 is v0 with throttling on quota violation; v2 is
// flexible (KIP-482); v3 (KIP-360) adds the producer id and epoch a
// producer already has, so that a transactional producer can bump its
// epoch after an error. As in Kafka's KafkaApis, a request with only one of
// the two set (the other -1) is INVALID_REQUEST. v4 (KIP-588) lets the
// coordinator answer PRODUCER_FENCED to transactional producers; nothing
// changes for idempotent ones.
//
// Errors:
//   - an empty transactional id is INVALID_REQUEST, as in Kafka;
//   - TODO(txn issue): transactions are not implemented, so a transactional
//     id is answered INVALID_REQUEST too. Not COORDINATOR_NOT_AVAILABLE or
//     NOT_COORDINATOR: both are retriable, and a transactional producer
//     would rediscover the coordinator and retry until its own timeout
//     (max.block.ms in the Java client), then fail with a timeout that
//     says nothing of the cause. INVALID_REQUEST is fatal at once, and its
//     message ("... sent to an incompatible broker") is what happened. When
//     the transaction coordinator exists it answers here instead;
//   - the current block used up and the next one not claimable (ZooKeeper
//     unreachable or slow) is COORDINATOR_LOAD_IN_PROGRESS: retriable, and
//     the one code every client version retries in place (Java's
//     TransactionManager re-enqueues it; COORDINATOR_NOT_AVAILABLE would
//     send an idempotent producer looking up a transaction coordinator for
//     a null transactional id). It is also what Kafka 3's
//     RPCProducerIdManager answers while no block is available; Kafka 2.8
//     itself blocks the request thread until ZooKeeper is back;
//   - the producer id space used up (a block past the largest int64) is
//     UNKNOWN_SERVER_ERROR, logged at Error: Kafka throws there too, and an
//     operator must act.

import (
	"context"
	"errors"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.InitProducerID, 0, 4, (*handlers).handleInitProducerID) }

func (h *handlers) handleInitProducerID(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	fail := func(e *kerr.Error) (kmsg.Response, error) {
		resp.ErrorCode = e.Code
		return resp, nil
	}
	// v0-v2 carry no producer id or epoch: kmsg leaves both -1.
	if (req.ProducerID == -1) != (req.ProducerEpoch == -1) {
		return fail(kerr.InvalidRequest)
	}
	if req.TransactionalID != nil {
		// TODO(txn issue): the transaction coordinator.
		if *req.TransactionalID != "" {
			h.log.WithFields(requestFields(r)).WithField("transactional_id", *req.TransactionalID).
				Debug("init producer id for a transactional id refused: transactions are not supported")
		}
		return fail(kerr.InvalidRequest)
	}
	if h.producerIDs == nil {
		// Not connected to ZooKeeper yet: cannot happen once serving.
		return fail(kerr.CoordinatorLoadInProgress)
	}
	id, err := h.producerIDs.generate(ctx)
	switch {
	case errors.Is(err, zkutil.ErrProducerIDsExhausted):
		resp.ErrorCode = errorCode(h.log, err)
		return resp, nil
	case err != nil:
		h.log.WithFields(requestFields(r)).WithError(err).Warn("no producer id to hand out")
		return fail(kerr.CoordinatorLoadInProgress)
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
