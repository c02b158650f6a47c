package server

// UpdateMetadata (key 6): versions 0-7.
//
// Sent by the controller to every live broker; it is the only thing that
// feeds the metadata cache (DESIGN.md section 4). The live brokers are the
// whole set, the partition states only those that changed; a partition
// whose leader is -2 (LeaderDuringDelete) is removed (metadata_cache.go).
//
// Refused, with nothing applied:
//   - STALE_BROKER_EPOCH when the request's broker epoch is older than this
//     broker's current registration (KIP-380, v5+; -1 is "unknown" and
//     passes): it was meant for an earlier incarnation of this broker.
//   - STALE_CONTROLLER_EPOCH when the controller epoch is older than the
//     latest this broker accepted from any control request: it comes from a
//     deposed controller.
//
// Per version: v0 carries one PLAINTEXT host and port per broker; v1 a list
// of endpoints with security protocols, whose listener names are the
// protocols' names until v3 adds explicit listener names (KIP-103); v2 adds
// racks (KIP-36); v4 offline replicas (KIP-112); v5 the broker epoch
// (KIP-380) and groups partition states by topic (TopicStates instead of
// PartitionStates); v6 is flexible (KIP-482); v7
// adds topic ids (KIP-516). v8 (KRaft-to-ZooKeeper migration) is not served.
//
// Like Kafka without an authorizer, anyone may send it; the CLUSTER_ACTION
// check comes with the authorizer. TODO(issue 3): when partitions are
// deleted, the group coordinator must drop their offsets, and delayed
// produce and fetch requests waiting on them must complete.

import (
	"context"

	"github.com/gregor-broker/gregor/conf"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.UpdateMetadata, 0, 7, (*handlers).handleUpdateMetadata) }

func (h *handlers) handleUpdateMetadata(_ context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.UpdateMetadataRequest)
	resp := req.ResponseKind().(*kmsg.UpdateMetadataResponse)
	fields := logrus.Fields{
		"controller_id":    req.ControllerID,
		"controller_epoch": req.ControllerEpoch,
		"correlation_id":   r.header.CorrelationID,
	}
	if req.Version >= 5 && h.brokerEpochStale(req.BrokerEpoch) {
		h.log.WithFields(fields).WithFields(logrus.Fields{
			"request_broker_epoch": req.BrokerEpoch,
			"broker_epoch":         h.brokerEpoch.Load(),
		}).Info("ignoring UpdateMetadata meant for an earlier registration of this broker")
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp, nil
	}
	u := metadataUpdateFrom(req)
	err := h.controllerEpoch.apply(req.ControllerEpoch, func() { h.metadata.update(u) })
	if err != nil {
		h.log.WithFields(fields).WithError(err).Warn("ignoring UpdateMetadata from an old controller")
		resp.ErrorCode = errorCode(h.log, err)
		return resp, nil
	}
	h.onTopicsUpdated(u) // admin requests waiting for these topics
	return resp, nil
}

// metadataUpdateFrom normalises an UpdateMetadata request of any version:
// every broker gets endpoints with listener names, every partition its
// topic (as Kafka's UpdateMetadataRequest.normalize does).
func metadataUpdateFrom(req *kmsg.UpdateMetadataRequest) *MetadataUpdate {
	u := &MetadataUpdate{ControllerID: req.ControllerID, LiveBrokers: make([]CachedBroker, 0, len(req.LiveBrokers))}
	for _, lb := range req.LiveBrokers {
		b := CachedBroker{ID: lb.ID, Rack: lb.Rack}
		if req.Version == 0 {
			b.Endpoints = []BrokerEndpoint{{
				ListenerName:     string(conf.Plaintext),
				SecurityProtocol: conf.Plaintext.ID(),
				Host:             lb.Host,
				Port:             lb.Port,
			}}
		}
		for _, ep := range lb.Endpoints {
			name := ep.ListenerName
			if req.Version < 3 {
				name = securityProtocolName(ep.SecurityProtocol)
			}
			b.Endpoints = append(b.Endpoints, BrokerEndpoint{
				ListenerName:     name,
				SecurityProtocol: ep.SecurityProtocol,
				Host:             ep.Host,
				Port:             ep.Port,
			})
		}
		u.LiveBrokers = append(u.LiveBrokers, b)
	}
	add := func(topic string, p *kmsg.UpdateMetadataRequestTopicPartition) {
		u.Partitions = append(u.Partitions, PartitionState{
			Topic:           topic,
			Partition:       p.Partition,
			ControllerEpoch: p.ControllerEpoch,
			Leader:          p.Leader,
			LeaderEpoch:     p.LeaderEpoch,
			ISR:             p.ISR,
			ZkVersion:       p.ZKVersion,
			Replicas:        p.Replicas,
			OfflineReplicas: p.OfflineReplicas,
		})
	}
	if req.Version < 5 {
		for i := range req.PartitionStates {
			add(req.PartitionStates[i].Topic, &req.PartitionStates[i])
		}
		return u
	}
	for i := range req.TopicStates {
		ts := &req.TopicStates[i]
		if ts.TopicID != ([16]byte{}) {
			if u.TopicIDs == nil {
				u.TopicIDs = map[string][16]byte{}
			}
			u.TopicIDs[ts.Topic] = ts.TopicID
		}
		for j := range ts.PartitionStates {
			add(ts.Topic, &ts.PartitionStates[j])
		}
	}
	return u
}

// securityProtocolName is the name of a security protocol id, which is the
// listener name Kafka infers for an endpoint of UpdateMetadata v1-v2.
func securityProtocolName(id int16) string {
	for _, p := range []conf.SecurityProtocol{conf.Plaintext, conf.SSL, conf.SASLPlaintext, conf.SASLSSL} {
		if p.ID() == id {
			return string(p)
		}
	}
	return ""
}
