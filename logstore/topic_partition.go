package logstore

import (
	"fmt"
	"strconv"
	"strings"
)

// TopicPartition names one partition's log.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// DirName is the partition's folder name inside a log directory: Kafka's
// "<topic>-<partition>".
func (tp TopicPartition) DirName() string { return tp.String() }

// ParseTopicPartitionDir parses a folder name made by DirName. Topic names
// may contain '-', so the partition is what follows the last one.
func ParseTopicPartitionDir(name string) (TopicPartition, error) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return TopicPartition{}, fmt.Errorf("logstore: %q is not a <topic>-<partition> folder name", name)
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || name[i+1] == '+' {
		return TopicPartition{}, fmt.Errorf("logstore: %q is not a <topic>-<partition> folder name", name)
	}
	return TopicPartition{Topic: name[:i], Partition: int32(p)}, nil
}
