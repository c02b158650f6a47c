package group

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func strp(s string) *string { return &s }

// Expected values computed with Java 17 (String.hashCode, then Kafka's
// Utils.abs and the modulo).
func TestPartitionFor(t *testing.T) {
	tests := []struct {
		group    string
		hash     int32
		mod50    int32
		mod7     int32
		whatsHit string
	}{
		{"", 0, 0, 0, "empty id"},
		{"a", 97, 47, 6, "one char"},
		{"my-group", -1906497762, 12, 1, "negative hash: abs, not & 0x7fffffff"},
		{"polygenelubricants", -2147483648, 0, 0, "Integer.MIN_VALUE maps to 0"},
		{"grüppe", -1233264812, 12, 3, "two-byte UTF-8"},
		{"组-消费者", -65227029, 29, 0, "three-byte UTF-8"},
		{"emoji-\U0001F600", 1164511306, 6, 0, "surrogate pair"},
		{"console-consumer-40123", 161164501, 1, 1, "overflow"},
		{"zzzzzzzzzzzzzzzzzzzz", 1718487168, 18, 6, "long"},
	}
	for _, tt := range tests {
		t.Run(tt.whatsHit, func(t *testing.T) {
			if h := javaStringHashCode(tt.group); h != tt.hash {
				t.Fatalf("hashCode(%q) = %d, want %d", tt.group, h, tt.hash)
			}
			c50 := &Coordinator{cfg: Config{OffsetsTopicPartitions: 50}}
			c7 := &Coordinator{cfg: Config{OffsetsTopicPartitions: 7}}
			if p := c50.PartitionFor(tt.group); p != tt.mod50 {
				t.Errorf("PartitionFor(%q) of 50 = %d, want %d", tt.group, p, tt.mod50)
			}
			if p := c7.PartitionFor(tt.group); p != tt.mod7 {
				t.Errorf("PartitionFor(%q) of 7 = %d, want %d", tt.group, p, tt.mod7)
			}
		})
	}
}

// Golden bytes written by hand from Kafka 2.8's schemas
// (GroupMetadataManager: OFFSET_COMMIT_KEY_SCHEMA, OFFSET_COMMIT_VALUE_SCHEMA_V3,
// GROUP_METADATA_KEY_SCHEMA, GROUP_METADATA_VALUE_SCHEMA_V3).
func TestSchemaGolden(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"offset key v1", encodeOffsetKey("g", "t", 1), []byte{
			0, 1, // version
			0, 1, 'g', // group
			0, 1, 't', // topic
			0, 0, 0, 1, // partition
		}},
		{"group key v2", encodeGroupKey("gr"), []byte{0, 2, 0, 2, 'g', 'r'}},
		{"offset value v3", encodeOffsetValue(offsetValue{offset: 258, leaderEpoch: 5, metadata: "m", commitTimestamp: 1000, expireTimestamp: -1}), []byte{
			0, 3, // version
			0, 0, 0, 0, 0, 0, 1, 2, // offset
			0, 0, 0, 5, // leader epoch
			0, 1, 'm', // metadata
			0, 0, 0, 0, 0, 0, 0x03, 0xe8, // commit timestamp
		}},
		{"offset value v1", encodeOffsetValue(offsetValue{offset: 7, leaderEpoch: -1, metadata: "", commitTimestamp: 1, expireTimestamp: 2}), []byte{
			0, 1,
			0, 0, 0, 0, 0, 0, 0, 7,
			0, 0, // metadata ""
			0, 0, 0, 0, 0, 0, 0, 1, // commit
			0, 0, 0, 0, 0, 0, 0, 2, // expire
		}},
		{"group value v3", encodeGroupValue(&kmsg.GroupMetadataValue{
			ProtocolType: "c", Generation: 2, Protocol: strp("r"), Leader: strp("m"), CurrentStateTimestamp: 9,
			Members: []kmsg.GroupMetadataValueMember{{
				MemberID: "m", InstanceID: nil, ClientID: "c", ClientHost: "h",
				RebalanceTimeoutMillis: 3, SessionTimeoutMillis: 4, Subscription: []byte{1}, Assignment: []byte{},
			}},
		}), []byte{
			0, 3, // version
			0, 1, 'c', // protocol_type
			0, 0, 0, 2, // generation
			0, 1, 'r', // protocol
			0, 1, 'm', // leader
			0, 0, 0, 0, 0, 0, 0, 9, // current_state_timestamp
			0, 0, 0, 1, // members
			0, 1, 'm', // member_id
			0xff, 0xff, // group_instance_id null
			0, 1, 'c', // client_id
			0, 1, 'h', // client_host
			0, 0, 0, 3, // rebalance_timeout
			0, 0, 0, 4, // session_timeout
			0, 0, 0, 1, 1, // subscription
			0, 0, 0, 0, // assignment
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Fatalf("got  %x\nwant %x", tt.got, tt.want)
			}
		})
	}
}

func TestSchemaRoundTripEveryVersion(t *testing.T) {
	for v := int16(0); v <= 1; v++ {
		k := kmsg.OffsetCommitKey{Version: v, Group: "g", Topic: "t", Partition: 3}
		got, err := decodeKey(k.AppendTo(nil))
		if err != nil || got != (recordKey{group: "g", topic: "t", partition: 3}) {
			t.Errorf("offset key v%d: %+v %v", v, got, err)
		}
	}
	if got, err := decodeKey(encodeGroupKey("g")); err != nil || got != (recordKey{isGroup: true, group: "g"}) {
		t.Errorf("group key: %+v %v", got, err)
	}
	if _, err := decodeKey([]byte{0, 3, 0, 1, 'g'}); !errors.Is(err, errUnknownVersion) {
		t.Errorf("key v3: %v, want unknown version", err)
	}

	for v := int16(0); v <= 3; v++ {
		in := kmsg.OffsetCommitValue{Version: v, Offset: 42, LeaderEpoch: 6, Metadata: "md", CommitTimestamp: 100, ExpireTimestamp: 200}
		got, err := decodeOffsetValue(in.AppendTo(nil))
		if err != nil {
			t.Fatalf("offset value v%d: %v", v, err)
		}
		want := offsetValue{offset: 42, leaderEpoch: -1, metadata: "md", commitTimestamp: 100, expireTimestamp: -1}
		if v == 1 {
			want.expireTimestamp = 200
		}
		if v == 3 {
			want.leaderEpoch = 6
		}
		if got != want {
			t.Errorf("offset value v%d: %+v, want %+v", v, got, want)
		}
		if v == 1 || v == 3 {
			if again, _ := decodeOffsetValue(encodeOffsetValue(got)); again != got {
				t.Errorf("offset value v%d re-encoded: %+v", v, again)
			}
		}
	}
	if _, err := decodeOffsetValue([]byte{0, 4}); !errors.Is(err, errUnknownVersion) {
		t.Errorf("offset value v4: %v", err)
	}

	for v := int16(0); v <= 3; v++ {
		in := kmsg.GroupMetadataValue{Version: v, ProtocolType: "consumer", Generation: 4, Protocol: strp("range"), Leader: strp("m1"), CurrentStateTimestamp: 77,
			Members: []kmsg.GroupMetadataValueMember{{MemberID: "m1", InstanceID: strp("i1"), ClientID: "c", ClientHost: "/h", RebalanceTimeoutMillis: 9, SessionTimeoutMillis: 8, Subscription: []byte{1, 2}, Assignment: []byte{3}}}}
		got, err := decodeGroupValue(in.AppendTo(nil))
		if err != nil {
			t.Fatalf("group value v%d: %v", v, err)
		}
		want := in
		want.Members = []kmsg.GroupMetadataValueMember{in.Members[0]}
		if v < 3 {
			want.Members[0].InstanceID = nil
		}
		if v < 2 {
			want.CurrentStateTimestamp = -1
		}
		if v < 1 {
			want.Members[0].RebalanceTimeoutMillis = 8
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("group value v%d:\n got %+v\nwant %+v", v, *got, want)
		}
	}
	if _, err := decodeGroupValue([]byte{0, 9}); !errors.Is(err, errUnknownVersion) {
		t.Errorf("group value v9: %v", err)
	}
	if _, err := decodeGroupValue([]byte{0, 3, 0, 5, 'a'}); err == nil {
		t.Errorf("truncated group value decoded")
	}
}

// FuzzDecodeKey: never panics; an accepted key re-encodes (at the version
// Gregor writes) to bytes that decode to the same key.
func FuzzDecodeKey(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1})
	f.Add(encodeOffsetKey("g", "t", 1))
	f.Add(encodeGroupKey("g"))
	f.Add([]byte{0, 1, 0x7f, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKey(b)
		if err != nil {
			return
		}
		var enc []byte
		if k.isGroup {
			enc = encodeGroupKey(k.group)
		} else {
			enc = encodeOffsetKey(k.group, k.topic, k.partition)
		}
		if again, err := decodeKey(enc); err != nil || again != k {
			t.Fatalf("re-decode: %+v %v, want %+v", again, err, k)
		}
	})
}

// FuzzDecodeOffsetValue: never panics; an accepted value re-encodes to
// bytes that decode to the same value.
func FuzzDecodeOffsetValue(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeOffsetValue(offsetValue{offset: 1, leaderEpoch: 2, metadata: "x", commitTimestamp: 3, expireTimestamp: -1}))
	f.Add(encodeOffsetValue(offsetValue{offset: 1, leaderEpoch: -1, commitTimestamp: 3, expireTimestamp: 4}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := decodeOffsetValue(b)
		if err != nil {
			return
		}
		if again, err := decodeOffsetValue(encodeOffsetValue(o)); err != nil || again != o {
			t.Fatalf("re-decode: %+v %v, want %+v", again, err, o)
		}
	})
}

// FuzzDecodeGroupValue: never panics; an accepted value re-encodes (v3)
// to bytes that decode to the same value.
func FuzzDecodeGroupValue(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeGroupValue(&kmsg.GroupMetadataValue{ProtocolType: "consumer", Protocol: strp("range"),
		Members: []kmsg.GroupMetadataValueMember{{MemberID: "m", InstanceID: strp("i")}}}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeGroupValue(b)
		if err != nil {
			return
		}
		again, err := decodeGroupValue(encodeGroupValue(v))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		norm := func(v *kmsg.GroupMetadataValue) {
			v.Version = 0
			for i := range v.Members {
				if v.Members[i].Subscription == nil {
					v.Members[i].Subscription = []byte{}
				}
				if v.Members[i].Assignment == nil {
					v.Members[i].Assignment = []byte{}
				}
			}
			if len(v.Members) == 0 {
				v.Members = nil
			}
		}
		norm(v)
		norm(again)
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("re-decode: %+v, want %+v", again, v)
		}
	})
}
