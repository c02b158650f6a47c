// Command gregor is the one binary of the Gregor Kafka broker: the server and
// its tools, as subcommands whose flags follow Kafka's own scripts.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: gregor <command> [flags]

commands:
  server               start a broker: gregor server start <server.properties> [--override key=value]
  version              print the version
  dump-log             print the batches and records of log segment files (kafka-dump-log)
  topics               create, list, describe, alter and delete topics (kafka-topics)
  console-producer     send the lines of stdin as records (kafka-console-producer)
  console-consumer     print the records of a topic, alone or in a group (kafka-console-consumer)
  consumer-groups      list, describe and delete consumer groups, reset their offsets (kafka-consumer-groups)
  leader-election      elect preferred or unclean partition leaders (kafka-leader-election)
  reassign-partitions  move partition replicas between brokers (kafka-reassign-partitions)
  verifiable-producer  send numbered records, printing each answer as JSON (kafka-verifiable-producer)
  verifiable-consumer  read partitions, printing what was read as JSON (kafka-verifiable-consumer)
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status: 0 for
// success, 1 for a failure, 2 for a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Fprintln(stdout, "gregor", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "dump-log":
		return runDumpLog(args[1:], stdout, stderr)
	case "topics":
		return runTopics(args[1:], stdout, stderr)
	case "console-producer":
		return runConsoleProducer(args[1:], os.Stdin, stdout, stderr)
	case "console-consumer":
		return runConsoleConsumer(args[1:], stdout, stderr)
	case "consumer-groups":
		return runConsumerGroups(args[1:], stdout, stderr)
	case "leader-election":
		return runLeaderElection(args[1:], stdout, stderr)
	case "reassign-partitions":
		return runReassignPartitions(args[1:], stdout, stderr)
	case "verifiable-producer":
		return runVerifiableProducer(args[1:], stdout, stderr)
	case "verifiable-consumer":
		return runVerifiableConsumer(args[1:], stdout, stderr)
	case "server":
		return runServer(args[1:], stderr)
	}
	fmt.Fprintf(stderr, "gregor: unknown command %q\n\n%s", args[0], usage)
	return 2
}
