package main

// gregor reassign-partitions: kafka-reassign-partitions.sh (Kafka 2.8's
// ReassignPartitionsCommand) with --bootstrap-server, for --execute and
// --verify of a reassignment plan:
//
//	{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[2,3]}]}
//
// --execute prints the current assignment of the plan's partitions (to
// save for a rollback) and sends AlterPartitionReassignments to the
// controller; the reassignment then runs in the background. As Kafka's
// tool, it refuses to start while other reassignments are in progress
// unless --additional is given. --verify prints, per partition, whether
// its reassignment is complete or still in progress (from
// ListPartitionReassignments and the partition's replicas in Metadata).
//
// Not served: --generate, --cancel, --list, throttles (--throttle,
// --replica-alter-log-dirs-throttle; --verify has none to clear), log
// directories ("log_dirs" other than "any") and --zookeeper. The client is
// franz-go's kgo, which sends admin requests to the controller and retries
// NOT_CONTROLLER: sarama's AlterPartitionReassignments cancels every
// partition of a topic that a plan leaves out.

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type reassignPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

type reassignPlan struct {
	Version    int                 `json:"version"`
	Partitions []reassignPartition `json:"partitions"`
}

func (p reassignPartition) name() string { return p.Topic + "-" + strconv.Itoa(int(p.Partition)) }

func runReassignPartitions(args []string, stdout, stderr io.Writer) int {
	fs := newToolFlags("reassign-partitions", "--bootstrap-server <host:port> --reassignment-json-file <f> (--execute [--additional] | --verify)", stderr)
	var bootstrap, planFile string
	var execute, verify, additional bool
	var timeout time.Duration
	fs.StringVar(&bootstrap, "bootstrap-server", "", "REQUIRED: the Kafka server(s) to connect to, host:port[,host:port]")
	fs.StringVar(&planFile, "reassignment-json-file", "", "REQUIRED: the reassignment plan, in Kafka's JSON format")
	fs.BoolVar(&execute, "execute", false, "start the reassignment the plan describes")
	fs.BoolVar(&verify, "verify", false, "report whether the plan's reassignments are complete")
	fs.BoolVar(&additional, "additional", false, "start the reassignment even while others are in progress")
	fs.DurationVar(&timeout, "timeout", 30*time.Second, "how long to wait for the cluster's answers")
	if status, ok := fs.parse(args); !ok {
		return status
	}
	switch {
	case bootstrap == "":
		return fs.usageError("missing required argument --bootstrap-server")
	case execute == verify:
		return fs.usageError("exactly one of --execute and --verify must be given")
	case planFile == "":
		return fs.usageError("missing required argument --reassignment-json-file")
	case additional && !execute:
		return fs.usageError("--additional is only valid with --execute")
	}
	plan, err := readReassignPlan(planFile)
	if err != nil {
		return fs.failure("%v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrapServers(bootstrap)...), kgo.ClientID("gregor-reassign-partitions"),
		kgo.DialTimeout(toolConnectTimeout))
	if err != nil {
		return fs.failure("%v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	current, err := currentReplicas(ctx, cl, plan)
	if err != nil {
		return fs.failure("%v", err)
	}
	if execute {
		return executeReassignment(ctx, cl, fs, plan, current, additional, stdout)
	}
	return verifyReassignment(ctx, cl, fs, plan, current, stdout)
}

// readReassignPlan reads and checks a plan as Kafka's parsePartitionReassignmentData
// and validateReplicaAssignment do.
func readReassignPlan(path string) (reassignPlan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return reassignPlan{}, err
	}
	var plan reassignPlan
	if err := json.Unmarshal(data, &plan); err != nil {
		return reassignPlan{}, fmt.Errorf("%s: %v", path, err)
	}
	if plan.Version != 1 {
		return reassignPlan{}, fmt.Errorf("%s: unsupported reassignment version %d", path, plan.Version)
	}
	if len(plan.Partitions) == 0 {
		return reassignPlan{}, fmt.Errorf("partition reassignment list cannot be empty")
	}
	seen := map[string]bool{}
	var dups []string
	for _, p := range plan.Partitions {
		if seen[p.name()] {
			dups = append(dups, p.name())
		}
		seen[p.name()] = true
		if len(p.Replicas) == 0 {
			return reassignPlan{}, fmt.Errorf("partition replica list cannot be empty: %s", p.name())
		}
		for i, r := range p.Replicas {
			if slices.Contains(p.Replicas[:i], r) {
				return reassignPlan{}, fmt.Errorf("partition replica lists may not contain duplicate entries: %s contains %s", p.name(), joinIDs(p.Replicas))
			}
		}
		for _, d := range p.LogDirs {
			if d != "any" {
				return reassignPlan{}, fmt.Errorf("%s: log directories other than \"any\" are not supported", p.name())
			}
		}
	}
	if len(dups) > 0 {
		return reassignPlan{}, fmt.Errorf("partition reassignment contains duplicate topic partitions: %s", strings.Join(dups, ","))
	}
	slices.SortFunc(plan.Partitions, func(a, b reassignPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return plan, nil
}

// currentReplicas reads the replicas of the plan's partitions from
// Metadata; a partition that does not exist is an error, as in Kafka's
// tool.
func currentReplicas(ctx context.Context, cl *kgo.Client, plan reassignPlan) (map[string][]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	var topics []string
	for _, p := range plan.Partitions {
		if !slices.Contains(topics, p.Topic) {
			topics = append(topics, p.Topic)
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(p.Topic)
			req.Topics = append(req.Topics, rt)
		}
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	out := map[string][]int32{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[*t.Topic+"-"+strconv.Itoa(int(p.Partition))] = p.Replicas
		}
	}
	var missing []string
	for _, p := range plan.Partitions {
		if _, ok := out[p.name()]; !ok {
			missing = append(missing, p.name())
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("unable to find partition: %s", strings.Join(missing, ","))
	}
	return out, nil
}

// reassignmentJSON formats partitions as Kafka's formatAsReassignmentJson.
func reassignmentJSON(parts []reassignPartition) string {
	for i := range parts {
		parts[i].LogDirs = make([]string, len(parts[i].Replicas))
		for j := range parts[i].LogDirs {
			parts[i].LogDirs[j] = "any"
		}
	}
	b, _ := json.Marshal(reassignPlan{Version: 1, Partitions: parts})
	return string(b)
}

func executeReassignment(ctx context.Context, cl *kgo.Client, fs *toolFlags, plan reassignPlan, current map[string][]int32, additional bool, stdout io.Writer) int {
	if !additional {
		inProgress, err := listInProgress(ctx, cl)
		if err != nil {
			return fs.failure("%v", err)
		}
		if len(inProgress) > 0 {
			return fs.failure("Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one.")
		}
	}
	var cur []reassignPartition
	for _, p := range plan.Partitions {
		cur = append(cur, reassignPartition{Topic: p.Topic, Partition: p.Partition, Replicas: current[p.name()]})
	}
	fmt.Fprintf(stdout, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n", reassignmentJSON(cur))

	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 60000
	for _, p := range plan.Partitions {
		if n := len(req.Topics); n == 0 || req.Topics[n-1].Topic != p.Topic {
			rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
			rt.Topic = p.Topic
			req.Topics = append(req.Topics, rt)
		}
		rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
		rp.Partition, rp.Replicas = p.Partition, p.Replicas
		rt := &req.Topics[len(req.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return fs.failure("Error reassigning partition(s): %v", err)
	}
	var failed []string
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				msg := kerr.ErrorForCode(rp.ErrorCode).Error()
				if rp.ErrorMessage != nil && *rp.ErrorMessage != "" {
					msg = *rp.ErrorMessage
				}
				failed = append(failed, fmt.Sprintf("%s-%d: %s", rt.Topic, rp.Partition, msg))
			}
		}
	}
	if len(failed) > 0 {
		return fs.failure("Error reassigning partition(s):\n%s", strings.Join(failed, "\n"))
	}
	names := make([]string, len(plan.Partitions))
	for i, p := range plan.Partitions {
		names[i] = p.name()
	}
	plural := "s"
	if len(names) == 1 {
		plural = ""
	}
	fmt.Fprintf(stdout, "Successfully started partition reassignment%s for %s\n", plural, strings.Join(names, ","))
	return 0
}

// listInProgress lists the partitions being reassigned in the cluster.
func listInProgress(ctx context.Context, cl *kgo.Client) (map[string]bool, error) {
	resp, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return nil, fmt.Errorf("listing partition reassignments: %w", err)
	}
	out := map[string]bool{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[rt.Topic+"-"+strconv.Itoa(int(rp.Partition))] = true
		}
	}
	return out, nil
}

func verifyReassignment(ctx context.Context, cl *kgo.Client, fs *toolFlags, plan reassignPlan, current map[string][]int32, stdout io.Writer) int {
	inProgress, err := listInProgress(ctx, cl)
	if err != nil {
		return fs.failure("%v", err)
	}
	fmt.Fprintln(stdout, "Status of partition reassignment:")
	for _, p := range plan.Partitions {
		switch {
		case inProgress[p.name()]:
			fmt.Fprintf(stdout, "Reassignment of partition %s is still in progress.\n", p.name())
		case slices.Equal(current[p.name()], p.Replicas):
			fmt.Fprintf(stdout, "Reassignment of partition %s is complete.\n", p.name())
		default:
			fmt.Fprintf(stdout, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n",
				p.name(), joinIDs(current[p.name()]), joinIDs(p.Replicas))
		}
	}
	return 0
}
