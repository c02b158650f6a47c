package main

// gregor verifiable-consumer is Kafka 2.8's kafka-verifiable-consumer.sh
// (org.apache.kafka.tools.VerifiableConsumer). It prints one JSON object a
// line for each event, as Kafka's tool does:
//
//	{"timestamp":1,"name":"startup_complete"}
//	{"timestamp":2,"name":"partitions_assigned","partitions":[{"topic":"t","partition":0}]}
//	{"timestamp":3,"name":"record_data","key":null,"value":"0","topic":"t","partition":0,"offset":0}   (--verbose)
//	{"timestamp":4,"name":"records_consumed","count":2,"partitions":[{"topic":"t","partition":0,"count":2,"minOffset":0,"maxOffset":1}]}
//	{"timestamp":5,"name":"offsets_committed","offsets":[{"topic":"t","partition":0,"offset":2}],"success":true}
//	{"timestamp":6,"name":"partitions_revoked","partitions":[{"topic":"t","partition":0}]}
//	{"timestamp":7,"name":"shutdown_complete"}
//
// A records_consumed event covers one "poll": the records that had arrived
// when the tool looked, at most 500 (max.poll.records' default). It stops
// after --max-messages records (-1: never) or on SIGINT or SIGTERM, then
// prints shutdown_complete and exits 0.
//
// With --group-id (Kafka's mode) it is a member of that consumer group on
// franz-go's group consumer: --assignment-strategy picks the assignor by
// Kafka's class name (RangeAssignor, RoundRobinAssignor, StickyAssignor,
// CooperativeStickyAssignor → franz-go's balancers of the same protocol
// names), --group-instance-id makes it a static member (KIP-345),
// --session-timeout is session.timeout.ms and --reset-policy is
// auto.offset.reset (earliest, latest or none). Rebalances wait while a
// poll is processed, as the Java consumer runs its rebalance callbacks
// inside poll. Without --enable-autocommit it commits synchronously after
// each poll (the next offset of each partition read) and prints
// offsets_committed, with "error" and success false when the commit, or
// any partition of it, failed; with it, offsets are committed every 5
// seconds, when partitions are revoked and when the tool stops, and no
// offsets_committed events are printed, as Kafka's tool.
//
// Without --group-id (a Gregor extension) the tool assigns itself the
// partitions (all of the topic's, or those of --assign-partitions, a
// comma-separated list) on sarama's Consumer, starts at the offset
// --reset-policy says (earliest, the default, or latest) and commits
// nothing: there are no offsets_committed or partitions_revoked events.
// --consumer.config is accepted and ignored.

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/IBM/sarama"
)

// maxPollRecords bounds one records_consumed event, as the Java
// consumer's max.poll.records default (500) bounds one poll.
const maxPollRecords = 500

// verifiableConsumerOptions are the flags of gregor verifiable-consumer.
type verifiableConsumerOptions struct {
	bootstrap, brokerList string
	topic                 string
	groupID, instanceID   string
	strategy              string
	autoCommit            bool
	sessionTimeoutMS      int
	maxMessages           int64
	verbose               bool
	resetPolicy           string
	assign                string
}

// runVerifiableConsumer is `gregor verifiable-consumer`. It returns the
// process exit status.
func runVerifiableConsumer(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return verifiableConsumer(ctx, args, stdout, stderr)
}

// verifiableConsumer runs the tool until ctx is done or --max-messages
// records are consumed.
func verifiableConsumer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newToolFlags("verifiable-consumer", "--bootstrap-server <host:port> --topic <topic> [flags]", stderr)
	var o verifiableConsumerOptions
	var ignoredString string
	fs.StringVar(&o.bootstrap, "bootstrap-server", "", "REQUIRED unless --broker-list: the Kafka server(s) to connect to, host:port[,host:port]")
	fs.StringVar(&o.brokerList, "broker-list", "", "DEPRECATED, use --bootstrap-server instead")
	fs.StringVar(&o.topic, "topic", "", "REQUIRED: consume messages from this topic")
	fs.StringVar(&o.groupID, "group-id", "", "the consumer group to join; without it the tool assigns itself partitions")
	fs.StringVar(&o.instanceID, "group-instance-id", "", "with --group-id: a static member id (KIP-345)")
	fs.StringVar(&o.strategy, "assignment-strategy", "org.apache.kafka.clients.consumer.RangeAssignor", "with --group-id: the assignor's Kafka class name (RangeAssignor, RoundRobinAssignor, StickyAssignor, CooperativeStickyAssignor), comma-separated in preference order")
	fs.BoolVar(&o.autoCommit, "enable-autocommit", false, "with --group-id: commit every 5s instead of after each poll")
	fs.IntVar(&o.sessionTimeoutMS, "session-timeout", 30000, "with --group-id: session.timeout.ms")
	fs.Int64Var(&o.maxMessages, "max-messages", -1, "consume this many messages; -1: until stopped")
	fs.BoolVar(&o.verbose, "verbose", false, "print a record_data event for every record")
	fs.StringVar(&o.resetPolicy, "reset-policy", "earliest", "where to start without a committed offset: earliest, latest or (with --group-id) none")
	fs.StringVar(&o.assign, "assign-partitions", "", "Gregor, without --group-id: the partitions to read, comma-separated; all by default")
	fs.StringVar(&ignoredString, "consumer.config", "", "ignored")
	if status, ok := fs.parse(args); !ok {
		return status
	}
	if o.topic == "" {
		return fs.usageError(`Missing required argument "[topic]"`)
	}
	if o.bootstrap == "" {
		o.bootstrap = o.brokerList
	}
	if o.bootstrap == "" {
		return fs.usageError(`Missing required argument "[bootstrap-server]"`)
	}
	if o.groupID != "" {
		return verifiableGroupConsumer(ctx, fs, &o, stdout)
	}
	given := fs.set()
	for _, f := range []string{"group-instance-id", "assignment-strategy", "enable-autocommit", "session-timeout"} {
		if given[f] {
			return fs.usageError("--%s needs --group-id", f)
		}
	}
	var start int64
	switch strings.ToLower(o.resetPolicy) {
	case "earliest":
		start = sarama.OffsetOldest
	case "latest":
		start = sarama.OffsetNewest
	default:
		return fs.usageError("--reset-policy: %q is not earliest or latest (none needs committed offsets, so a group)", o.resetPolicy)
	}
	var chosen []int32
	if o.assign != "" {
		for _, s := range strings.Split(o.assign, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			if err != nil || n < 0 {
				return fs.usageError("--assign-partitions: %q is not a partition", strings.TrimSpace(s))
			}
			chosen = append(chosen, int32(n))
		}
	}

	addrs := bootstrapServers(o.bootstrap)
	cfg := newSaramaConfig("consumer-verifiable")
	cfg.Consumer.Return.Errors = false // sarama retries partition errors itself
	consumer, err := sarama.NewConsumer(addrs, cfg)
	if err != nil {
		return fs.failure("%s", connectError(addrs, err))
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(o.topic)
	if err != nil {
		return fs.failure("topic %s: %s", o.topic, kafkaErrorText(err))
	}
	if chosen != nil {
		for _, p := range chosen {
			if !slices.Contains(partitions, p) {
				return fs.failure("topic %s has no partition %d", o.topic, p)
			}
		}
		partitions = chosen
	}
	slices.Sort(partitions)
	partitions = slices.Compact(partitions)

	out := &jsonLines{w: stdout}
	out.print(event{"name": "startup_complete"})
	err = consumeVerifiable(ctx, consumer, &o, partitions, start, out)
	out.print(event{"name": "shutdown_complete"})
	if err != nil {
		return fs.failure("%v", err)
	}
	return 0
}

// consumeVerifiable reads the partitions until --max-messages or ctx's end,
// printing the events of each poll.
func consumeVerifiable(ctx context.Context, consumer sarama.Consumer, o *verifiableConsumerOptions, partitions []int32, start int64, out *jsonLines) error {
	ctx, cancel := context.WithCancel(ctx)
	messages := make(chan *sarama.ConsumerMessage, maxPollRecords)
	var wg sync.WaitGroup // the goroutines forwarding each partition's records
	defer func() {
		cancel()
		wg.Wait()
	}()
	assigned := make([]orderedObject, 0, len(partitions))
	for _, p := range partitions {
		pc, err := consumer.ConsumePartition(o.topic, p, start)
		if err != nil {
			return fmt.Errorf("topic %s partition %d: %s", o.topic, p, kafkaErrorText(err))
		}
		assigned = append(assigned, orderedObject{{"topic", o.topic}, {"partition", p}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
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
	out.print(event{"name": "partitions_assigned", "partitions": assigned})

	var consumed int64
	for o.maxMessages < 0 || consumed < o.maxMessages {
		var poll []*sarama.ConsumerMessage
		select {
		case m := <-messages:
			poll = append(poll, m)
		case <-ctx.Done():
			return nil
		}
		limit := int64(maxPollRecords)
		if o.maxMessages >= 0 {
			limit = min(limit, o.maxMessages-consumed)
		}
	drain:
		for int64(len(poll)) < limit {
			select {
			case m := <-messages:
				poll = append(poll, m)
			default:
				break drain
			}
		}
		consumed += int64(len(poll))
		printPoll(out, o, poll)
	}
	return nil
}

// printPoll prints one poll's record_data (--verbose) and records_consumed
// events; the summary lists partitions in id order.
func printPoll(out *jsonLines, o *verifiableConsumerOptions, poll []*sarama.ConsumerMessage) map[int32]int64 {
	type summary struct {
		count, minOffset, maxOffset int64
	}
	byPartition := map[int32]*summary{}
	for _, m := range poll {
		if o.verbose {
			var key any // null when the record has no key
			if m.Key != nil {
				key = string(m.Key)
			}
			var value any
			if m.Value != nil {
				value = string(m.Value)
			}
			out.print(event{"name": "record_data", "key": key, "value": value,
				"topic": m.Topic, "partition": m.Partition, "offset": m.Offset})
		}
		s, ok := byPartition[m.Partition]
		if !ok {
			s = &summary{minOffset: m.Offset, maxOffset: m.Offset}
			byPartition[m.Partition] = s
		}
		s.count++
		s.minOffset = min(s.minOffset, m.Offset)
		s.maxOffset = max(s.maxOffset, m.Offset)
	}
	ids := make([]int32, 0, len(byPartition))
	for p := range byPartition {
		ids = append(ids, p)
	}
	slices.Sort(ids)
	parts := make([]orderedObject, 0, len(ids))
	for _, p := range ids {
		s := byPartition[p]
		parts = append(parts, orderedObject{{"topic", o.topic}, {"partition", p},
			{"count", s.count}, {"minOffset", s.minOffset}, {"maxOffset", s.maxOffset}})
	}
	out.print(event{"name": "records_consumed", "count": len(poll), "partitions": parts})
	next := make(map[int32]int64, len(byPartition))
	for p, s := range byPartition {
		next[p] = s.maxOffset + 1
	}
	return next
}
