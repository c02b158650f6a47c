package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReassignPartitionsAgainstGregor(t *testing.T) {
	cluster := startGregorCluster(t, 3, nil)
	addr := cluster[0].addr
	mustRunTopics(t, addr, []string{"--create", "--topic", "mv", "--replica-assignment", "1:2"})
	run := func(args ...string) toolResult {
		return runTool(t, "", withoutStdin(runReassignPartitions), append([]string{"--bootstrap-server", addr}, args...)...)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plan := write("plan.json", `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[2,3]}]}`)

	r := run("--reassignment-json-file", plan, "--execute")
	want := "Current partition replica assignment\n\n" +
		`{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}` +
		"\n\nSave this to use as the --reassignment-json-file option during rollback\n" +
		"Successfully started partition reassignment for mv-0\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("execute: exit %d\nstdout %q\nstderr %q\nwant %q", r.code, r.stdout, r.stderr, want)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = run("--reassignment-json-file", plan, "--verify")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "Status of partition reassignment:\n") {
			t.Fatalf("verify: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		if r.stdout == "Status of partition reassignment:\nReassignment of partition mv-0 is complete.\n" {
			break
		}
		if !strings.Contains(r.stdout, "is still in progress.") && !strings.Contains(r.stdout, "There is no active reassignment") {
			t.Fatalf("verify: unexpected %q", r.stdout)
		}
		if time.Now().After(deadline) {
			t.Fatalf("never complete: %q", r.stdout)
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}

	// Verifying the rollback plan now reports the replica set differs.
	back := write("back.json", `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[1,2]}]}`)
	r = run("--reassignment-json-file", back, "--verify")
	if r.code != 0 || !strings.Contains(r.stdout, "There is no active reassignment of partition mv-0, but replica set is 2,3 rather than 1,2.\n") {
		t.Fatalf("verify rollback plan: exit %d stdout %q", r.code, r.stdout)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown partition", []string{"--reassignment-json-file", write("unknown.json", `{"version":1,"partitions":[{"topic":"mv","partition":4,"replicas":[1]}]}`), "--execute"}, 1, "unable to find partition: mv-4"},
		{"unknown broker", []string{"--reassignment-json-file", write("broker.json", `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[1,9]}]}`), "--execute"}, 1, "mv-0: "},
		{"duplicate replicas", []string{"--reassignment-json-file", write("dupr.json", `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[1,1]}]}`), "--execute"}, 1, "may not contain duplicate entries: mv-0 contains 1,1"},
		{"duplicate partitions", []string{"--reassignment-json-file", write("dupp.json", `{"version":1,"partitions":[{"topic":"mv","partition":0,"replicas":[1]},{"topic":"mv","partition":0,"replicas":[2]}]}`), "--execute"}, 1, "duplicate topic partitions: mv-0"},
		{"empty plan", []string{"--reassignment-json-file", write("empty.json", `{"version":1,"partitions":[]}`), "--verify"}, 1, "cannot be empty"},
		{"no mode", []string{"--reassignment-json-file", plan}, 2, "exactly one of --execute and --verify"},
		{"no file", []string{"--verify"}, 2, "--reassignment-json-file"},
		{"additional without execute", []string{"--reassignment-json-file", plan, "--verify", "--additional"}, 2, "--additional"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d stderr %q; want exit %d with %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}
