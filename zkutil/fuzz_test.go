package zkutil

import (
	"errors"
	"reflect"
	"testing"
)

// Every decoder of znode data is fuzzed: the data comes from ZooKeeper,
// where any tool (or any bug) may have written anything. The invariants,
// for every target:
//
//   - decoding never panics;
//   - a rejection is ErrMalformed;
//   - whatever is accepted, encoded and decoded again, gives the same
//     value, and encoding that value gives the same bytes (the encoders
//     are deterministic).

// fuzzRoundTrip runs a fuzz target over decode and encode, seeded with the
// golden files and with the usual suspects.
func fuzzRoundTrip[T any](f *testing.F, goldenFiles []string, decode func([]byte) (T, error), encode func(T) []byte) {
	f.Helper()
	f.Add([]byte{})
	f.Add([]byte("null"))
	f.Add([]byte("{}"))
	f.Add([]byte("[]"))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte("\xff\xfe"))
	for _, file := range goldenFiles {
		b := readGolden(f, file)
		f.Add(b)
		f.Add(b[:len(b)/2]) // truncated
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decode(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decode(%q) failed with %v, which is not ErrMalformed", data, err)
			}
			return
		}
		encoded := encode(v)
		again, err := decode(encoded)
		if err != nil {
			t.Fatalf("decode(%q) accepted, but its re-encoding %q is refused: %v", data, encoded, err)
		}
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("decode(%q) = %#v, but decode(encode(...)) = %#v", data, v, again)
		}
		if reencoded := encode(again); string(reencoded) != string(encoded) {
			t.Fatalf("encoding is not deterministic: %q then %q", encoded, reencoded)
		}
	})
}

func FuzzDecodeClusterID(f *testing.F) {
	fuzzRoundTrip(f, []string{"cluster_id.json"}, decodeClusterID, encodeClusterID)
}

func FuzzDecodeBroker(f *testing.F) {
	fuzzRoundTrip(f,
		[]string{"broker_v5.json", "broker_v5_no_plaintext.json", "broker_v5_features.json", "broker_v4.json", "broker_v3.json", "broker_v2.json", "broker_v1.json"},
		func(b []byte) (BrokerInfo, error) { return decodeBroker(1, b) }, encodeBroker)
}

func FuzzDecodeTopic(f *testing.F) {
	fuzzRoundTrip(f, []string{"topic_v3.json", "topic_v3_no_id.json", "topic_v2.json", "topic_v1.json"},
		func(b []byte) (TopicAssignment, error) { return decodeTopic("t", b) }, encodeTopic)
}

func FuzzDecodePartitionState(f *testing.F) {
	fuzzRoundTrip(f, []string{"partition_state.json", "partition_state_no_leader.json"},
		func(b []byte) (PartitionState, error) { return decodePartitionState(TopicPartition{"t", 0}, b) }, encodePartitionState)
}

func FuzzDecodeController(f *testing.F) {
	fuzzRoundTrip(f, []string{"controller.json"}, decodeController, encodeController)
}

func FuzzDecodeControllerEpoch(f *testing.F) {
	f.Add([]byte("2147483647"))
	f.Add([]byte("-0"))
	fuzzRoundTrip(f, nil, decodeControllerEpoch, encodeControllerEpoch)
}

func FuzzDecodeEntityConfig(f *testing.F) {
	fuzzRoundTrip(f, []string{"entity_config.json", "entity_config_empty.json"}, decodeEntityConfig, encodeEntityConfig)
}

func FuzzDecodeConfigChange(f *testing.F) {
	fuzzRoundTrip(f, []string{"config_change.json", "config_change_v1.json"}, decodeConfigChange, encodeConfigChange)
}

func FuzzDecodeReassignment(f *testing.F) {
	fuzzRoundTrip(f, []string{"reassign_partitions.json"}, decodeReassignment, encodeReassignment)
}

func FuzzDecodePreferredReplicaElection(f *testing.F) {
	fuzzRoundTrip(f, []string{"preferred_replica_election.json"}, decodePreferredReplicaElection, encodePreferredReplicaElection)
}

func FuzzDecodeProducerIDBlock(f *testing.F) {
	fuzzRoundTrip(f, []string{"producer_id_block.json"}, decodeProducerIDBlock, encodeProducerIDBlock)
}

func FuzzDecodeConsumerOffset(f *testing.F) {
	f.Add([]byte("9223372036854775807"))
	f.Add([]byte("+1"))
	fuzzRoundTrip(f, nil, decodeConsumerOffset, encodeConsumerOffset)
}
