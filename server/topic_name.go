package server

import (
	"fmt"
	"strings"
)

// Topic names as Kafka checks them (org.apache.kafka.common.internals.Topic).
// Shared by every API that takes a topic name.

// The internal topics, which Metadata reports with is_internal set.
const (
	groupMetadataTopic    = "__consumer_offsets"
	transactionStateTopic = "__transaction_state"
)

// maxTopicNameLength is Kafka's Topic.MAX_NAME_LENGTH.
const maxTopicNameLength = 249

const legalTopicNameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

func isInternalTopic(topic string) bool {
	return topic == groupMetadataTopic || topic == transactionStateTopic
}

// validTopicName applies Kafka's Topic.validate: 1 to 249 characters of
// [a-zA-Z0-9._-], and neither "." nor "..".
func validTopicName(topic string) bool {
	if topic == "" || topic == "." || topic == ".." || len(topic) > maxTopicNameLength {
		return false
	}
	for i := 0; i < len(topic); i++ {
		if strings.IndexByte(legalTopicNameChars, topic[i]) < 0 {
			return false
		}
	}
	return true
}

// topicNameProblem is Kafka's Topic.validate message for an illegal name,
// or "" for a legal one.
func topicNameProblem(name string) string {
	switch {
	case validTopicName(name):
		return ""
	case name == "":
		return "Topic name is illegal, it can't be empty"
	case name == "." || name == "..":
		return `Topic name cannot be "." or ".."`
	case len(name) > maxTopicNameLength:
		return fmt.Sprintf("Topic name is illegal, it can't be longer than %d characters, topic name: %s", maxTopicNameLength, name)
	default:
		return fmt.Sprintf(`Topic name "%s" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`, name)
	}
}
