package main

// gregor consumer-groups is Kafka 2.8's kafka-consumer-groups.sh
// (kafka.admin.ConsumerGroupCommand) on franz-go's kgo client, which sends
// each group request to the group's coordinator (FindCoordinator first),
// ListGroups to every broker and ListOffsets to each partition's leader.
//
//	--list [--state [S,...]]                 the groups (consumer protocol or offsets only), optionally with their state
//	--describe (--group G)... | --all-groups  with --offsets (default), --members [--verbose] or --state
//	--delete (--group G)... | --all-groups    DeleteGroups; only empty groups can go
//	--delete-offsets --group G --topic T[:p,p]...   OffsetDelete (KIP-496)
//	--reset-offsets (--group G)... | --all-groups  (--topic T[:p,p]... | --all-topics)
//	    --to-earliest | --to-latest | --to-current | --to-offset N | --shift-by N
//	    | --to-datetime YYYY-MM-DDTHH:mm:SS.sss[zone] | --by-duration PnDTnHnMnS   [--dry-run | --execute]
//
// The tables are Kafka's, column for column, including the blank line
// before each table and the messages on stderr ("Consumer group 'G' has no
// active members."). Offsets are reset only while the group is inactive
// (Empty or Dead), as Kafka: the new offsets are committed as an admin
// commit (generation -1, no member id), which the coordinator refuses for
// a group with members. Without --execute the plan is only printed; with
// neither --dry-run nor --execute Kafka's warning comes first.
//
// Where gregor differs: a failure (a group that does not exist, a refused
// deletion or reset) exits with status 1, where Kafka's tool prints the
// error and exits 0; --from-file, --export and --command-config are not
// supported.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// missingColumn is what Kafka prints for a value it does not have.
const missingColumn = "-"

// groupStates are the states of the classic group protocol, by their
// names on the wire (ListGroups v4, DescribeGroups).
var groupStates = []string{"PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty"}

// consumerGroupsOptions are the flags of gregor consumer-groups.
type consumerGroupsOptions struct {
	bootstrap                              string
	list, describe, delete, reset, delOffs bool
	groups, topics                         stringList
	allGroups, allTopics                   bool
	members, offsets, verbose              bool
	state                                  string // --state's value; given["state"] says whether it was given
	dryRun, execute                        bool
	toEarliest, toLatest, toCurrent        bool
	toOffset, shiftBy                      int64
	toDatetime, byDuration                 string
	timeout                                time.Duration
	given                                  map[string]bool
	out, errOut                            io.Writer
	fs                                     *toolFlags
	cl                                     *kgo.Client
}

// optionalValueFlags turns "--state" without a value into "--state=" and
// "--state X" into "--state=X", because Kafka's --state takes an optional
// value (the states to list) and Go's flag package has no such flags.
func optionalValueFlags(args []string, names ...string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if slices.Contains(names, strings.TrimLeft(a, "-")) && strings.HasPrefix(a, "-") {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				out = append(out, a+"="+args[i+1])
				i++
			} else {
				out = append(out, a+"=")
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// runConsumerGroups is `gregor consumer-groups`. It returns the process
// exit status.
func runConsumerGroups(args []string, stdout, stderr io.Writer) int {
	fs := newToolFlags("consumer-groups", "--bootstrap-server <host:port> --list|--describe|--delete|--delete-offsets|--reset-offsets [flags]", stderr)
	o := &consumerGroupsOptions{out: stdout, errOut: stderr, fs: fs}
	var timeoutMS int
	fs.StringVar(&o.bootstrap, "bootstrap-server", "", "REQUIRED: the server(s) to connect to, host:port[,host:port]")
	fs.BoolVar(&o.list, "list", false, "list all consumer groups")
	fs.BoolVar(&o.describe, "describe", false, "describe consumer group(s): offsets and lag, members or state")
	fs.BoolVar(&o.delete, "delete", false, "delete consumer group(s); they must have no members")
	fs.BoolVar(&o.reset, "reset-offsets", false, "reset the offsets of consumer group(s); they must be inactive")
	fs.BoolVar(&o.delOffs, "delete-offsets", false, "delete the committed offsets of a group for --topic(s)")
	fs.Var(&o.groups, "group", "the consumer group (repeatable)")
	fs.BoolVar(&o.allGroups, "all-groups", false, "apply to all consumer groups")
	fs.Var(&o.topics, "topic", "with --reset-offsets or --delete-offsets: topic or topic:p,p (repeatable)")
	fs.BoolVar(&o.allTopics, "all-topics", false, "with --reset-offsets: every topic the group has offsets for")
	fs.BoolVar(&o.members, "members", false, "with --describe: the group's members")
	fs.BoolVar(&o.offsets, "offsets", false, "with --describe: offsets and lag per partition (the default)")
	fs.BoolVar(&o.verbose, "verbose", false, "with --describe --members: each member's assignment")
	fs.StringVar(&o.state, "state", "", "with --describe: the group's state; with --list: the groups' states, optionally only those of the states given (comma-separated)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "with --reset-offsets: only print the new offsets")
	fs.BoolVar(&o.execute, "execute", false, "with --reset-offsets: commit the new offsets")
	fs.BoolVar(&o.toEarliest, "to-earliest", false, "reset to the earliest offset")
	fs.BoolVar(&o.toLatest, "to-latest", false, "reset to the latest offset")
	fs.BoolVar(&o.toCurrent, "to-current", false, "reset to the committed offset (the latest where none)")
	fs.Int64Var(&o.toOffset, "to-offset", 0, "reset to this offset, within the partition's range")
	fs.Int64Var(&o.shiftBy, "shift-by", 0, "move the committed offset by n (negative: back)")
	fs.StringVar(&o.toDatetime, "to-datetime", "", "reset to the first offset at or after YYYY-MM-DDTHH:mm:SS.sss[Z|+hh:mm]")
	fs.StringVar(&o.byDuration, "by-duration", "", "reset to the first offset at or after now minus PnDTnHnMnS")
	fs.IntVar(&timeoutMS, "timeout", 5000, "ms to wait for some requests (describe) to complete")
	if status, ok := fs.parse(optionalValueFlags(args, "state")); !ok {
		return status
	}
	o.given = fs.set()
	o.timeout = time.Duration(max(timeoutMS, 1)) * time.Millisecond
	if status, ok := o.check(); !ok {
		return status
	}

	addrs := bootstrapServers(o.bootstrap)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ClientID("gregor-consumer-groups"),
		kgo.DialTimeout(toolConnectTimeout), kgo.RequestRetries(toolMetadataRetries), kgo.RetryTimeout(3*toolConnectTimeout))
	if err != nil {
		return fs.failure("%s", err)
	}
	defer cl.Close()
	o.cl = cl
	ctx, cancel := context.WithTimeout(context.Background(), 6*toolConnectTimeout+o.timeout)
	defer cancel()
	switch {
	case o.list:
		return o.runList(ctx)
	case o.describe:
		return o.runDescribe(ctx)
	case o.delete:
		return o.runDelete(ctx)
	case o.delOffs:
		return o.runDeleteOffsets(ctx)
	default:
		return o.runReset(ctx)
	}
}

// check applies Kafka's checkArgs rules; the messages are Kafka's.
func (o *consumerGroupsOptions) check() (int, bool) {
	fs, given := o.fs, o.given
	actions := 0
	for _, a := range []string{"list", "describe", "delete", "reset-offsets", "delete-offsets"} {
		if given[a] {
			actions++
		}
	}
	scenarios := 0
	for _, s := range []string{"to-earliest", "to-latest", "to-current", "to-offset", "shift-by", "to-datetime", "by-duration"} {
		if given[s] {
			scenarios++
		}
	}
	hasGroups := len(o.groups) > 0 || o.allGroups
	switch {
	case actions != 1:
		return fs.usageError("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets"), false
	case !given["bootstrap-server"]:
		return fs.usageError(`Missing required argument "[bootstrap-server]"`), false
	case len(o.groups) > 0 && o.allGroups:
		return fs.usageError(`Option "[all-groups]" can't be used with option "[group]"`), false
	case (o.describe || o.delete || o.reset) && !hasGroups:
		return fs.usageError("Option %s takes one of these options: [all-groups], [group]", o.actionName()), false
	case o.describe && btoi(o.members)+btoi(o.offsets)+btoi(given["state"]) > 1:
		return fs.usageError("Option [describe] takes at most one of these options: [members], [offsets], [state]"), false
	case o.verbose && !(o.describe && o.members):
		return fs.usageError(`Option "[verbose]" can only be used with options "[describe]" and "[members]"`), false
	case given["state"] && !o.describe && !o.list:
		return fs.usageError(`Option "[state]" can only be used with options "[describe]" or "[list]"`), false
	case o.delOffs && (len(o.groups) != 1 || len(o.topics) == 0):
		return fs.usageError("Option [delete-offsets] takes the following options: [group], [topic]"), false
	case o.reset && btoi(len(o.topics) > 0)+btoi(o.allTopics) != 1:
		return fs.usageError("Option [reset-offsets] takes exactly one of these options: [topic], [all-topics]"), false
	case o.reset && scenarios != 1:
		return fs.usageError("Option [reset-offsets] takes exactly one of these options: [to-datetime], [by-duration], [to-earliest], [to-latest], [shift-by], [to-current], [to-offset]"), false
	case o.reset && o.dryRun && o.execute:
		return fs.usageError(`Option "[dry-run]" can't be used with option "[execute]"`), false
	case !o.reset && scenarios+btoi(o.dryRun)+btoi(o.execute)+btoi(o.allTopics) > 0:
		return fs.usageError("Option [to-*], [shift-by], [by-duration], [dry-run], [execute] and [all-topics] can only be used with [reset-offsets]"), false
	case len(o.topics) > 0 && !o.reset && !o.delOffs:
		return fs.usageError(`Option "[topic]" can only be used with options "[reset-offsets]" or "[delete-offsets]"`), false
	case (o.members || o.offsets) && !o.describe:
		return fs.usageError(`Options "[members]" and "[offsets]" can only be used with option "[describe]"`), false
	}
	return 0, true
}

func (o *consumerGroupsOptions) actionName() string {
	switch {
	case o.describe:
		return "[describe]"
	case o.delete:
		return "[delete]"
	}
	return "[reset-offsets]"
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// printError prints as Kafka's printError: "Error: " and the message, on
// stderr.
func (o *consumerGroupsOptions) printError(format string, args ...any) {
	fmt.Fprintf(o.errOut, "Error: "+format+"\n", args...)
}

// --- requests -----------------------------------------------------------

// listedGroup is one group of ListGroups.
type listedGroup struct {
	id, protocolType, state string
}

// listGroups asks every broker for its groups and keeps the consumer
// groups: protocol type "consumer", or empty for groups that only have
// committed offsets, as Kafka's Admin.listConsumerGroups does.
func (o *consumerGroupsOptions) listGroups(ctx context.Context) ([]listedGroup, error) {
	req := kmsg.NewPtrListGroupsRequest()
	var groups []listedGroup
	for _, shard := range o.cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			return nil, shard.Err
		}
		resp := shard.Resp.(*kmsg.ListGroupsResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return nil, err
		}
		for _, g := range resp.Groups {
			if g.ProtocolType == "consumer" || g.ProtocolType == "" {
				groups = append(groups, listedGroup{g.Group, g.ProtocolType, g.GroupState})
			}
		}
	}
	slices.SortFunc(groups, func(a, b listedGroup) int { return strings.Compare(a.id, b.id) })
	return groups, nil
}

// groupIDs are the groups the command is about: --group's, or every
// consumer group with --all-groups.
func (o *consumerGroupsOptions) groupIDs(ctx context.Context) ([]string, error) {
	if !o.allGroups {
		return o.groups, nil
	}
	groups, err := o.listGroups(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(groups))
	for i, g := range groups {
		ids[i] = g.id
	}
	return ids, nil
}

// describeGroup sends DescribeGroups for one group to its coordinator. A
// group the coordinator does not know comes back Dead, with no members.
func (o *consumerGroupsOptions) describeGroup(ctx context.Context, group string) (*kmsg.DescribeGroupsResponseGroup, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return nil, err
	}
	for i := range resp.Groups {
		if g := &resp.Groups[i]; g.Group == group {
			if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
				return nil, err
			}
			return g, nil
		}
	}
	return nil, fmt.Errorf("no description of group %s in the answer", group)
}

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

func compareTP(a, b topicPartition) int {
	if c := strings.Compare(a.topic, b.topic); c != 0 {
		return c
	}
	return int(a.partition) - int(b.partition)
}

// committedOffsets fetches every offset the group has committed.
func (o *consumerGroupsOptions) committedOffsets(ctx context.Context, group string) (map[topicPartition]int64, error) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group // no topics: all of them
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	offsets := map[topicPartition]int64{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("offset of %s-%d: %w", t.Topic, p.Partition, err)
			}
			if p.Offset >= 0 {
				offsets[topicPartition{t.Topic, p.Partition}] = p.Offset
			}
		}
	}
	return offsets, nil
}

// listOffsets asks the leaders for the offset of each partition at
// timestamp (-1: the log end, as Kafka's endOffsets with
// read_uncommitted; -2: the log start). A partition with no record at or
// after the timestamp maps to -1.
func (o *consumerGroupsOptions) listOffsets(ctx context.Context, tps []topicPartition, timestamp int64) (map[topicPartition]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.topic] = i
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = tp.topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = tp.partition
		rp.Timestamp = timestamp
		rp.CurrentLeaderEpoch = -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	out := map[topicPartition]int64{}
	if len(tps) == 0 {
		return out, nil
	}
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return nil, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("offsets of %s-%d: %w", t.Topic, p.Partition, err)
			}
			out[topicPartition{t.Topic, p.Partition}] = p.Offset
		}
	}
	return out, nil
}

// topicPartitions returns the partitions of each topic, from Metadata; a
// topic that does not exist has UNKNOWN_TOPIC_OR_PARTITION as its error.
func (o *consumerGroupsOptions) topicPartitions(ctx context.Context, topics []string) (map[string][]int32, map[string]error, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return nil, nil, err
	}
	parts, errs := map[string][]int32{}, map[string]error{}
	for _, t := range resp.Topics {
		name := stringOr(t.Topic, "")
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			errs[name] = err
			continue
		}
		for _, p := range t.Partitions {
			parts[name] = append(parts[name], p.Partition)
		}
		slices.Sort(parts[name])
	}
	return parts, errs, nil
}

// parseTopicArgs turns --topic T and T:0,1 into topics and their chosen
// partitions (nil: all).
func parseTopicArgs(args []string) (map[string][]int32, []string, error) {
	chosen := map[string][]int32{}
	var order []string
	for _, a := range args {
		topic, list, hasList := strings.Cut(a, ":")
		if _, ok := chosen[topic]; !ok {
			order = append(order, topic)
			chosen[topic] = nil
		}
		if !hasList {
			continue
		}
		for _, s := range strings.Split(list, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			if err != nil || n < 0 {
				return nil, nil, fmt.Errorf("--topic %s: %q is not a partition", a, s)
			}
			chosen[topic] = append(chosen[topic], int32(n))
		}
	}
	return chosen, order, nil
}

// errorText is what Kafka prints for a broker's error: its Java
// exception's message.
func errorText(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Description
	}
	return err.Error()
}

// javaExceptionString is the Java exception's toString for err: the class
// name, a colon and the message.
func javaExceptionString(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		class, message := javaExceptionOfCode(ke.Code)
		return strings.TrimPrefix(class, "class ") + ": " + message
	}
	return "org.apache.kafka.common.KafkaException: " + err.Error()
}

// --- --list ----------------------------------------------------------------

func (o *consumerGroupsOptions) runList(ctx context.Context) int {
	groups, err := o.listGroups(ctx)
	if err != nil {
		return o.fs.failure("%s", errorText(err))
	}
	if !o.given["state"] {
		for _, g := range groups {
			fmt.Fprintln(o.out, g.id)
		}
		return 0
	}
	var want []string
	if o.state != "" {
		for _, s := range strings.Split(o.state, ",") {
			i := slices.IndexFunc(groupStates, func(st string) bool { return strings.EqualFold(st, strings.TrimSpace(s)) })
			if i < 0 {
				return o.fs.usageError("--state: %q is not a group state (%s)", strings.TrimSpace(s), strings.Join(groupStates, ", "))
			}
			want = append(want, groupStates[i])
		}
	}
	width := 15
	var shown []listedGroup
	for _, g := range groups {
		if len(want) == 0 || slices.Contains(want, g.state) {
			shown = append(shown, g)
			width = max(width, len(g.id))
		}
	}
	fmt.Fprintf(o.out, "%-*s %s\n", width, "GROUP", "STATE")
	for _, g := range shown {
		fmt.Fprintf(o.out, "%-*s %s\n", width, g.id, g.state)
	}
	return 0
}

// --- --describe ------------------------------------------------------------

// groupMember is a member of a described group with its assignment.
type groupMember struct {
	id, instanceID, clientID, host string
	assigned                       []topicPartition
}

// describedGroup is what --describe gathers about one group.
type describedGroup struct {
	id, state, protocol string
	members             []groupMember
}

func (o *consumerGroupsOptions) describeOne(ctx context.Context, group string) (*describedGroup, error) {
	g, err := o.describeGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	d := &describedGroup{id: group, state: g.State, protocol: g.Protocol}
	for _, m := range g.Members {
		gm := groupMember{id: m.MemberID, instanceID: stringOr(m.InstanceID, ""), clientID: m.ClientID, host: m.ClientHost}
		if g.ProtocolType == "consumer" && len(m.MemberAssignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if err := a.ReadFrom(m.MemberAssignment); err == nil {
				for _, t := range a.Topics {
					for _, p := range t.Partitions {
						gm.assigned = append(gm.assigned, topicPartition{t.Topic, p})
					}
				}
			}
		}
		slices.SortFunc(gm.assigned, compareTP)
		d.members = append(d.members, gm)
	}
	return d, nil
}

// shouldPrint is Kafka's shouldPrintMemberState: it prints the group's
// state message and says whether the table follows (rows > 0) and whether
// the group exists.
func (o *consumerGroupsOptions) shouldPrint(group, state string, rows int) (print, exists bool) {
	switch state {
	case "Dead":
		o.printError("Consumer group '%s' does not exist.", group)
		return false, false
	case "Empty":
		fmt.Fprintf(o.errOut, "\nConsumer group '%s' has no active members.\n", group)
	case "PreparingRebalance", "CompletingRebalance":
		fmt.Fprintf(o.errOut, "\nWarning: Consumer group '%s' is rebalancing.\n", group)
	}
	return rows > 0, true
}

func (o *consumerGroupsOptions) runDescribe(ctx context.Context) int {
	ids, err := o.groupIDs(ctx)
	if err != nil {
		return o.fs.failure("%s", errorText(err))
	}
	status := 0
	for _, id := range ids {
		d, err := o.describeOne(ctx, id)
		if err != nil {
			o.printError("Executing consumer group command failed due to %s", errorText(err))
			status = 1
			continue
		}
		var ok bool
		switch {
		case o.members:
			ok = o.printMembers(d)
		case o.given["state"]:
			ok = o.printState(ctx, d)
		default:
			ok, err = o.printOffsets(ctx, d)
			if err != nil {
				o.printError("Executing consumer group command failed due to %s", errorText(err))
				ok = false
			}
		}
		if !ok {
			status = 1
		}
	}
	return status
}

// offsetRow is one line of the offsets table; "-" where there is no value.
type offsetRow struct {
	topic, partition, current, end, lag, consumer, host, client string
}

func (o *consumerGroupsOptions) printOffsets(ctx context.Context, d *describedGroup) (bool, error) {
	if d.state == "Dead" {
		o.shouldPrint(d.id, d.state, 0)
		return false, nil
	}
	committed, err := o.committedOffsets(ctx, d.id)
	if err != nil {
		return false, err
	}
	// Members with partitions first, the most partitions first, as Kafka.
	members := slices.Clone(d.members)
	members = slices.DeleteFunc(members, func(m groupMember) bool { return len(m.assigned) == 0 })
	slices.SortStableFunc(members, func(a, b groupMember) int { return len(b.assigned) - len(a.assigned) })
	assigned := map[topicPartition]bool{}
	var all []topicPartition
	for _, m := range members {
		for _, tp := range m.assigned {
			assigned[tp] = true
			all = append(all, tp)
		}
	}
	var unassigned []topicPartition
	for tp := range committed {
		if !assigned[tp] {
			unassigned = append(unassigned, tp)
			all = append(all, tp)
		}
	}
	slices.SortFunc(unassigned, compareTP)
	ends, err := o.listOffsets(ctx, all, -1)
	if err != nil {
		return false, err
	}
	row := func(tp topicPartition, consumer, host, client string) offsetRow {
		r := offsetRow{tp.topic, strconv.Itoa(int(tp.partition)), missingColumn, missingColumn, missingColumn, consumer, host, client}
		c, hasCommitted := committed[tp]
		if hasCommitted {
			r.current = strconv.FormatInt(c, 10)
		}
		if e, ok := ends[tp]; ok {
			r.end = strconv.FormatInt(e, 10)
			if hasCommitted {
				r.lag = strconv.FormatInt(e-c, 10)
			}
		}
		return r
	}
	var rows []offsetRow
	for _, m := range members {
		for _, tp := range m.assigned {
			rows = append(rows, row(tp, m.id, m.host, m.clientID))
		}
	}
	for _, tp := range unassigned {
		rows = append(rows, row(tp, missingColumn, missingColumn, missingColumn))
	}
	if print, _ := o.shouldPrint(d.id, d.state, len(rows)); !print {
		return true, nil
	}
	wGroup, wTopic, wConsumer, wHost := max(15, len(d.id)), 15, 15, 15
	for _, r := range rows {
		wTopic, wConsumer, wHost = max(wTopic, len(r.topic)), max(wConsumer, len(r.consumer)), max(wHost, len(r.host))
	}
	line := func(group string, r offsetRow) {
		fmt.Fprintf(o.out, "%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s\n", wGroup, group, wTopic, r.topic, r.partition,
			r.current, r.end, r.lag, wConsumer, r.consumer, wHost, r.host, r.client)
	}
	fmt.Fprintln(o.out)
	line("GROUP", offsetRow{"TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID"})
	for _, r := range rows {
		line(d.id, r)
	}
	return true, nil
}

func (o *consumerGroupsOptions) printMembers(d *describedGroup) bool {
	print, exists := o.shouldPrint(d.id, d.state, len(d.members))
	if !print {
		return exists
	}
	wGroup, wConsumer, wInstance, wHost, wClient := max(15, len(d.id)), 15, 17, 15, 15
	withInstance := false
	for _, m := range d.members {
		wConsumer, wInstance = max(wConsumer, len(m.id)), max(wInstance, len(m.instanceID))
		wHost, wClient = max(wHost, len(m.host)), max(wClient, len(m.clientID))
		withInstance = withInstance || m.instanceID != ""
	}
	line := func(group, consumer, instance, host, client, partitions, assignment string) {
		fmt.Fprintf(o.out, "%-*s %-*s ", wGroup, group, wConsumer, consumer)
		if withInstance {
			fmt.Fprintf(o.out, "%-*s ", wInstance, instance)
		}
		fmt.Fprintf(o.out, "%-*s %-*s %-15s ", wHost, host, wClient, client, partitions)
		if o.verbose {
			fmt.Fprint(o.out, assignment)
		}
		fmt.Fprintln(o.out)
	}
	fmt.Fprintln(o.out)
	line("GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS", "ASSIGNMENT")
	for _, m := range d.members {
		line(d.id, m.id, m.instanceID, m.host, m.clientID, strconv.Itoa(len(m.assigned)), assignmentText(m.assigned))
	}
	return true
}

// assignmentText prints an assignment as Kafka: topic(p,p), topics sorted
// and comma-separated, or "-" when empty.
func assignmentText(tps []topicPartition) string {
	if len(tps) == 0 {
		return missingColumn
	}
	byTopic := map[string][]string{}
	var topics []string
	for _, tp := range tps {
		if _, ok := byTopic[tp.topic]; !ok {
			topics = append(topics, tp.topic)
		}
		byTopic[tp.topic] = append(byTopic[tp.topic], strconv.Itoa(int(tp.partition)))
	}
	slices.Sort(topics)
	parts := make([]string, len(topics))
	for i, t := range topics {
		parts[i] = t + "(" + strings.Join(byTopic[t], ",") + ")"
	}
	return strings.Join(parts, ", ")
}

func (o *consumerGroupsOptions) printState(ctx context.Context, d *describedGroup) bool {
	if _, exists := o.shouldPrint(d.id, d.state, 1); !exists {
		return false
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey = d.id
	coordinator := missingColumn
	if resp, err := req.RequestWith(ctx, o.cl); err == nil && resp.ErrorCode == 0 {
		coordinator = fmt.Sprintf("%s:%d (%d)", resp.Host, resp.Port, resp.NodeID)
	}
	width := max(25, len(coordinator))
	fmt.Fprintf(o.out, "\n%-*s %-25s %-20s %-15s %s", width, "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
	fmt.Fprintf(o.out, "\n%-*s %-25s %-20s %-15s %d\n", width, d.id, coordinator, d.protocol, d.state, len(d.members))
	return true
}

// --- --delete --------------------------------------------------------------

func (o *consumerGroupsOptions) runDelete(ctx context.Context) int {
	ids, err := o.groupIDs(ctx)
	if err != nil {
		return o.fs.failure("%s", errorText(err))
	}
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = ids
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return o.fs.failure("%s", errorText(err))
	}
	results := map[string]error{}
	for _, g := range resp.Groups {
		results[g.Group] = kerr.ErrorForCode(g.ErrorCode)
	}
	var deleted, failed []string
	for _, id := range ids {
		if err, ok := results[id]; ok && err == nil {
			deleted = append(deleted, id)
		} else {
			if !ok {
				results[id] = fmt.Errorf("no answer for the group")
			}
			failed = append(failed, id)
		}
	}
	quoted := func(ids []string) string { return "'" + strings.Join(ids, "', '") + "'" }
	if len(failed) == 0 {
		fmt.Fprintf(o.out, "Deletion of requested consumer groups (%s) was successful.\n", quoted(deleted))
		return 0
	}
	o.printError("Deletion of some consumer groups failed:")
	for _, id := range failed {
		fmt.Fprintf(o.out, "* Group '%s' could not be deleted due to: %s\n", id, javaExceptionString(results[id]))
	}
	if len(deleted) > 0 {
		fmt.Fprintf(o.out, "\nThese consumer groups were deleted successfully: %s\n", quoted(deleted))
	}
	return 1
}

// --- --delete-offsets ------------------------------------------------------

func (o *consumerGroupsOptions) runDeleteOffsets(ctx context.Context) int {
	group := o.groups[0]
	chosen, order, err := parseTopicArgs(o.topics)
	if err != nil {
		return o.fs.usageError("%v", err)
	}
	parts, topicErrs, err := o.topicPartitions(ctx, order)
	if err != nil {
		return o.fs.failure("%s", errorText(err))
	}
	type result struct {
		tp  topicPartition
		err error
	}
	var results []result
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	for _, topic := range order {
		if err := topicErrs[topic]; err != nil {
			results = append(results, result{topicPartition{topic, -1}, err})
			continue
		}
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = topic
		ps := chosen[topic]
		if ps == nil {
			ps = parts[topic]
		}
		for _, p := range ps {
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	topLevel := error(nil)
	if len(req.Topics) > 0 {
		resp, err := req.RequestWith(ctx, o.cl)
		if err != nil {
			return o.fs.failure("%s", errorText(err))
		}
		topLevel = kerr.ErrorForCode(resp.ErrorCode)
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				results = append(results, result{topicPartition{t.Topic, p.Partition}, kerr.ErrorForCode(p.ErrorCode)})
			}
		}
	}
	partitionFailed := false
	for _, r := range results {
		if r.err != nil {
			partitionFailed = true
			if topLevel == nil {
				topLevel = kerr.UnknownTopicOrPartition
			}
		}
	}
	switch {
	case topLevel == nil:
		fmt.Fprintf(o.out, "Request succeed for deleting offsets with topic %s group %s\n", strings.Join(order, ", "), group)
	case errors.Is(topLevel, kerr.InvalidGroupID):
		o.printError("'%s' is not valid.", group)
	case errors.Is(topLevel, kerr.GroupIDNotFound):
		o.printError("'%s' does not exist.", group)
	case errors.Is(topLevel, kerr.GroupAuthorizationFailed):
		o.printError("Access to '%s' is not authorized.", group)
	case errors.Is(topLevel, kerr.NonEmptyGroup):
		o.printError("Deleting offsets of a consumer group '%s' is forbidden if the group is not empty.", group)
	case errors.Is(topLevel, kerr.GroupSubscribedToTopic), errors.Is(topLevel, kerr.TopicAuthorizationFailed),
		errors.Is(topLevel, kerr.UnknownTopicOrPartition):
		o.printError("Encounter some partition level error, see the follow-up details:")
	default:
		o.printError("Encounter some unknown error: %s", topLevel)
	}
	slices.SortFunc(results, func(a, b result) int { return compareTP(a.tp, b.tp) })
	fmt.Fprintf(o.out, "\n%-30s %-15s %-15s\n", "TOPIC", "PARTITION", "STATUS")
	for _, r := range results {
		partition := "Not Provided"
		if r.tp.partition >= 0 {
			partition = strconv.Itoa(int(r.tp.partition))
		}
		status := "Successful"
		if r.err != nil {
			status = "Error: " + errorText(r.err)
		} else if topLevel != nil && !partitionFailed {
			status = "Error: " + errorText(topLevel)
		}
		fmt.Fprintf(o.out, "%-30s %-15s %-15s\n", r.tp.topic, partition, status)
	}
	if topLevel != nil {
		return 1
	}
	return 0
}

// --- --reset-offsets -------------------------------------------------------

func (o *consumerGroupsOptions) runReset(ctx context.Context) int {
	var timestamp int64 // for --to-datetime and --by-duration
	switch {
	case o.given["to-datetime"]:
		t, err := parseDatetime(o.toDatetime)
		if err != nil {
			return o.fs.usageError("%v", err)
		}
		timestamp = t.UnixMilli()
	case o.given["by-duration"]:
		d, err := parseISODuration(o.byDuration)
		if err != nil {
			return o.fs.usageError("%v", err)
		}
		timestamp = time.Now().Add(-d.Abs()).UnixMilli()
	}
	chosen, order, err := parseTopicArgs(o.topics)
	if err != nil {
		return o.fs.usageError("%v", err)
	}
	ids, err := o.groupIDs(ctx)
	if err != nil {
		return o.fs.failure("%s", errorText(err))
	}
	if !o.dryRun && !o.execute {
		fmt.Fprintln(o.out, "WARN: No action will be performed as the --execute option is missing."+
			"In a future major release, the default behavior of this command will be to prompt the user before executing the reset rather than doing a dry run. "+
			"You should add the --dry-run option explicitly if you are scripting this command and want to keep the current default behavior without prompting.")
	}
	type plan struct {
		group   string
		offsets map[topicPartition]int64
	}
	var plans []plan
	status := 0
	for _, group := range ids {
		d, err := o.describeGroup(ctx, group)
		if err != nil {
			o.printError("Executing consumer group command failed due to %s", errorText(err))
			status = 1
			continue
		}
		if d.State != "Empty" && d.State != "Dead" {
			o.printError("Assignments can only be reset if the group '%s' is inactive, but the current state is %s.", group, d.State)
			status = 1
			continue
		}
		committed, err := o.committedOffsets(ctx, group)
		if err != nil {
			o.printError("Executing consumer group command failed due to %s", errorText(err))
			status = 1
			continue
		}
		var tps []topicPartition
		if o.allTopics {
			for tp := range committed {
				tps = append(tps, tp)
			}
		} else {
			parts, topicErrs, err := o.topicPartitions(ctx, order)
			if err != nil {
				return o.fs.failure("%s", errorText(err))
			}
			for _, topic := range order {
				if err := topicErrs[topic]; err != nil {
					return o.fs.failure("topic %s: %s", topic, errorText(err))
				}
				ps := chosen[topic]
				if ps == nil {
					ps = parts[topic]
				}
				for _, p := range ps {
					tps = append(tps, topicPartition{topic, p})
				}
			}
		}
		slices.SortFunc(tps, compareTP)
		offsets, err := o.newOffsets(ctx, tps, committed, timestamp)
		if err != nil {
			o.printError("%s", errorText(err))
			status = 1
			continue
		}
		if o.execute {
			if err := o.commitOffsets(ctx, group, offsets); err != nil {
				o.printError("Executing consumer group command failed due to %s", errorText(err))
				status = 1
				continue
			}
		}
		plans = append(plans, plan{group, offsets})
	}
	if len(plans) > 0 {
		fmt.Fprintf(o.out, "\n%-30s %-30s %-10s %-15s\n", "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
	}
	for _, p := range plans {
		tps := make([]topicPartition, 0, len(p.offsets))
		for tp := range p.offsets {
			tps = append(tps, tp)
		}
		slices.SortFunc(tps, compareTP)
		for _, tp := range tps {
			fmt.Fprintf(o.out, "%-30s %-30s %-10d %-15d\n", p.group, tp.topic, tp.partition, p.offsets[tp])
		}
	}
	return status
}

// newOffsets computes the reset scenario's offset for each partition. As
// Kafka's, --to-offset and --shift-by are clamped to the partition's
// [log start, log end] with a message; --to-current takes the log end for
// a partition without a committed offset; --to-datetime and --by-duration
// take the log end where no record is that recent.
func (o *consumerGroupsOptions) newOffsets(ctx context.Context, tps []topicPartition, committed map[topicPartition]int64, timestamp int64) (map[topicPartition]int64, error) {
	starts, err := o.listOffsets(ctx, tps, -2)
	if err != nil {
		return nil, err
	}
	ends, err := o.listOffsets(ctx, tps, -1)
	if err != nil {
		return nil, err
	}
	clamp := func(tp topicPartition, offset int64) int64 {
		switch {
		case offset > ends[tp]:
			fmt.Fprintf(o.out, "New offset (%d) is higher than latest offset for topic partition %s. Value will be set to %d\n", offset, tp, ends[tp])
			return ends[tp]
		case offset < starts[tp]:
			fmt.Fprintf(o.out, "New offset (%d) is lower than earliest offset for topic partition %s. Value will be set to %d\n", offset, tp, starts[tp])
			return starts[tp]
		}
		return offset
	}
	var byTime map[topicPartition]int64
	if o.given["to-datetime"] || o.given["by-duration"] {
		if byTime, err = o.listOffsets(ctx, tps, timestamp); err != nil {
			return nil, err
		}
	}
	out := make(map[topicPartition]int64, len(tps))
	for _, tp := range tps {
		c, hasCommitted := committed[tp]
		switch {
		case o.toEarliest:
			out[tp] = starts[tp]
		case o.toLatest:
			out[tp] = ends[tp]
		case o.toCurrent:
			out[tp] = ends[tp]
			if hasCommitted {
				out[tp] = c
			}
		case o.given["to-offset"]:
			out[tp] = clamp(tp, o.toOffset)
		case o.given["shift-by"]:
			if !hasCommitted {
				return nil, fmt.Errorf("Cannot shift offset for partition %s since there is no current committed offset", tp)
			}
			out[tp] = clamp(tp, c+o.shiftBy)
		default: // --to-datetime, --by-duration
			out[tp] = ends[tp]
			if off, ok := byTime[tp]; ok && off >= 0 {
				out[tp] = off
			}
		}
	}
	return out, nil
}

// commitOffsets commits offsets for the group as an admin client does:
// generation -1 and no member id, which the coordinator accepts only
// while the group has no members.
func (o *consumerGroupsOptions) commitOffsets(ctx context.Context, group string, offsets map[topicPartition]int64) error {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = group
	req.Generation = -1
	byTopic := map[string]int{}
	for tp, off := range offsets {
		i, ok := byTopic[tp.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.topic] = i
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = tp.topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition = tp.partition
		rp.Offset = off
		rp.LeaderEpoch = -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	resp, err := req.RequestWith(ctx, o.cl)
	if err != nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit of %s-%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// parseDatetime reads --to-datetime as Kafka's Utils.getDateTime:
// yyyy-MM-ddTHH:mm:ss.SSS, then optionally Z or a ±hh:mm / ±hhmm offset;
// without one, the local time zone.
func parseDatetime(s string) (time.Time, error) {
	const base = "2006-01-02T15:04:05.000"
	for _, layout := range []string{base + "Z07:00", base + "Z0700", base + "Z07"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, err := time.ParseInLocation(base, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format or is not in the yyyy-MM-ddTHH:mm:ss.SSS format: %s", s)
}

// isoDuration is java.time.Duration's text form, days and smaller.
var isoDuration = regexp.MustCompile(`^([-+]?)P(?:([-+]?\d+)D)?(?:T(?:([-+]?\d+)H)?(?:([-+]?\d+)M)?(?:([-+]?\d+(?:\.\d{1,9})?)S)?)?$`)

// parseISODuration reads --by-duration as Java's Duration.parse does
// (PnDTnHnMn.nS, case-insensitive).
func parseISODuration(s string) (time.Duration, error) {
	m := isoDuration.FindStringSubmatch(strings.ToUpper(s))
	if m == nil || m[2]+m[3]+m[4]+m[5] == "" || strings.HasSuffix(strings.ToUpper(s), "T") {
		return 0, fmt.Errorf("--by-duration: %q is not an ISO-8601 duration such as PT0H5M0S or P1DT2H", s)
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+2] != "" {
			n, err := strconv.ParseInt(m[i+2], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("--by-duration: %q: %v", s, err)
			}
			d += time.Duration(n) * unit
		}
	}
	if m[5] != "" {
		f, err := strconv.ParseFloat(m[5], 64)
		if err != nil {
			return 0, fmt.Errorf("--by-duration: %q: %v", s, err)
		}
		d += time.Duration(f * float64(time.Second))
	}
	if m[1] == "-" {
		d = -d
	}
	return d, nil
}

// stringOr returns *s, or def when s is nil.
func stringOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}
