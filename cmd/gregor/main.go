// Command gregor is the one binary of the Gregor Kafka broker: the server and
// its tools, as subcommands whose flags follow Kafka's own scripts.
package main

import (
	"fmt"
	"os"
)

const usage = `usage: gregor <command> [flags]

commands:
  version     print the version
  dump-log    print the batches and records of log segment files (kafka-dump-log)
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version":
		fmt.Println("gregor", version)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	case "dump-log":
		return runDumpLog(args[1:], os.Stdout, os.Stderr)
	}
	fmt.Fprintf(os.Stderr, "gregor: unknown command %q\n\n%s", args[0], usage)
	return 2
}
