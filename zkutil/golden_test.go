package zkutil

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gregor-broker/gregor/conf"
)

// The golden files under testdata/ are Kafka 2.8's znode formats as its
// ZkData.scala writes them (and, for the decode-only cases, as older Kafka
// versions wrote them). Encoding must produce a golden file byte for byte;
// decoding must read it back to the same value.

// golden is one golden file: the value it holds, how to encode it, and how
// to decode it. encode is nil for formats zkutil reads but no longer
// writes.
type golden struct {
	file   string
	want   any
	encode func() []byte
	decode func([]byte) (any, error)
}

func mustUUID(t *testing.T, s string) UUID {
	t.Helper()
	u, err := ParseUUID(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func listener(name string, p conf.SecurityProtocol, host string, port int) conf.Listener {
	return conf.Listener{Name: name, SecurityProtocol: p, Host: host, Port: port}
}

func goldens(t *testing.T) []golden {
	decodeBrokerAs := func(id int32) func([]byte) (any, error) {
		return func(b []byte) (any, error) { return decodeBroker(id, b) }
	}
	noFeatures := map[string]FeatureRange{}
	broker5 := BrokerInfo{
		ID: 1,
		Endpoints: []conf.Listener{
			listener("PLAINTEXT", conf.Plaintext, "broker1.example.com", 9092),
			listener("SSL", conf.SSL, "broker1.example.com", 9093),
		},
		JMXPort: 9999, Rack: "dc1", Timestamp: 1620000000000, Features: noFeatures,
	}
	brokerNoPlaintext := BrokerInfo{
		ID: 2,
		Endpoints: []conf.Listener{
			listener("REPLICATION", conf.SSL, "10.0.0.1", 9093),
			listener("CLIENT", conf.SASLSSL, "::1", 9094),
		},
		JMXPort: -1, Timestamp: 1620000000001, Features: noFeatures,
	}
	brokerFeatures := BrokerInfo{
		ID:        3,
		Endpoints: []conf.Listener{listener("PLAINTEXT", conf.Plaintext, "localhost", 9092)},
		JMXPort:   -1, Timestamp: 1620000000002,
		Features: map[string]FeatureRange{"feature_1": {1, 2}, "feature_2": {2, 4}},
	}
	oldBrokerEndpoints := []conf.Listener{
		listener("PLAINTEXT", conf.Plaintext, "host1", 9092),
		listener("SSL", conf.SSL, "host1", 9093),
	}
	topic3 := TopicAssignment{
		TopicID:          mustUUID(t, "3WOyAPGhSy-lpLCXxTIOzw"),
		Partitions:       map[int32][]int32{0: {1, 2, 3}, 1: {4, 2, 3, 1}, 2: {3, 1, 2}, 10: {1, 3, 2}},
		AddingReplicas:   map[int32][]int32{1: {4}},
		RemovingReplicas: map[int32][]int32{1: {1}},
	}
	topicNoID := TopicAssignment{
		Partitions:     map[int32][]int32{0: {1}},
		AddingReplicas: map[int32][]int32{}, RemovingReplicas: map[int32][]int32{},
	}
	state := PartitionState{Leader: 1, LeaderEpoch: 7, ISR: []int32{1, 2, 3}, ControllerEpoch: 5}
	stateNoLeader := PartitionState{Leader: -1, LeaderEpoch: 8, ISR: []int32{}, ControllerEpoch: 6}
	entityConfig := map[string]string{
		"cleanup.policy": "compact", "leader.replication.throttled.replicas": "0:1,1:2",
		"min.insync.replicas": "2", "retention.ms": "3600000",
	}
	reassignment := map[TopicPartition][]int32{
		{"foo", 0}: {1, 2}, {"foo", 1}: {2, 3}, {"bar", 3}: {3, 1},
	}
	election := []TopicPartition{{"foo", 1}, {"bar", 3}, {"foo", 0}}

	return []golden{
		{file: "cluster_id.json", want: "Jd9eO1dpRUCWKfO-5B7Lbw",
			encode: func() []byte { return encodeClusterID("Jd9eO1dpRUCWKfO-5B7Lbw") },
			decode: func(b []byte) (any, error) { return decodeClusterID(b) }},

		{file: "broker_v5.json", want: broker5,
			encode: func() []byte { return encodeBroker(broker5) }, decode: decodeBrokerAs(1)},
		{file: "broker_v5_no_plaintext.json", want: brokerNoPlaintext,
			encode: func() []byte { return encodeBroker(brokerNoPlaintext) }, decode: decodeBrokerAs(2)},
		{file: "broker_v5_features.json", want: brokerFeatures,
			encode: func() []byte { return encodeBroker(brokerFeatures) }, decode: decodeBrokerAs(3)},
		{file: "broker_v4.json", decode: decodeBrokerAs(4), want: BrokerInfo{
			ID: 4,
			Endpoints: []conf.Listener{
				listener("CLIENT", conf.Plaintext, "host1", 9092),
				listener("REPLICATION", conf.Plaintext, "host1", 9093),
			},
			JMXPort: 9999, Rack: "dc1", Timestamp: 2233345666, Features: noFeatures,
		}},
		{file: "broker_v3.json", decode: decodeBrokerAs(5), want: BrokerInfo{
			ID: 5, Endpoints: oldBrokerEndpoints, JMXPort: 9999, Rack: "dc1", Timestamp: 2233345666, Features: noFeatures,
		}},
		{file: "broker_v2.json", decode: decodeBrokerAs(6), want: BrokerInfo{
			ID: 6, Endpoints: oldBrokerEndpoints, JMXPort: 9999, Timestamp: 2233345666, Features: noFeatures,
		}},
		{file: "broker_v1.json", decode: decodeBrokerAs(7), want: BrokerInfo{
			ID: 7, Endpoints: []conf.Listener{listener("PLAINTEXT", conf.Plaintext, "localhost", 9092)},
			JMXPort: 9999, Timestamp: 2233345666, Features: noFeatures,
		}},

		{file: "topic_v3.json", want: topic3,
			encode: func() []byte { return encodeTopic(topic3) },
			decode: func(b []byte) (any, error) { return decodeTopic("t", b) }},
		{file: "topic_v3_no_id.json", want: topicNoID,
			encode: func() []byte { return encodeTopic(topicNoID) },
			decode: func(b []byte) (any, error) { return decodeTopic("t", b) }},
		{file: "topic_v2.json", decode: func(b []byte) (any, error) { return decodeTopic("t", b) }, want: TopicAssignment{
			Partitions:     map[int32][]int32{0: {1, 2}, 1: {2, 1}},
			AddingReplicas: map[int32][]int32{}, RemovingReplicas: map[int32][]int32{},
		}},
		{file: "topic_v1.json", decode: func(b []byte) (any, error) { return decodeTopic("t", b) }, want: TopicAssignment{
			Partitions:     map[int32][]int32{0: {0, 1, 3}, 1: {1, 3, 0}},
			AddingReplicas: map[int32][]int32{}, RemovingReplicas: map[int32][]int32{},
		}},

		{file: "partition_state.json", want: state,
			encode: func() []byte { return encodePartitionState(state) },
			decode: func(b []byte) (any, error) { return decodePartitionState(TopicPartition{"t", 0}, b) }},
		{file: "partition_state_no_leader.json", want: stateNoLeader,
			encode: func() []byte {
				return encodePartitionState(PartitionState{Leader: -1, LeaderEpoch: 8, ControllerEpoch: 6})
			},
			decode: func(b []byte) (any, error) { return decodePartitionState(TopicPartition{"t", 0}, b) }},

		{file: "controller.json", want: ControllerInfo{BrokerID: 1, Timestamp: 1620000000000},
			encode: func() []byte { return encodeController(ControllerInfo{BrokerID: 1, Timestamp: 1620000000000}) },
			decode: func(b []byte) (any, error) { return decodeController(b) }},

		{file: "entity_config.json", want: entityConfig,
			encode: func() []byte { return encodeEntityConfig(entityConfig) },
			decode: func(b []byte) (any, error) { return decodeEntityConfig(b) }},
		{file: "entity_config_empty.json", want: map[string]string{},
			encode: func() []byte { return encodeEntityConfig(nil) },
			decode: func(b []byte) (any, error) { return decodeEntityConfig(b) }},
		{file: "config_change.json", want: ConfigChange{EntityPath: "topics/my-topic"},
			encode: func() []byte { return encodeConfigChange(ConfigChange{EntityPath: "topics/my-topic"}) },
			decode: func(b []byte) (any, error) { return decodeConfigChange(b) }},
		{file: "config_change_v1.json", want: ConfigChange{EntityPath: "topics/my-topic"},
			decode: func(b []byte) (any, error) { return decodeConfigChange(b) }},

		{file: "reassign_partitions.json", want: reassignment,
			encode: func() []byte { return encodeReassignment(reassignment) },
			decode: func(b []byte) (any, error) { return decodeReassignment(b) }},
		{file: "preferred_replica_election.json", want: dedupPartitions(election),
			encode: func() []byte { return encodePreferredReplicaElection(append(election, election[0])) },
			decode: func(b []byte) (any, error) { return decodePreferredReplicaElection(b) }},

		{file: "producer_id_block.json", want: ProducerIDBlock{BrokerID: 1, Start: 1000, End: 1999},
			encode: func() []byte { return encodeProducerIDBlock(ProducerIDBlock{BrokerID: 1, Start: 1000, End: 1999}) },
			decode: func(b []byte) (any, error) { return decodeProducerIDBlock(b) }},
	}
}

// readGolden reads a golden file without the newline that ends it.
func readGolden(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

func TestGoldenFiles(t *testing.T) {
	for _, g := range goldens(t) {
		t.Run(strings.TrimSuffix(g.file, ".json"), func(t *testing.T) {
			want := readGolden(t, g.file)
			if g.encode != nil {
				if got := g.encode(); !bytes.Equal(got, want) {
					t.Errorf("encode:\n got %s\nwant %s", got, want)
				}
			}
			got, err := g.decode(want)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, g.want) {
				t.Errorf("decode:\n got %#v\nwant %#v", got, g.want)
			}
		})
	}
}

// TestGoldenFilesCovered makes sure every file under testdata/ is checked.
func TestGoldenFilesCovered(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, g := range goldens(t) {
		covered[g.file] = true
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s is not in goldens", f)
		}
	}
}

func TestDecimalZNodes(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false}, {"42", 42, false}, {"-1", -1, false}, {"+7", 7, false},
		{"9223372036854775807", 9223372036854775807, false},
		{"", 0, true}, {"-", 0, true}, {" 1", 0, true}, {"1 ", 0, true}, {"0x10", 0, true},
		{"1_000", 0, true}, {"9223372036854775808", 0, true}, {"1.0", 0, true},
	} {
		got, err := decodeConsumerOffset([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("decodeConsumerOffset(%q) = %d, %v", tt.in, got, err)
		}
	}
	if got := string(encodeConsumerOffset(-5)); got != "-5" {
		t.Errorf("encodeConsumerOffset(-5) = %q", got)
	}
	if got := string(encodeControllerEpoch(3)); got != "3" {
		t.Errorf("encodeControllerEpoch(3) = %q", got)
	}
	if _, err := decodeControllerEpoch([]byte("2147483648")); err == nil {
		t.Error("decodeControllerEpoch accepted a number past int32")
	}
}

// TestEncodeNoHTMLEscape checks that JSON is written as Jackson writes it,
// without escaping <, > and &.
func TestEncodeNoHTMLEscape(t *testing.T) {
	got := string(encodeEntityConfig(map[string]string{"k": "<a&b>"}))
	if want := `{"version":1,"config":{"k":"<a&b>"}}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) error
		in     string
	}{
		{"broker without version", func(b []byte) error { _, err := decodeBroker(1, b); return err }, `{"jmx_port":-1,"endpoints":[]}`},
		{"broker without jmx_port", func(b []byte) error { _, err := decodeBroker(1, b); return err }, `{"version":5,"endpoints":[]}`},
		{"broker with unknown protocol", func(b []byte) error { _, err := decodeBroker(1, b); return err },
			`{"version":5,"jmx_port":-1,"endpoints":["X://h:1"],"listener_security_protocol_map":{"X":"QUIC"}}`},
		{"broker endpoint not in map", func(b []byte) error { _, err := decodeBroker(1, b); return err },
			`{"version":5,"jmx_port":-1,"endpoints":["X://h:1"],"listener_security_protocol_map":{"Y":"SSL"}}`},
		{"broker endpoint with two listeners", func(b []byte) error { _, err := decodeBroker(1, b); return err },
			`{"version":4,"jmx_port":-1,"endpoints":["PLAINTEXT://h:1,SSL://h:2"]}`},
		{"topic version 4", func(b []byte) error { _, err := decodeTopic("t", b); return err }, `{"version":4,"partitions":{}}`},
		{"topic negative partition", func(b []byte) error { _, err := decodeTopic("t", b); return err }, `{"version":1,"partitions":{"-1":[1]}}`},
		{"topic partition twice", func(b []byte) error { _, err := decodeTopic("t", b); return err }, `{"version":1,"partitions":{"1":[1],"01":[2]}}`},
		{"topic bad id", func(b []byte) error { _, err := decodeTopic("t", b); return err }, `{"version":3,"topic_id":"xyz","partitions":{}}`},
		{"topic null replicas", func(b []byte) error { _, err := decodeTopic("t", b); return err }, `{"version":1,"partitions":{"0":null}}`},
		{"state null isr", func(b []byte) error { _, err := decodePartitionState(TopicPartition{"t", 0}, b); return err },
			`{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":1,"isr":null}`},
		{"state without leader", func(b []byte) error { _, err := decodePartitionState(TopicPartition{"t", 0}, b); return err },
			`{"controller_epoch":1,"version":1,"leader_epoch":1,"isr":[]}`},
		{"cluster id version 1 as number", func(b []byte) error { _, err := decodeClusterID(b); return err }, `{"version":1,"id":"x"}`},
		{"config value not a string", func(b []byte) error { _, err := decodeEntityConfig(b); return err }, `{"version":1,"config":{"a":1}}`},
		{"config change with bad path", func(b []byte) error { _, err := decodeConfigChange(b); return err }, `{"version":2,"entity_path":"topics/../x"}`},
		{"producer block backwards", func(b []byte) error { _, err := decodeProducerIDBlock(b); return err },
			`{"version":1,"broker":1,"block_start":"10","block_end":"9"}`},
		{"trailing data", func(b []byte) error { _, err := decodeController(b); return err }, `{"version":1,"brokerid":1} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("accepted %s", tt.in)
			}
			if !strings.Contains(err.Error(), "malformed") {
				t.Errorf("error %q does not say the data is malformed", err)
			}
		})
	}
}
