package group

import (
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The records of __consumer_offsets, byte for byte as Kafka 2.8's
// GroupMetadataManager writes and reads them (kmsg carries the schemas):
//
//	key   int16 version; 0 and 1: offset commit key (group, topic, partition)
//	                     2: group metadata key (group)
//	value offset commit  v0 offset, metadata, commit_timestamp
//	                     v1 + expire_timestamp (-1 none)
//	                     v2 as v0 (expire timestamps dropped, KIP-211)
//	                     v3 offset, leader_epoch, metadata, commit_timestamp
//	value group metadata v0 protocol_type, generation, protocol, leader, members
//	                     v1 + member rebalance_timeout
//	                     v2 + current_state_timestamp
//	                     v3 + member group_instance_id
//
// Written: offset key v1, offset value v3 (v1 when the commit carries an
// explicit expire timestamp), group key v2, group value v3. Read: every
// version above; anything else is an error, as in Kafka (which throws).

const (
	offsetKeyVersion       = 1
	groupKeyVersion        = 2
	offsetValueVersion     = 3
	offsetValueVersionExpT = 1
	groupValueVersion      = 3
)

var errUnknownVersion = errors.New("unknown __consumer_offsets record version")

// recordKey is a decoded key: a group metadata key (isGroup) or an offset
// commit key.
type recordKey struct {
	isGroup   bool
	group     string
	topic     string
	partition int32
}

func encodeOffsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func encodeGroupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func decodeKey(b []byte) (recordKey, error) {
	if len(b) < 2 {
		return recordKey{}, fmt.Errorf("key of %d bytes", len(b))
	}
	switch v := int16(b[0])<<8 | int16(b[1]); v {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(b); err != nil {
			return recordKey{}, err
		}
		return recordKey{group: k.Group, topic: k.Topic, partition: k.Partition}, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(b); err != nil {
			return recordKey{}, err
		}
		return recordKey{isGroup: true, group: k.Group}, nil
	default:
		return recordKey{}, fmt.Errorf("%w: key version %d", errUnknownVersion, v)
	}
}

// offsetValue is a committed offset as stored. expireTimestamp is -1
// unless the commit set one (value v1).
type offsetValue struct {
	offset          int64
	leaderEpoch     int32 // -1 when unknown
	metadata        string
	commitTimestamp int64
	expireTimestamp int64
}

func encodeOffsetValue(o offsetValue) []byte {
	v := kmsg.OffsetCommitValue{
		Version:         offsetValueVersion,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitTimestamp,
		ExpireTimestamp: o.expireTimestamp,
	}
	if o.expireTimestamp != -1 {
		v.Version = offsetValueVersionExpT
	}
	return v.AppendTo(nil)
}

func decodeOffsetValue(b []byte) (offsetValue, error) {
	if len(b) < 2 {
		return offsetValue{}, fmt.Errorf("offset value of %d bytes", len(b))
	}
	if ver := int16(b[0])<<8 | int16(b[1]); ver < 0 || ver > 3 {
		return offsetValue{}, fmt.Errorf("%w: offset value version %d", errUnknownVersion, ver)
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(b); err != nil {
		return offsetValue{}, err
	}
	o := offsetValue{
		offset:          v.Offset,
		leaderEpoch:     -1,
		metadata:        v.Metadata,
		commitTimestamp: v.CommitTimestamp,
		expireTimestamp: -1,
	}
	if v.Version >= 3 {
		o.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		o.expireTimestamp = v.ExpireTimestamp
	}
	return o, nil
}

func encodeGroupValue(v *kmsg.GroupMetadataValue) []byte {
	v.Version = groupValueVersion
	return v.AppendTo(nil)
}

func decodeGroupValue(b []byte) (*kmsg.GroupMetadataValue, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("group value of %d bytes", len(b))
	}
	if ver := int16(b[0])<<8 | int16(b[1]); ver < 0 || ver > 3 {
		return nil, fmt.Errorf("%w: group value version %d", errUnknownVersion, ver)
	}
	v := new(kmsg.GroupMetadataValue)
	if err := v.ReadFrom(b); err != nil {
		return nil, err
	}
	if v.Version < 2 {
		v.CurrentStateTimestamp = -1
	}
	for i := range v.Members {
		m := &v.Members[i]
		if v.Version < 1 {
			// Kafka: a v0 member's rebalance timeout is its session timeout.
			m.RebalanceTimeoutMillis = m.SessionTimeoutMillis
		}
		if v.Version < 3 {
			m.InstanceID = nil
		}
	}
	return v, nil
}

// javaStringHashCode is Java's String.hashCode: s[0]*31^(n-1) + ... over
// the UTF-16 code units of s, in int32 arithmetic that wraps. Invalid UTF-8
// bytes count as U+FFFD, as Java's decoding of the wire bytes would make
// them.
func javaStringHashCode(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			h = 31*h + r1
			h = 31*h + r2
			continue
		}
		h = 31*h + r
	}
	return h
}

// kafkaAbs is Kafka's Utils.abs: Math.abs, except that Integer.MIN_VALUE
// (whose absolute value does not fit) maps to 0.
func kafkaAbs(n int32) int32 {
	if n == -1<<31 {
		return 0
	}
	if n < 0 {
		return -n
	}
	return n
}

func partitionFor(groupID string, partitions int32) int32 {
	if partitions <= 0 {
		return 0
	}
	return kafkaAbs(javaStringHashCode(groupID)) % partitions
}

// PartitionFor is the offsets partition of groupID: Kafka's
// Utils.abs(groupId.hashCode) % offsets.topic.num.partitions.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return partitionFor(groupID, c.cfg.OffsetsTopicPartitions)
}
