package zkutil

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-zookeeper/zk"
)

// /consumers/<group>/offsets/<topic>/<partition> holds a committed offset
// as a decimal number ("42"): where OffsetCommit v0 stored offsets before
// __consumer_offsets existed. Kafka 2.8 still serves v0 requests from
// here, and so does Gregor.
const consumersPath = "/consumers"

func consumerOffsetPath(group string, tp TopicPartition) string {
	return consumersPath + "/" + group + "/offsets/" + tp.Topic + "/" + strconv.Itoa(int(tp.Partition))
}

func checkConsumerOffset(group string, tp TopicPartition) error {
	if err := checkName("group", group); err != nil {
		return err
	}
	return checkTopicPartition(tp)
}

func encodeConsumerOffset(offset int64) []byte {
	return []byte(strconv.FormatInt(offset, 10))
}

// decodeConsumerOffset reads an offset as Kafka's toLong does.
func decodeConsumerOffset(data []byte) (int64, error) {
	n, err := parseDecimal(string(data))
	if err != nil {
		return 0, malformed("consumer offset", err)
	}
	return n, nil
}

// ConsumerOffset reads a group's committed offset of a partition; ok is
// false when none was committed.
func (c *Client) ConsumerOffset(ctx context.Context, group string, tp TopicPartition) (offset int64, ok bool, err error) {
	if err := checkConsumerOffset(group, tp); err != nil {
		return 0, false, err
	}
	p := consumerOffsetPath(group, tp)
	data, _, err := c.get(ctx, p)
	if errors.Is(err, ErrNoNode) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	offset, err = decodeConsumerOffset(data)
	if err != nil {
		return 0, false, fmt.Errorf("zkutil: %s: %w", p, err)
	}
	return offset, true, nil
}

// SetConsumerOffset stores a group's committed offset of a partition,
// creating its znode (and the ones above) if needed.
func (c *Client) SetConsumerOffset(ctx context.Context, group string, tp TopicPartition, offset int64) error {
	if err := checkConsumerOffset(group, tp); err != nil {
		return err
	}
	p := consumerOffsetPath(group, tp)
	data := encodeConsumerOffset(offset)
	_, err := c.set(ctx, p, data, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		_, err = c.createWithParents(ctx, p, data, zk.FlagPersistent)
		if errors.Is(err, ErrNodeExists) {
			_, err = c.set(ctx, p, data, MatchAnyVersion)
		}
	}
	return err
}
