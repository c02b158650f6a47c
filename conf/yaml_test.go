package conf

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseYAML(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty document", "", map[string]string{}},
		{"null document", "~\n", map[string]string{}},
		{"comments only", "# nothing here\n", map[string]string{}},
		{"flat dotted keys", "log.dirs: /data\nbroker.id: 1\n", map[string]string{"log.dirs": "/data", "broker.id": "1"}},
		{"nested maps", "log:\n  dirs: /data\n  retention:\n    hours: 72\n",
			map[string]string{"log.dirs": "/data", "log.retention.hours": "72"}},
		{"flow map", "log: {dirs: /data}\n", map[string]string{"log.dirs": "/data"}},
		{"dotted and nested mixed", "log.retention:\n  ms: 5\n", map[string]string{"log.retention.ms": "5"}},
		{"list joined with commas", "listeners:\n  - PLAINTEXT://:9092\n  - SSL://:9093\n",
			map[string]string{"listeners": "PLAINTEXT://:9092,SSL://:9093"}},
		{"flow list", "log.cleanup.policy: [compact, delete]\n", map[string]string{"log.cleanup.policy": "compact,delete"}},
		{"empty list", "log.cleanup.policy: []\n", map[string]string{"log.cleanup.policy": ""}},
		{"booleans", "a: true\nb: False\nc: yes\n", map[string]string{"a": "true", "b": "false", "c": "yes"}},
		{"integers as written", "a: -1\nb: 9223372036854775807\n", map[string]string{"a": "-1", "b": "9223372036854775807"}},
		{"integers Java would not read", "a: 0x10\nb: 0o17\n", map[string]string{"a": "16", "b": "15"}},
		{"floats as written", "a: 0.5\nb: 2.10\nc: 1e3\n", map[string]string{"a": "0.5", "b": "2.10", "c": "1e3"}},
		{"floats Java would not read", "a: .inf\nb: -.inf\n", map[string]string{"a": "Infinity", "b": "-Infinity"}},
		{"quoted strings untouched", "a: \"0x10\"\nb: '2.8'\n", map[string]string{"a": "0x10", "b": "2.8"}},
		{"null leaves the key unset", "broker.rack:\nbroker.id: ~\nlog.dirs: /d\n", map[string]string{"log.dirs": "/d"}},
		{"empty string kept", "broker.rack: \"\"\n", map[string]string{"broker.rack": ""}},
		{"colons in values", "zookeeper.connect: zk1:2181,zk2:2181/kafka\n",
			map[string]string{"zookeeper.connect": "zk1:2181,zk2:2181/kafka"}},
		{"anchors and aliases", "x: &port 9092\nlisteners: [*port]\n", map[string]string{"x": "9092", "listeners": "9092"}},
		{"merge key, explicit wins", "base: &b {retention.hours: 1, segment.bytes: 100}\nlog:\n  <<: *b\n  retention.hours: 2\n",
			map[string]string{"base.retention.hours": "1", "base.segment.bytes": "100", "log.retention.hours": "2", "log.segment.bytes": "100"}},
		{"merge of a list of maps", "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: [*a, *b]\n",
			map[string]string{"a.x": "1", "b.y": "2", "c.x": "1", "c.y": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseYAML([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseYAML(%q): %v", tt.in, err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseYAML(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseYAMLErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"syntax", "a: [1\n", "conf: yaml: line 1: did not find expected ',' or ']'"},
		{"not a mapping", "- a\n- b\n", "conf: yaml: line 1: the document must be a mapping of keys to values"},
		{"scalar document", "hello\n", "conf: yaml: line 1: the document must be a mapping of keys to values"},
		{"set twice, flat and nested", "log.dirs: /a\nlog:\n  dirs: /b\n", "conf: yaml: line 3: log.dirs is set twice"},
		{"non-scalar key", "? [a, b]\n: 1\n", "conf: yaml: line 1: a key must be a plain string"},
		{"list of maps", "listeners:\n  - a: 1\n", "conf: yaml: line 2: listeners: list items must be plain values"},
		{"merge of a scalar", "a:\n  <<: 1\n", "conf: yaml: line 2: a merge key (<<) must refer to a mapping"},
		{"alias bomb", aliasBomb(), "the document expands to more than 100000 values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseYAML([]byte(tt.in))
			if err == nil || (err.Error() != tt.wantErr && !strings.HasSuffix(err.Error(), ": "+tt.wantErr)) {
				t.Errorf("ParseYAML error = %v, want %s", err, tt.wantErr)
			}
		})
	}
}

// aliasBomb is a small document whose aliases expand to 10^10 values.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x, k8: x, k9: x}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "k%d: *a%d", j, i-1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	properties := "zookeeper.connect=zk:2181/kafka\nlog.retention.hours=24\nlisteners=PLAINTEXT://:9092,\\\n  SSL://:9093\nno.such=1\n"
	yaml := "zookeeper.connect: zk:2181/kafka\nlog:\n  retention.hours: 24\nlisteners:\n  - PLAINTEXT://:9092\n  - SSL://:9093\nno.such: 1\n"
	for _, path := range []string{
		write("server.properties", properties),
		write("server.conf", properties), // any other extension is a properties file
		write("gregor.yaml", yaml),
		write("GREGOR.YML", yaml),
	} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			c, warnings, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.LogRetention != 24*time.Hour || c.ZooKeeper.Chroot != "/kafka" || len(c.Listeners) != 2 {
				t.Errorf("Load gave retention %v, chroot %q, listeners %v", c.LogRetention, c.ZooKeeper.Chroot, c.Listeners)
			}
			if len(warnings) != 1 || warnings[0].Key != "no.such" {
				t.Errorf("warnings = %v, want one for no.such", warnings)
			}
		})
	}

	bad := write("bad.properties", "zookeeper.connect=zk:2181\nbroker.id=abc\nlog.segment.bytes=10\n")
	if _, _, err := Load(bad); err == nil ||
		err.Error() != "broker.id=abc: not a valid int\nlog.segment.bytes=10: must be at least 14" {
		t.Errorf("Load(bad) error = %v", err)
	}
	escape := write("escape.properties", "a=\\u12")
	if _, _, err := Load(escape); err == nil || err.Error() != "conf: "+escape+`: line 1: malformed \uxxxx escape "\\u12"` {
		t.Errorf("Load(escape) error = %v", err)
	}
	syntax := write("syntax.yaml", "a: [")
	if _, _, err := Load(syntax); err == nil || err.Error() != "conf: "+syntax+": line 1: did not find expected node content" {
		t.Errorf("Load(syntax) error = %v", err)
	}
	missing := filepath.Join(dir, "missing.properties")
	if _, _, err := Load(missing); err == nil || err.Error() != "conf: open "+missing+": no such file or directory" {
		t.Errorf("Load(missing) error = %v", err)
	}
}

// TestStockFiles: Kafka 2.8's own server.properties, and the YAML example
// beside it, load without errors or warnings and mean what they say.
func TestStockFiles(t *testing.T) {
	tests := []struct {
		file           string
		logDirs        []string
		chroot         string
		advertisedHost string
	}{
		{"testdata/kafka-2.8-server.properties", []string{"/tmp/kafka-logs"}, "", ""},
		{"testdata/gregor.yaml", []string{"/tmp/gregor-logs"}, "/gregor", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, warnings, err := Load(tt.file)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if c.BrokerID != 0 || c.OffsetsTopicReplicationFactor != 1 || c.TransactionStateLogMinISR != 1 ||
				c.GroupInitialRebalanceDelay != 0 || c.LogRetention != 168*time.Hour {
				t.Errorf("unexpected values: %+v", c)
			}
			if !slices.Equal(c.LogDirs, tt.logDirs) || c.ZooKeeper.Chroot != tt.chroot || c.Advertised()[0].Host != tt.advertisedHost {
				t.Errorf("log dirs %v, chroot %q, advertised %v", c.LogDirs, c.ZooKeeper.Chroot, c.Advertised())
			}
		})
	}
}
