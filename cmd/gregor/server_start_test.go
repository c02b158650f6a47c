package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServerStartArguments(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.properties")
	if err := os.WriteFile(bad, []byte("broker.id=1\nzookeeper.connect=127.0.0.1:1\nlog.segment.bytes=10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantErr    string
	}{
		{"no subcommand", []string{"server"}, 2, "usage"},
		{"no config file", []string{"server", "start"}, 2, "configuration file comes first"},
		{"flag before the file", []string{"server", "start", "--log-level", "info"}, 2, "configuration file comes first"},
		{"missing file", []string{"server", "start", filepath.Join(dir, "nope.properties")}, 1, "no such file"},
		{"bad value", []string{"server", "start", bad}, 1, "log.segment.bytes=10: must be at least 14"},
		{"bad override", []string{"server", "start", bad, "--override", "nokey"}, 2, "key=value"},
		{"override fixes nothing else", []string{"server", "start", bad, "--override", "log.segment.bytes=5"}, 1, "log.segment.bytes=5"},
		{"bad pprof address", []string{"server", "start", bad, "--pprof", "6060"}, 1, "gregor.pprof.listener=6060: must be empty or host:port"},
		{"bad log level", []string{"server", "start", bad, "--log-level", "loud"}, 2, "log-level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tt.args, &stdout, &stderr); got != tt.wantStatus {
				t.Fatalf("exit %d, want %d; stderr:\n%s", got, tt.wantStatus, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Fatalf("stderr does not mention %q:\n%s", tt.wantErr, stderr.String())
			}
		})
	}
}
