package server

import (
	"slices"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// listOffsetsTestHandlers leads orders-0 at epoch 5 with three batches of
// two records (offsets 0-5) with timestamps 1000, 2000 and 3000, and a
// record past the high watermark (offset 6, timestamp 4000).
func listOffsetsTestHandlers(t *testing.T) *handlers {
	t.Helper()
	h := fetchTestHandlers(t)
	p, err := h.replicas.leaderPartition(orders0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []int64{1000, 2000, 3000} {
		opts := logstore.NewBuildOptions()
		opts.BaseTimestamp = ts
		batch, err := logstore.BuildBatch(opts, []logstore.Record{{Value: []byte("a")}, {Value: []byte("b")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.AppendRecordsToLeader(batch, logstore.AppendOriginClient, 1); err != nil {
			t.Fatal(err)
		}
	}
	opts := logstore.NewBuildOptions()
	opts.BaseTimestamp = 4000
	batch, _ := logstore.BuildBatch(opts, []logstore.Record{{Value: []byte("c")}})
	if _, err := p.Log().Append(batch, logstore.AppendOptions{Origin: logstore.AppendOriginClient, LeaderEpoch: 5}); err != nil {
		t.Fatal(err)
	}
	if p.HighWatermark() != 6 || p.Log().LogEndOffset() != 7 {
		t.Fatalf("hw %d leo %d", p.HighWatermark(), p.Log().LogEndOffset())
	}
	return h
}

func listOffsetsReq(v int16, replicaID int32, tp logstore.TopicPartition, timestamp int64, epoch int32) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = v
	req.ReplicaID = replicaID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch, rp.MaxNumOffsets = tp.Partition, timestamp, epoch, 1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func onlyListOffsetsPartition(t *testing.T, resp kmsg.Response) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	lr := resp.(*kmsg.ListOffsetsResponse)
	if len(lr.Topics) != 1 || len(lr.Topics[0].Partitions) != 1 {
		t.Fatalf("%+v", lr.Topics)
	}
	return lr.Topics[0].Partitions[0]
}

func TestListOffsets(t *testing.T) {
	type want struct {
		code       int16
		offset, ts int64
		epoch      int32 // checked from v4
	}
	tests := []struct {
		name      string
		replicaID int32
		tp        logstore.TopicPartition
		timestamp int64
		epoch     int32
		want      want
	}{
		{"earliest", -1, orders0, -2, -1, want{0, 0, -1, 5}},
		{"latest is the high watermark", -1, orders0, -1, -1, want{0, 6, -1, 5}},
		{"latest for a replica is the log end", 2, orders0, -1, -1, want{0, 7, -1, 5}},
		{"by time, before everything", -1, orders0, 0, -1, want{0, 0, 1000, 5}},
		{"by time, exact", -1, orders0, 2000, -1, want{0, 2, 2000, 5}},
		{"by time, between", -1, orders0, 2500, -1, want{0, 4, 3000, 5}},
		{"by time, past the high watermark", -1, orders0, 3500, -1, want{0, -1, -1, -1}},
		{"by time, past the high watermark, replica", 2, orders0, 3500, -1, want{0, 6, 4000, 5}},
		{"by time, after everything", -1, orders0, 9000, -1, want{0, -1, -1, -1}},
		{"current epoch", -1, orders0, -1, 5, want{0, 6, -1, 5}},
		{"older epoch fenced", -1, orders0, -1, 4, want{kerr.FencedLeaderEpoch.Code, -1, -1, -1}},
		{"newer epoch unknown", -1, orders0, -1, 6, want{kerr.UnknownLeaderEpoch.Code, -1, -1, -1}},
		{"unknown partition", -1, logstore.TopicPartition{Topic: "nope"}, -1, -1, want{kerr.UnknownTopicOrPartition.Code, -1, -1, -1}},
		{"led elsewhere", -1, logstore.TopicPartition{Topic: "orders", Partition: 2}, -1, -1, want{kerr.NotLeaderForPartition.Code, -1, -1, -1}},
		{"led elsewhere, debugging consumer", -2, logstore.TopicPartition{Topic: "orders", Partition: 2}, -2, -1, want{0, 0, -1, 5}},
	}
	h := listOffsetsTestHandlers(t)
	for _, tt := range tests {
		for v := int16(1); v <= 6; v++ {
			epoch := tt.epoch
			if v < 4 && epoch != -1 {
				continue // no current leader epoch before v4
			}
			sp := onlyListOffsetsPartition(t, callOnListener(t, h, "PLAINTEXT", listOffsetsReq(v, tt.replicaID, tt.tp, tt.timestamp, epoch)))
			wantEpoch := tt.want.epoch
			if v < 4 {
				wantEpoch = -1 // not on the wire: the decoded default
			}
			if sp.ErrorCode != tt.want.code || sp.Offset != tt.want.offset || sp.Timestamp != tt.want.ts || sp.LeaderEpoch != wantEpoch {
				t.Errorf("%s v%d: code %d offset %d timestamp %d epoch %d, want %+v",
					tt.name, v, sp.ErrorCode, sp.Offset, sp.Timestamp, sp.LeaderEpoch, tt.want)
			}
		}
	}
}

func TestListOffsetsEmptyLogEarliestEpoch(t *testing.T) {
	h := fetchTestHandlers(t)
	sp := onlyListOffsetsPartition(t, callOnListener(t, h, "PLAINTEXT", listOffsetsReq(6, -1, orders1, -2, -1)))
	if sp.ErrorCode != 0 || sp.Offset != 0 || sp.LeaderEpoch != 5 {
		t.Fatalf("%+v", sp)
	}
}

func TestListOffsetsDuplicatePartitions(t *testing.T) {
	h := listOffsetsTestHandlers(t)
	for v := int16(0); v <= 6; v++ {
		req := listOffsetsReq(v, -1, orders0, -1, -1)
		req.Topics = append(req.Topics, req.Topics[0])
		lr := callOnListener(t, h, "PLAINTEXT", req).(*kmsg.ListOffsetsResponse)
		if len(lr.Topics) != 2 {
			t.Fatalf("v%d: %+v", v, lr.Topics)
		}
		for _, rt := range lr.Topics {
			code := rt.Partitions[0].ErrorCode
			if v == 0 && code != 0 || v > 0 && code != kerr.InvalidRequest.Code {
				t.Fatalf("v%d: code %d", v, code)
			}
		}
	}
}

func TestListOffsetsV0(t *testing.T) {
	h := listOffsetsTestHandlers(t)
	p, _ := h.replicas.leaderPartition(orders0)
	if err := p.Log().Roll(); err != nil { // segments at 0 and 7
		t.Fatal(err)
	}
	appendBatchTo(t, h, orders0, 2) // offsets 7-8; hw 9 = leo
	if p.HighWatermark() != 9 || !slices.Equal(p.Log().SegmentBaseOffsets(), []int64{0, 7}) {
		t.Fatalf("hw %d segments %v", p.HighWatermark(), p.Log().SegmentBaseOffsets())
	}
	tests := []struct {
		name      string
		replicaID int32
		timestamp int64
		max       int32
		want      []int64
	}{
		{"latest", -1, -1, 1, []int64{9}},
		{"latest, all", -1, -1, 10, []int64{9, 7, 0}},
		{"earliest", -1, -2, 10, []int64{0}},
		{"future timestamp", -1, time.Now().Add(time.Hour).UnixMilli(), 2, []int64{9, 7}},
		{"past timestamp", -1, 1, 10, []int64{}},
		{"no offsets asked", -1, -1, 0, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := listOffsetsReq(0, tt.replicaID, orders0, tt.timestamp, -1)
			req.Topics[0].Partitions[0].MaxNumOffsets = tt.max
			sp := onlyListOffsetsPartition(t, callOnListener(t, h, "PLAINTEXT", req))
			if sp.ErrorCode != 0 || !slices.Equal(sp.OldStyleOffsets, tt.want) {
				t.Fatalf("code %d offsets %v, want %v", sp.ErrorCode, sp.OldStyleOffsets, tt.want)
			}
		})
	}

	// A consumer never sees past the high watermark; a replica does.
	batch, _ := logstore.BuildBatch(logstore.NewBuildOptions(), []logstore.Record{{Value: []byte("x")}})
	if _, err := p.Log().Append(batch, logstore.AppendOptions{Origin: logstore.AppendOriginClient, LeaderEpoch: 5}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		replicaID int32
		want      []int64
	}{{-1, []int64{9, 7}}, {2, []int64{10, 7}}} {
		req := listOffsetsReq(0, c.replicaID, orders0, -1, -1)
		req.Topics[0].Partitions[0].MaxNumOffsets = 2
		sp := onlyListOffsetsPartition(t, callOnListener(t, h, "PLAINTEXT", req))
		if !slices.Equal(sp.OldStyleOffsets, c.want) {
			t.Fatalf("replica %d: offsets %v, want %v", c.replicaID, sp.OldStyleOffsets, c.want)
		}
	}

	sp := onlyListOffsetsPartition(t, callOnListener(t, h, "PLAINTEXT", listOffsetsReq(0, -1, logstore.TopicPartition{Topic: "orders", Partition: 2}, -1, -1)))
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || len(sp.OldStyleOffsets) != 0 {
		t.Fatalf("%+v", sp)
	}
}
