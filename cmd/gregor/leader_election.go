package main

// gregor leader-election: kafka-leader-election.sh (Kafka 2.8's
// ElectLeadersCommand). It sends ElectLeaders to the controller, through
// sarama's ClusterAdmin, for one partition (--topic and --partition), the
// partitions of a JSON file (--path-to-json-file, {"partitions":[{"topic":
// "t","partition":0}]}) or every partition (--all-topic-partitions: Kafka
// sends null topics, which sarama cannot encode, so the tool lists the
// topics and sends each partition), and prints what Kafka's tool prints:
//
//	Successfully completed leader election (PREFERRED) for partitions t-0, t-1
//	Valid replica already elected for partitions t-2
//	Error completing leader election (PREFERRED) for partition: t-3: <error>
//
// The exit status is 1 when a partition failed (Kafka's tool throws
// AdminCommandFailedException "n replica(s) could not be elected").

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/IBM/sarama"
)

func runLeaderElection(args []string, stdout, stderr io.Writer) int {
	fs := newToolFlags("leader-election", "--bootstrap-server <host:port> --election-type preferred|unclean (--topic <t> --partition <p> | --all-topic-partitions | --path-to-json-file <f>)", stderr)
	var bootstrap, electionType, topic, jsonFile string
	var partition int
	var all bool
	fs.StringVar(&bootstrap, "bootstrap-server", "", "REQUIRED: the Kafka server(s) to connect to, host:port[,host:port]")
	fs.StringVar(&electionType, "election-type", "", "REQUIRED: preferred or unclean")
	fs.StringVar(&topic, "topic", "", "the topic of the partition to elect a leader for; requires --partition")
	fs.IntVar(&partition, "partition", -1, "the partition to elect a leader for; requires --topic")
	fs.BoolVar(&all, "all-topic-partitions", false, "elect leaders for every partition of the cluster")
	fs.StringVar(&jsonFile, "path-to-json-file", "", `a JSON file of partitions: {"partitions":[{"topic":"t","partition":0}]}`)
	if status, ok := fs.parse(args); !ok {
		return status
	}
	given := fs.set()
	if bootstrap == "" {
		return fs.usageError("missing required argument --bootstrap-server")
	}
	var typ sarama.ElectionType
	switch strings.ToLower(electionType) {
	case "preferred":
		typ = sarama.PreferredElection
	case "unclean":
		typ = sarama.UncleanElection
	case "":
		return fs.usageError("missing required argument --election-type")
	default:
		return fs.usageError("--election-type must be preferred or unclean, not %q", electionType)
	}
	sources := 0
	for _, f := range []string{"topic", "all-topic-partitions", "path-to-json-file"} {
		if given[f] {
			sources++
		}
	}
	switch {
	case sources != 1:
		return fs.usageError("one and only one of --topic, --all-topic-partitions and --path-to-json-file must be given")
	case given["topic"] && !given["partition"]:
		return fs.usageError("--partition is required with --topic")
	case given["partition"] && !given["topic"]:
		return fs.usageError("--partition requires --topic")
	}
	var partitions map[string][]int32 // nil: all
	switch {
	case given["topic"]:
		partitions = map[string][]int32{topic: {int32(partition)}}
	case given["path-to-json-file"]:
		var err error
		if partitions, err = readElectionFile(jsonFile); err != nil {
			return fs.failure("%v", err)
		}
	}

	addrs := bootstrapServers(bootstrap)
	admin, err := sarama.NewClusterAdmin(addrs, newSaramaConfig("gregor-leader-election"))
	if err != nil {
		return fs.failure("%s", connectError(addrs, err))
	}
	defer admin.Close()
	if all {
		// sarama cannot send null topics (it sends an empty list, which
		// elects nothing), so every partition is listed explicitly.
		topics, err := admin.ListTopics()
		if err != nil {
			fmt.Fprintf(stderr, "Error while making request: %s\n", kafkaErrorText(err))
			return 1
		}
		partitions = map[string][]int32{}
		for name, d := range topics {
			for p := int32(0); p < d.NumPartitions; p++ {
				partitions[name] = append(partitions[name], p)
			}
		}
	}
	results, err := admin.ElectLeaders(typ, partitions)
	if err != nil {
		fmt.Fprintf(stderr, "Error while making request: %s\n", kafkaErrorText(err))
		return 1
	}
	return printElectionResults(stdout, stderr, typ, results)
}

// printElectionResults prints the outcome as ElectLeadersCommand does,
// partitions sorted.
func printElectionResults(stdout, stderr io.Writer, typ sarama.ElectionType, results map[string]map[int32]*sarama.PartitionResult) int {
	name := "PREFERRED"
	if typ == sarama.UncleanElection {
		name = "UNCLEAN"
	}
	type tpResult struct {
		topic     string
		partition int32
		res       *sarama.PartitionResult
	}
	var all []tpResult
	for topic, parts := range results {
		for p, res := range parts {
			all = append(all, tpResult{topic, p, res})
		}
	}
	slices.SortFunc(all, func(a, b tpResult) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	var succeeded, noop []string
	var failed []tpResult
	for _, r := range all {
		switch {
		case errors.Is(r.res.ErrorCode, sarama.ErrNoError):
			succeeded = append(succeeded, fmt.Sprintf("%s-%d", r.topic, r.partition))
		case errors.Is(r.res.ErrorCode, sarama.ErrElectionNotNeeded):
			noop = append(noop, fmt.Sprintf("%s-%d", r.topic, r.partition))
		default:
			failed = append(failed, r)
		}
	}
	if len(succeeded) > 0 {
		fmt.Fprintf(stdout, "Successfully completed leader election (%s) for partitions %s\n", name, strings.Join(succeeded, ", "))
	}
	if len(noop) > 0 {
		fmt.Fprintf(stdout, "Valid replica already elected for partitions %s\n", strings.Join(noop, ", "))
	}
	if len(failed) == 0 {
		return 0
	}
	for _, r := range failed {
		text := strings.Replace(r.res.ErrorCode.Error(), "kafka server: ", "", 1)
		if r.res.ErrorMessage != nil && *r.res.ErrorMessage != "" {
			text += ": " + *r.res.ErrorMessage
		}
		fmt.Fprintf(stdout, "Error completing leader election (%s) for partition: %s-%d: %s\n", name, r.topic, r.partition, text)
	}
	fmt.Fprintf(stderr, "Error while making request: %d replica(s) could not be elected\n", len(failed))
	return 1
}

// readElectionFile reads --path-to-json-file. As Kafka's tool, it refuses
// a file that lists a partition twice.
func readElectionFile(path string) (map[string][]int32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v struct {
		Partitions *[]struct {
			Topic     *string `json:"topic"`
			Partition *int32  `json:"partition"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if v.Partitions == nil {
		return nil, fmt.Errorf("%s: replica election data is missing \"partitions\" field", path)
	}
	out := map[string][]int32{}
	var dups []string
	for _, p := range *v.Partitions {
		if p.Topic == nil || p.Partition == nil {
			return nil, fmt.Errorf("%s: an entry lacks \"topic\" or \"partition\"", path)
		}
		if slices.Contains(out[*p.Topic], *p.Partition) {
			dups = append(dups, fmt.Sprintf("%s-%d", *p.Topic, *p.Partition))
			continue
		}
		out[*p.Topic] = append(out[*p.Topic], *p.Partition)
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("replica election data contains duplicate partitions: %s", strings.Join(dups, ","))
	}
	return out, nil
}
