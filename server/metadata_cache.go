package server

import (
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The metadata cache is this broker's view of the cluster: the live brokers
// and their endpoints, the controller, and the state of every partition. It
// is fed only by UpdateMetadata (DESIGN.md section 4) and read by Metadata
// and, later, by every API that needs a partition's leader.
//
// Readers never lock. The state is an immutable metadataSnapshot behind an
// atomic.Pointer, as Kafka's MetadataCache keeps its @volatile
// metadataSnapshot: a reader loads the pointer once and keeps that snapshot
// for the whole request, so one response never mixes two updates. A writer
// builds a new snapshot under mu and swaps it in. Writes are rare (one per
// controller decision) and reads are frequent (every client refreshes its
// metadata), which is why the copy lands on the writer.
//
// An update copies the map of topics and the partition map of each topic it
// touches, and shares the rest with the previous snapshot: O(topics +
// touched partitions), not O(partitions). Kafka copies every partition map
// on every update; at 100,000 partitions in 1,000 topics that is the
// difference between copying 1,000 map headers and copying 100,000 states.

// noLeader is the leader of a partition that has none (Kafka's
// LeaderAndIsr.NoLeader), and the controller id when none is known.
const noLeader int32 = -1

// leaderDuringDelete marks a partition being deleted (Kafka's
// LeaderAndIsr.LeaderDuringDelete): UpdateMetadata carries it to remove the
// partition from the cache.
const leaderDuringDelete int32 = -2

// BrokerEndpoint is where a broker listens, as UpdateMetadata describes it.
type BrokerEndpoint struct {
	ListenerName     string
	SecurityProtocol int16 // Kafka's id: PLAINTEXT 0, SSL 1, SASL_PLAINTEXT 2, SASL_SSL 3
	Host             string
	Port             int32
}

// CachedBroker is one live broker.
type CachedBroker struct {
	ID        int32
	Rack      *string          // nil when the broker has no broker.rack
	Endpoints []BrokerEndpoint // one per listener, in the controller's order
}

// endpoint returns the broker's endpoint on the listener.
func (b *CachedBroker) endpoint(listenerName string) (BrokerEndpoint, bool) {
	for _, ep := range b.Endpoints {
		if ep.ListenerName == listenerName {
			return ep, true
		}
	}
	return BrokerEndpoint{}, false
}

// PartitionState is one partition as the controller last described it
// (UpdateMetadata's partition state). The slices are never modified once
// the state is in a snapshot.
type PartitionState struct {
	Topic           string
	Partition       int32
	ControllerEpoch int32
	Leader          int32 // noLeader (-1) when there is none
	LeaderEpoch     int32
	ISR             []int32
	ZkVersion       int32
	Replicas        []int32
	OfflineReplicas []int32
}

// MetadataUpdate is an UpdateMetadata request, normalised across versions:
// every broker has its endpoints with listener names, and every partition
// its topic. It is what the cache applies.
type MetadataUpdate struct {
	ControllerID int32 // negative: no controller known
	LiveBrokers  []CachedBroker
	Partitions   []PartitionState
	// TopicIDs are the ids the request carries (UpdateMetadata v7+, KIP-516);
	// topics without one keep the id they had.
	TopicIDs map[string][16]byte
}

// metadataSnapshot is the cache's state at one moment. Immutable once
// published.
type metadataSnapshot struct {
	clusterID       string
	controllerID    int32 // noLeader when none is known
	aliveBrokers    map[int32]*CachedBroker
	brokerIDs       []int32 // the keys of aliveBrokers, ascending
	partitionStates map[string]map[int32]*PartitionState
	topicIDs        map[string][16]byte
}

// MetadataCache is the broker's cached view of the cluster.
//
// Safe for concurrent use: readers load an immutable snapshot without
// locking; writers are serialised by mu.
type MetadataCache struct {
	brokerID int32 // immutable: this broker, for the listener consistency check
	log      *logrus.Entry

	snapshot atomic.Pointer[metadataSnapshot] // never nil

	mu sync.Mutex // serialises writers (update, setClusterID); readers never take it
}

// NewMetadataCache returns an empty cache: no brokers, no controller, no
// partitions, until the first UpdateMetadata.
func NewMetadataCache(brokerID int32, log *logrus.Entry) *MetadataCache {
	c := &MetadataCache{brokerID: brokerID, log: log.WithField("component", "state_change")}
	c.snapshot.Store(&metadataSnapshot{
		controllerID:    noLeader,
		aliveBrokers:    map[int32]*CachedBroker{},
		partitionStates: map[string]map[int32]*PartitionState{},
		topicIDs:        map[string][16]byte{},
	})
	return c
}

// setClusterID records the cluster id read from /cluster/id; UpdateMetadata
// does not carry it.
func (c *MetadataCache) setClusterID(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := *c.snapshot.Load()
	next.clusterID = id
	c.snapshot.Store(&next)
}

// update applies an UpdateMetadata request the way Kafka 2.8's
// MetadataCache.updateMetadata does, and returns the partitions it deleted:
//
//   - the live brokers and the controller id are replaced wholesale: the
//     controller always sends every live broker;
//   - partition states are incremental: the request carries the partitions
//     that changed, each replacing the cached state; the others stay;
//   - a partition whose leader is leaderDuringDelete (-2) is removed, and a
//     topic left without partitions is removed with its topic id;
//   - topic ids in the request are added; a zero id changes nothing.
//
// The caller has checked the controller and broker epochs.
func (c *MetadataCache) update(u *MetadataUpdate) (deleted []PartitionState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.snapshot.Load()
	next := &metadataSnapshot{
		clusterID:       prev.clusterID,
		controllerID:    u.ControllerID,
		aliveBrokers:    make(map[int32]*CachedBroker, len(u.LiveBrokers)),
		partitionStates: prev.partitionStates,
		topicIDs:        prev.topicIDs,
	}
	if next.controllerID < 0 {
		next.controllerID = noLeader
	}
	for i := range u.LiveBrokers {
		b := u.LiveBrokers[i]
		b.Endpoints = slices.Clone(b.Endpoints)
		next.aliveBrokers[b.ID] = &b
		next.brokerIDs = append(next.brokerIDs, b.ID)
	}
	slices.Sort(next.brokerIDs)
	next.brokerIDs = slices.Compact(next.brokerIDs)
	c.checkListenersLocked(next)

	newIDs := 0
	for _, id := range u.TopicIDs {
		if id != ([16]byte{}) {
			newIDs++
		}
	}
	if len(u.Partitions) > 0 || newIDs > 0 {
		next.partitionStates = make(map[string]map[int32]*PartitionState, len(prev.partitionStates))
		for topic, partitions := range prev.partitionStates {
			next.partitionStates[topic] = partitions // shared until touched
		}
		next.topicIDs = make(map[string][16]byte, len(prev.topicIDs)+newIDs)
		for topic, id := range prev.topicIDs {
			next.topicIDs[topic] = id
		}
		for topic, id := range u.TopicIDs {
			if id != ([16]byte{}) {
				next.topicIDs[topic] = id
			}
		}
	}

	copied := map[string]bool{} // topics whose partition map next owns
	for i := range u.Partitions {
		ps := u.Partitions[i]
		partitions, ok := next.partitionStates[ps.Topic]
		if ps.Leader == leaderDuringDelete {
			if !ok {
				continue
			}
			if !copied[ps.Topic] {
				partitions = maps.Clone(partitions)
				next.partitionStates[ps.Topic] = partitions
				copied[ps.Topic] = true
			}
			if old, ok := partitions[ps.Partition]; ok {
				deleted = append(deleted, *old)
			}
			delete(partitions, ps.Partition)
			if len(partitions) == 0 {
				delete(next.partitionStates, ps.Topic)
				delete(next.topicIDs, ps.Topic)
			}
			continue
		}
		if !ok {
			partitions = map[int32]*PartitionState{}
			next.partitionStates[ps.Topic] = partitions
			copied[ps.Topic] = true
		} else if !copied[ps.Topic] {
			partitions = maps.Clone(partitions)
			next.partitionStates[ps.Topic] = partitions
			copied[ps.Topic] = true
		}
		ps.ISR = slices.Clone(ps.ISR)
		ps.Replicas = slices.Clone(ps.Replicas)
		ps.OfflineReplicas = slices.Clone(ps.OfflineReplicas)
		partitions[ps.Partition] = &ps
	}
	c.snapshot.Store(next)
	if len(u.Partitions) > 0 {
		c.log.WithFields(logrus.Fields{
			"controller_id": u.ControllerID,
			"cached":        len(u.Partitions) - len(deleted),
			"deleted":       len(deleted),
		}).Info("updated partitions in the metadata cache")
	}
	return deleted
}

// checkListenersLocked logs, as Kafka does, when the live brokers do not all
// have the listeners this broker has: clients on a listener some brokers
// lack get LISTENER_NOT_FOUND for those brokers' partitions.
func (c *MetadataCache) checkListenersLocked(s *metadataSnapshot) {
	self, ok := s.aliveBrokers[c.brokerID]
	if !ok {
		return
	}
	names := listenerNames(self)
	for _, b := range s.aliveBrokers {
		if !slices.Equal(listenerNames(b), names) {
			c.log.WithFields(logrus.Fields{"broker_id": b.ID, "listeners": listenerNames(b), "own_listeners": names}).
				Error("listeners are not identical across brokers")
			return
		}
	}
}

func listenerNames(b *CachedBroker) []string {
	names := make([]string, len(b.Endpoints))
	for i, ep := range b.Endpoints {
		names[i] = ep.ListenerName
	}
	slices.Sort(names)
	return names
}

// ClusterID is the cluster's id ("" until the broker has read it).
func (c *MetadataCache) ClusterID() string { return c.snapshot.Load().clusterID }

// ControllerID is the controller's broker id, or -1 when none is known.
func (c *MetadataCache) ControllerID() int32 { return c.snapshot.Load().controllerID }

// AliveBrokers returns the live brokers by ascending id. The caller must not
// modify them.
func (c *MetadataCache) AliveBrokers() []*CachedBroker {
	s := c.snapshot.Load()
	out := make([]*CachedBroker, len(s.brokerIDs))
	for i, id := range s.brokerIDs {
		out[i] = s.aliveBrokers[id]
	}
	return out
}

// HasAliveBroker reports whether the broker is live.
func (c *MetadataCache) HasAliveBroker(id int32) bool {
	_, ok := c.snapshot.Load().aliveBrokers[id]
	return ok
}

// AliveEndpoint returns a live broker's endpoint on a listener; false when
// the broker is not live or has no such listener.
func (c *MetadataCache) AliveEndpoint(id int32, listenerName string) (BrokerEndpoint, bool) {
	b, ok := c.snapshot.Load().aliveBrokers[id]
	if !ok {
		return BrokerEndpoint{}, false
	}
	return b.endpoint(listenerName)
}

// PartitionInfo returns a partition's cached state. The caller must not
// modify its slices.
func (c *MetadataCache) PartitionInfo(topic string, partition int32) (PartitionState, bool) {
	ps, ok := c.snapshot.Load().partitionStates[topic][partition]
	if !ok {
		return PartitionState{}, false
	}
	return *ps, true
}

// Contains reports whether the topic has at least one partition cached.
func (c *MetadataCache) Contains(topic string) bool {
	_, ok := c.snapshot.Load().partitionStates[topic]
	return ok
}

// TopicID returns the topic's id, zero when unknown.
func (c *MetadataCache) TopicID(topic string) [16]byte { return c.snapshot.Load().topicIDs[topic] }

// AllTopics returns every cached topic, sorted.
func (c *MetadataCache) AllTopics() []string {
	s := c.snapshot.Load()
	out := make([]string, 0, len(s.partitionStates))
	for topic := range s.partitionStates {
		out = append(out, topic)
	}
	sort.Strings(out)
	return out
}

// TopicMetadata answers Metadata for the cached topics among topics, in the
// order given; topics not cached are left out, for the caller to answer. All
// of it comes from one snapshot. Partitions are by ascending index.
//
// The rules are Kafka's (MetadataCache.getPartitionMetadata):
//
//   - the leader is reported only if it is live and has an endpoint on
//     listenerName; otherwise the leader is -1 and the error is
//     LEADER_NOT_AVAILABLE, or LISTENER_NOT_FOUND when the leader is live
//     but lacks the listener and errorUnavailableListeners is set
//     (Metadata v6+);
//   - with errorUnavailableEndpoints (Metadata v0 only), replicas and ISR
//     members without a live endpoint on the listener are dropped, and a
//     partition with a live leader then gets REPLICA_NOT_AVAILABLE;
//   - the leader epoch and the offline replicas are reported as cached.
func (c *MetadataCache) TopicMetadata(topics []string, listenerName string, errorUnavailableEndpoints, errorUnavailableListeners bool) []kmsg.MetadataResponseTopic {
	s := c.snapshot.Load()
	var out []kmsg.MetadataResponseTopic
	for _, topic := range topics {
		partitions, ok := s.partitionStates[topic]
		if !ok {
			continue
		}
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr(topic)
		t.TopicID = s.topicIDs[topic]
		t.IsInternal = isInternalTopic(topic)
		indexes := make([]int32, 0, len(partitions))
		for p := range partitions {
			indexes = append(indexes, p)
		}
		slices.Sort(indexes)
		t.Partitions = make([]kmsg.MetadataResponseTopicPartition, 0, len(indexes))
		for _, p := range indexes {
			t.Partitions = append(t.Partitions, s.partitionMetadata(partitions[p], listenerName, errorUnavailableEndpoints, errorUnavailableListeners))
		}
		out = append(out, t)
	}
	return out
}

func (s *metadataSnapshot) partitionMetadata(ps *PartitionState, listenerName string, errorUnavailableEndpoints, errorUnavailableListeners bool) kmsg.MetadataResponseTopicPartition {
	p := kmsg.NewMetadataResponseTopicPartition()
	p.Partition = ps.Partition
	p.LeaderEpoch = ps.LeaderEpoch
	p.Replicas = s.filterAlive(ps.Replicas, listenerName, errorUnavailableEndpoints)
	p.ISR = s.filterAlive(ps.ISR, listenerName, errorUnavailableEndpoints)
	p.OfflineReplicas = slices.Clone(ps.OfflineReplicas)
	if p.OfflineReplicas == nil {
		p.OfflineReplicas = []int32{}
	}
	leader, live := s.aliveBrokers[ps.Leader]
	hasEndpoint := false
	if live {
		_, hasEndpoint = leader.endpoint(listenerName)
	}
	switch {
	case !live:
		p.Leader, p.ErrorCode = noLeader, kerr.LeaderNotAvailable.Code
	case !hasEndpoint && errorUnavailableListeners:
		p.Leader, p.ErrorCode = noLeader, kerr.ListenerNotFound.Code
	case !hasEndpoint:
		p.Leader, p.ErrorCode = noLeader, kerr.LeaderNotAvailable.Code
	case len(p.Replicas) < len(ps.Replicas) || len(p.ISR) < len(ps.ISR):
		p.Leader, p.ErrorCode = ps.Leader, kerr.ReplicaNotAvailable.Code
	default:
		p.Leader = ps.Leader
	}
	return p
}

// filterAlive returns ids, or with filter only the ids of live brokers with
// an endpoint on the listener. The result is a fresh slice: responses are
// encoded after the snapshot may have been replaced, and must not alias it.
func (s *metadataSnapshot) filterAlive(ids []int32, listenerName string, filter bool) []int32 {
	out := make([]int32, 0, len(ids))
	for _, id := range ids {
		if filter {
			b, ok := s.aliveBrokers[id]
			if !ok {
				continue
			}
			if _, ok := b.endpoint(listenerName); !ok {
				continue
			}
		}
		out = append(out, id)
	}
	return out
}
