package main

// gregor verifiable-producer is Kafka 2.8's kafka-verifiable-producer.sh
// (org.apache.kafka.tools.VerifiableProducer) on sarama's AsyncProducer.
// It sends the values 0, 1, 2, ... (or "<prefix>.0", "<prefix>.1", ... with
// --value-prefix) to --topic, at most --max-messages of them (-1: until
// stopped) at --throughput records a second (-1: as fast as it can), and
// prints one JSON object a line for each event, as Kafka's tool does, so
// that a test can check which values the cluster acknowledged:
//
//	{"timestamp":1,"name":"startup_complete"}
//	{"timestamp":2,"name":"producer_send_success","key":null,"value":"0","topic":"t","partition":0,"offset":5}
//	{"timestamp":3,"name":"producer_send_error","key":null,"value":"1","topic":"t","exception":"class org.apache.kafka.common.errors.NotEnoughReplicasException","message":"..."}
//	{"timestamp":4,"name":"shutdown_complete"}
//	{"timestamp":5,"name":"tool_data","sent":2,"acked":1,"target_throughput":-1,"avg_throughput":12.5}
//
// Timestamps are milliseconds since the epoch. On SIGINT or SIGTERM it
// stops sending, waits for the answers of the records in flight, prints
// shutdown_complete and tool_data, and exits 0, as Kafka's shutdown hook
// does. It exits 0 after --max-messages too, whatever the errors.
//
// Flags, as Kafka 2.8's: --bootstrap-server (or --broker-list), --topic,
// --max-messages, --throughput, --acks (default -1), --value-prefix,
// --repeating-keys (keys "0".."n-1" in turn; none by default: null),
// --message-create-time (the first record's timestamp in ms; later ones
// add the time elapsed since the start), --producer.config (a properties
// file). Of the producer configs, these are honoured: acks,
// enable.idempotence, retries, retry.backoff.ms, request.timeout.ms,
// max.in.flight.requests.per.connection, linger.ms, batch.size,
// compression.type, client.id; others are reported on stderr and ignored.
// enable.idempotence=true needs acks=-1 and, on sarama, one request in
// flight, which the tool sets.
//
// Departures: "exception" is the Java class Kafka's client would throw for
// the broker's error code (its name turned into CamelCase, e.g.
// NOT_ENOUGH_REPLICAS -> NotEnoughReplicasException), and
// org.apache.kafka.common.KafkaException for errors that are not a code
// (a broken connection); "message" is the code's description. sarama's
// defaults differ from the Java producer's: 3 retries 100 ms apart (Java:
// until delivery.timeout.ms, 2 minutes), so a record fails sooner.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/gregor-broker/gregor/conf"
	"github.com/twmb/franz-go/pkg/kerr"
)

// verifiableProducerOptions are the flags of gregor verifiable-producer.
type verifiableProducerOptions struct {
	bootstrap, brokerList string
	topic                 string
	maxMessages           int64
	throughput            int64
	acks                  int
	valuePrefix           int64
	repeatingKeys         int64
	createTime            int64
	producerConfig        string
	given                 map[string]bool
}

// runVerifiableProducer is `gregor verifiable-producer`. It returns the
// process exit status.
func runVerifiableProducer(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return verifiableProducer(ctx, args, stdout, stderr)
}

// verifiableProducer runs the tool until ctx is done or --max-messages
// records are answered.
func verifiableProducer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newToolFlags("verifiable-producer", "--bootstrap-server <host:port> --topic <topic> [flags]", stderr)
	var o verifiableProducerOptions
	fs.StringVar(&o.bootstrap, "bootstrap-server", "", "REQUIRED unless --broker-list: the Kafka server(s) to connect to, host:port[,host:port]")
	fs.StringVar(&o.brokerList, "broker-list", "", "DEPRECATED, use --bootstrap-server instead")
	fs.StringVar(&o.topic, "topic", "", "REQUIRED: produce messages to this topic")
	fs.Int64Var(&o.maxMessages, "max-messages", -1, "produce this many messages; -1: until stopped")
	fs.Int64Var(&o.throughput, "throughput", -1, "throttle to about this many messages a second; -1: no throttle")
	fs.IntVar(&o.acks, "acks", -1, "acks required of the broker: 0, 1 or -1 (all)")
	fs.Int64Var(&o.valuePrefix, "value-prefix", 0, "if set, values are <prefix>.<counter> instead of <counter>")
	fs.Int64Var(&o.repeatingKeys, "repeating-keys", 0, "if set, keys cycle through 0..n-1; otherwise keys are null")
	fs.Int64Var(&o.createTime, "message-create-time", -1, "the first record's timestamp, ms since the epoch; -1: the producer's clock")
	fs.StringVar(&o.producerConfig, "producer.config", "", "a producer configs properties file")
	if status, ok := fs.parse(args); !ok {
		return status
	}
	o.given = fs.set()
	if o.topic == "" {
		return fs.usageError(`Missing required argument "[topic]"`)
	}
	if o.bootstrap == "" {
		o.bootstrap = o.brokerList
	}
	if o.bootstrap == "" {
		return fs.usageError(`Missing required argument "[bootstrap-server]"`)
	}
	if o.acks != 0 && o.acks != 1 && o.acks != -1 {
		return fs.usageError("--acks must be 0, 1 or -1, not %d", o.acks)
	}
	if o.given["repeating-keys"] && o.repeatingKeys <= 0 {
		return fs.usageError("--repeating-keys must be positive, not %d", o.repeatingKeys)
	}
	cfg, err := verifiableProducerConfig(&o, stderr)
	if err != nil {
		return fs.usageError("%v", err)
	}
	addrs := bootstrapServers(o.bootstrap)
	producer, err := sarama.NewAsyncProducer(addrs, cfg)
	if err != nil {
		return fs.failure("%s", connectError(addrs, err))
	}
	p := &verifiableProducerRun{opts: &o, out: &jsonLines{w: stdout}, producer: producer}
	p.run(ctx)
	return 0
}

// verifiableProducerConfig builds the sarama config from the flags and
// --producer.config.
func verifiableProducerConfig(o *verifiableProducerOptions, stderr io.Writer) (*sarama.Config, error) {
	cfg := newSaramaConfig("producer-verifiable")
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	props := map[string]string{}
	if o.producerConfig != "" {
		data, err := os.ReadFile(o.producerConfig)
		if err != nil {
			return nil, fmt.Errorf("--producer.config: %w", err)
		}
		if props, err = conf.ParseProperties(data); err != nil {
			return nil, fmt.Errorf("--producer.config %s: %w", o.producerConfig, err)
		}
	}
	acks := strconv.Itoa(o.acks)
	if v, ok := props["acks"]; ok && !o.given["acks"] {
		acks = v // the flag wins when given, as Kafka applies it last
	}
	switch strings.TrimSpace(acks) {
	case "0":
		cfg.Producer.RequiredAcks = sarama.NoResponse
	case "1":
		cfg.Producer.RequiredAcks = sarama.WaitForLocal
	case "-1", "all":
		cfg.Producer.RequiredAcks = sarama.WaitForAll
	default:
		return nil, fmt.Errorf("acks: %q is not 0, 1, -1 or all", acks)
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := strings.TrimSpace(props[k])
		num := func() (int, error) {
			n, err := strconv.Atoi(v)
			if err != nil {
				return 0, fmt.Errorf("%s: %q is not a number", k, v)
			}
			return n, nil
		}
		var n int
		var err error
		switch k {
		case "acks":
		case "enable.idempotence":
			cfg.Producer.Idempotent = strings.EqualFold(v, "true")
		case "retries":
			n, err = num()
			cfg.Producer.Retry.Max = n
		case "retry.backoff.ms":
			n, err = num()
			cfg.Producer.Retry.Backoff = time.Duration(n) * time.Millisecond
		case "request.timeout.ms":
			n, err = num()
			cfg.Producer.Timeout = time.Duration(n) * time.Millisecond
			cfg.Net.ReadTimeout = time.Duration(n)*time.Millisecond + 5*time.Second
		case "max.in.flight.requests.per.connection":
			n, err = num()
			cfg.Net.MaxOpenRequests = n
		case "linger.ms":
			n, err = num()
			cfg.Producer.Flush.Frequency = time.Duration(n) * time.Millisecond
		case "batch.size":
			n, err = num()
			cfg.Producer.Flush.Bytes = n
		case "compression.type":
			if err = cfg.Producer.Compression.UnmarshalText([]byte(v)); err != nil {
				err = fmt.Errorf("compression.type: %w", err)
			}
		case "client.id":
			cfg.ClientID = v
		default:
			fmt.Fprintf(stderr, "gregor verifiable-producer: ignoring producer config %s\n", k)
		}
		if err != nil {
			return nil, err
		}
	}
	if cfg.Producer.Idempotent {
		if cfg.Producer.RequiredAcks != sarama.WaitForAll {
			return nil, errors.New("enable.idempotence=true needs acks=-1")
		}
		cfg.Net.MaxOpenRequests = 1
		if cfg.Producer.Retry.Max < 1 {
			cfg.Producer.Retry.Max = 1
		}
	}
	return cfg, cfg.Validate()
}

// verifiableProducerRun is one run of the tool. Its counters are owned
// by the goroutine that reads the producer's answers until run returns.
type verifiableProducerRun struct {
	opts     *verifiableProducerOptions
	out      *jsonLines
	producer sarama.AsyncProducer

	sent, acked int64
}

// sentRecord is what a message's Metadata carries back with its answer.
type sentRecord struct {
	key   *string
	value string
}

// run sends until ctx is done or --max-messages are sent, then closes the
// producer, waits for every answer and prints the closing events.
func (p *verifiableProducerRun) run(ctx context.Context) {
	start := time.Now()
	answered := make(chan struct{})
	go p.collect(answered)
	p.out.print(event{"name": "startup_complete"})
	p.send(ctx, start)
	p.producer.AsyncClose()
	<-answered
	p.out.print(event{"name": "shutdown_complete"})
	elapsed := time.Since(start).Milliseconds()
	avg := 0.0
	if elapsed > 0 {
		avg = 1000 * float64(p.acked) / float64(elapsed)
	}
	p.out.print(event{"name": "tool_data", "sent": p.sent, "acked": p.acked,
		"target_throughput": p.opts.throughput, "avg_throughput": avg})
}

// send produces the records, paced by --throughput.
func (p *verifiableProducerRun) send(ctx context.Context, start time.Time) {
	o := p.opts
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := int64(0); o.maxMessages < 0 || i < o.maxMessages; i++ {
		if ctx.Err() != nil {
			return
		}
		rec := sentRecord{value: strconv.FormatInt(i, 10)}
		if o.given["value-prefix"] {
			rec.value = strconv.FormatInt(o.valuePrefix, 10) + "." + rec.value
		}
		msg := &sarama.ProducerMessage{Topic: o.topic, Value: sarama.StringEncoder(rec.value)}
		if o.repeatingKeys > 0 {
			k := strconv.FormatInt(i%o.repeatingKeys, 10)
			rec.key = &k
			msg.Key = sarama.StringEncoder(k)
		}
		if o.createTime >= 0 {
			msg.Timestamp = time.UnixMilli(o.createTime + time.Since(start).Milliseconds())
		}
		msg.Metadata = rec
		select {
		case p.producer.Input() <- msg:
			p.sent++
		case <-ctx.Done():
			return
		}
		if o.throughput > 0 {
			// Kafka's ThroughputThrottler: wait until the rate so far is
			// back at the target.
			due := start.Add(time.Duration(float64(i+1) / float64(o.throughput) * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// collect prints the answer to every record until the producer has closed
// both its channels, then closes done.
func (p *verifiableProducerRun) collect(done chan<- struct{}) {
	defer close(done)
	successes, errs := p.producer.Successes(), p.producer.Errors()
	for successes != nil || errs != nil {
		select {
		case msg, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			p.acked++
			rec := msg.Metadata.(sentRecord)
			p.out.print(event{"name": "producer_send_success", "key": rec.key, "value": rec.value,
				"topic": msg.Topic, "partition": msg.Partition, "offset": msg.Offset})
		case perr, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			rec, _ := perr.Msg.Metadata.(sentRecord)
			class, message := javaException(perr.Err)
			p.out.print(event{"name": "producer_send_error", "key": rec.key, "value": rec.value,
				"topic": perr.Msg.Topic, "exception": class, "message": message})
		}
	}
}

// javaException names the exception Kafka's Java client would report for
// err, as Class.toString prints it, and its message.
func javaException(err error) (class, message string) {
	var ke sarama.KError
	if errors.As(err, &ke) && ke != sarama.ErrNoError {
		return javaExceptionOfCode(int16(ke))
	}
	return "class org.apache.kafka.common.KafkaException", err.Error()
}

// javaExceptionOfCode names the Java exception of a Kafka error code, as
// Class.toString prints it, and its message.
func javaExceptionOfCode(code int16) (class, message string) {
	var k *kerr.Error
	if errors.As(kerr.ErrorForCode(code), &k) {
		name, ok := javaExceptionNames[k.Message]
		if !ok {
			name = camelCase(k.Message) + "Exception"
		}
		return "class org.apache.kafka.common.errors." + name, k.Description
	}
	return "class org.apache.kafka.common.KafkaException", fmt.Sprintf("error code %d", code)
}

// javaExceptionNames are the codes (by Kafka name) whose Java exception is
// not the name in CamelCase followed by "Exception" (Kafka's Errors enum).
var javaExceptionNames = map[string]string{
	"UNKNOWN_SERVER_ERROR":                  "UnknownServerException",
	"CORRUPT_MESSAGE":                       "CorruptRecordException",
	"NOT_LEADER_FOR_PARTITION":              "NotLeaderOrFollowerException",
	"REQUEST_TIMED_OUT":                     "TimeoutException",
	"MESSAGE_TOO_LARGE":                     "RecordTooLargeException",
	"NETWORK_EXCEPTION":                     "NetworkException",
	"TOPIC_AUTHORIZATION_FAILED":            "TopicAuthorizationException",
	"CLUSTER_AUTHORIZATION_FAILED":          "ClusterAuthorizationException",
	"TRANSACTIONAL_ID_AUTHORIZATION_FAILED": "TransactionalIdAuthorizationException",
	"OUT_OF_ORDER_SEQUENCE_NUMBER":          "OutOfOrderSequenceException",
	"DUPLICATE_SEQUENCE_NUMBER":             "DuplicateSequenceException",
	"KAFKA_STORAGE_ERROR":                   "KafkaStorageException",
	"INVALID_TOPIC_EXCEPTION":               "InvalidTopicException",
	"RECORD_LIST_TOO_LARGE":                 "RecordBatchTooLargeException",
	"INVALID_PRODUCER_ID_MAPPING":           "InvalidPidMappingException",
	"NON_EMPTY_GROUP":                       "GroupNotEmptyException",
}

// camelCase turns NOT_ENOUGH_REPLICAS into NotEnoughReplicas.
func camelCase(upper string) string {
	var b strings.Builder
	for _, w := range strings.Split(strings.ToLower(upper), "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// event is one line of a verifiable tool's output, without its timestamp.
type event map[string]any

// jsonLines prints events as Kafka's verifiable tools do: one JSON object
// a line, "timestamp" then "name" first, then the other fields in the
// order the event type lists them. Safe for concurrent use.
type jsonLines struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

// eventFieldOrder is each event's fields after timestamp and name, in the
// order of its Java class's @JsonPropertyOrder.
var eventFieldOrder = map[string][]string{
	"producer_send_success": {"key", "value", "topic", "partition", "offset"},
	"producer_send_error":   {"key", "value", "topic", "exception", "message"},
	"tool_data":             {"sent", "acked", "target_throughput", "avg_throughput"},
	"partitions_assigned":   {"partitions"},
	"partitions_revoked":    {"partitions"},
	"records_consumed":      {"count", "partitions"},
	"offsets_committed":     {"offsets", "error", "success"},
	"record_data":           {"key", "value", "topic", "partition", "offset"},
}

func (j *jsonLines) print(e event) {
	name := e["name"].(string)
	var b strings.Builder
	b.WriteString(`{"timestamp":`)
	b.WriteString(strconv.FormatInt(time.Now().UnixMilli(), 10))
	b.WriteString(`,"name":`)
	writeJSON(&b, name)
	for _, k := range eventFieldOrder[name] {
		if v, ok := e[k]; k == "error" && (!ok || v == nil) {
			continue // Kafka's @JsonInclude(NON_NULL)
		}
		b.WriteString(`,`)
		writeJSON(&b, k)
		b.WriteString(`:`)
		writeJSON(&b, e[k])
	}
	b.WriteString("}\n")
	j.mu.Lock()
	defer j.mu.Unlock()
	io.WriteString(j.w, b.String())
}

// writeJSON appends v's JSON encoding; the values printed (strings,
// numbers, nil, slices of ordered objects) always encode.
func writeJSON(b *strings.Builder, v any) {
	if o, ok := v.(orderedObject); ok {
		b.WriteString("{")
		for i, kv := range o {
			if i > 0 {
				b.WriteString(",")
			}
			writeJSON(b, kv.key)
			b.WriteString(":")
			writeJSON(b, kv.value)
		}
		b.WriteString("}")
		return
	}
	if list, ok := v.([]orderedObject); ok {
		b.WriteString("[")
		for i, o := range list {
			if i > 0 {
				b.WriteString(",")
			}
			writeJSON(b, o)
		}
		b.WriteString("]")
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		data = []byte("null")
	}
	b.Write(data)
}

// orderedObject is a JSON object whose keys print in the order given.
type orderedObject []keyValue

type keyValue struct {
	key   string
	value any
}
