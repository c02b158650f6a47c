package server

// Produce (key 0): versions 3-9.
//
// Only record batches (magic 2, v3+) are accepted; v0-v2 carry the old
// message sets, which logstore does not store. Each partition is answered
// on its own, and a failure of one never fails the others (Kafka's
// ReplicaManager.appendRecords):
//
//   - an internal topic (__consumer_offsets, __transaction_state) is
//     INVALID_TOPIC_EXCEPTION unless the client id is "__admin_client", as
//     in Kafka;
//   - the broker must lead the partition: a partition hosted here as
//     follower, or not hosted but known to the metadata cache, is
//     NOT_LEADER_OR_FOLLOWER (the client refreshes its metadata and
//     retries); one the cache does not know is UNKNOWN_TOPIC_OR_PARTITION.
//     Kafka checks the cache first; Gregor asks the replica manager first,
//     so that a partition it leads is served even in the moment between
//     LeaderAndIsr and UpdateMetadata;
//   - the records must be exactly one magic-2 batch (Kafka's
//     ProduceRequest.validateRecords): null or empty records, or another
//     magic, are INVALID_RECORD; zstd before v7 is
//     UNSUPPORTED_COMPRESSION_TYPE (KIP-110). logstore validates the rest,
//     and errorCode turns its errors into CORRUPT_MESSAGE, MESSAGE_TOO_LARGE,
//     INVALID_RECORD, INVALID_TIMESTAMP, OUT_OF_ORDER_SEQUENCE_NUMBER,
//     INVALID_PRODUCER_EPOCH or KAFKA_STORAGE_ERROR;
//   - a batch an idempotent producer already wrote is not written again: it
//     is answered with its original base offset (logstore's Duplicate);
//   - a topic partition named twice in one request is appended and answered
//     once, with the last batch given, as Kafka's map of partitions does.
//
// acks: 0 sends no response, unless a partition failed: then the
// connection is closed, as Kafka does, so that the producer notices and
// refreshes its metadata. 1 answers after the leader's append. -1 (all)
// is refused with NOT_ENOUGH_REPLICAS, before anything is appended, on a
// partition whose ISR is smaller than min.insync.replicas; otherwise the
// request waits in the produce purgatory (delayed_produce.go) until the high
// watermark passes every appended batch or timeout_ms passes. Any other
// acks is INVALID_REQUIRED_ACKS on every partition, and nothing is written.
//
// Transactions are not supported yet. A request with a transactional id is
// answered UNSUPPORTED_FOR_MESSAGE_FORMAT on every partition, and nothing is
// written: it is the code Kafka gave when the broker's log format could not
// hold transactional batches, which is this broker's situation; it is not
// retriable, so the producer stops instead of retrying forever, and it is
// honest, where TRANSACTIONAL_ID_AUTHORIZATION_FAILED would blame an
// authorizer that does not exist. Transactional batches without a
// transactional id are TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every
// partition, as in Kafka (KafkaApis.handleProduceRequest).
// TODO(issue 5): append transactional batches once the transaction
// coordinator exists.
//
// Per version: v3 adds the transactional id and record batches (KIP-98);
// v4 may answer KAFKA_STORAGE_ERROR (KIP-112), which a v3 request gets as
// NOT_LEADER_OR_FOLLOWER so that the producer refreshes and retries, as
// Kafka's ProduceResponse does; v5 adds the log start offset (KIP-107); v6
// means the client honours throttle time (KIP-219); v7 allows zstd
// (KIP-110); v8 adds record errors and an error message (KIP-467), and
// INVALID_RECORD, which older versions get as CORRUPT_MESSAGE (what brokers
// before KIP-467 answered for the same batches); v9 is flexible (KIP-482).
// The log append time is -1 unless the topic uses LogAppendTime. Record
// errors (v8) stay empty: logstore does not say which record of a batch
// broke a rule, so the error message carries it. Throttle time is always 0
// (no quotas yet).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.Produce, 3, 9, (*handlers).handleProduce) }

// adminClientID is the client id allowed to produce to internal topics
// (Kafka's AdminUtils.AdminClientId).
const adminClientID = "__admin_client"

// produceResult is the outcome of one partition of a Produce request.
type produceResult struct {
	topic     string
	partition int32
	records   []byte
	code      int16
	// message explains a rejected batch to a v8+ client; "" for none.
	message string
	info    logstore.AppendInfo
	done    bool // answered before the append (code set)
	// appended and hwMoved say what the append changed, for the wake-ups
	// made once every partition of the request is appended.
	appended, hwMoved bool
}

func (h *handlers) handleProduce(_ context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.ProduceRequest)
	results := producePartitions(req)

	switch {
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		failAll(results, kerr.InvalidRequiredAcks.Code, "")
	case req.TransactionID != nil:
		failAll(results, kerr.UnsupportedForMessageFormat.Code, "transactional produce is not supported")
	case hasTransactionalBatch(results):
		failAll(results, kerr.TransactionalIDAuthorizationFailed.Code, "")
	default:
		internalAllowed := r.clientID() == adminClientID
		for _, res := range results {
			h.appendPartition(res, req.Version, req.Acks, internalAllowed)
		}
		h.wakeAfterAppends(results)
	}

	failed := 0
	for _, res := range results {
		if res.code != 0 {
			failed++
		}
	}
	releaseProduceFrame(r, req, results)
	if h.log.Logger.IsLevelEnabled(debugLevel) {
		h.log.WithFields(requestFields(r)).WithFields(logrus.Fields{
			"acks":              req.Acks,
			"partitions":        len(results),
			"failed_partitions": failed,
		}).Debug("produced")
	}

	if req.Acks == 0 {
		if failed > 0 {
			// No response will tell the producer; a closed connection
			// makes it refresh its metadata (Kafka's closeConnection).
			return fmt.Errorf("server: acks=0 produce failed on %d of %d partitions", failed, len(results))
		}
		respond(nil)
		return nil
	}
	answer := func() { respond(produceResponse(req, results)) }
	if req.Acks == -1 && failed < len(results) && h.produces != nil {
		op := newDelayedProduce(h, results, answer)
		op.timeout = time.Duration(max(req.TimeoutMillis, 0)) * time.Millisecond
		h.produces.tryCompleteElseWatch(op, op.keys())
		return nil
	}
	answer()
	return nil
}

// releaseProduceFrame hands the request's frame back to network once every
// append is done (network.Request.Release). The record batches are slices
// of the frame, and so are kmsg's unknown tagged fields; Log.Append reads
// and patches a batch only until it returns (its overlapped validation is
// waited for), and nothing else keeps one: the response, a delayed produce
// and the debug line use only the results' topics, partitions, codes and
// append infos. The references are cleared first, so that a later read by
// mistake finds nil instead of another request's bytes.
func releaseProduceFrame(r *request, req *kmsg.ProduceRequest, results []*produceResult) {
	for _, res := range results {
		res.records = nil
	}
	req.UnknownTags = kmsg.Tags{}
	for i := range req.Topics {
		t := &req.Topics[i]
		t.UnknownTags = kmsg.Tags{}
		for j := range t.Partitions {
			t.Partitions[j].Records = nil
			t.Partitions[j].UnknownTags = kmsg.Tags{}
		}
	}
	r.header.TaggedFields = nil
	if r.raw != nil {
		r.raw.Release()
	}
}

// producePartitions lists the partitions of the request in the order given,
// each once: the last batch given for a partition named twice wins. The
// results share one allocation; a request of up to smallProduceRequest
// partitions (a producer's usual one) finds repeats by a scan instead of
// a map.
func producePartitions(req *kmsg.ProduceRequest) []*produceResult {
	total := 0
	for _, t := range req.Topics {
		total += len(t.Partitions)
	}
	store := make([]produceResult, 0, total)
	results := make([]*produceResult, 0, total)
	var seen map[logstore.TopicPartition]*produceResult
	if total > smallProduceRequest {
		seen = make(map[logstore.TopicPartition]*produceResult, total)
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := logstore.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if res := findResult(results, seen, tp); res != nil {
				res.records = p.Records
				continue
			}
			store = append(store, produceResult{topic: t.Topic, partition: p.Partition, records: p.Records})
			res := &store[len(store)-1] // store never grows past its capacity: the pointer stays valid
			if seen != nil {
				seen[tp] = res
			}
			results = append(results, res)
		}
	}
	return results
}

// smallProduceRequest is the largest number of partitions of a produce
// request for which producePartitions and produceResponse scan instead of
// building a map.
const smallProduceRequest = 16

// findResult returns the result already listed for tp, or nil: from seen
// when there is one, else by a scan of results.
func findResult(results []*produceResult, seen map[logstore.TopicPartition]*produceResult, tp logstore.TopicPartition) *produceResult {
	if seen != nil {
		return seen[tp]
	}
	for _, res := range results {
		if res.partition == tp.Partition && res.topic == tp.Topic {
			return res
		}
	}
	return nil
}

func failAll(results []*produceResult, code int16, message string) {
	for _, res := range results {
		res.code, res.message, res.done = code, message, true
	}
}

// hasTransactionalBatch reports whether any partition carries a
// transactional batch (Kafka's ProduceRequest.hasTransactionalRecords). A
// batch too short to tell is left to validation.
func hasTransactionalBatch(results []*produceResult) bool {
	for _, res := range results {
		if h, err := logstore.ParseBatchHeader(res.records); err == nil && h.IsTransactional() {
			return true
		}
	}
	return false
}

// appendPartition appends one partition's batch as leader, or records why
// not.
func (h *handlers) appendPartition(res *produceResult, version, acks int16, internalAllowed bool) {
	tp := logstore.TopicPartition{Topic: res.topic, Partition: res.partition}
	if isInternalTopic(tp.Topic) && !internalAllowed {
		res.code = kerr.InvalidTopicException.Code
		res.message = "cannot append to internal topic " + tp.Topic
		return
	}
	p, err := h.replicas.leaderPartition(tp)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		if _, known := h.metadata.PartitionInfo(tp.Topic, tp.Partition); known {
			err = kerr.NotLeaderForPartition
		}
	}
	if err != nil {
		res.code = errorCode(h.log, err)
		return
	}
	if code, msg := validateProduceRecords(res.records, version); code != 0 {
		res.code, res.message = code, msg
		return
	}
	info, hwMoved, err := p.AppendRecordsToLeader(res.records, logstore.AppendOriginClient, acks)
	if err != nil {
		res.code = errorCode(h.log, fmt.Errorf("server: produce to %s: %w", tp, err))
		if isRecordValidationCode(res.code) {
			res.message = err.Error()
		}
		return
	}
	res.info = info
	res.appended, res.hwMoved = !info.Duplicate, hwMoved
}

// wakeAfterAppends wakes what waits on the partitions a request appended
// to, once all of them are appended, as Kafka 2.8's ReplicaManager does
// through its action queue: a follower's fetch parked on several of them
// then answers with every partition's new records in one response, instead
// of completing on the first append with that partition alone and needing
// another round trip (and the acks=all produce with it) for the rest.
func (h *handlers) wakeAfterAppends(results []*produceResult) {
	for _, res := range results {
		tp := logstore.TopicPartition{Topic: res.topic, Partition: res.partition}
		if res.appended {
			h.onAppend(tp) // follower fetches waiting for this partition
		}
		if res.hwMoved {
			h.onHighWatermark(tp)
		}
	}
}

// validateProduceRecords applies Kafka's ProduceRequest.validateRecords:
// one magic-2 batch, zstd only from v7. logstore checks the rest.
func validateProduceRecords(records []byte, version int16) (code int16, message string) {
	if len(records) == 0 {
		return kerr.InvalidRecord.Code, fmt.Sprintf("produce requests with version %d must have at least one record batch", version)
	}
	h, err := logstore.ParseBatchHeader(records)
	if errors.Is(err, logstore.ErrUnsupportedMagic) {
		return kerr.InvalidRecord.Code, fmt.Sprintf("produce requests with version %d may only contain record batches with magic 2", version)
	}
	if err == nil && version < 7 && h.Compression() == logstore.CompressionZstd {
		return kerr.UnsupportedCompressionType.Code, fmt.Sprintf("produce requests with version %d may not use zstd compression", version)
	}
	return 0, ""
}

// isRecordValidationCode reports whether code rejects the batch itself, so
// that the error text helps the client and reveals nothing of the broker.
func isRecordValidationCode(code int16) bool {
	switch code {
	case kerr.CorruptMessage.Code, kerr.InvalidRecord.Code, kerr.MessageTooLarge.Code,
		kerr.InvalidTimestamp.Code, kerr.UnsupportedCompressionType.Code,
		kerr.OutOfOrderSequenceNumber.Code, kerr.InvalidProducerEpoch.Code:
		return true
	}
	return false
}

// produceResponse answers the partitions in the order of the request,
// grouping them by topic. Each topic's partitions are counted first, so
// that every slice is allocated once at its size.
func produceResponse(req *kmsg.ProduceRequest, results []*produceResult) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	// topicOf[i] is the index in resp.Topics of results[i]'s topic.
	topicOf := make([]int, len(results))
	var topicIndex map[string]int
	if len(results) > smallProduceRequest {
		topicIndex = make(map[string]int)
	}
	var counts []int
	for i, res := range results {
		ti := -1
		switch {
		case topicIndex != nil:
			if j, ok := topicIndex[res.topic]; ok {
				ti = j
			}
		default:
			for j := range resp.Topics {
				if resp.Topics[j].Topic == res.topic {
					ti = j
					break
				}
			}
		}
		if ti < 0 {
			ti = len(resp.Topics)
			if topicIndex != nil {
				topicIndex[res.topic] = ti
			}
			t := kmsg.NewProduceResponseTopic()
			t.Topic = res.topic
			resp.Topics = append(resp.Topics, t)
			counts = append(counts, 0)
		}
		topicOf[i] = ti
		counts[ti]++
	}
	parts := make([]kmsg.ProduceResponseTopicPartition, len(results))
	at := 0
	for i := range resp.Topics {
		resp.Topics[i].Partitions = parts[at : at : at+counts[i]]
		at += counts[i]
	}
	for i, res := range results {
		p := kmsg.NewProduceResponseTopicPartition()
		p.Partition = res.partition
		p.ErrorCode = produceErrorForVersion(res.code, req.Version)
		if res.code == 0 {
			p.BaseOffset = res.info.FirstOffset
			p.LogAppendTime = res.info.LogAppendTime
			p.LogStartOffset = res.info.LogStartOffset
		} else {
			p.BaseOffset = -1
			if req.Version >= 8 && res.message != "" {
				p.ErrorMessage = kmsg.StringPtr(res.message)
			}
		}
		t := &resp.Topics[topicOf[i]]
		t.Partitions = append(t.Partitions, p)
	}
	return resp
}

// produceErrorForVersion maps a code newer than the request version to one
// that version's clients understand (see the file header).
func produceErrorForVersion(code, version int16) int16 {
	switch {
	case code == kerr.KafkaStorageError.Code && version < 4:
		return kerr.NotLeaderForPartition.Code
	case code == kerr.InvalidRecord.Code && version < 8:
		return kerr.CorruptMessage.Code
	}
	return code
}
