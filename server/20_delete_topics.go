package server

// DeleteTopics (key 20): versions 0-6.
//
// As in Kafka 2.8's ZooKeeper mode, only the controller serves it (others
// answer NOT_CONTROLLER on every topic; "controller" is taken from the
// metadata cache, as in CreateTopics). A deletion is a request: the broker
// creates /admin/delete_topics/<t> and the controller deletes the topic.
// A deletion already pending is not an error (Kafka swallows
// TopicAlreadyMarkedForDeletionException).
//
// With delete.topic.enable=false every topic gets TOPIC_DELETION_DISABLED,
// or INVALID_REQUEST before v3, which lacks the code. A topic not in the
// metadata cache (or no longer in ZooKeeper) gets
// UNKNOWN_TOPIC_OR_PARTITION. v6 (KIP-516) names topics by name or by id:
// an id is resolved through the metadata cache (UNKNOWN_TOPIC_ID when it
// is unknown), and a topic given both a name and an id makes the whole
// request INVALID_REQUEST, as Kafka's InvalidRequestException does.
// Messages are sent from v5 (KIP-599), which also adds throttling on
// controller mutations: TODO(issue 3), throttle time stays 0.
//
// A topic whose deletion was requested waits, as in Kafka
// (DelayedDeleteTopics), until it has left the metadata cache, or until the
// request's timeout: then it gets REQUEST_TIMED_OUT (admin_purgatory.go).
// With a timeout <= 0 nothing waits and every such topic is
// REQUEST_TIMED_OUT. A deletion already pending waits the same way, so
// that a retried request also answers once the topic is gone.

import (
	"context"
	"errors"
	"fmt"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.DeleteTopics, 0, 6, (*handlers).handleDeleteTopics) }

func (h *handlers) handleDeleteTopics(ctx context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	asked := req.Topics
	if req.Version < 6 {
		asked = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i, name := range req.TopicNames {
			asked[i].Topic = kmsg.StringPtr(name)
		}
	}
	var all error
	switch {
	case h.topics == nil || h.metadata.ControllerID() != h.brokerID:
		all = kerr.NotController
	case !h.cfg.DeleteTopicEnable && req.Version < 3:
		all = kerr.InvalidRequest
	case !h.cfg.DeleteTopicEnable:
		all = kerr.TopicDeletionDisabled
	}
	for _, t := range asked {
		if t.Topic != nil && t.TopicID != ([16]byte{}) {
			all = &adminError{kerr.InvalidRequest, "Topic name and topic ID can not both be specified."}
		}
	}
	var waits []topicWait // the topics whose deletion was requested
	var waiting []int     // their indexes in resp.Topics
	for _, t := range asked {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		err := all
		if err == nil {
			if rt.Topic == nil {
				if name, ok := h.topicNameByID(t.TopicID); ok {
					rt.Topic = kmsg.StringPtr(name)
				}
			}
			err = h.deleteTopic(ctx, rt.Topic)
		}
		if err != nil {
			failDeletedTopic(h, &rt, err)
		} else {
			waits = append(waits, topicWait{topic: *rt.Topic, deletion: true})
			waiting = append(waiting, len(resp.Topics))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	h.answerAfterTopics(waits, waiting, req.TimeoutMillis,
		func(i int, err error) { failDeletedTopic(h, &resp.Topics[i], err) },
		func() { respond(resp) })
	return nil
}

// failDeletedTopic answers a topic of DeleteTopics with err: its code, and
// its message if it is an adminError.
func failDeletedTopic(h *handlers, rt *kmsg.DeleteTopicsResponseTopic, err error) {
	rt.ErrorCode = errorCode(h.log, err)
	var ae *adminError
	if errors.As(err, &ae) {
		rt.ErrorMessage = kmsg.StringPtr(ae.msg)
	}
}

// deleteTopic asks the controller to delete a topic; name is nil for a
// topic id that did not resolve.
func (h *handlers) deleteTopic(ctx context.Context, name *string) error {
	if name == nil {
		return kerr.UnknownTopicID
	}
	if !h.metadata.Contains(*name) {
		return kerr.UnknownTopicOrPartition
	}
	exists, err := h.topics.TopicExists(ctx, *name)
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", *name, err)
	}
	if !exists {
		return &adminError{kerr.UnknownTopicOrPartition, fmt.Sprintf("Topic `%s` to delete does not exist", *name)}
	}
	err = h.topics.RequestTopicDeletion(ctx, *name)
	if err != nil && !errors.Is(err, zkutil.ErrNodeExists) { // already pending: fine
		return fmt.Errorf("delete topic %s: %w", *name, err)
	}
	h.log.WithField("topic", *name).Info("topic deletion requested")
	return nil
}

// topicNameByID finds a cached topic by its id.
func (h *handlers) topicNameByID(id [16]byte) (string, bool) {
	for _, name := range h.metadata.AllTopics() {
		if h.metadata.TopicID(name) == id {
			return name, true
		}
	}
	return "", false
}
