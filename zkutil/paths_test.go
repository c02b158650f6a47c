package zkutil

import (
	"errors"
	"strings"
	"testing"
)

func TestPaths(t *testing.T) {
	tp := TopicPartition{Topic: "orders", Partition: 3}
	tests := []struct{ got, want string }{
		{brokerPath(7), "/brokers/ids/7"},
		{topicPath("orders"), "/brokers/topics/orders"},
		{partitionsPath("orders"), "/brokers/topics/orders/partitions"},
		{partitionPath(tp), "/brokers/topics/orders/partitions/3"},
		{partitionStatePath(tp), "/brokers/topics/orders/partitions/3/state"},
		{consumerOffsetPath("g1", tp), "/consumers/g1/offsets/orders/3"},
		{controllerPath, "/controller"},
		{controllerEpochPath, "/controller_epoch"},
		{clusterIDPath, "/cluster/id"},
		{brokerSeqIDPath, "/brokers/seqid"},
		{producerIDBlockPath, "/latest_producer_id_block"},
		{deleteTopicsPath + "/orders", "/admin/delete_topics/orders"},
		{reassignPartitionsPath, "/admin/reassign_partitions"},
		{preferredReplicaElectionPath, "/admin/preferred_replica_election"},
		{configChangesPath + "/" + ConfigChangePrefix, "/config/changes/config_change_"},
		{tp.String(), "orders-3"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
	p, err := entityConfigPath(ConfigUsers, "alice/clients/app")
	if err != nil || p != "/config/users/alice/clients/app" {
		t.Errorf("entityConfigPath(users, alice/clients/app) = %q, %v", p, err)
	}
	p, err = entityConfigPath(ConfigBrokers, "<default>")
	if err != nil || p != "/config/brokers/<default>" {
		t.Errorf("entityConfigPath(brokers, <default>) = %q, %v", p, err)
	}
}

func TestTopLevelPaths(t *testing.T) {
	want := []string{
		"/consumers", "/brokers/ids", "/brokers/topics", "/config/changes", "/admin/delete_topics", "/brokers/seqid",
		"/isr_change_notification", "/latest_producer_id_block", "/log_dir_event_notification",
		"/config/topics", "/config/clients", "/config/users", "/config/brokers",
	}
	got := topLevelPaths()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("topLevelPaths() = %v, want %v", got, want)
	}
}

func TestCheckName(t *testing.T) {
	for _, name := range []string{"orders", "a.b-c_d", "<default>", "ünïcode", strings.Repeat("x", 249)} {
		if err := checkName("topic", name); err != nil {
			t.Errorf("checkName(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"", ".", "..", "a/b", "/", "a\x00b", "a\nb", "a\u0085b", "a\ufff0b", "a\ud7ffb\uf8ff"} {
		if err := checkName("topic", name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("checkName(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	for _, p := range []string{"/", "/a", "/a/b"} {
		if err := checkPath(p); err != nil {
			t.Errorf("checkPath(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "a", "/a/", "//a", "/a/../b", "/a/./b"} {
		if err := checkPath(p); !errors.Is(err, ErrInvalidName) {
			t.Errorf("checkPath(%q) = %v, want ErrInvalidName", p, err)
		}
	}
	if _, err := entityConfigPath(ConfigTopics, "a/../../controller"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("entityConfigPath accepted a path that climbs out: %v", err)
	}
}

func TestChroot(t *testing.T) {
	tests := []struct {
		chroot, rel, abs string
	}{
		{"", "/", "/"},
		{"", "/brokers/ids", "/brokers/ids"},
		{"/kafka", "/", "/kafka"},
		{"/kafka", "/brokers/ids", "/kafka/brokers/ids"},
		{"/a/b", "/controller", "/a/b/controller"},
	}
	for _, tt := range tests {
		c := &Client{chroot: tt.chroot}
		if got := c.abs(tt.rel); got != tt.abs {
			t.Errorf("chroot %q: abs(%q) = %q, want %q", tt.chroot, tt.rel, got, tt.abs)
		}
		if got := c.rel(tt.abs); got != tt.rel {
			t.Errorf("chroot %q: rel(%q) = %q, want %q", tt.chroot, tt.abs, got, tt.rel)
		}
	}
	if got := (&Client{chroot: "/kafka"}).rel("/other"); got != "/other" {
		t.Errorf("rel of a path outside the chroot = %q, want it unchanged", got)
	}
}

func TestParentOfAndJoin(t *testing.T) {
	for _, tt := range []struct{ p, parent string }{{"/a", "/"}, {"/a/b", "/a"}, {"/a/b/c", "/a/b"}} {
		if got := parentOf(tt.p); got != tt.parent {
			t.Errorf("parentOf(%q) = %q, want %q", tt.p, got, tt.parent)
		}
	}
	if got := joinPath("/", "a"); got != "/a" {
		t.Errorf("joinPath(/, a) = %q", got)
	}
	if got := joinPath("/a", "b"); got != "/a/b" {
		t.Errorf("joinPath(/a, b) = %q", got)
	}
}

func TestUUID(t *testing.T) {
	seen := map[UUID]bool{}
	for range 1000 {
		u := NewUUID()
		s := u.String()
		if len(s) != 22 || s[0] == '-' || u.IsZero() || seen[u] {
			t.Fatalf("NewUUID gave %q", s)
		}
		seen[u] = true
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Fatalf("%q is not a version 4 UUID", s)
		}
		back, err := ParseUUID(s)
		if err != nil || back != u {
			t.Fatalf("ParseUUID(%q) = %v, %v", s, back, err)
		}
	}
	if (UUID{}).String() != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Errorf("zero UUID is %q", UUID{}.String())
	}
	for _, bad := range []string{"", "AAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAB", "AAAAAAAAAAAAAAAAAAAA+A", "AAAAAAAAAAAAAAAAAAAAA="} {
		if _, err := ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) accepted it", bad)
		}
	}
}
