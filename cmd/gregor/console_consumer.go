package main

// gregor console-consumer is Kafka's kafka-console-consumer.sh
// (kafka.tools.ConsoleConsumer) on sarama's partition consumers. It prints
// each record as Kafka 2.8's DefaultMessageFormatter does, configured with
// --property (KIP-431 added the partition, offset and headers columns in
// 2.7):
//
//	print.timestamp  CreateTime:<ms>          print.partition  Partition:<p>
//	print.offset     Offset:<o>               print.headers    k1:v1,k2:v2 or NO_HEADERS
//	print.key        the key                  print.value      the value (default true)
//	key.separator    between columns (tab)    line.separator   after a record (newline)
//	headers.separator between headers (",")   null.literal     for a null key or value ("null")
//
// in that column order, so "--property print.timestamp=true --property
// print.key=true" prints "CreateTime:1234\tkey\tvalue". When it stops it
// prints "Processed a total of N messages" on stderr, as Kafka does.
//
// Without --partition it reads every partition of --topic, from the start
// with --from-beginning and from the end otherwise; --partition with
// --offset (earliest, latest or an offset) reads one partition.
//
// With --group G (or --consumer-property group.id=G) it is a member of the
// consumer group G on franz-go's group consumer: the coordinator assigns it
// partitions of --topic, it starts where the group committed, or where
// auto.offset.reset says when the group has no offset for a partition
// (latest, earliest with --from-beginning, as Kafka), and it commits what
// it has printed every 5 seconds (auto.commit.interval.ms) and when it
// stops, as Kafka's auto-commit does. Without --group it takes no group,
// where Kafka's tool makes up a console-consumer-<n> group.
//
// Where gregor differs with --group: only the records printed are
// committed (Kafka commits the position of the last poll, so records polled
// but not printed before --max-messages stopped it are skipped by the next
// run); of the consumer properties only group.id and auto.offset.reset are
// read.
//
// Where gregor differs: sarama does not say whether a timestamp is
// CreateTime or LogAppendTime, so print.timestamp always says CreateTime;
// --timeout-ms ends the run with status 0 and a one-line message instead of
// Kafka's TimeoutException stack trace; an offset out of range is an error
// (status 1) rather than a reset.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// messageFormatter prints records as Kafka's DefaultMessageFormatter.
type messageFormatter struct {
	printTimestamp, printPartition, printOffset bool
	printHeaders, printKey, printValue          bool
	keySeparator, lineSeparator                 string
	headersSeparator, nullLiteral               string
}

func newMessageFormatter(props map[string]string) *messageFormatter {
	f := &messageFormatter{
		printTimestamp:   propertyBool(props, "print.timestamp"),
		printPartition:   propertyBool(props, "print.partition"),
		printOffset:      propertyBool(props, "print.offset"),
		printHeaders:     propertyBool(props, "print.headers"),
		printKey:         propertyBool(props, "print.key"),
		printValue:       true,
		keySeparator:     propertyString(props, "key.separator", "\t"),
		lineSeparator:    propertyString(props, "line.separator", "\n"),
		headersSeparator: propertyString(props, "headers.separator", ","),
		nullLiteral:      propertyString(props, "null.literal", "null"),
	}
	if _, ok := props["print.value"]; ok {
		f.printValue = propertyBool(props, "print.value")
	}
	return f
}

// write prints one record. Each column is followed by key.separator when
// another column comes after it, and by line.separator otherwise.
func (f *messageFormatter) write(w *bufio.Writer, m *sarama.ConsumerMessage) {
	columns := []bool{f.printTimestamp, f.printPartition, f.printOffset, f.printHeaders, f.printKey, f.printValue}
	separator := func(column int) {
		for _, more := range columns[column+1:] {
			if more {
				w.WriteString(f.keySeparator)
				return
			}
		}
		w.WriteString(f.lineSeparator)
	}
	if f.printTimestamp {
		fmt.Fprintf(w, "CreateTime:%d", m.Timestamp.UnixMilli())
		separator(0)
	}
	if f.printPartition {
		fmt.Fprintf(w, "Partition:%d", m.Partition)
		separator(1)
	}
	if f.printOffset {
		fmt.Fprintf(w, "Offset:%d", m.Offset)
		separator(2)
	}
	if f.printHeaders {
		if len(m.Headers) == 0 {
			w.WriteString("NO_HEADERS")
		}
		for i, h := range m.Headers {
			if i > 0 {
				w.WriteString(f.headersSeparator)
			}
			w.Write(h.Key)
			w.WriteString(":")
			f.writeBytes(w, h.Value)
		}
		separator(3)
	}
	if f.printKey {
		f.writeBytes(w, m.Key)
		separator(4)
	}
	if f.printValue {
		f.writeBytes(w, m.Value)
		w.WriteString(f.lineSeparator)
	}
}

func (f *messageFormatter) writeBytes(w *bufio.Writer, b []byte) {
	if b == nil {
		w.WriteString(f.nullLiteral)
		return
	}
	w.Write(b)
}

// consumerOptions are the kafka-console-consumer flags gregor supports.
type consumerOptions struct {
	bootstrap     string
	topic         string
	partition     int
	offset        string
	fromBeginning bool
	maxMessages   int
	timeout       time.Duration // 0 means wait for ever
	properties    stringList
}

// runConsoleConsumer is `gregor console-consumer`. It returns the process
// exit status.
func runConsoleConsumer(args []string, stdout, stderr io.Writer) int {
	fs := newToolFlags("console-consumer", "--bootstrap-server <host:port> --topic <topic> [flags]", stderr)
	var o consumerOptions
	var timeoutMS int
	var group string
	fs.StringVar(&o.bootstrap, "bootstrap-server", "", "REQUIRED: the server(s) to connect to, host:port[,host:port]")
	fs.StringVar(&o.topic, "topic", "", "REQUIRED: the topic to consume")
	fs.IntVar(&o.partition, "partition", -1, "the partition to consume; all partitions when not given")
	fs.StringVar(&o.offset, "offset", "latest", "with --partition: the offset to start at, earliest, latest or a non-negative number")
	fs.BoolVar(&o.fromBeginning, "from-beginning", false, "start with the earliest message rather than the latest")
	fs.IntVar(&o.maxMessages, "max-messages", -1, "the number of messages to consume before exiting; all of them when not given")
	fs.IntVar(&timeoutMS, "timeout-ms", -1, "exit if no message arrives for this many ms")
	var consumerProps stringList
	fs.StringVar(&group, "group", "", "the consumer group to consume as a member of, committing offsets")
	fs.Var(&consumerProps, "consumer-property", "a consumer property, key=value (repeatable); gregor reads group.id and auto.offset.reset")
	fs.Var(&o.properties, "property", "a property of the message formatter, key=value (repeatable): print.timestamp, print.partition, print.offset, print.headers, print.key, print.value, key.separator, line.separator, headers.separator, null.literal")
	if status, ok := fs.parse(args); !ok {
		return status
	}
	given := fs.set()
	props := parseProperties(consumerProps)
	if id, ok := props["group.id"]; ok && given["group"] && id != group {
		return fs.usageError("The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: '%s', '%s'", group, id)
	} else if ok {
		group = id
	}
	switch {
	case !given["bootstrap-server"]:
		return fs.usageError(`Missing required argument "[bootstrap-server]"`)
	case !given["topic"]:
		return fs.usageError("Exactly one of whitelist/topic is required.")
	case given["partition"] && o.partition < 0:
		return fs.usageError("--partition must not be negative, not %d", o.partition)
	case given["partition"] && o.fromBeginning && given["offset"]:
		return fs.usageError("Options from-beginning and offset cannot be specified together.")
	case !given["partition"] && given["offset"]:
		return fs.usageError("The partition is required when offset is specified.")
	case group != "" && given["partition"]:
		return fs.usageError("Options group and partition cannot be specified together.")
	}
	start, err := startOffset(o.offset, o.fromBeginning && !given["offset"])
	if err != nil {
		return fs.usageError("%v", err)
	}
	if timeoutMS > 0 {
		o.timeout = time.Duration(timeoutMS) * time.Millisecond
	}
	formatter := newMessageFormatter(parseProperties(o.properties))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if group != "" {
		reset := strings.ToLower(propertyString(props, "auto.offset.reset", "latest"))
		if o.fromBeginning {
			reset = "earliest"
		}
		if reset != "earliest" && reset != "latest" {
			return fs.usageError("auto.offset.reset: %q is not earliest or latest", reset)
		}
		out := bufio.NewWriter(stdout)
		count, err := consumeGroup(ctx, o, group, reset == "earliest", formatter, out, stderr)
		out.Flush()
		fmt.Fprintf(stderr, "Processed a total of %d messages\n", count)
		if err != nil {
			return fs.failure("%v", err)
		}
		return 0
	}

	addrs := bootstrapServers(o.bootstrap)
	consumer, err := sarama.NewConsumer(addrs, newSaramaConfig("console-consumer"))
	if err != nil {
		return fs.failure("%s", connectError(addrs, err))
	}
	defer consumer.Close()
	partitions := []int32{int32(o.partition)}
	if !given["partition"] {
		if partitions, err = consumer.Partitions(o.topic); err != nil {
			return fs.failure("topic %s: %s", o.topic, kafkaErrorText(err))
		}
	}
	out := bufio.NewWriter(stdout)
	count, err := consume(ctx, consumer, o, partitions, start, formatter, out, stderr)
	out.Flush()
	fmt.Fprintf(stderr, "Processed a total of %d messages\n", count)
	if err != nil {
		return fs.failure("%v", err)
	}
	return 0
}

// startOffset turns --offset (or --from-beginning) into sarama's offset.
func startOffset(offset string, fromBeginning bool) (int64, error) {
	if fromBeginning {
		return sarama.OffsetOldest, nil
	}
	switch strings.ToLower(offset) {
	case "earliest":
		return sarama.OffsetOldest, nil
	case "latest":
		return sarama.OffsetNewest, nil
	}
	n, err := strconv.ParseInt(offset, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("The provided offset value '%s' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long.", offset)
	}
	return n, nil
}

// consume prints records from the partitions until --max-messages records,
// --timeout-ms without one, or ctx's end, and returns how many it printed.
func consume(ctx context.Context, consumer sarama.Consumer, o consumerOptions, partitions []int32, start int64,
	formatter *messageFormatter, out *bufio.Writer, stderr io.Writer) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	messages := make(chan *sarama.ConsumerMessage)
	var wg sync.WaitGroup // the goroutines forwarding each partition's records
	defer func() {
		cancel()
		wg.Wait()
	}()
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(o.topic, p, start)
		if err != nil {
			return 0, fmt.Errorf("topic %s partition %d: %s", o.topic, p, kafkaErrorText(err))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close() // drains what was fetched; its errors are not ours to report
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					select {
					case messages <- m:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	var idle <-chan time.Time
	var timer *time.Timer
	if o.timeout > 0 {
		timer = time.NewTimer(o.timeout)
		defer timer.Stop()
		idle = timer.C
	}
	count := 0
	for o.maxMessages < 0 || count < o.maxMessages {
		select {
		case m := <-messages:
			formatter.write(out, m)
			count++
			if err := out.Flush(); err != nil {
				return count, fmt.Errorf("write: %w", err)
			}
			if timer != nil {
				timer.Reset(o.timeout)
			}
		case <-idle:
			fmt.Fprintf(stderr, "Error processing message, terminating consumer process: no message for %v (--timeout-ms)\n", o.timeout)
			return count, nil
		case <-ctx.Done(): // SIGINT or SIGTERM: stop as Kafka's tool does, status 0
			return count, nil
		}
	}
	return count, nil
}

// consumeGroup prints records of --topic as a member of group until
// --max-messages records, --timeout-ms without one, or ctx's end; it marks
// each record printed and commits the marks every 5 seconds, on a
// rebalance and before it leaves the group.
func consumeGroup(ctx context.Context, o consumerOptions, group string, fromEarliest bool,
	formatter *messageFormatter, out *bufio.Writer, stderr io.Writer) (int, error) {
	reset := kgo.NewOffset().AtEnd()
	if fromEarliest {
		reset = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrapServers(o.bootstrap)...), kgo.ClientID("console-consumer"),
		kgo.DialTimeout(toolConnectTimeout), kgo.ConsumerGroup(group), kgo.ConsumeTopics(o.topic),
		kgo.ConsumeResetOffset(reset), kgo.AutoCommitMarks(), kgo.AutoCommitInterval(5*time.Second))
	if err != nil {
		return 0, err
	}
	defer cl.Close() // leaves the group
	count := 0
	finish := func(err error) (int, error) {
		commitCtx, cancel := context.WithTimeout(context.Background(), 2*toolConnectTimeout)
		defer cancel()
		if cerr := cl.CommitMarkedOffsets(commitCtx); cerr != nil && err == nil {
			err = fmt.Errorf("commit offsets of group %s: %w", group, cerr)
		}
		return count, err
	}
	for o.maxMessages < 0 || count < o.maxMessages {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if o.timeout > 0 {
			pollCtx, cancel = context.WithTimeout(ctx, o.timeout)
		}
		limit := 500
		if o.maxMessages >= 0 {
			limit = min(limit, o.maxMessages-count)
		}
		fetches := cl.PollRecords(pollCtx, limit)
		timedOut := pollCtx.Err() != nil && ctx.Err() == nil
		cancel()
		var fatal error
		fetches.EachError(func(topic string, partition int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
				!errors.Is(err, kgo.ErrClientClosed) && !kerr.IsRetriable(err) && fatal == nil {
				fatal = fmt.Errorf("topic %s partition %d: %w", topic, partition, err)
			}
		})
		if fatal != nil {
			return finish(fatal)
		}
		records := fetches.Records()
		for _, r := range records {
			formatter.write(out, saramaMessage(r))
			cl.MarkCommitRecords(r)
			count++
		}
		if err := out.Flush(); err != nil {
			return finish(fmt.Errorf("write: %w", err))
		}
		switch {
		case ctx.Err() != nil: // SIGINT or SIGTERM: stop as Kafka's tool does, status 0
			return finish(nil)
		case timedOut && len(records) == 0:
			fmt.Fprintf(stderr, "Error processing message, terminating consumer process: no message for %v (--timeout-ms)\n", o.timeout)
			return finish(nil)
		}
	}
	return finish(nil)
}

// saramaMessage gives a kgo record the shape the formatter prints.
func saramaMessage(r *kgo.Record) *sarama.ConsumerMessage {
	m := &sarama.ConsumerMessage{Key: r.Key, Value: r.Value, Topic: r.Topic, Partition: r.Partition,
		Offset: r.Offset, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
	}
	return m
}
