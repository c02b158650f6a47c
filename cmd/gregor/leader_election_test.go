package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Against a Gregor broker (its own controller): a partition led by its
// preferred replica needs no election, an unknown one fails the run.
func TestLeaderElectionAgainstGregor(t *testing.T) {
	addr := startGregor(t)
	mustRunTopics(t, addr, []string{"--create", "--topic", "el", "--partitions", "2", "--replication-factor", "1"})
	run := func(args ...string) toolResult {
		return runTool(t, "", withoutStdin(runLeaderElection), append([]string{"--bootstrap-server", addr}, args...)...)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "p.json")
	if err := os.WriteFile(file, []byte(`{"partitions":[{"topic":"el","partition":1},{"topic":"el","partition":0}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	dup := filepath.Join(dir, "dup.json")
	if err := os.WriteFile(dup, []byte(`{"partitions":[{"topic":"el","partition":1},{"topic":"el","partition":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     string // substring
		stderrPart string
	}{
		{"one partition", []string{"--election-type", "preferred", "--topic", "el", "--partition", "0"}, 0,
			"Valid replica already elected for partitions el-0\n", ""},
		{"json file", []string{"--election-type", "PREFERRED", "--path-to-json-file", file}, 0,
			"Valid replica already elected for partitions el-0, el-1\n", ""},
		{"all partitions", []string{"--election-type", "unclean", "--all-topic-partitions"}, 0,
			"Valid replica already elected for partitions el-0, el-1\n", ""},
		{"unknown partition", []string{"--election-type", "preferred", "--topic", "el", "--partition", "7"}, 1,
			"Error completing leader election (PREFERRED) for partition: el-7: ", "1 replica(s) could not be elected"},
		{"duplicate in file", []string{"--election-type", "preferred", "--path-to-json-file", dup}, 1,
			"", "duplicate partitions: el-1"},
		{"no election type", []string{"--all-topic-partitions"}, 2, "", "--election-type"},
		{"two sources", []string{"--election-type", "preferred", "--all-topic-partitions", "--topic", "el", "--partition", "0"}, 2, "", "one and only one"},
		{"topic without partition", []string{"--election-type", "preferred", "--topic", "el"}, 2, "", "--partition is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderrPart) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					r.code, r.stdout, r.stderr, tc.code, tc.stdout, tc.stderrPart)
			}
		})
	}
}
