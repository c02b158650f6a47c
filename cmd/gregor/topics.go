package main

// gregor topics is Kafka's kafka-topics.sh (kafka.admin.TopicCommand) in its
// 2.8 --bootstrap-server form, on sarama's ClusterAdmin. The output follows
// Kafka 2.8 so that scripts written against kafka-topics keep working:
//
//	--create    WARNING line for names with '.' or '_', then "Created topic X."
//	--list      topic names, sorted, one a line (an empty line when none)
//	--describe  Topic: X\tTopicId: <id>\tPartitionCount: N\tReplicationFactor: R\tConfigs: k=v,...
//	            \tTopic: X\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2
//	--alter, --delete  nothing on success
//
// A failure prints "Error while executing topic command : <message>" with
// the broker's message, as TopicCommand does, and exits 1; Kafka prints that
// line on stdout, gregor on stderr. --topic is a regular expression that must
// match the whole name (with ',' meaning '|'), as Kafka's IncludeList, except
// for --create.
//
// Where the output deliberately differs from Kafka 2.8: --describe prints
// topics in name order (Kafka's order is a hash map's) and configs in name
// order (Kafka's is the broker's); the zookeeper-only flags (--zookeeper,
// --delete-config, --disable-rack-aware) and --at-min-isr-partitions,
// --under-min-isr-partitions and --command-config are not supported.

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

// topicsOptions are the kafka-topics flags gregor supports.
type topicsOptions struct {
	bootstrap         string
	topic             string
	partitions        int
	replicationFactor int
	replicaAssignment string
	configs           stringList

	create, list, describe, alter, delete bool

	ifExists, ifNotExists, excludeInternal bool
	underReplicated, unavailable           bool
	underMinIsr, atMinIsr                  bool
	withOverrides                          bool

	given map[string]bool // the flags given on the command line
}

// internalTopics are Kafka's internal topics, hidden by --exclude-internal.
var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}

// runTopics is `gregor topics`. It returns the process exit status.
func runTopics(args []string, stdout, stderr io.Writer) int {
	fs := newToolFlags("topics", "--bootstrap-server <host:port> --create|--list|--describe|--alter|--delete [flags]", stderr)
	var o topicsOptions
	fs.StringVar(&o.bootstrap, "bootstrap-server", "", "REQUIRED: the Kafka server(s) to connect to, host:port[,host:port]")
	fs.BoolVar(&o.create, "create", false, "create a new topic")
	fs.BoolVar(&o.list, "list", false, "list all available topics")
	fs.BoolVar(&o.describe, "describe", false, "list details for the given topics")
	fs.BoolVar(&o.alter, "alter", false, "alter the number of partitions and replica assignment")
	fs.BoolVar(&o.delete, "delete", false, "delete a topic")
	fs.StringVar(&o.topic, "topic", "", "the topic to create, alter, describe or delete; a regular expression except with --create")
	fs.IntVar(&o.partitions, "partitions", -1, "the number of partitions for the topic being created or altered")
	fs.IntVar(&o.replicationFactor, "replication-factor", -1, "the replication factor for each partition of the topic being created")
	fs.StringVar(&o.replicaAssignment, "replica-assignment", "", "manual partition-to-broker assignment: broker:broker,broker:broker,... for partitions 0,1,...")
	fs.Var(&o.configs, "config", "a topic configuration override, name=value, for the topic being created (repeatable)")
	fs.BoolVar(&o.ifExists, "if-exists", false, "with --alter, --delete or --describe: act only if the topic exists")
	fs.BoolVar(&o.ifNotExists, "if-not-exists", false, "with --create: create the topic only if it does not exist")
	fs.BoolVar(&o.excludeInternal, "exclude-internal", false, "exclude internal topics when listing or describing")
	fs.BoolVar(&o.underReplicated, "under-replicated-partitions", false, "with --describe: only show under-replicated partitions")
	fs.BoolVar(&o.unavailable, "unavailable-partitions", false, "with --describe: only show partitions whose leader is not available")
	fs.BoolVar(&o.underMinIsr, "under-min-isr-partitions", false, "with --describe: only show partitions whose ISR is smaller than min.insync.replicas")
	fs.BoolVar(&o.atMinIsr, "at-min-isr-partitions", false, "with --describe: only show partitions whose ISR is exactly min.insync.replicas")
	fs.BoolVar(&o.withOverrides, "topics-with-overrides", false, "with --describe: only show topics that override configs")
	if status, ok := fs.parse(args); !ok {
		return status
	}
	o.given = fs.set()
	if msg := o.check(); msg != "" {
		return fs.usageError("%s", msg)
	}
	var assignment [][]int32
	if o.given["replica-assignment"] {
		var err error
		if assignment, err = parseReplicaAssignment(o.replicaAssignment); err != nil {
			return fs.usageError("%v", err)
		}
	}
	configs, err := parseTopicConfigs(o.configs)
	if err != nil {
		return fs.usageError("%v", err)
	}

	addrs := bootstrapServers(o.bootstrap)
	admin, err := sarama.NewClusterAdmin(addrs, newSaramaConfig("gregor-topics"))
	if err != nil {
		return fs.failure("%s", connectError(addrs, err))
	}
	defer admin.Close()
	t := &topicCommand{admin: admin, opts: &o, out: stdout}
	switch {
	case o.create:
		err = t.create(assignment, configs)
	case o.list:
		err = t.listTopics()
	case o.describe:
		err = t.describeTopics()
	case o.alter:
		err = t.alterTopics(assignment)
	case o.delete:
		err = t.deleteTopics()
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error while executing topic command : %s\n", kafkaErrorText(err))
		return 1
	}
	return 0
}

// check applies TopicCommand's checkArgs rules and returns what is wrong,
// or "" when the flags make sense together.
func (o *topicsOptions) check() string {
	actions := 0
	for _, a := range []bool{o.create, o.list, o.describe, o.alter, o.delete} {
		if a {
			actions++
		}
	}
	if actions != 1 {
		return "Command must include exactly one action: --list, --describe, --create, --alter or --delete"
	}
	if !o.given["bootstrap-server"] {
		return `Missing required argument "[bootstrap-server]"`
	}
	if !o.list && !o.describe && !o.given["topic"] {
		return `Missing required argument "[topic]"`
	}
	if o.describe && o.ifExists && !o.given["topic"] {
		return `Missing required argument "[topic]"`
	}
	if o.alter && !o.given["partitions"] {
		return `Missing required argument "[partitions]"`
	}
	// Each option and the actions it may be used with.
	allowed := []struct {
		flag    string
		actions []bool
	}{
		{"config", []bool{o.create}}, // --alter --config needs kafka-configs with --bootstrap-server
		{"partitions", []bool{o.create, o.alter}},
		{"replication-factor", []bool{o.create}},
		{"replica-assignment", []bool{o.create, o.alter}},
		{"if-exists", []bool{o.alter, o.delete, o.describe}},
		{"if-not-exists", []bool{o.create}},
		{"exclude-internal", []bool{o.list, o.describe}},
		{"under-replicated-partitions", []bool{o.describe}},
		{"unavailable-partitions", []bool{o.describe}},
		{"under-min-isr-partitions", []bool{o.describe}},
		{"at-min-isr-partitions", []bool{o.describe}},
		{"topics-with-overrides", []bool{o.describe}},
	}
	for _, a := range allowed {
		if o.given[a.flag] && !anyTrue(a.actions) {
			return fmt.Sprintf("Option \"[%s]\" can't be used with option \"[%s]\"", a.flag, o.action())
		}
	}
	if o.create && o.given["replica-assignment"] && (o.given["partitions"] || o.given["replication-factor"]) {
		return `Option "[replica-assignment]" can't be used with option "[partitions]" or "[replication-factor]"`
	}
	// Kafka's checkInvalidArgs: each report excludes the others.
	var reports []string
	for _, r := range []string{"under-replicated-partitions", "unavailable-partitions", "under-min-isr-partitions", "at-min-isr-partitions", "topics-with-overrides"} {
		if o.given[r] {
			reports = append(reports, r)
		}
	}
	if len(reports) > 1 {
		return fmt.Sprintf("Option \"[%s]\" can't be used with option \"[%s]\"", reports[0], reports[1])
	}
	if o.given["replication-factor"] && (o.replicationFactor < 1 || o.replicationFactor > 32767) {
		return "The replication factor must be between 1 and 32767 inclusive"
	}
	if o.given["partitions"] && o.partitions < 1 {
		return "The partitions must be greater than 0"
	}
	return ""
}

// action names the action given, for messages.
func (o *topicsOptions) action() string {
	switch {
	case o.create:
		return "create"
	case o.list:
		return "list"
	case o.describe:
		return "describe"
	case o.alter:
		return "alter"
	}
	return "delete"
}

func anyTrue(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

// parseReplicaAssignment parses Kafka's "0:1:2,1:2:0" format: partitions
// separated by commas, each a colon-separated list of broker ids. Every
// partition must have the same replication factor and no broker twice.
func parseReplicaAssignment(s string) ([][]int32, error) {
	var assignment [][]int32
	for i, part := range strings.Split(s, ",") {
		var brokers []int32
		seen := map[int32]bool{}
		for _, b := range strings.Split(part, ":") {
			id, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--replica-assignment: %q is not a broker id", strings.TrimSpace(b))
			}
			if seen[int32(id)] {
				return nil, fmt.Errorf("Partition replica lists may not contain duplicate entries: %d", id)
			}
			seen[int32(id)] = true
			brokers = append(brokers, int32(id))
		}
		if i > 0 && len(brokers) != len(assignment[0]) {
			return nil, fmt.Errorf("Partition %d has different replication factor: %v", i, brokers)
		}
		assignment = append(assignment, brokers)
	}
	return assignment, nil
}

// parseTopicConfigs parses --config name=value flags, with Kafka's rule that
// spaces around '=' are dropped and each flag holds exactly one '='.
func parseTopicConfigs(list []string) (map[string]*string, error) {
	configs := make(map[string]*string, len(list))
	for _, kv := range list {
		parts := strings.Split(kv, "=")
		if len(parts) != 2 {
			return nil, errors.New(`Invalid topic config: all configs to be added must be in the format "key=val".`)
		}
		v := strings.TrimSpace(parts[1])
		configs[strings.TrimSpace(parts[0])] = &v
	}
	return configs, nil
}

// topicCommand runs one kafka-topics action against a cluster.
type topicCommand struct {
	admin sarama.ClusterAdmin
	opts  *topicsOptions
	out   io.Writer
}

func (t *topicCommand) create(assignment [][]int32, configs map[string]*string) error {
	name := t.opts.topic
	if strings.ContainsAny(name, "._") {
		fmt.Fprintln(t.out, "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.")
	}
	detail := &sarama.TopicDetail{
		NumPartitions:     int32(t.opts.partitions),
		ReplicationFactor: int16(t.opts.replicationFactor),
		ConfigEntries:     configs,
	}
	if assignment != nil {
		detail.NumPartitions, detail.ReplicationFactor = -1, -1
		detail.ReplicaAssignment = make(map[int32][]int32, len(assignment))
		for p, replicas := range assignment {
			detail.ReplicaAssignment[int32(p)] = replicas
		}
	}
	err := t.admin.CreateTopic(name, detail, false)
	if errors.Is(err, sarama.ErrTopicAlreadyExists) && t.opts.ifNotExists {
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(t.out, "Created topic %s.\n", name)
	return nil
}

// matchingTopics lists the cluster's topics, sorted, that --topic matches
// (all of them without --topic), without internal topics under
// --exclude-internal. It fails when --topic matches nothing, unless
// --if-exists is given.
func (t *topicCommand) matchingTopics() ([]string, error) {
	all, err := t.admin.ListTopics()
	if err != nil {
		return nil, err
	}
	var filter *regexp.Regexp
	if t.opts.given["topic"] {
		if filter, err = includeListRegexp(t.opts.topic); err != nil {
			return nil, err
		}
	}
	var names []string
	for name := range all {
		if t.opts.excludeInternal && internalTopics[name] {
			continue
		}
		if filter == nil || filter.MatchString(name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	if len(names) == 0 && t.opts.given["topic"] && !t.opts.ifExists && !t.opts.list {
		return nil, fmt.Errorf("Topic '%s' does not exist as expected", t.opts.topic)
	}
	return names, nil
}

// includeListRegexp compiles --topic as Kafka's IncludeList does: commas
// mean alternation, spaces and surrounding quotes are dropped, and the
// expression must match the whole topic name.
func includeListRegexp(raw string) (*regexp.Regexp, error) {
	expr := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(raw), ",", "|"), " ", "")
	expr = strings.Trim(expr, `"'`)
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("%s is an invalid regex: %v", raw, err)
	}
	return re, nil
}

func (t *topicCommand) listTopics() error {
	names, err := t.matchingTopics()
	if err != nil {
		return err
	}
	// Kafka 2.8 prints the names joined by newlines with println, so an
	// empty list still prints one empty line.
	fmt.Fprintln(t.out, strings.Join(names, "\n"))
	return nil
}

func (t *topicCommand) deleteTopics() error {
	names, err := t.matchingTopics()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := t.admin.DeleteTopic(name); err != nil {
			return err
		}
	}
	return nil
}

func (t *topicCommand) alterTopics(assignment [][]int32) error {
	names, err := t.matchingTopics()
	if err != nil || len(names) == 0 {
		return err
	}
	metadata, err := t.admin.DescribeTopics(names)
	if err != nil {
		return err
	}
	current := make(map[string]int, len(metadata))
	for _, m := range metadata {
		current[m.Name] = len(m.Partitions)
	}
	for _, name := range names {
		// As Kafka does, --replica-assignment lists every partition and
		// only the entries past the current count are sent.
		var added [][]int32
		if assignment != nil && current[name] < len(assignment) {
			added = assignment[current[name]:]
		}
		if err := t.admin.CreatePartitions(name, int32(t.opts.partitions), added, false); err != nil {
			return err
		}
	}
	return nil
}

func (t *topicCommand) describeTopics() error {
	names, err := t.matchingTopics()
	if err != nil || len(names) == 0 {
		return err
	}
	metadata, err := t.admin.DescribeTopics(names)
	if err != nil {
		return err
	}
	sort.Slice(metadata, func(i, j int) bool { return metadata[i].Name < metadata[j].Name })
	resources := make([]*sarama.ConfigResource, len(names))
	for i, name := range names {
		resources[i] = &sarama.ConfigResource{Type: sarama.TopicResource, Name: name}
	}
	results, err := t.admin.DescribeConfigs(resources, sarama.DescribeConfigsOptions{})
	if err != nil {
		return err
	}
	overrides := make(map[string][]string, len(results))
	minIsr := make(map[string]int, len(results)) // absent: unknown, as Kafka's Option
	for _, r := range results {
		if r.ErrorCode != 0 {
			return &sarama.DescribeConfigError{Err: sarama.KError(r.ErrorCode), ErrMsg: r.ErrorMsg}
		}
		for _, e := range r.Configs {
			if e.Name == "min.insync.replicas" {
				if n, err := strconv.Atoi(e.Value); err == nil {
					minIsr[r.Name] = n
				}
			}
			// kafka-topics shows the topic's own overrides only: the
			// DYNAMIC_TOPIC_CONFIG source (v1+), or not-default in v0.
			if e.Source == sarama.SourceTopic || (e.Source == sarama.SourceUnknown && !e.Default) {
				overrides[r.Name] = append(overrides[r.Name], e.Name+"="+e.Value)
			}
		}
		sort.Strings(overrides[r.Name])
	}
	brokers, _, err := t.admin.DescribeCluster()
	if err != nil {
		return err
	}
	live := make(map[int32]bool, len(brokers))
	for _, b := range brokers {
		live[b.ID()] = true
	}

	o := t.opts
	describeConfigs := !o.underReplicated && !o.unavailable && !o.underMinIsr && !o.atMinIsr
	for _, m := range metadata {
		if m.Err != sarama.ErrNoError {
			return m.Err
		}
		sort.Slice(m.Partitions, func(i, j int) bool { return m.Partitions[i].ID < m.Partitions[j].ID })
		if describeConfigs && (!o.withOverrides || len(overrides[m.Name]) > 0) {
			fmt.Fprintf(t.out, "Topic: %s", m.Name)
			if m.Uuid != (sarama.Uuid{}) {
				fmt.Fprintf(t.out, "\tTopicId: %s", m.Uuid)
			}
			replicationFactor := 0
			if len(m.Partitions) > 0 {
				replicationFactor = len(m.Partitions[0].Replicas)
			}
			fmt.Fprintf(t.out, "\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
				len(m.Partitions), replicationFactor, strings.Join(overrides[m.Name], ","))
		}
		if o.withOverrides {
			continue
		}
		min, hasMin := minIsr[m.Name]
		for _, p := range m.Partitions {
			hasLeader := p.Leader >= 0 && live[p.Leader]
			underReplicated := len(p.Replicas) > len(p.Isr)
			underMinIsr := !hasLeader || hasMin && len(p.Isr) < min
			atMinIsr := hasMin && len(p.Isr) == min
			if describeConfigs || o.underReplicated && underReplicated || o.unavailable && !hasLeader ||
				o.underMinIsr && underMinIsr || o.atMinIsr && atMinIsr {
				t.printPartition(m.Name, p, hasLeader)
			}
		}
	}
	return nil
}

// printPartition prints a partition line as TopicCommand's
// PartitionDescription does.
func (t *topicCommand) printPartition(topic string, p *sarama.PartitionMetadata, hasLeader bool) {
	leader := "none"
	if hasLeader {
		leader = strconv.Itoa(int(p.Leader))
	}
	fmt.Fprintf(t.out, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s\n",
		topic, p.ID, leader, joinIDs(p.Replicas), joinIDs(p.Isr))
}

// joinIDs prints broker ids as Kafka's mkString(","): 1,2,3.
func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}
