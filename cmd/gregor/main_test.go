package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // exact
		wantStderr string // a prefix
	}{
		{"no command", nil, 2, "", "usage: gregor <command>"},
		{"version", []string{"version"}, 0, "gregor dev\n", ""},
		{"--version", []string{"--version"}, 0, "gregor dev\n", ""},
		{"help", []string{"help"}, 0, usage, ""},
		{"-h", []string{"-h"}, 0, usage, ""},
		{"unknown command", []string{"serve-coffee"}, 2, "", "gregor: unknown command \"serve-coffee\"\n\nusage: gregor <command>"},
		{"flag before the command", []string{"--files", "x.log", "dump-log"}, 2, "", "gregor: unknown command \"--files\""},
		{"dump-log reaches its flags", []string{"dump-log"}, 2, "", "dump-log: --files is required\n"},
		{"topics reaches its flags", []string{"topics", "--list"}, 2, "", "gregor topics: Missing required argument \"[bootstrap-server]\"\n"},
		{"console-producer reaches its flags", []string{"console-producer", "--topic", "t"}, 2, "", "gregor console-producer: Missing required argument \"[bootstrap-server]\"\n"},
		{"console-consumer reaches its flags", []string{"console-consumer", "--group", "g"}, 2, "", "gregor console-consumer: Missing required argument \"[bootstrap-server]\""},
		{"consumer-groups reaches its flags", []string{"consumer-groups", "--list"}, 2, "", "gregor consumer-groups: Missing required argument \"[bootstrap-server]\""},
		{"dump-log runs", []string{"dump-log", "--files", "notes.txt"}, 0, "Dumping notes.txt\n", "Ignoring unknown file notes.txt\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.wantCode {
				t.Errorf("exit %d, want %d", code, tt.wantCode)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), tt.wantStdout)
			}
			if !strings.HasPrefix(stderr.String(), tt.wantStderr) || tt.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("stderr:\n%s\nwant it to start:\n%s", stderr.String(), tt.wantStderr)
			}
		})
	}
}
