package conf

import (
	"reflect"
	"testing"
)

func TestParseListeners(t *testing.T) {
	protocols := map[string]SecurityProtocol{
		"PLAINTEXT": Plaintext, "SSL": SSL, "INTERNAL": Plaintext, "EXTERNAL": SASLSSL,
	}
	tests := []struct {
		name    string
		in      string
		want    []Listener
		wantErr string
	}{
		{name: "Kafka's default", in: "PLAINTEXT://:9092", want: []Listener{{"PLAINTEXT", Plaintext, "", 9092}}},
		{name: "host name", in: "PLAINTEXT://broker-1.example.com:9092",
			want: []Listener{{"PLAINTEXT", Plaintext, "broker-1.example.com", 9092}}},
		{name: "IPv4", in: "PLAINTEXT://10.0.0.1:9092", want: []Listener{{"PLAINTEXT", Plaintext, "10.0.0.1", 9092}}},
		{name: "IPv6 in brackets", in: "PLAINTEXT://[::1]:9092", want: []Listener{{"PLAINTEXT", Plaintext, "::1", 9092}}},
		{name: "IPv6 without brackets", in: "PLAINTEXT://fe80::1%eth0:9092",
			want: []Listener{{"PLAINTEXT", Plaintext, "fe80::1%eth0", 9092}}},
		{name: "ephemeral port", in: "PLAINTEXT://:0", want: []Listener{{"PLAINTEXT", Plaintext, "", 0}}},
		{name: "several ephemeral ports", in: "PLAINTEXT://:0,SSL://:0",
			want: []Listener{{"PLAINTEXT", Plaintext, "", 0}, {"SSL", SSL, "", 0}}},
		{name: "custom names through the map", in: "INTERNAL://:9092, EXTERNAL://h:9093",
			want: []Listener{{"INTERNAL", Plaintext, "", 9092}, {"EXTERNAL", SASLSSL, "h", 9093}}},
		{name: "names upper-cased", in: "internal://:9092", want: []Listener{{"INTERNAL", Plaintext, "", 9092}}},
		{name: "empty items dropped", in: ",PLAINTEXT://:9092,", want: []Listener{{"PLAINTEXT", Plaintext, "", 9092}}},
		{name: "empty", in: "", want: []Listener{}},

		{name: "unknown name", in: "FOO://:9092", wantErr: "listener name FOO is not in listener.security.protocol.map"},
		{name: "duplicate name", in: "PLAINTEXT://:1,plaintext://:2", wantErr: "listener name PLAINTEXT is used twice"},
		{name: "duplicate port", in: "PLAINTEXT://a:1,SSL://b:1", wantErr: "port 1 is used by two listeners"},
		{name: "no scheme", in: "localhost:9092", wantErr: `listener "localhost:9092" is not of the form NAME://host:port`},
		{name: "no name", in: "://:9092", wantErr: `listener "://:9092" has no name`},
		{name: "no port", in: "PLAINTEXT://host", wantErr: `listener "PLAINTEXT://host" has no port`},
		{name: "empty port", in: "PLAINTEXT://host:", wantErr: `listener "PLAINTEXT://host:" has port "", not a number from 0 to 65535`},
		{name: "port too large", in: "PLAINTEXT://:65536", wantErr: `listener "PLAINTEXT://:65536" has port "65536", not a number from 0 to 65535`},
		{name: "negative port", in: "PLAINTEXT://:-1", wantErr: `listener "PLAINTEXT://:-1" has port "-1", not a number from 0 to 65535`},
		{name: "port with junk", in: "PLAINTEXT://:9092x", wantErr: `listener "PLAINTEXT://:9092x" has port "9092x", not a number from 0 to 65535`},
		{name: "bad host", in: "PLAINTEXT://ho st:9092", wantErr: `listener "PLAINTEXT://ho st:9092" has an invalid host "ho st"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseListeners(tt.in, protocols)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseListeners(%q) error = %v, want %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseListeners(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseListeners(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if len(got) > 0 {
				back, err := ParseListeners(formatListeners(got), protocols)
				if err != nil || !reflect.DeepEqual(back, got) {
					t.Errorf("round trip through %q = %v, %v", formatListeners(got), back, err)
				}
			}
		})
	}
}

// TestAdvertisedListenersMayShareAPort: Kafka checks distinct ports only for
// the listeners it binds.
func TestAdvertisedListenersMayShareAPort(t *testing.T) {
	c := mustParse(t, map[string]string{
		"listeners":            "PLAINTEXT://:9092,SSL://:9093",
		"advertised.listeners": "PLAINTEXT://proxy:9000,SSL://proxy:9000",
	})
	if got := formatListeners(c.Advertised()); got != "PLAINTEXT://proxy:9000,SSL://proxy:9000" {
		t.Errorf("Advertised() = %s", got)
	}
}

func TestListenerString(t *testing.T) {
	tests := []struct {
		l    Listener
		want string
	}{
		{Listener{Name: "PLAINTEXT", Port: 9092}, "PLAINTEXT://:9092"},
		{Listener{Name: "SSL", Host: "h", Port: 1}, "SSL://h:1"},
		{Listener{Name: "PLAINTEXT", Host: "::1", Port: 9092}, "PLAINTEXT://[::1]:9092"},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.l, got, tt.want)
		}
	}
}

func TestSecurityProtocolID(t *testing.T) {
	tests := []struct {
		p    SecurityProtocol
		want int16
	}{
		{Plaintext, 0}, {SSL, 1}, {SASLPlaintext, 2}, {SASLSSL, 3}, {"TLS", -1},
	}
	for _, tt := range tests {
		if got := tt.p.ID(); got != tt.want {
			t.Errorf("%s.ID() = %d, want %d", tt.p, got, tt.want)
		}
	}
}

func TestParseZooKeeperConnect(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ZooKeeper
		wantErr string
	}{
		{name: "one server", in: "localhost:2181", want: ZooKeeper{Servers: []string{"localhost:2181"}}},
		{name: "ensemble", in: "zk1:2181,zk2:2182,zk3:2183",
			want: ZooKeeper{Servers: []string{"zk1:2181", "zk2:2182", "zk3:2183"}}},
		{name: "chroot", in: "zk1:2181,zk2:2181/kafka", want: ZooKeeper{[]string{"zk1:2181", "zk2:2181"}, "/kafka"}},
		{name: "nested chroot", in: "zk:2181/a/b-c/d_e", want: ZooKeeper{[]string{"zk:2181"}, "/a/b-c/d_e"}},
		{name: "lone slash is no chroot", in: "zk:2181/", want: ZooKeeper{Servers: []string{"zk:2181"}}},
		{name: "default port", in: "zk1,zk2:2182", want: ZooKeeper{Servers: []string{"zk1:2181", "zk2:2182"}}},
		{name: "IPv6 with port", in: "[::1]:2181", want: ZooKeeper{Servers: []string{"[::1]:2181"}}},
		{name: "IPv6 without port", in: "::1", want: ZooKeeper{Servers: []string{"[::1]:2181"}}},
		{name: "spaces and empty items", in: " zk1:2181 , ,zk2:2181 ", want: ZooKeeper{Servers: []string{"zk1:2181", "zk2:2181"}}},

		{name: "empty", in: "", wantErr: "must list at least one ZooKeeper server"},
		{name: "chroot only", in: "/kafka", wantErr: "must list at least one ZooKeeper server"},
		{name: "chroot ends with slash", in: "zk:2181/kafka/", wantErr: `chroot "/kafka/" must not end with /`},
		{name: "empty segment", in: "zk:2181/a//b", wantErr: `chroot "/a//b" has an empty path segment`},
		{name: "dot segment", in: "zk:2181/a/./b", wantErr: `chroot "/a/./b" has a relative segment "."`},
		{name: "dot-dot segment", in: "zk:2181/a/..", wantErr: `chroot "/a/.." has a relative segment ".."`},
		{name: "control character", in: "zk:2181/a\x01b", wantErr: `chroot "/a\x01b" has the invalid character U+0001`},
		{name: "bad port", in: "zk:http", wantErr: `server "zk:http" has port "http", not a number from 1 to 65535`},
		{name: "port zero", in: "zk:0", wantErr: `server "zk:0" has port "0", not a number from 1 to 65535`},
		{name: "no host", in: ":2181", wantErr: `server ":2181" has no host`},
		{name: "too many colons", in: "a:b:c", wantErr: `server "a:b:c" is not of the form host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseZooKeeperConnect(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseZooKeeperConnect(%q) error = %v, want %s", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseZooKeeperConnect(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseZooKeeperConnect(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if back, err := ParseZooKeeperConnect(got.String()); err != nil || !reflect.DeepEqual(back, got) {
				t.Errorf("round trip through %q = %#v, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseKafkaVersion(t *testing.T) {
	tests := []struct {
		in     string
		want   string // the full name it resolves to; "" for invalid
		record int8
	}{
		{"0.8.0", "0.8.0", 0},
		{"0.8.2.1", "0.8.2", 0},
		{"0.9.0.0", "0.9.0", 0},
		{"0.10.0", "0.10.0-IV1", 1},
		{"0.10.0-IV0", "0.10.0-IV0", 1},
		{"0.10.0.0-IV0", "0.10.0-IV1", 1}, // Kafka cuts after three parts, as here
		{"0.10.2.1", "0.10.2-IV0", 1},
		{"0.11.0", "0.11.0-IV2", 2},
		{"1.0", "1.0-IV0", 2},
		{"1.0.1", "1.0-IV0", 2},
		{"2.1", "2.1-IV2", 2},
		{"2.7", "2.7-IV2", 2},
		{"2.8", "2.8-IV1", 2},
		{"2.8.0", "2.8-IV1", 2},
		{"2.8-IV0", "2.8-IV0", 2},
		{"2.8-IV1", "2.8-IV1", 2},
		{"3.0", "", 0},
		{"2.8-IV2", "", 0},
		{"", "", 0},
		{"latest", "", 0},
	}
	for _, tt := range tests {
		v, ok := parseKafkaVersion(tt.in)
		if ok != (tt.want != "") || v.name != tt.want || v.record != tt.record {
			t.Errorf("parseKafkaVersion(%q) = %q (record v%d), %v; want %q (record v%d)", tt.in, v.name, v.record, ok, tt.want, tt.record)
		}
	}
}
