package main

// gregor console-producer is Kafka's kafka-console-producer.sh
// (kafka.tools.ConsoleProducer) on sarama's AsyncProducer: it reads lines
// from stdin until EOF and sends each as one record. Lines are read as
// Kafka's LineMessageReader reads them, configured with --property:
//
//	parse.key=true         the line is <key><key.separator><value>
//	key.separator          default a tab
//	ignore.error=true      a line without a separator becomes a value only
//	parse.headers=true     the line starts with <headers><headers.delimiter>
//	headers.delimiter      default a tab
//	headers.separator      between headers, default ","
//	headers.key.separator  between a header's key and value, default ":"
//	null.marker            a header value (or all the headers) read as null
//
// Kafka 2.8's reader knows only parse.key, key.separator and ignore.error;
// the header properties and null.marker are Kafka 3.2's (KIP-798, KIP-810)
// and are accepted here because the issue asks for headers. A header
// written "h1:v1,h2:v2\tkey\tvalue" therefore works as with Kafka 3.2.
//
// As in Kafka 2.8 the producer defaults are acks=1
// (--request-required-acks), a 1000 ms linger (--timeout), 3 retries
// (--message-send-max-retries) and a 1500 ms request timeout; --batch-size
// is the number of records per batch, as its help text says (Kafka 2.8
// ignores it). --sync sends each record at once instead of lingering.
// sarama's producer waits for the linger to end before it closes, so at EOF
// the last batch goes out up to --timeout ms later (Kafka's close flushes
// at once). Keyed records go to the partition Kafka's default
// partitioner would choose (murmur2).
//
// Where gregor differs: a record the broker rejects is reported on stderr
// and makes the exit status 1 once stdin is exhausted (Kafka logs it and
// exits 0); a line the reader cannot parse stops the tool with status 1
// after the records read so far are sent, as Kafka's does.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// lineReader splits input lines into records as Kafka's LineMessageReader.
type lineReader struct {
	parseKey, parseHeaders, ignoreError bool
	keySeparator                        string
	headersDelimiter                    string
	headersSeparator                    string
	headersKeySeparator                 string
	nullMarker                          string // "" means none
	lineNumber                          int
}

func newLineReader(props map[string]string) *lineReader {
	return &lineReader{
		parseKey:            propertyBool(props, "parse.key"),
		parseHeaders:        propertyBool(props, "parse.headers"),
		ignoreError:         propertyBool(props, "ignore.error"),
		keySeparator:        propertyString(props, "key.separator", "\t"),
		headersDelimiter:    propertyString(props, "headers.delimiter", "\t"),
		headersSeparator:    propertyString(props, "headers.separator", ","),
		headersKeySeparator: propertyString(props, "headers.key.separator", ":"),
		nullMarker:          props["null.marker"],
	}
}

// record turns one line (without its line ending) into a record.
func (r *lineReader) record(topic, line string) (*sarama.ProducerMessage, error) {
	r.lineNumber++
	msg := &sarama.ProducerMessage{Topic: topic}
	rest := line
	if r.parseHeaders {
		headers, after, ok := strings.Cut(rest, r.headersDelimiter)
		switch {
		case ok:
			rest = after
			if headers != r.nullMarker || r.nullMarker == "" {
				var err error
				if msg.Headers, err = r.splitHeaders(headers); err != nil {
					return nil, err
				}
			}
		case !r.ignoreError:
			return nil, fmt.Errorf("No headers delimiter found on line number %d: '%s'", r.lineNumber, line)
		}
	}
	if r.parseKey {
		key, value, ok := strings.Cut(rest, r.keySeparator)
		switch {
		case ok:
			msg.Key = sarama.ByteEncoder(key)
			rest = value
		case !r.ignoreError:
			return nil, fmt.Errorf("No key separator found on line number %d: '%s'", r.lineNumber, line)
		}
	}
	if r.nullMarker != "" && rest == r.nullMarker {
		return msg, nil // a null value: a tombstone
	}
	msg.Value = sarama.ByteEncoder(rest)
	return msg, nil
}

func (r *lineReader) splitHeaders(headers string) ([]sarama.RecordHeader, error) {
	var out []sarama.RecordHeader
	for _, pair := range strings.Split(headers, r.headersSeparator) {
		k, v, ok := strings.Cut(pair, r.headersKeySeparator)
		if !ok {
			if !r.ignoreError {
				return nil, fmt.Errorf("No header key separator found in pair '%s' on line number %d", pair, r.lineNumber)
			}
			out = append(out, sarama.RecordHeader{Key: []byte(pair)})
			continue
		}
		if r.nullMarker != "" && k == r.nullMarker {
			return nil, fmt.Errorf("Header keys should not be equal to the null marker '%s' as they can't be null", r.nullMarker)
		}
		h := sarama.RecordHeader{Key: []byte(k)}
		if r.nullMarker == "" || v != r.nullMarker {
			h.Value = []byte(v)
		}
		out = append(out, h)
	}
	return out, nil
}

// compressionCodecs are --compression-codec's values.
var compressionCodecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

// requiredAcks are --request-required-acks's values.
var requiredAcks = map[string]sarama.RequiredAcks{
	"all": sarama.WaitForAll,
	"-1":  sarama.WaitForAll,
	"0":   sarama.NoResponse,
	"1":   sarama.WaitForLocal,
}

// runConsoleProducer is `gregor console-producer`. It reads records from
// stdin and returns the process exit status.
func runConsoleProducer(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newToolFlags("console-producer", "--bootstrap-server <host:port> --topic <topic> [flags] < lines", stderr)
	var (
		props       stringList
		bootstrap   = fs.String("bootstrap-server", "", "REQUIRED: the server(s) to connect to, host:port[,host:port]")
		topic       = fs.String("topic", "", "REQUIRED: the topic to produce messages to")
		acks        = fs.String("request-required-acks", "1", "the required acks of the producer requests: 0, 1 or -1 (all)")
		codec       = fs.String("compression-codec", "none", "the compression codec: none, gzip, snappy, lz4 or zstd")
		syncSend    = fs.Bool("sync", false, "send each message synchronously, one at a time as it arrives")
		batchSize   = fs.Int("batch-size", 200, "number of messages to send in a single batch if they are not sent synchronously")
		linger      = fs.Int("timeout", 1000, "if set and the producer is running in asynchronous mode, the longest time in ms a message waits for a batch")
		retries     = fs.Int("message-send-max-retries", 3, "how many times a failed send is retried before the message is dropped")
		backoff     = fs.Int("retry-backoff-ms", 100, "how long in ms to wait before refreshing metadata and retrying")
		requestTime = fs.Int("request-timeout-ms", 1500, "how long in ms the broker waits for the required acks")
	)
	fs.Var(&props, "property", "a property of the line reader, key=value (repeatable): parse.key, key.separator, ignore.error, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker")
	if status, ok := fs.parse(args); !ok {
		return status
	}
	given := fs.set()
	switch {
	case !given["bootstrap-server"]:
		return fs.usageError(`Missing required argument "[bootstrap-server]"`)
	case !given["topic"]:
		return fs.usageError(`Missing required argument "[topic]"`)
	}
	cfg := newSaramaConfig("console-producer")
	var ok bool
	if cfg.Producer.RequiredAcks, ok = requiredAcks[strings.ToLower(*acks)]; !ok {
		return fs.usageError("--request-required-acks must be one of 0, 1, -1 or all, not %q", *acks)
	}
	if cfg.Producer.Compression, ok = compressionCodecs[strings.ToLower(*codec)]; !ok {
		return fs.usageError("--compression-codec must be one of none, gzip, snappy, lz4 or zstd, not %q", *codec)
	}
	if *batchSize < 1 || *linger < 0 || *retries < 0 || *backoff < 0 || *requestTime < 1 {
		return fs.usageError("--batch-size and --request-timeout-ms must be positive, --timeout, --message-send-max-retries and --retry-backoff-ms not negative")
	}
	cfg.Producer.Flush.Messages = *batchSize
	cfg.Producer.Flush.Frequency = time.Duration(*linger) * time.Millisecond
	cfg.Producer.Retry.Max = *retries
	cfg.Producer.Retry.Backoff = time.Duration(*backoff) * time.Millisecond
	cfg.Producer.Timeout = time.Duration(*requestTime) * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	cfg.Producer.Return.Successes = *syncSend
	if *syncSend {
		// One record at a time: send it now rather than after --timeout.
		cfg.Producer.Flush.Messages, cfg.Producer.Flush.Frequency = 1, 0
	}
	reader := newLineReader(parseProperties(props))

	addrs := bootstrapServers(*bootstrap)
	producer, err := sarama.NewAsyncProducer(addrs, cfg)
	if err != nil {
		return fs.failure("%s", connectError(addrs, err))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	p := &consoleProducer{producer: producer, stderr: stderr, sync: *syncSend}
	readErr := p.produceLines(ctx, bufio.NewReader(stdin), *topic, reader)
	failed := p.close()
	switch {
	case readErr != nil:
		return fs.failure("%v", readErr)
	case failed > 0:
		return fs.failure("%d of %d messages were not sent", failed, p.sent)
	}
	return 0
}

// consoleProducer sends the records of one run and counts failures.
type consoleProducer struct {
	producer sarama.AsyncProducer
	stderr   io.Writer
	sync     bool
	sent     int // records handed to the producer

	wg     sync.WaitGroup // the goroutine draining Errors in async mode
	mu     sync.Mutex     // guards failed
	failed int
}

// produceLines reads lines until EOF, an unparsable line or ctx's end.
func (p *consoleProducer) produceLines(ctx context.Context, in *bufio.Reader, topic string, reader *lineReader) error {
	if !p.sync {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for err := range p.producer.Errors() {
				p.reportError(err)
			}
		}()
	}
	for ctx.Err() == nil {
		line, err := in.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read stdin: %w", err)
		}
		if line == "" && err != nil {
			return nil
		}
		// Strip the line ending as Java's BufferedReader.readLine does.
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		msg, perr := reader.record(topic, line)
		if perr != nil {
			return perr
		}
		if sendErr := p.send(ctx, msg); sendErr != nil {
			return sendErr
		}
		if err != nil { // the last line had no newline
			return nil
		}
	}
	return nil
}

// send hands msg to the producer; with --sync it waits for the outcome.
func (p *consoleProducer) send(ctx context.Context, msg *sarama.ProducerMessage) error {
	select {
	case p.producer.Input() <- msg:
		p.sent++
	case <-ctx.Done():
		return nil
	}
	if !p.sync {
		return nil
	}
	select {
	case <-p.producer.Successes():
		return nil
	case err := <-p.producer.Errors():
		p.reportError(err)
		return errors.New("stopped after a failed send (--sync)")
	case <-ctx.Done():
		return nil
	}
}

// reportError prints a failed send the way Kafka's ErrorLoggingCallback
// describes it.
func (p *consoleProducer) reportError(err *sarama.ProducerError) {
	key, value := "null", "null"
	if err.Msg.Key != nil {
		key = fmt.Sprintf("%d bytes", err.Msg.Key.Length())
	}
	if err.Msg.Value != nil {
		value = fmt.Sprintf("%d bytes", err.Msg.Value.Length())
	}
	p.mu.Lock()
	p.failed++
	p.mu.Unlock()
	fmt.Fprintf(p.stderr, "ERROR Error when sending message to topic %s with key: %s, value: %s with error: %s\n",
		err.Msg.Topic, key, value, kafkaErrorText(err.Err))
}

// close flushes what is buffered, waits for every outcome and returns how
// many records failed.
func (p *consoleProducer) close() int {
	p.producer.AsyncClose()
	if p.sync {
		// Nothing is in flight in sync mode, but drain both channels
		// until the producer closes them.
		for range p.producer.Successes() {
		}
		for err := range p.producer.Errors() {
			p.reportError(err)
		}
	}
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failed
}
