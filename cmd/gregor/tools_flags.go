package main

// Helpers shared by the client tools (gregor topics, console-producer and
// console-consumer): flag parsing in the shape of Kafka's scripts, the
// sarama configuration they all start from, and the way Kafka's tools print
// a broker's error. Each tool keeps only its own flags and output.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/IBM/sarama"
)

// toolConnectTimeout bounds how long a tool waits to reach a broker before
// it gives up, so that a wrong --bootstrap-server fails in seconds rather
// than hanging: each attempt to dial gets this long, and sarama tries the
// metadata request toolMetadataRetries more times after the first.
const (
	toolConnectTimeout  = 5 * time.Second
	toolMetadataRetries = 2
	toolMetadataBackoff = 200 * time.Millisecond
	toolAdminTimeout    = 30 * time.Second
)

// stringList collects a repeatable flag (--config, --property) in the order
// given, as Kafka's joptsimple options do.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// toolFlags is a flag set for one tool together with the usage line it
// prints, so every tool reports usage errors the same way.
type toolFlags struct {
	*flag.FlagSet
	name   string // "topics", "console-producer", ...
	stderr io.Writer
}

// newToolFlags returns a ContinueOnError flag set whose usage prints the
// synopsis and then the flags.
func newToolFlags(name, synopsis string, stderr io.Writer) *toolFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gregor %s %s\n\nflags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return &toolFlags{FlagSet: fs, name: name, stderr: stderr}
}

// parse parses args. It returns ok=false and the exit status when the tool
// must stop: 0 for --help, 2 for a bad flag or a stray argument.
func (f *toolFlags) parse(args []string) (status int, ok bool) {
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if f.NArg() > 0 {
		return f.usageError("unexpected argument %q", f.Arg(0)), false
	}
	return 0, true
}

// set reports which flags were given on the command line, as joptsimple's
// options.has does.
func (f *toolFlags) set() map[string]bool {
	given := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	return given
}

// usageError prints a usage error and returns the exit status 2. Kafka's
// tools exit 1 here; gregor keeps 2 for usage errors, as all its commands do.
func (f *toolFlags) usageError(format string, args ...any) int {
	fmt.Fprintf(f.stderr, "gregor %s: %s\n", f.name, fmt.Sprintf(format, args...))
	return 2
}

// failure prints a failure and returns the exit status 1.
func (f *toolFlags) failure(format string, args ...any) int {
	fmt.Fprintf(f.stderr, "gregor %s: %s\n", f.name, fmt.Sprintf(format, args...))
	return 1
}

// bootstrapServers splits --bootstrap-server's host:port list.
func bootstrapServers(list string) []string {
	var addrs []string
	for _, a := range strings.Split(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// parseProperties turns --property key=value flags into a map. A key with
// no "=" gets the empty value, as Kafka's parseKeyValueArgs allows; unlike
// Kafka, a value may itself contain "=" (key.separator==).
func parseProperties(list []string) map[string]string {
	props := make(map[string]string, len(list))
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		props[strings.TrimSpace(k)] = v
	}
	return props
}

// propertyBool reads a boolean property the way Kafka's formatters and
// readers do: true only when the trimmed value is "true", in any case.
func propertyBool(props map[string]string, key string) bool {
	return strings.EqualFold(strings.TrimSpace(props[key]), "true")
}

// propertyString returns the property's value, or def when it is not set.
func propertyString(props map[string]string, key, def string) string {
	if v, ok := props[key]; ok {
		return v
	}
	return def
}

// newSaramaConfig is the configuration every tool starts from. Version is
// Kafka 2.8's, the reference; sarama clamps each request to the version the
// broker advertises in ApiVersions, so older brokers work too.
func newSaramaConfig(clientID string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	cfg.Version = sarama.V2_8_0_0
	cfg.Net.DialTimeout = toolConnectTimeout
	cfg.Metadata.Retry.Max = toolMetadataRetries
	cfg.Metadata.Retry.Backoff = toolMetadataBackoff
	cfg.Admin.Retry.Max = toolMetadataRetries
	cfg.Admin.Retry.Backoff = toolMetadataBackoff
	// How long CreateTopics, DeleteTopics and CreatePartitions let the
	// broker wait for the controller (their timeout_ms). Kafka's tools
	// send the admin client's request.timeout.ms, 30 s; sarama's default
	// of 3 s made a topic creation fail with REQUEST_TIMED_OUT on a busy
	// machine while the controller was still electing leaders.
	cfg.Admin.Timeout = toolAdminTimeout
	return cfg
}

// connectError explains a failure to build a sarama client, which almost
// always means that no broker in --bootstrap-server answered.
func connectError(addrs []string, err error) string {
	return fmt.Sprintf("cannot connect to --bootstrap-server %s: %v", strings.Join(addrs, ","), err)
}

// kafkaErrorText is the message Kafka's Java tools print for a broker's
// error: the broker's own message when it sent one, otherwise the error
// code's description without sarama's "kafka server: " marker.
func kafkaErrorText(err error) string {
	var topicErr *sarama.TopicError
	if errors.As(err, &topicErr) {
		if topicErr.ErrMsg != nil && *topicErr.ErrMsg != "" {
			return *topicErr.ErrMsg
		}
		err = topicErr.Err
	}
	var partitionErr *sarama.TopicPartitionError
	if errors.As(err, &partitionErr) {
		if partitionErr.ErrMsg != nil && *partitionErr.ErrMsg != "" {
			return *partitionErr.ErrMsg
		}
		err = partitionErr.Err
	}
	return strings.Replace(err.Error(), "kafka server: ", "", 1)
}
