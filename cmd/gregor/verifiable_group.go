package main

// The --group-id mode of gregor verifiable-consumer (see
// verifiable_consumer.go for the events): a member of a consumer group on
// franz-go's group consumer.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// assignors maps Kafka's assignor classes, by simple name, to franz-go's
// balancers, which speak the same protocols ("range", "roundrobin",
// "sticky", "cooperative-sticky") and so mix with Java members.
var assignors = map[string]func() kgo.GroupBalancer{
	"RangeAssignor":             kgo.RangeBalancer,
	"RoundRobinAssignor":        kgo.RoundRobinBalancer,
	"StickyAssignor":            kgo.StickyBalancer,
	"CooperativeStickyAssignor": kgo.CooperativeStickyBalancer,
}

// balancersFor turns --assignment-strategy's class names into balancers.
func balancersFor(strategy string) ([]kgo.GroupBalancer, error) {
	var out []kgo.GroupBalancer
	for _, class := range strings.Split(strategy, ",") {
		class = strings.TrimSpace(class)
		simple := class[strings.LastIndex(class, ".")+1:]
		b, ok := assignors[simple]
		if !ok || (simple != class && class != "org.apache.kafka.clients.consumer."+simple) {
			return nil, fmt.Errorf("--assignment-strategy: %q is not one of org.apache.kafka.clients.consumer.RangeAssignor, RoundRobinAssignor, StickyAssignor or CooperativeStickyAssignor", class)
		}
		out = append(out, b())
	}
	return out, nil
}

// partitionList prints a topic → partitions map as the events' sorted
// list of {"topic","partition"} objects.
func partitionList(m map[string][]int32) []orderedObject {
	var tps []topicPartition
	for t, ps := range m {
		for _, p := range ps {
			tps = append(tps, topicPartition{t, p})
		}
	}
	slices.SortFunc(tps, compareTP)
	out := make([]orderedObject, 0, len(tps))
	for _, tp := range tps {
		out = append(out, orderedObject{{"topic", tp.topic}, {"partition", tp.partition}})
	}
	return out
}

func verifiableGroupConsumer(ctx context.Context, fs *toolFlags, o *verifiableConsumerOptions, stdout io.Writer) int {
	if o.assign != "" {
		return fs.usageError("--assign-partitions cannot be used with --group-id: the group assigns the partitions")
	}
	if o.bootstrap == "" {
		o.bootstrap = o.brokerList
	}
	if o.bootstrap == "" {
		return fs.usageError(`Missing required argument "[bootstrap-server]"`)
	}
	balancers, err := balancersFor(o.strategy)
	if err != nil {
		return fs.usageError("%v", err)
	}
	var reset kgo.Offset
	switch strings.ToLower(o.resetPolicy) {
	case "earliest":
		reset = kgo.NewOffset().AtStart()
	case "latest":
		reset = kgo.NewOffset().AtEnd()
	case "none":
		reset = kgo.NoResetOffset()
	default:
		return fs.usageError("--reset-policy: %q is not earliest, latest or none", o.resetPolicy)
	}
	if o.sessionTimeoutMS <= 0 {
		return fs.usageError("--session-timeout must be positive, not %d", o.sessionTimeoutMS)
	}

	out := &jsonLines{w: stdout}
	revoked := func(ctx context.Context, cl *kgo.Client, lost map[string][]int32) {
		if o.autoCommit {
			// What franz-go's default revoke does: commit what was polled
			// before the partitions go.
			cl.CommitUncommittedOffsets(ctx)
		}
		if len(lost) > 0 {
			out.print(event{"name": "partitions_revoked", "partitions": partitionList(lost)})
		}
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(bootstrapServers(o.bootstrap)...), kgo.ClientID("consumer-verifiable"),
		kgo.DialTimeout(toolConnectTimeout), kgo.ConsumerGroup(o.groupID), kgo.ConsumeTopics(o.topic),
		kgo.Balancers(balancers...), kgo.SessionTimeout(time.Duration(o.sessionTimeoutMS) * time.Millisecond),
		kgo.ConsumeResetOffset(reset), kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
			out.print(event{"name": "partitions_assigned", "partitions": partitionList(assigned)})
		}),
		kgo.OnPartitionsRevoked(revoked),
		kgo.OnPartitionsLost(revoked),
	}
	if o.instanceID != "" {
		opts = append(opts, kgo.InstanceID(o.instanceID))
	}
	if o.autoCommit {
		opts = append(opts, kgo.AutoCommitInterval(5*time.Second))
	} else {
		opts = append(opts, kgo.DisableAutoCommit())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fs.failure("%v", err)
	}
	out.print(event{"name": "startup_complete"})
	var consumed int64
	var failure error
	for o.maxMessages < 0 || consumed < o.maxMessages {
		limit := int64(maxPollRecords)
		if o.maxMessages >= 0 {
			limit = min(limit, o.maxMessages-consumed)
		}
		fetches := cl.PollRecords(ctx, int(limit))
		if ctx.Err() != nil {
			cl.AllowRebalance()
			break
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			if !kerr.IsRetriable(err) && failure == nil {
				failure = fmt.Errorf("topic %s partition %d: %w", topic, partition, err)
			}
		})
		if failure != nil {
			cl.AllowRebalance()
			break
		}
		records := fetches.Records()
		if len(records) > 0 {
			consumed += int64(len(records))
			poll := make([]*sarama.ConsumerMessage, len(records))
			epochs := map[int32]int32{}
			for i, r := range records {
				poll[i] = saramaMessage(r)
				epochs[r.Partition] = r.LeaderEpoch
			}
			next := printPoll(out, o, poll)
			if !o.autoCommit {
				commitSync(ctx, cl, out, o.topic, next, epochs)
			}
		}
		cl.AllowRebalance()
	}
	cl.Close() // leaves the group; revokes, and with autocommit commits, first
	out.print(event{"name": "shutdown_complete"})
	if failure != nil {
		return fs.failure("%v", failure)
	}
	return 0
}

// commitSync commits the next offset of each partition of the poll and
// prints offsets_committed: success, or the first error (of the request or
// of a partition) as the Java consumer's commitSync would throw it.
func commitSync(ctx context.Context, cl *kgo.Client, out *jsonLines, topic string, next map[int32]int64, epochs map[int32]int32) {
	offsets := map[string]map[int32]kgo.EpochOffset{topic: {}}
	ids := make([]int32, 0, len(next))
	for p, off := range next {
		offsets[topic][p] = kgo.EpochOffset{Epoch: epochs[p], Offset: off}
		ids = append(ids, p)
	}
	slices.Sort(ids)
	var commitErr error
	cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			commitErr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && commitErr == nil {
					commitErr = perr
				}
			}
		}
	})
	list := make([]orderedObject, 0, len(ids))
	for _, p := range ids {
		list = append(list, orderedObject{{"topic", topic}, {"partition", p}, {"offset", next[p]}})
	}
	e := event{"name": "offsets_committed", "offsets": list, "success": commitErr == nil}
	if commitErr != nil {
		e["error"] = errorText(commitErr)
	}
	out.print(e)
}
