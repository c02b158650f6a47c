package conf

import (
	"fmt"
	"slices"
	"strings"
)

// rule is a validator, the counterpart of a Kafka ConfigDef.Validator. check
// receives a Kafka value of the key's type (int64, float64, string, []string)
// and returns "" when it is acceptable, or else the rule it breaks, worded to
// follow "key=value: " in an error: "must be at least 14".
//
// Rules check one key. Rules that relate keys (advertised listeners must be
// listeners, broker.id must not exceed reserved.broker.max.id) are in
// validate.go.
type rule struct {
	desc  string // the accepted values in words, for Key.Valid
	check func(v any) string
}

func (r rule) apply(v any) string {
	if r.check == nil {
		return ""
	}
	return r.check(v)
}

func atLeast(min int64) rule {
	return rule{
		desc: fmt.Sprintf("at least %d", min),
		check: func(v any) string {
			if v.(int64) < min {
				return fmt.Sprintf("must be at least %d", min)
			}
			return ""
		},
	}
}

// fraction accepts doubles from 0 to 1 inclusive, and not NaN.
func fraction() rule {
	return rule{
		desc: "between 0 and 1",
		check: func(v any) string {
			if f := v.(float64); !(f >= 0 && f <= 1) {
				return "must be between 0 and 1"
			}
			return ""
		},
	}
}

// unlimitedOrPositive accepts -1, Kafka's "unlimited", or at least 1. The
// broker's retention bindings have already turned any negative value into -1.
func unlimitedOrPositive() rule {
	return rule{
		desc: "-1 (unlimited) or at least 1",
		check: func(v any) string {
			if n := v.(int64); n != -1 && n < 1 {
				return "must be -1 (unlimited) or at least 1"
			}
			return ""
		},
	}
}

// oneOf accepts the given strings, case-sensitively, as Kafka's
// ValidString.in does.
func oneOf(values ...string) rule {
	return rule{
		desc: "one of " + fmt.Sprint(values),
		check: func(v any) string {
			if !slices.Contains(values, v.(string)) {
				return fmt.Sprintf("must be one of %v", values)
			}
			return ""
		},
	}
}

// oneOfInts accepts the given integers.
func oneOfInts(values ...int64) rule {
	return rule{
		desc: "one of " + fmt.Sprint(values),
		check: func(v any) string {
			if !slices.Contains(values, v.(int64)) {
				return fmt.Sprintf("must be one of %v", values)
			}
			return ""
		},
	}
}

// everyOneOf accepts lists whose every item is one of values, as Kafka's
// ValidList.in does. Like Kafka 2.8 it accepts the empty list.
func everyOneOf(values ...string) rule {
	return rule{
		desc: "a list of " + fmt.Sprint(values),
		check: func(v any) string {
			for _, item := range v.([]string) {
				if !slices.Contains(values, item) {
					return fmt.Sprintf("every item must be one of %v", values)
				}
			}
			return ""
		},
	}
}

// kafkaVersionRule accepts what inter.broker.protocol.version and
// log.message.format.version accept in Kafka 2.8 (see versions.go).
func kafkaVersionRule() rule {
	return rule{
		desc: "a Kafka version from 0.8.0 to 2.8-IV1",
		check: func(v any) string {
			if _, ok := parseKafkaVersion(v.(string)); !ok {
				return "not a valid Kafka version (such as 2.8 or 2.8-IV1)"
			}
			return ""
		},
	}
}

// throttledReplicas accepts the value of leader.replication.throttled.replicas
// and follower.replication.throttled.replicas: the single wildcard "*", or a
// list of partition:broker pairs (Kafka also lets empty items through).
func throttledReplicas() rule {
	return rule{
		desc: "* or a list of partition:broker",
		check: func(v any) string {
			items := v.([]string)
			if len(items) == 1 && items[0] == "*" {
				return ""
			}
			for _, item := range items {
				if item != "" && !isReplicaPair(item) {
					return "must be * or a list of partition:broker pairs such as 0:101,1:102"
				}
			}
			return ""
		},
	}
}

func isReplicaPair(s string) bool {
	partition, broker, ok := strings.Cut(s, ":")
	return ok && isDigits(partition) && isDigits(broker)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
