// Package group is the group coordinator: Kafka's classic consumer group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and committed
// offsets, kept in the compacted internal topic __consumer_offsets.
//
// Each group belongs to one partition of __consumer_offsets
// (PartitionFor: Java's String.hashCode of the group id, modulo the
// partition count, as Kafka computes it), and the broker leading that
// partition is the group's coordinator. When the broker becomes leader of
// an offsets partition (OnElection) the coordinator reads the partition to
// its end and rebuilds the groups and offsets stored there; until then it
// answers COORDINATOR_LOAD_IN_PROGRESS for those groups. When it loses the
// partition (OnResignation) it forgets them and answers NOT_COORDINATOR.
//
// The coordinator never touches logs or the network itself: the server
// gives it a Log (appends with acks=all, reads for loading) and calls the
// request methods below with decoded requests. Methods that may have to
// wait (a JoinGroup parked until the rebalance completes, a commit waiting
// for its record to be replicated) answer through a respond callback,
// called exactly once, possibly from another goroutine; the others return
// the response. Every response has the request's version.
package group

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is the internal topic holding groups and committed offsets.
const OffsetsTopic = "__consumer_offsets"

// Record is one record of an offsets partition: Value nil is a tombstone.
type Record struct {
	Offset    int64
	Timestamp int64 // milliseconds since the epoch
	Key       []byte
	Value     []byte
}

// Log is __consumer_offsets as the coordinator uses it; the server
// implements it over its replica manager.
type Log interface {
	// Append writes recs as one batch to partition p, which this broker
	// must lead, and calls done once the batch is committed (the high
	// watermark passed it: acks=all) or has failed. err is a kerr error
	// (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
	// NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT,
	// MESSAGE_TOO_LARGE, ...), which the coordinator maps to what each API
	// answers, as Kafka's GroupMetadataManager does. done may be called
	// from any goroutine, also before Append returns.
	Append(p int32, recs []Record, done func(err error))
	// Read calls fn for every record of partition p from its log start
	// offset to its log end offset as of the call, in offset order. It
	// stops with ctx's error when ctx is cancelled (the partition was lost
	// meanwhile) and with fn's error when fn returns one.
	Read(ctx context.Context, p int32, fn func(Record) error) error
}

// Config is the coordinator's part of the broker configuration (Kafka's
// key names in the comments).
type Config struct {
	BrokerID                      int32
	OffsetsTopicPartitions        int32         // offsets.topic.num.partitions
	MinSessionTimeout             time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout             time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay         time.Duration // group.initial.rebalance.delay.ms
	MaxGroupSize                  int           // group.max.size
	OffsetMetadataMaxBytes        int           // offset.metadata.max.bytes
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms
}

// ClientInfo identifies the connection a request came on, for
// DescribeGroups' client id and host.
type ClientInfo struct {
	ClientID string
	Host     string
}

// Coordinator is the group coordinator of one broker.
type Coordinator struct {
	cfg Config
	log Log
	lg  *logrus.Entry
}

// New returns a coordinator owning no partition yet.
func New(cfg Config, log Log, lg *logrus.Entry) *Coordinator {
	return &Coordinator{cfg: cfg, log: log, lg: lg}
}

// Close stops the coordinator's timers and answers every parked request
// with COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Close() {}

// OnElection is called when this broker becomes leader of offsets
// partition p at leaderEpoch: the coordinator loads it in the background.
func (c *Coordinator) OnElection(p int32, leaderEpoch int32) {}

// OnResignation is called when this broker stops leading offsets partition
// p (leaderEpoch -1 when the partition is deleted): its groups are
// unloaded and parked requests for them answered NOT_COORDINATOR.
func (c *Coordinator) OnResignation(p int32, leaderEpoch int32) {}

// JoinGroup serves JoinGroup (key 11).
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, client ClientInfo, respond func(*kmsg.JoinGroupResponse)) {
	panic("TODO(issue 5)")
}

// SyncGroup serves SyncGroup (key 14).
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	panic("TODO(issue 5)")
}

// Heartbeat serves Heartbeat (key 12).
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	panic("TODO(issue 5)")
}

// LeaveGroup serves LeaveGroup (key 13).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest, respond func(*kmsg.LeaveGroupResponse)) {
	panic("TODO(issue 5)")
}

// OffsetCommit serves OffsetCommit (key 8) v1 and later; v0 commits go to
// ZooKeeper and are the server's. The server has already answered
// partitions of unknown topics; req holds only the others.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	panic("TODO(issue 5)")
}

// OffsetFetch serves OffsetFetch (key 9) v1 and later.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	panic("TODO(issue 5)")
}

// OffsetDelete serves OffsetDelete (key 47).
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	panic("TODO(issue 5)")
}

// DescribeGroups serves DescribeGroups (key 15).
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	panic("TODO(issue 5)")
}

// ListGroups serves ListGroups (key 16): the groups of the partitions this
// broker coordinates.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	panic("TODO(issue 5)")
}

// DeleteGroups serves DeleteGroups (key 42).
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest, respond func(*kmsg.DeleteGroupsResponse)) {
	panic("TODO(issue 5)")
}
