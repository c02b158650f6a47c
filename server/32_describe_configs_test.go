package server

import (
	"context"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func configResource(typ kmsg.ConfigResourceType, name string, keys ...string) kmsg.DescribeConfigsRequestResource {
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, keys
	return r
}

func describeConfigs(t *testing.T, h *handlers, v int16, synonyms, docs bool, resources ...kmsg.DescribeConfigsRequestResource) *kmsg.DescribeConfigsResponse {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version, req.IncludeSynonyms, req.IncludeDocumentation, req.Resources = v, synonyms, docs, resources
	resp := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != len(resources) {
		t.Fatalf("%d resources answered, %d asked", len(resp.Resources), len(resources))
	}
	for i, rr := range resp.Resources {
		if rr.ResourceType != resources[i].ResourceType || rr.ResourceName != resources[i].ResourceName {
			t.Fatalf("resource %d answered as %s %q", i, rr.ResourceType, rr.ResourceName)
		}
	}
	return resp
}

func findConfig(t *testing.T, rr kmsg.DescribeConfigsResponseResource, name string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	for _, c := range rr.Configs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s %q: no config %s among %d", rr.ResourceType, rr.ResourceName, name, len(rr.Configs))
	return kmsg.DescribeConfigsResponseResourceConfig{}
}

// describeConfigsTestHandlers are adminTestHandlers with topic "existing"
// overriding retention.ms and cleanup.policy, plus a key that is no topic
// key, in ZooKeeper.
func describeConfigsTestHandlers(t *testing.T) *handlers {
	t.Helper()
	h, zkc := adminTestHandlers(t)
	overrides := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "not.a.topic.key": "x"}
	if err := zkc.SetEntityConfig(context.Background(), zkutil.ConfigTopics, "existing", overrides); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestDescribeConfigsErrors(t *testing.T) {
	h := describeConfigsTestHandlers(t)
	tests := []struct {
		name string
		res  kmsg.DescribeConfigsRequestResource
		code *kerr.Error
		msg  string // "" for a null message
	}{
		{"unknown topic", configResource(kmsg.ConfigResourceTypeTopic, "nope"), kerr.UnknownTopicOrPartition, ""},
		{"illegal topic", configResource(kmsg.ConfigResourceTypeTopic, "a/b"), kerr.InvalidTopicException, "contains a character other than"},
		{"empty topic", configResource(kmsg.ConfigResourceTypeTopic, ""), kerr.InvalidTopicException, "can't be empty"},
		{"another broker", configResource(kmsg.ConfigResourceTypeBroker, "2"), kerr.InvalidRequest,
			"Unexpected broker id, expected 1 or empty string, but received 2"},
		{"broker not a number", configResource(kmsg.ConfigResourceTypeBroker, "one"), kerr.InvalidRequest, "Broker id must be an integer, but it is: one"},
		{"logger without id", configResource(kmsg.ConfigResourceTypeBrokerLogger, ""), kerr.InvalidRequest, "Broker id must not be empty"},
		{"logger of another broker", configResource(kmsg.ConfigResourceTypeBrokerLogger, "3"), kerr.InvalidRequest, "Unexpected broker id, expected 1 but received 3"},
		{"logger of this broker", configResource(kmsg.ConfigResourceTypeBrokerLogger, "1"), kerr.InvalidRequest, "Unsupported resource type: BROKER_LOGGER"},
		{"unknown type", configResource(kmsg.ConfigResourceType(99), "x"), kerr.InvalidRequest, "Unsupported resource type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for v := int16(0); v <= 3; v++ {
				rr := describeConfigs(t, h, v, true, true, tt.res).Resources[0]
				if rr.ErrorCode != tt.code.Code || len(rr.Configs) != 0 {
					t.Fatalf("v%d: error %d with %d configs, want %s", v, rr.ErrorCode, len(rr.Configs), tt.code.Message)
				}
				if (tt.msg == "") != (rr.ErrorMessage == nil) || (rr.ErrorMessage != nil && !strings.Contains(*rr.ErrorMessage, tt.msg)) {
					t.Fatalf("v%d: message %q, want %q", v, strPtr(rr.ErrorMessage), tt.msg)
				}
			}
		})
	}
}

func TestDescribeConfigsTopic(t *testing.T) {
	h := describeConfigsTestHandlers(t)
	all := len(h.cfg.TopicDefaults().Describe())
	for v := int16(0); v <= 3; v++ {
		rr := describeConfigs(t, h, v, true, true, configResource(kmsg.ConfigResourceTypeTopic, "existing")).Resources[0]
		if rr.ErrorCode != 0 || len(rr.Configs) != all {
			t.Fatalf("v%d: error %d, %d configs, want all %d", v, rr.ErrorCode, len(rr.Configs), all)
		}
		ret := findConfig(t, rr, "retention.ms")
		seg := findConfig(t, rr, "segment.bytes")
		if strPtr(ret.Value) != "1000" || ret.ReadOnly || ret.IsSensitive || strPtr(findConfig(t, rr, "cleanup.policy").Value) != "compact" {
			t.Fatalf("v%d: retention.ms %+v", v, ret)
		}
		if strPtr(seg.Value) != "1073741824" {
			t.Fatalf("v%d: segment.bytes %q", v, strPtr(seg.Value))
		}
		switch v {
		case 0:
			if ret.IsDefault || !seg.IsDefault || ret.ConfigSynonyms != nil {
				t.Fatalf("v0: is_default %v/%v, synonyms %v", ret.IsDefault, seg.IsDefault, ret.ConfigSynonyms)
			}
		default:
			if ret.Source != kmsg.ConfigSourceDynamicTopicConfig || seg.Source != kmsg.ConfigSourceDefaultConfig || ret.IsDefault {
				t.Fatalf("v%d: sources %s and %s", v, ret.Source, seg.Source)
			}
			syn := ret.ConfigSynonyms
			if len(syn) < 2 || syn[0].Name != "retention.ms" || strPtr(syn[0].Value) != "1000" || syn[0].Source != kmsg.ConfigSourceDynamicTopicConfig ||
				syn[len(syn)-1].Name != "log.retention.hours" || strPtr(syn[len(syn)-1].Value) != "168" || syn[len(syn)-1].Source != kmsg.ConfigSourceDefaultConfig {
				t.Fatalf("v%d: retention.ms synonyms %+v", v, syn)
			}
		}
		if v >= 3 {
			if ret.ConfigType != kmsg.ConfigTypeLong || ret.Documentation == nil || *ret.Documentation == "" {
				t.Fatalf("v3: type %s, documentation %q", ret.ConfigType, strPtr(ret.Documentation))
			}
		} else if ret.Documentation != nil {
			t.Fatalf("v%d: documentation sent", v)
		}
	}

	// Synonyms and documentation only when asked.
	rr := describeConfigs(t, h, 3, false, false, configResource(kmsg.ConfigResourceTypeTopic, "existing")).Resources[0]
	if c := findConfig(t, rr, "retention.ms"); c.ConfigSynonyms != nil || c.Documentation != nil || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("not asked for synonyms or documentation: %+v", c)
	}
}

func TestDescribeConfigsBroker(t *testing.T) {
	h := describeConfigsTestHandlers(t)
	all := len(h.cfg.Describe())
	for v := int16(0); v <= 3; v++ {
		resp := describeConfigs(t, h, v, true, false,
			configResource(kmsg.ConfigResourceTypeBroker, "1"),
			configResource(kmsg.ConfigResourceTypeBroker, ""))
		rr := resp.Resources[0]
		if rr.ErrorCode != 0 || len(rr.Configs) != all {
			t.Fatalf("v%d: broker 1: error %d, %d configs, want %d", v, rr.ErrorCode, len(rr.Configs), all)
		}
		id := findConfig(t, rr, "broker.id")
		if strPtr(id.Value) != "1" || !id.ReadOnly {
			t.Fatalf("v%d: broker.id %+v", v, id)
		}
		if v == 0 && id.IsDefault {
			t.Fatal("v0: broker.id set in the file reported as default")
		}
		if v >= 1 && (id.Source != kmsg.ConfigSourceStaticBrokerConfig || len(id.ConfigSynonyms) == 0 ||
			id.ConfigSynonyms[0].Source != kmsg.ConfigSourceStaticBrokerConfig) {
			t.Fatalf("v%d: broker.id source %s, synonyms %+v", v, id.Source, id.ConfigSynonyms)
		}
		if dflt := resp.Resources[1]; dflt.ErrorCode != 0 || len(dflt.Configs) != 0 {
			t.Fatalf(`v%d: broker "": error %d, %d configs, want none (no dynamic defaults)`, v, dflt.ErrorCode, len(dflt.Configs))
		}
	}
}

func TestDescribeConfigsFilter(t *testing.T) {
	h := describeConfigsTestHandlers(t)
	resp := describeConfigs(t, h, 1, false, false,
		configResource(kmsg.ConfigResourceTypeTopic, "existing", "segment.bytes", "retention.ms", "no.such.key"),
		configResource(kmsg.ConfigResourceTypeBroker, "1", "num.partitions"),
		configResource(kmsg.ConfigResourceTypeTopic, "existing", "not.a.topic.key"))
	var got []string
	for _, c := range resp.Resources[0].Configs {
		got = append(got, c.Name)
	}
	if strings.Join(got, ",") != "retention.ms,segment.bytes" {
		t.Fatalf("topic filtered to %v", got)
	}
	if cs := resp.Resources[1].Configs; len(cs) != 1 || cs[0].Name != "num.partitions" {
		t.Fatalf("broker filtered to %+v", cs)
	}
	if cs := resp.Resources[2].Configs; resp.Resources[2].ErrorCode != 0 || len(cs) != 0 {
		t.Fatalf("a key in the znode that is no topic key was described: %+v", cs)
	}
}

func TestDescribedConfigsHideSensitiveValues(t *testing.T) {
	secret := "hunter2"
	entries := []conf.Entry{{
		Name: "ssl.key.password", Value: &secret, Source: conf.SourceStaticBroker, ReadOnly: true, Sensitive: true,
		Type: conf.TypePassword, Synonyms: []conf.Synonym{{Name: "ssl.key.password", Value: &secret, Source: conf.SourceStaticBroker}},
	}}
	cs := describedConfigs(entries, nil, 3, true, false)
	if len(cs) != 1 || cs[0].Value != nil || !cs[0].IsSensitive || len(cs[0].ConfigSynonyms) != 1 || cs[0].ConfigSynonyms[0].Value != nil {
		t.Fatalf("sensitive entry described as %+v", cs)
	}
}
