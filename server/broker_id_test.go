package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/logstore"
)

// runExpectingFailure runs a broker that must fail to start and returns
// its error.
func runExpectingFailure(t *testing.T, cfg *conf.Config) error {
	t.Helper()
	b, err := New(cfg, discardLogger())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = b.Run(ctx)
	if err == nil {
		t.Fatal("broker ran and stopped without error; want a start-up failure")
	}
	return err
}

// Kafka's broker.id.generation.enable: brokers without broker.id get
// reserved.broker.max.id plus the sequence of /brokers/seqid, and keep the
// id through meta.properties when they restart.
func TestGeneratedBrokerIDs(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	zkc := connectZK(t, zkConnect)
	cfg1 := testBrokerConfig(t, -1, zkConnect)
	cfg2 := testBrokerConfig(t, -1, zkConnect)

	b1, stop1 := startStoppable(t, cfg1)
	b2, _ := startStoppable(t, cfg2)
	if b1.BrokerID() != 1001 || b2.BrokerID() != 1002 {
		t.Fatalf("generated ids %d and %d, want 1001 and 1002", b1.BrokerID(), b2.BrokerID())
	}
	for _, id := range []int32{1001, 1002} {
		if _, err := zkc.Broker(context.Background(), id); err != nil {
			t.Fatalf("broker %d not registered: %v", id, err)
		}
	}
	mp, exists, err := logstore.ReadMetaProperties(logstore.OSFS{}, cfg1.LogDirs[0])
	if err != nil || !exists || mp.BrokerID != 1001 || mp.ClusterID != b1.ClusterID() {
		t.Fatalf("meta.properties of the first broker: %+v exists=%v %v", mp, exists, err)
	}
	if cfg1.BrokerID != -1 {
		t.Fatalf("New changed the caller's config: broker.id=%d", cfg1.BrokerID)
	}

	// Restarted, the first broker reads its id back instead of taking a
	// new one.
	stop1()
	b1, _ = startStoppable(t, cfg1)
	if b1.BrokerID() != 1001 {
		t.Fatalf("restarted broker has id %d, want 1001 from meta.properties", b1.BrokerID())
	}
	// The sequence was not consumed by the restart.
	b3, _ := startStoppable(t, testBrokerConfig(t, -1, zkConnect))
	if b3.BrokerID() != 1003 {
		t.Fatalf("third generated id %d, want 1003", b3.BrokerID())
	}
}

func TestBrokerIDConflictsFailStartup(t *testing.T) {
	zkConnect := zktest.Shared(t).Chroot(t)
	writeMeta := func(t *testing.T, dir string, id int32) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := logstore.WriteMetaProperties(logstore.OSFS{}, dir, logstore.MetaProperties{BrokerID: id}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		configured int32
		stored     []int32 // meta.properties per log dir; -1 for none
		want       string
	}{
		{"log dirs disagree", -1, []int32{1001, 1002}, "log.dirs disagree on the broker id: broker.id=1001 in"},
		{"configured id differs from stored", 7, []int32{1001}, "configured broker.id=7 does not match broker.id=1001 stored in"},
		{"configured id differs from one of two dirs", 7, []int32{-1, 7, 8}, "log.dirs disagree on the broker id: broker.id=7 in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testBrokerConfig(t, tt.configured, zkConnect)
			root := t.TempDir()
			cfg.LogDirs = nil
			for i, id := range tt.stored {
				dir := filepath.Join(root, "d"+string(rune('a'+i)))
				if id >= 0 {
					writeMeta(t, dir, id)
				}
				cfg.LogDirs = append(cfg.LogDirs, dir)
			}
			err := runExpectingFailure(t, cfg)
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}
