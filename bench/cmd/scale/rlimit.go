package main

import (
	"fmt"
	"syscall"
)

// kafkaAdvisedOpenFiles is the descriptor limit Kafka's operations docs
// advise "as a starting point" for a broker: each log segment holds files
// open, and so does each connection.
const kafkaAdvisedOpenFiles = 100_000

// raiseOpenFiles raises this process's RLIMIT_NOFILE, soft and hard, to at
// least want, as an operator following Kafka's docs would for the broker
// processes: the brokers this command starts inherit it. Raising the hard
// limit needs privilege (CAP_SYS_RESOURCE); without it the limit stays
// and the returned message says so. It never lowers a limit.
func raiseOpenFiles(want uint64) string {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Sprintf("RLIMIT_NOFILE unknown: %v", err)
	}
	if lim.Cur >= want && lim.Max >= want {
		return fmt.Sprintf("RLIMIT_NOFILE %d", lim.Cur)
	}
	raised := syscall.Rlimit{Cur: max(lim.Cur, want), Max: max(lim.Max, want)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
		return fmt.Sprintf("RLIMIT_NOFILE stays %d (hard %d): raising it to %d, as Kafka's docs advise, failed: %v", lim.Cur, lim.Max, want, err)
	}
	return fmt.Sprintf("RLIMIT_NOFILE raised from %d to %d, as Kafka's docs advise for brokers", lim.Cur, want)
}
