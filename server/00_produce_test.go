package server

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceTestHandlers returns broker 1 leading orders-0 and orders-1
// (ISR {1}), following orders-2 (led by broker 2), and knowing orders-3
// from UpdateMetadata only (hosted elsewhere).
func produceTestHandlers(t *testing.T) *handlers {
	t.Helper()
	h, _ := newTestReplicaHandlers(t)
	codes := h.replicas.becomeLeaderOrFollower(0, []kmsg.LeaderAndISRRequestTopicPartition{
		leaderAndISRState("orders", 0, 1, 1, 1),
		leaderAndISRState("orders", 1, 1, 1, 1),
		leaderAndISRState("orders", 2, 2, 1, 2),
	}, nil)
	for tp, c := range codes {
		if c != 0 {
			t.Fatalf("LeaderAndIsr %s: code %d", tp, c)
		}
	}
	if _, err := call(t, h, updateMetadataRequest(7, 1, -1, updateMetadataPartition("orders", 3, 2, 1))); err != nil {
		t.Fatal(err)
	}
	return h
}

// testBatch builds one uncompressed batch of n records, with a producer
// id when pid >= 0.
func testBatch(t *testing.T, n int, pid int64, seq int32) []byte {
	t.Helper()
	opts := logstore.NewBuildOptions()
	if pid >= 0 {
		opts.ProducerID, opts.ProducerEpoch, opts.BaseSequence = pid, 0, seq
	}
	recs := make([]logstore.Record, n)
	for i := range recs {
		recs[i].Value = []byte(fmt.Sprintf("v%d", i))
	}
	b, err := logstore.BuildBatch(opts, recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type producePart struct {
	topic     string
	partition int32
	records   []byte
}

func produceRequest(v, acks int16, parts ...producePart) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = v, acks, 5000
	for _, p := range parts {
		i := -1
		for j := range req.Topics {
			if req.Topics[j].Topic == p.topic {
				i = j
			}
		}
		if i < 0 {
			t := kmsg.NewProduceRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p.partition, p.records
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

// produce runs req through handlers.Handle from clientID. It returns the
// response decoded again at the request's version, as a client sees it
// (nil when none was sent), and Handle's error.
func produce(t *testing.T, h *handlers, clientID string, req *kmsg.ProduceRequest) (*kmsg.ProduceResponse, error) {
	t.Helper()
	nr := &network.Request{
		Header: network.RequestHeader{APIKey: req.Key(), APIVersion: req.Version, CorrelationID: 7, ClientID: &clientID},
		Body:   req.AppendTo(nil),
	}
	var got kmsg.Response
	responded := 0
	err := h.Handle(context.Background(), nr, func(r kmsg.Response) { got = r; responded++ })
	if err != nil {
		if responded != 0 {
			t.Fatal("respond called and an error returned")
		}
		return nil, err
	}
	if responded != 1 {
		t.Fatalf("respond called %d times", responded)
	}
	if got == nil {
		return nil, nil
	}
	if got.GetVersion() != req.Version {
		t.Fatalf("response version %d, request %d", got.GetVersion(), req.Version)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = req.Version
	if err := resp.ReadFrom(got.AppendTo(nil)); err != nil {
		t.Fatalf("decode v%d: %v", req.Version, err)
	}
	return resp, nil
}

// partitionResult finds topic-partition in resp.
func partitionResult(t *testing.T, resp *kmsg.ProduceResponse, topic string, partition int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	var found []kmsg.ProduceResponseTopicPartition
	for _, rt := range resp.Topics {
		if rt.Topic != topic {
			continue
		}
		for _, p := range rt.Partitions {
			if p.Partition == partition {
				found = append(found, p)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s-%d answered %d times: %+v", topic, partition, len(found), resp.Topics)
	}
	return found[0]
}

func leo(t *testing.T, h *handlers, partition int32) int64 {
	t.Helper()
	p, err := h.replicas.getPartition(logstore.TopicPartition{Topic: "orders", Partition: partition})
	if err != nil {
		t.Fatal(err)
	}
	return p.Log().LogEndOffset()
}

func TestProduceEveryVersion(t *testing.T) {
	for v := int16(3); v <= 9; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			h := produceTestHandlers(t)
			for i, want := range []int64{0, 3} {
				resp, err := produce(t, h, "c", produceRequest(v, -1, producePart{"orders", 0, testBatch(t, 3, -1, 0)}))
				if err != nil {
					t.Fatal(err)
				}
				p := partitionResult(t, resp, "orders", 0)
				if p.ErrorCode != 0 || p.BaseOffset != want || p.LogAppendTime != -1 {
					t.Fatalf("produce %d: %+v", i, p)
				}
				wantLSO := int64(-1) // absent before v5
				if v >= 5 {
					wantLSO = 0
				}
				if p.LogStartOffset != wantLSO {
					t.Fatalf("log start offset %d, want %d", p.LogStartOffset, wantLSO)
				}
			}
			if got := leo(t, h, 0); got != 6 {
				t.Fatalf("log end offset %d", got)
			}
			hp, _ := h.replicas.leaderPartition(logstore.TopicPartition{Topic: "orders", Partition: 0})
			if hp.HighWatermark() != 6 {
				t.Fatalf("high watermark %d", hp.HighWatermark())
			}
		})
	}
}

func TestProducePartitionErrors(t *testing.T) {
	corrupt := testBatch(t, 2, -1, 0)
	corrupt[len(corrupt)-1] ^= 0xff // inside the CRC-covered records
	tooLarge, err := logstore.BuildBatch(logstore.NewBuildOptions(), []logstore.Record{{Value: bytes.Repeat([]byte("x"), logstore.DefaultLogConfig().MaxMessageBytes+1)}})
	if err != nil {
		t.Fatal(err)
	}
	oldMagic := testBatch(t, 1, -1, 0)
	oldMagic[16] = 1
	zstdOpts := logstore.NewBuildOptions()
	zstdOpts.Compression = logstore.CompressionZstd
	zstd, err := logstore.BuildBatch(zstdOpts, []logstore.Record{{Value: []byte("z")}})
	if err != nil {
		t.Fatal(err)
	}
	two := append(testBatch(t, 1, -1, 0), testBatch(t, 1, -1, 0)...)

	tests := []struct {
		name     string
		version  int16
		topic    string
		part     int32
		records  []byte
		clientID string
		want     *kerr.Error
		wantMsg  bool
	}{
		{"corrupt batch", 9, "orders", 1, corrupt, "c", kerr.CorruptMessage, true},
		{"too large", 9, "orders", 1, tooLarge, "c", kerr.MessageTooLarge, true},
		{"unknown topic", 9, "nope", 0, testBatch(t, 1, -1, 0), "c", kerr.UnknownTopicOrPartition, false},
		{"unknown partition", 9, "orders", 9, testBatch(t, 1, -1, 0), "c", kerr.UnknownTopicOrPartition, false},
		{"follower", 9, "orders", 2, testBatch(t, 1, -1, 0), "c", kerr.NotLeaderForPartition, false},
		{"known, hosted elsewhere", 9, "orders", 3, testBatch(t, 1, -1, 0), "c", kerr.NotLeaderForPartition, false},
		{"null records", 9, "orders", 1, nil, "c", kerr.InvalidRecord, true},
		{"null records v7", 7, "orders", 1, nil, "c", kerr.CorruptMessage, false},
		{"magic 1", 9, "orders", 1, oldMagic, "c", kerr.InvalidRecord, true},
		{"two batches", 9, "orders", 1, two, "c", kerr.InvalidRecord, true},
		{"two batches v5", 5, "orders", 1, two, "c", kerr.CorruptMessage, false},
		{"zstd before v7", 6, "orders", 1, zstd, "c", kerr.UnsupportedCompressionType, false},
		{"internal topic", 9, groupMetadataTopic, 0, testBatch(t, 1, -1, 0), "c", kerr.InvalidTopicException, true},
		{"internal topic, admin client, not hosted", 9, groupMetadataTopic, 0, testBatch(t, 1, -1, 0), adminClientID, kerr.UnknownTopicOrPartition, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := produceTestHandlers(t)
			before := leo(t, h, 1)
			// orders-0 rides along and must succeed whatever happens to
			// the other partition.
			req := produceRequest(tt.version, 1,
				producePart{"orders", 0, testBatch(t, 2, -1, 0)},
				producePart{tt.topic, tt.part, bytes.Clone(tt.records)})
			resp, err := produce(t, h, tt.clientID, req)
			if err != nil {
				t.Fatal(err)
			}
			if ok := partitionResult(t, resp, "orders", 0); ok.ErrorCode != 0 || ok.BaseOffset != 0 {
				t.Fatalf("the other partition: %+v", ok)
			}
			p := partitionResult(t, resp, tt.topic, tt.part)
			if p.ErrorCode != tt.want.Code || p.BaseOffset != -1 || p.LogAppendTime != -1 || p.LogStartOffset != -1 {
				t.Fatalf("got %+v, want %s", p, tt.want.Message)
			}
			if hasMsg := p.ErrorMessage != nil && *p.ErrorMessage != ""; hasMsg != tt.wantMsg {
				t.Fatalf("error message %v, want one: %v", p.ErrorMessage, tt.wantMsg)
			}
			if after := leo(t, h, 1); after != before {
				t.Fatalf("orders-1 log end offset moved from %d to %d", before, after)
			}
		})
	}
}

func TestProduceAcksZero(t *testing.T) {
	h := produceTestHandlers(t)
	resp, err := produce(t, h, "c", produceRequest(9, 0, producePart{"orders", 0, testBatch(t, 2, -1, 0)}))
	if err != nil || resp != nil {
		t.Fatalf("acks=0: response %+v, error %v", resp, err)
	}
	if got := leo(t, h, 0); got != 2 {
		t.Fatalf("log end offset %d", got)
	}
	// A failure closes the connection: the producer would never hear of it
	// otherwise.
	_, err = produce(t, h, "c", produceRequest(9, 0,
		producePart{"orders", 0, testBatch(t, 2, -1, 0)},
		producePart{"orders", 2, testBatch(t, 2, -1, 0)}))
	if err == nil {
		t.Fatal("acks=0 with a failed partition kept the connection")
	}
	if got := leo(t, h, 0); got != 4 {
		t.Fatalf("log end offset %d after the second request", got)
	}
}

func TestProduceRequestWideErrors(t *testing.T) {
	txnOpts := logstore.NewBuildOptions()
	txnOpts.ProducerID, txnOpts.ProducerEpoch, txnOpts.BaseSequence, txnOpts.Transactional = 5, 0, 0, true
	txn, err := logstore.BuildBatch(txnOpts, []logstore.Record{{Value: []byte("t")}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		acks    int16
		txnID   *string
		records []byte
		want    *kerr.Error
	}{
		{"acks 2", 2, nil, testBatch(t, 1, -1, 0), kerr.InvalidRequiredAcks},
		{"acks -2", -2, nil, testBatch(t, 1, -1, 0), kerr.InvalidRequiredAcks},
		{"transactional id", -1, kmsg.StringPtr("tx"), testBatch(t, 1, -1, 0), kerr.UnsupportedForMessageFormat},
		{"transactional batch without an id", -1, nil, txn, kerr.TransactionalIDAuthorizationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := produceTestHandlers(t)
			req := produceRequest(9, tt.acks,
				producePart{"orders", 0, testBatch(t, 1, -1, 0)},
				producePart{"orders", 1, tt.records})
			req.TransactionID = tt.txnID
			resp, err := produce(t, h, "c", req)
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range []int32{0, 1} {
				if p := partitionResult(t, resp, "orders", part); p.ErrorCode != tt.want.Code {
					t.Fatalf("orders-%d: %+v", part, p)
				}
				if got := leo(t, h, part); got != 0 {
					t.Fatalf("orders-%d written: log end offset %d", part, got)
				}
			}
		})
	}
}

func TestProduceIdempotentDuplicate(t *testing.T) {
	h := produceTestHandlers(t)
	send := func(batch []byte) kmsg.ProduceResponseTopicPartition {
		t.Helper()
		resp, err := produce(t, h, "c", produceRequest(9, -1, producePart{"orders", 0, batch}))
		if err != nil {
			t.Fatal(err)
		}
		return partitionResult(t, resp, "orders", 0)
	}
	if p := send(testBatch(t, 1, -1, 0)); p.BaseOffset != 0 {
		t.Fatalf("first: %+v", p)
	}
	first := testBatch(t, 3, 7, 0)
	if p := send(bytes.Clone(first)); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("idempotent batch: %+v", p)
	}
	if p := send(bytes.Clone(first)); p.ErrorCode != 0 || p.BaseOffset != 1 {
		t.Fatalf("duplicate: %+v", p)
	}
	if got := leo(t, h, 0); got != 4 {
		t.Fatalf("log end offset %d: the duplicate was written", got)
	}
	if p := send(testBatch(t, 1, 7, 5)); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: %+v", p)
	}
}

func TestProduceDuplicatePartitionInRequest(t *testing.T) {
	h := produceTestHandlers(t)
	resp, err := produce(t, h, "c", produceRequest(9, 1,
		producePart{"orders", 0, testBatch(t, 1, -1, 0)},
		producePart{"orders", 0, testBatch(t, 4, -1, 0)}))
	if err != nil {
		t.Fatal(err)
	}
	if p := partitionResult(t, resp, "orders", 0); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("%+v", p)
	}
	if got := leo(t, h, 0); got != 4 {
		t.Fatalf("log end offset %d: want only the last batch", got)
	}
}

func TestProduceErrorForVersion(t *testing.T) {
	tests := []struct {
		code    *kerr.Error
		version int16
		want    *kerr.Error
	}{
		{kerr.KafkaStorageError, 3, kerr.NotLeaderForPartition},
		{kerr.KafkaStorageError, 4, kerr.KafkaStorageError},
		{kerr.InvalidRecord, 7, kerr.CorruptMessage},
		{kerr.InvalidRecord, 8, kerr.InvalidRecord},
		{kerr.MessageTooLarge, 3, kerr.MessageTooLarge},
	}
	for _, tt := range tests {
		if got := produceErrorForVersion(tt.code.Code, tt.version); got != tt.want.Code {
			t.Errorf("%s at v%d: %d, want %s", tt.code.Message, tt.version, got, tt.want.Message)
		}
	}
}

// TestProducePartitionsAndResponseShape: the results list each partition
// once, in request order, with the last batch given for a repeat, and the
// response groups them by topic in order of first appearance, each topic
// once, whether the request is small enough to be scanned or large
// enough for maps (smallProduceRequest).
func TestProducePartitionsAndResponseShape(t *testing.T) {
	for _, n := range []int{3, smallProduceRequest + 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			req := kmsg.NewPtrProduceRequest()
			req.Version = 9
			// Topics a, b, a again (the wire allows a topic twice), with
			// n partitions in all and partition 0 of a named twice.
			var want []string // "topic-partition:last records byte"
			add := func(topic string, p int32, mark byte) {
				if len(req.Topics) == 0 || req.Topics[len(req.Topics)-1].Topic != topic {
					rt := kmsg.NewProduceRequestTopic()
					rt.Topic = topic
					req.Topics = append(req.Topics, rt)
				}
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition, rp.Records = p, []byte{mark}
				rt := &req.Topics[len(req.Topics)-1]
				rt.Partitions = append(rt.Partitions, rp)
			}
			add("a", 0, 1)
			add("b", 0, 2)
			for i := 3; i < n; i++ {
				add("b", int32(i), byte(i))
			}
			add("a", 1, 3)
			add("a", 0, 9) // repeats a-0: replaces its batch, keeps its place
			want = append(want, "a-0:9", "b-0:2")
			for i := 3; i < n; i++ {
				want = append(want, fmt.Sprintf("b-%d:%d", i, i))
			}
			want = append(want, "a-1:3")

			results := producePartitions(req)
			var got []string
			for _, r := range results {
				got = append(got, fmt.Sprintf("%s-%d:%d", r.topic, r.partition, r.records[0]))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("results %v, want %v", got, want)
			}
			for i, r := range results {
				r.info.FirstOffset = int64(i)
			}
			resp := produceResponse(req, results)
			got = got[:0]
			for _, rt := range resp.Topics {
				for _, p := range rt.Partitions {
					got = append(got, fmt.Sprintf("%s-%d@%d", rt.Topic, p.Partition, p.BaseOffset))
				}
			}
			wantResp := []string{"a-0@0", "a-1@" + fmt.Sprint(len(results)-1), "b-0@1"}
			for i := 3; i < n; i++ {
				wantResp = append(wantResp, fmt.Sprintf("b-%d@%d", i, i-1))
			}
			if len(resp.Topics) != 2 || fmt.Sprint(got) != fmt.Sprint(wantResp) {
				t.Fatalf("response %v (%d topics), want %v", got, len(resp.Topics), wantResp)
			}
		})
	}
}
