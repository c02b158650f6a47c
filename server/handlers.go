package server

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/coordinator/controller"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const debugLevel = logrus.DebugLevel

// handlers serves the Kafka APIs: one method per API, each in its own file
// named after the API's key (00_produce.go, 18_api_versions.go, ...). It
// holds what the handlers share; handlers are thin: decode, check, call the
// replica manager or a coordinator, encode.
//
// Safe for concurrent use: network calls Handle from its worker goroutines.
type handlers struct {
	log      *logrus.Entry
	brokerID int32 // immutable: broker.id

	// metadata is the cluster as UpdateMetadata last described it.
	metadata *MetadataCache
	// controllerEpoch fences the controller's requests (control_requests.go).
	controllerEpoch controllerEpochFence
	// brokerEpoch is the czxid of this broker's /brokers/ids znode, set by
	// the Broker at each registration; 0 before the first, when no request
	// is stale (every czxid is positive).
	brokerEpoch atomic.Int64
	// replicas holds the partitions hosted here (replica_manager.go).
	replicas *replicaManager
	// fetches is where consumer fetches wait for min_bytes
	// (delayed_fetch.go); appends wake them through onAppend.
	fetches *purgatory[logstore.TopicPartition]
	// sendfileBytes counts the record bytes fetch responses sent with
	// sendfile (fetch_streamed.go).
	sendfileBytes atomic.Int64
	// smallFetchCopiedBytes counts the record bytes that zero-copy fetch
	// responses copied instead, being small (smallFetchRecordBytes).
	smallFetchCopiedBytes atomic.Int64
	// admin is where CreateTopics, CreatePartitions and DeleteTopics wait
	// for the controller to act (admin_purgatory.go); UpdateMetadata wakes
	// them through onTopicsUpdated.
	admin *purgatory[string]
	// produces is where acks=-1 produces wait for the high watermark
	// (delayed_produce.go); onHighWatermark wakes them.
	produces *purgatory[logstore.TopicPartition]

	// cfg is the broker's configuration (num.partitions,
	// delete.topic.enable, ...); set by New, immutable.
	cfg *conf.Config
	// topics is where the admin APIs (CreateTopics, DeleteTopics) write
	// and DescribeConfigs reads topic overrides: the ZooKeeper client, set
	// by Run once connected and before the socket server starts.
	topics topicStore
	// producerIDs hands out producer ids (InitProducerId); set by Run once
	// connected to ZooKeeper and before the socket server starts.
	producerIDs *producerIDManager
	// elector is this broker's controller candidate, which ElectLeaders
	// asks (43_elect_leaders.go); set by Run once the candidate exists.
	elector atomic.Pointer[controller.Controller]
	// controller serves the requests only the controller answers
	// (AlterIsr, ControlledShutdown); set by Run before the socket server
	// starts. nil: every such request is NOT_CONTROLLER.
	controller controllerRequests
	// groups is the group coordinator (the group APIs, FindCoordinator);
	// set by New. nil only in tests that serve no group API.
	groups groupCoordinator
	// consumerOffsets is where OffsetCommit and OffsetFetch v0 keep
	// offsets: the ZooKeeper client, set by Run once connected.
	consumerOffsets consumerOffsetStore
}

// consumerOffsetStore is ZooKeeper's /consumers/<group>/offsets, the
// storage of OffsetCommit and OffsetFetch v0; *zkutil.Client implements it.
type consumerOffsetStore interface {
	ConsumerOffset(ctx context.Context, group string, tp zkutil.TopicPartition) (offset int64, ok bool, err error)
	SetConsumerOffset(ctx context.Context, group string, tp zkutil.TopicPartition, offset int64) error
}

// controllerRequests is what handlers ask of this broker's controller
// candidate; *controller.Controller implements it. Each call fails with
// kerr.NotController when the broker is not the controller.
type controllerRequests interface {
	AlterISR(ctx context.Context, req *kmsg.AlterPartitionRequest) (*kmsg.AlterPartitionResponse, error)
	ControlledShutdown(ctx context.Context, req *kmsg.ControlledShutdownRequest) (*kmsg.ControlledShutdownResponse, error)
}

// askController hands a request only the controller answers to this
// broker's controller candidate through call, bounded by
// controller.socket.timeout.ms. On failure (NOT_CONTROLLER when the broker
// has no candidate or is not the controller, REQUEST_TIMED_OUT, ...) it
// answers with the request's empty response and the error's code, set by
// setCode.
func askController[Req kmsg.Request, Resp kmsg.Response](ctx context.Context, h *handlers, req Req,
	call func(controllerRequests, context.Context, Req) (Resp, error), setCode func(Resp, int16)) kmsg.Response {
	fail := func(code int16) kmsg.Response {
		resp := req.ResponseKind().(Resp)
		setCode(resp, code)
		return resp
	}
	if h.controller == nil {
		return fail(kerr.NotController.Code)
	}
	if h.cfg != nil && h.cfg.ControllerSocketTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.ControllerSocketTimeout)
		defer cancel()
	}
	resp, err := call(h.controller, ctx, req)
	if err != nil {
		return fail(controllerErrorCode(err))
	}
	resp.SetVersion(req.GetVersion())
	return resp
}

// controllerErrorCode maps an error from controllerRequests to the
// top-level error code of the response: a Kafka error's own code,
// UNKNOWN_SERVER_ERROR otherwise.
func controllerErrorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// topicStore is what the admin APIs read and write in ZooKeeper;
// *zkutil.Client implements it.
type topicStore interface {
	CreateTopic(ctx context.Context, topic string, a zkutil.TopicAssignment) error
	TopicAssignment(ctx context.Context, topic string) (zkutil.TopicAssignment, zkutil.Stat, error)
	SetTopicAssignment(ctx context.Context, f zkutil.Fence, topic string, a zkutil.TopicAssignment, expected int32) (zkutil.Stat, error)
	TopicExists(ctx context.Context, topic string) (bool, error)
	Topics(ctx context.Context) ([]string, error)
	TopicDeletions(ctx context.Context) ([]string, error)
	EntityConfig(ctx context.Context, typ zkutil.ConfigEntityType, name string) (map[string]string, error)
	SetEntityConfig(ctx context.Context, typ zkutil.ConfigEntityType, name string, cfg map[string]string) error
	RequestTopicDeletion(ctx context.Context, topic string) error
}

// newHandlers returns the handlers of broker brokerID, with an empty
// metadata cache.
func newHandlers(brokerID int32, log *logrus.Entry) *handlers {
	return &handlers{log: log, brokerID: brokerID, metadata: NewMetadataCache(brokerID, log),
		fetches: newFetchPurgatory(), produces: newProducePurgatory(), admin: newAdminPurgatory()}
}

// requestFields are the log fields of a request (STYLE.md section 9).
func requestFields(r *request) logrus.Fields {
	return logrus.Fields{
		"api_key":        r.header.APIKey,
		"api_version":    r.header.APIVersion,
		"correlation_id": r.header.CorrelationID,
		"client_id":      r.clientID(),
		"remote_addr":    r.conn.RemoteAddr.String(),
	}
}
