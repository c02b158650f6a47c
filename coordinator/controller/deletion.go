package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic deletion (Kafka 2.8's TopicDeletionManager, simplified).
//
// A tool or the DeleteTopics handler creates /admin/delete_topics/<t>; the
// controller watches the children of /admin/delete_topics and, for each:
//
//   - with delete.topic.enable=false, removes the request and deletes
//     nothing (Kafka 2.8);
//   - for a topic that does not exist, removes the request;
//   - otherwise marks the topic as being deleted (topic.deletion), tells
//     every broker its partitions are gone (UpdateMetadata with leader -2),
//     and sends every live replica StopReplica v3 with delete=true and
//     leader epoch -2 (EpochDuringDelete), which deletes the log.
//
// Each replica goes through Kafka's replica deletion states:
//
//	ReplicaDeletionStarted     StopReplica sent, answer awaited
//	  -> ReplicaDeletionSuccessful   the broker answered NONE for it
//	  -> ReplicaDeletionIneligible   the broker answered an error, or
//	                                 left before answering (then the
//	                                 request died with its sender)
//	ReplicaDeletionIneligible  -> ReplicaDeletionStarted when the broker
//	                              registers again (onBrokerChange), or in
//	                              the next controller term
//
// A replica on a broker that is down starts Ineligible, so the deletion
// stays pending until the broker returns and acknowledges StopReplica, as
// in Kafka. When every replica is Successful the controller removes
// /brokers/topics/<t> (with its partition states), /config/topics/<t> and
// finally /admin/delete_topics/<t>, each behind its fence, and forgets the
// topic. A term that starts with requests pending resumes them from the
// start (every replica not known to be deleted gets StopReplica again;
// StopReplica of a partition not hosted is a success).
//
// Departures from Kafka: the replicas are not first moved to OfflineReplica
// (a StopReplica without delete and an ISR shrink written to ZooKeeper);
// topics do not wait for a reassignment to finish (Gregor's controller does
// not reassign yet); an ineligible replica is retried only when its broker
// registers again or a new term starts, as in Kafka.

// replicaDeletionState is one replica's progress in its topic's deletion.
type replicaDeletionState int

const (
	replicaDeletionIneligible replicaDeletionState = iota
	replicaDeletionStarted
	replicaDeletionSuccessful
)

func (s replicaDeletionState) String() string {
	switch s {
	case replicaDeletionIneligible:
		return "ReplicaDeletionIneligible"
	case replicaDeletionStarted:
		return "ReplicaDeletionStarted"
	case replicaDeletionSuccessful:
		return "ReplicaDeletionSuccessful"
	}
	return fmt.Sprintf("replicaDeletionState(%d)", int(s))
}

// replicaKey names one replica: a partition of the topic on a broker.
type replicaKey struct {
	broker    int32
	partition int32
}

// deletion is a topic's deletion in progress; owned by the term's loop.
type deletion struct {
	replicas map[replicaKey]replicaDeletionState
}

// done reports whether every replica is deleted.
func (d *deletion) done() bool {
	for _, s := range d.replicas {
		if s != replicaDeletionSuccessful {
			return false
		}
	}
	return true
}

// stopReplicaVersion is the StopReplica version the controller sends:
// v3, as Kafka 2.8 does (KIP-570: a leader epoch and delete flag per
// partition).
const stopReplicaVersion = 3

// epochDuringDelete is the leader epoch StopReplica gives partitions of a
// topic being deleted (Kafka's LeaderAndIsr.EpochDuringDelete): brokers
// stop the replica whatever epoch they hold.
const epochDuringDelete int32 = -2

// readDeletionRequests re-reads /admin/delete_topics and re-arms its watch.
func (t *term) readDeletionRequests(ctx context.Context) (<-chan zkutil.WatchEvent, error) {
	names, watch, err := t.c.cfg.ZK.WatchTopicDeletions(ctx)
	if err != nil {
		return nil, fmt.Errorf("watching topic deletions: %w", err)
	}
	t.deleteRequests = map[string]bool{}
	for _, n := range names {
		t.deleteRequests[n] = true
	}
	return watch, nil
}

// onDeletionRequest handles a change of /admin/delete_topics (Kafka's
// TopicDeletion event).
func (t *term) onDeletionRequest(ctx context.Context) (<-chan zkutil.WatchEvent, error) {
	watch, err := t.readDeletionRequests(ctx)
	if err != nil {
		return nil, err
	}
	started, err := t.applyDeletionRequests(ctx)
	t.beginDeletions(started)
	if err != nil {
		return watch, err
	}
	return watch, t.completeDeletions(ctx)
}

// applyDeletionRequests acts on the requests read: it removes those it
// refuses (deletion disabled, unknown topic) and marks the topics of the
// others as being deleted. It returns the topics newly marked, sorted; the
// caller tells the brokers (beginDeletions). A request for a topic that
// exists in ZooKeeper but that the term has not loaded yet waits for the
// topics watch.
func (t *term) applyDeletionRequests(ctx context.Context) ([]string, error) {
	var started []string
	for _, name := range slices.Sorted(maps.Keys(t.deleteRequests)) {
		log := t.log.WithField("topic", name)
		top, known := t.topics[name]
		switch {
		case !t.c.cfg.DeleteTopicEnable:
			log.Info("removing a topic deletion request: delete.topic.enable is false")
		case known && top.deletion != nil:
			continue
		case known:
			t.markDeletion(name, top)
			started = append(started, name)
			continue
		default:
			exists, err := t.c.cfg.ZK.TopicExists(ctx, name)
			if err != nil {
				return started, fmt.Errorf("checking topic %s: %w", name, err)
			}
			if exists {
				continue // not loaded yet: the topics watch will
			}
			log.Info("removing a deletion request for a topic that does not exist")
		}
		if err := t.c.cfg.ZK.DeleteTopicDeletion(ctx, t.fence, name); err != nil {
			return started, fmt.Errorf("removing the deletion request of %s: %w", name, err)
		}
		delete(t.deleteRequests, name)
	}
	return started, nil
}

// markDeletion starts a topic's deletion in the term's view: its replicas
// on live brokers are to get StopReplica, those on dead brokers wait.
func (t *term) markDeletion(name string, top *topic) {
	d := &deletion{replicas: map[replicaKey]replicaDeletionState{}}
	for p, part := range top.partitions {
		for _, r := range part.replicas {
			d.replicas[replicaKey{broker: r, partition: p}] = replicaDeletionIneligible
		}
	}
	top.deletion = d
	t.log.WithField("topic", name).WithField("replicas", len(d.replicas)).Info("topic deletion started")
}

// beginDeletions tells every broker that the partitions of topics, just
// marked for deletion, are gone, and sends their live replicas StopReplica.
func (t *term) beginDeletions(topics []string) {
	if len(topics) == 0 {
		return
	}
	gone := tpSet{}
	for _, name := range topics {
		for p := range t.topics[name].partitions {
			gone[zkutil.TopicPartition{Topic: name, Partition: p}] = true
		}
	}
	t.sendUpdateMetadata(nil, gone, nil)
	t.sendDeletionStopReplicas(topics, nil)
}

// sendDeletionStopReplicas sends StopReplica (delete) for the replicas of
// topics, being deleted, that are not yet deleted nor awaited and whose
// broker is alive and, if only is not nil, in only. Their state becomes
// ReplicaDeletionStarted; the answers come back through the inbox.
func (t *term) sendDeletionStopReplicas(topics []string, only []int32) {
	perBroker := map[int32][]zkutil.TopicPartition{}
	for _, name := range topics {
		top := t.topics[name]
		if top == nil || top.deletion == nil {
			continue
		}
		for _, k := range slices.SortedFunc(maps.Keys(top.deletion.replicas), compareReplicaKeys) {
			if top.deletion.replicas[k] != replicaDeletionIneligible || !t.alive(k.broker) ||
				(only != nil && !slices.Contains(only, k.broker)) {
				continue
			}
			top.deletion.replicas[k] = replicaDeletionStarted
			perBroker[k.broker] = append(perBroker[k.broker], zkutil.TopicPartition{Topic: name, Partition: k.partition})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(perBroker)) {
		s, ok := t.senders[id]
		if !ok {
			continue
		}
		req := t.stopReplicaDelete(s.broker, perBroker[id])
		t.log.WithFields(logrus.Fields{"target_broker_id": id, "partitions": len(perBroker[id])}).
			Info("sending StopReplica for topic deletion")
		s.enqueueWith(req, func(resp kmsg.Response) {
			t.post(termEvent{broker: id, req: req, resp: resp})
		})
	}
}

func compareReplicaKeys(a, b replicaKey) int {
	if a.partition != b.partition {
		return int(a.partition) - int(b.partition)
	}
	return int(a.broker) - int(b.broker)
}

// stopReplicaDelete builds the StopReplica that deletes tps (sorted by
// topic) on broker.
func (t *term) stopReplicaDelete(broker zkutil.BrokerRegistration, tps []zkutil.TopicPartition) *kmsg.StopReplicaRequest {
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version = stopReplicaVersion
	req.ControllerID = t.c.cfg.BrokerID
	req.ControllerEpoch = t.epoch
	req.BrokerEpoch = broker.Epoch
	for _, tp := range tps {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewStopReplicaRequestTopic()
			rt.Topic = tp.Topic
			req.Topics = append(req.Topics, rt)
		}
		ps := kmsg.NewStopReplicaRequestTopicPartitionState()
		ps.Partition, ps.LeaderEpoch, ps.Delete = tp.Partition, epochDuringDelete, true
		rt := &req.Topics[len(req.Topics)-1]
		rt.PartitionStates = append(rt.PartitionStates, ps)
	}
	return req
}

// onStopReplicaResponse records broker's answer to a deletion's
// StopReplica: partitions answered NONE are deleted there, the others
// (every one, when the whole request was refused) are ineligible until the
// broker registers again. Topics whose replicas are all deleted complete.
func (t *term) onStopReplicaResponse(ctx context.Context, broker int32, req *kmsg.StopReplicaRequest, resp kmsg.Response) error {
	r, _ := resp.(*kmsg.StopReplicaResponse)
	codes := map[zkutil.TopicPartition]int16{}
	for _, rt := range req.Topics {
		for _, ps := range rt.PartitionStates {
			// Not answered: treated as refused.
			codes[zkutil.TopicPartition{Topic: rt.Topic, Partition: ps.Partition}] = kerr.UnknownServerError.Code
		}
	}
	if r != nil {
		for _, p := range r.Partitions {
			tp := zkutil.TopicPartition{Topic: p.Topic, Partition: p.Partition}
			if _, ok := codes[tp]; ok {
				codes[tp] = p.ErrorCode
			}
		}
		if r.ErrorCode != 0 {
			for tp := range codes {
				codes[tp] = r.ErrorCode
			}
		}
	}
	for tp, code := range codes {
		top := t.topics[tp.Topic]
		if top == nil || top.deletion == nil {
			continue // completed meanwhile, or an answer from an older deletion
		}
		k := replicaKey{broker: broker, partition: tp.Partition}
		cur, ok := top.deletion.replicas[k]
		if !ok || cur == replicaDeletionSuccessful {
			continue
		}
		log := t.log.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition, "target_broker_id": broker})
		if code == 0 {
			top.deletion.replicas[k] = replicaDeletionSuccessful
			log.Debug("replica deleted")
			continue
		}
		top.deletion.replicas[k] = replicaDeletionIneligible
		log.WithField("error_code", code).Warn("broker failed to delete a replica; retrying when it registers again")
	}
	return t.completeDeletions(ctx)
}

// resumeDeletionsOn updates deletions for brokers that died (their awaited
// answers are lost with the sender: ineligible) and joined (ineligible
// replicas there get StopReplica). A restarted broker is in both.
func (t *term) resumeDeletionsOn(joined, died []int32) {
	var topics []string
	for _, name := range slices.Sorted(maps.Keys(t.topics)) {
		d := t.topics[name].deletion
		if d == nil {
			continue
		}
		topics = append(topics, name)
		for k, s := range d.replicas {
			if s == replicaDeletionStarted && slices.Contains(died, k.broker) {
				d.replicas[k] = replicaDeletionIneligible
			}
		}
	}
	if len(joined) > 0 {
		t.sendDeletionStopReplicas(topics, joined)
	}
}

// completeDeletions finishes the deletions whose replicas are all deleted:
// the topic's znode with its partition states, its config, then the
// request, each behind the fence (Kafka's completeDeleteTopic). A write
// that fails leaves the topic marked; the next deletion event or broker
// change tries again.
func (t *term) completeDeletions(ctx context.Context) error {
	for _, name := range slices.Sorted(maps.Keys(t.topics)) {
		d := t.topics[name].deletion
		if d == nil || !d.done() {
			continue
		}
		if err := t.c.cfg.ZK.DeleteTopic(ctx, t.fence, name); err != nil {
			return fmt.Errorf("deleting topic %s: %w", name, err)
		}
		if err := t.c.cfg.ZK.DeleteEntityConfig(ctx, t.fence, zkutil.ConfigTopics, name); err != nil && !errors.Is(err, zkutil.ErrNoNode) {
			return fmt.Errorf("deleting the config of topic %s: %w", name, err)
		}
		if err := t.c.cfg.ZK.DeleteTopicDeletion(ctx, t.fence, name); err != nil {
			return fmt.Errorf("removing the deletion request of %s: %w", name, err)
		}
		delete(t.topics, name)
		delete(t.deleteRequests, name)
		t.log.WithField("topic", name).Info("topic deleted")
	}
	return nil
}
