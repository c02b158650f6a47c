package server

// DescribeConfigs (key 32): versions 0-3.
//
// Kafka 2.8's ConfigHelper.describeConfigs, resource by resource; a failed
// resource gets its error code (and Kafka's message) and no configs, and
// does not fail the others.
//
//   - TOPIC: an illegal name is INVALID_TOPIC_EXCEPTION; a topic missing
//     from the metadata cache is UNKNOWN_TOPIC_OR_PARTITION (no message, as
//     in Kafka). Otherwise every topic key: the broker's defaults with the
//     overrides of /config/topics/<t> applied, overrides as
//     DYNAMIC_TOPIC_CONFIG and the rest as STATIC_BROKER_CONFIG or
//     DEFAULT_CONFIG after the broker key they come from (conf/describe.go).
//     Keys in the znode that are not topic keys are ignored, as Kafka's
//     LogConfig ignores them. Topic keys are never read-only.
//   - BROKER named by this broker's id: every broker key, read-only (Gregor
//     has no dynamic broker configuration). Named "": Kafka describes the
//     cluster-wide dynamic defaults (/config/brokers/<default>), which
//     Gregor neither applies nor reports, so the answer is an empty config
//     list without error, as Kafka's is when none are set. Another id is
//     INVALID_REQUEST "Unexpected broker id, expected X or empty string,
//     but received Y"; a name that is not an integer is INVALID_REQUEST
//     "Broker id must be an integer, but it is: Y".
//   - BROKER_LOGGER: Kafka's checks of the name come first (empty, not an
//     integer, another broker's id: INVALID_REQUEST). Gregor has no
//     per-logger levels (one logrus level for the process), so this
//     broker's own loggers are INVALID_REQUEST "Unsupported resource type:
//     BROKER_LOGGER", the answer Kafka gives a type it does not serve, which
//     every version understands. TODO: report the root level.
//   - Any other type: INVALID_REQUEST "Unsupported resource type: T". Kafka
//     2.8 throws from its authorization step for these and so fails the
//     whole request; Gregor fails only the resource.
//
// config_names null or empty means every key, as in Kafka; otherwise only
// the named keys that exist, in key order. A sensitive value (a password)
// is null, in its synonyms too. The authorizer is TODO: nothing is refused.
//
// Versions: v0 sends is_default, which Gregor sets when the source is
// DEFAULT_CONFIG; v1 (KIP-226) replaces it with config_source, adds
// include_synonyms and the synonyms (most precise first); v2 is v1 with
// throttling on quota violation (KIP-219: throttle time stays 0); v3
// (KIP-569) adds config_type and, with include_documentation, the
// documentation of each key.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.DescribeConfigs, 0, 3, (*handlers).handleDescribeConfigs) }

func (h *handlers) handleDescribeConfigs(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for i := range req.Resources {
		res := &req.Resources[i]
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		entries, err := h.describeResource(ctx, res)
		if err != nil {
			rr.ErrorCode = errorCode(h.log, err)
			var ae *adminError
			if errors.As(err, &ae) && ae.msg != "" {
				rr.ErrorMessage = kmsg.StringPtr(ae.msg)
			}
		} else {
			rr.Configs = describedConfigs(entries, res.ConfigNames, r.header.APIVersion, req.IncludeSynonyms, req.IncludeDocumentation)
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}

// describeResource returns every entry of one resource, or why it cannot.
func (h *handlers) describeResource(ctx context.Context, res *kmsg.DescribeConfigsRequestResource) ([]conf.Entry, error) {
	switch res.ResourceType {
	case kmsg.ConfigResourceTypeTopic:
		return h.describeTopicConfig(ctx, res.ResourceName)
	case kmsg.ConfigResourceTypeBroker:
		if res.ResourceName == "" {
			return nil, nil // no dynamic cluster-wide defaults
		}
		id, err := h.configBrokerID(res.ResourceName)
		if err != nil {
			return nil, err
		}
		if id != h.brokerID {
			return nil, &adminError{kerr.InvalidRequest,
				fmt.Sprintf("Unexpected broker id, expected %d or empty string, but received %s", h.brokerID, res.ResourceName)}
		}
		return h.cfg.Describe(), nil
	case kmsg.ConfigResourceTypeBrokerLogger:
		if res.ResourceName == "" {
			return nil, &adminError{kerr.InvalidRequest, "Broker id must not be empty"}
		}
		id, err := h.configBrokerID(res.ResourceName)
		if err != nil {
			return nil, err
		}
		if id != h.brokerID {
			return nil, &adminError{kerr.InvalidRequest,
				fmt.Sprintf("Unexpected broker id, expected %d but received %s", h.brokerID, res.ResourceName)}
		}
	}
	return nil, &adminError{kerr.InvalidRequest, "Unsupported resource type: " + res.ResourceType.String()}
}

// configBrokerID is Kafka's ConfigHelper.resourceNameToBrokerId.
func (h *handlers) configBrokerID(name string) (int32, error) {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return 0, &adminError{kerr.InvalidRequest, "Broker id must be an integer, but it is: " + name}
	}
	return int32(id), nil
}

// describeTopicConfig describes a topic's config: the broker's defaults
// and the topic's overrides from ZooKeeper.
func (h *handlers) describeTopicConfig(ctx context.Context, topic string) ([]conf.Entry, error) {
	if msg := topicNameProblem(topic); msg != "" {
		return nil, &adminError{kerr.InvalidTopicException, msg}
	}
	if !h.metadata.Contains(topic) || h.topics == nil {
		return nil, &adminError{kerr.UnknownTopicOrPartition, ""}
	}
	stored, err := h.topics.EntityConfig(ctx, zkutil.ConfigTopics, topic)
	if err != nil {
		return nil, fmt.Errorf("describe configs of topic %s: %w", topic, err)
	}
	tc, err := topicConfigWithOverrides(h.cfg, stored)
	if err != nil {
		// Written by something that does not validate as CreateTopics
		// does; Kafka's LogConfig throws too, and answers
		// UNKNOWN_SERVER_ERROR.
		return nil, fmt.Errorf("describe configs of topic %s: overrides in ZooKeeper: %w", topic, err)
	}
	return tc.Describe(), nil
}

// describedConfigs turns entries into the response's configs at version v:
// only the keys named (all when names is empty), sorted by name, with the
// synonyms and documentation only when asked.
func describedConfigs(entries []conf.Entry, names []string, v int16, synonyms, documentation bool) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(entries))
	for _, e := range entries {
		if len(names) > 0 && !slices.Contains(names, e.Name) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.ReadOnly, c.IsSensitive = e.Name, e.ReadOnly, e.Sensitive
		if !e.Sensitive {
			c.Value = e.Value
		}
		c.Source = kmsg.ConfigSource(e.Source)
		c.IsDefault = v == 0 && e.Source == conf.SourceDefault
		c.ConfigType = kmsg.ConfigType(e.Type)
		if synonyms && v >= 1 {
			for _, s := range e.Synonyms {
				cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				cs.Name, cs.Source = s.Name, kmsg.ConfigSource(s.Source)
				if !e.Sensitive {
					cs.Value = s.Value
				}
				c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
			}
		}
		if documentation && v >= 3 {
			c.Documentation = kmsg.StringPtr(e.Doc)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
