package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// assignedTopic creates topic with one partition on replicas, and waits
// until Metadata shows them all in the ISR.
func assignedTopic(t *testing.T, cl *kgo.Client, topic string, replicas []int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %+v %v", topic, resp, err)
	}
	waitPartition(t, cl, topic, replicas, replicas)
}

// waitPartition polls Metadata until partition 0 of topic has the replicas
// and ISR given (as sets).
func waitPartition(t *testing.T, cl *kgo.Client, topic string, replicas, isr []int32) kmsg.MetadataResponseTopicPartition {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := partitionStates(t, cl, topic)[0]
		if sameSet(st.Replicas, replicas) && sameSet(st.ISR, isr) && st.Leader >= 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s-0: replicas %v isr %v, want %v %v", topic, st.Replicas, st.ISR, replicas, isr)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func sameSet(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// alterReassignments sends AlterPartitionReassignments for partition 0 of
// topic (replicas nil: cancel) and returns the partition's error code.
func alterReassignments(t *testing.T, cl *kgo.Client, topic string, replicas []int32) int16 {
	t.Helper()
	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
	rp.Partition, rp.Replicas = 0, replicas
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("AlterPartitionReassignments: %+v %v", resp, err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// listReassignments lists every reassignment in progress.
func listReassignments(t *testing.T, cl *kgo.Client) map[string]kmsg.ListPartitionReassignmentsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ListPartitionReassignments: %+v %v", resp, err)
	}
	out := map[string]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[fmt.Sprintf("%s-%d", rt.Topic, rp.Partition)] = rp
		}
	}
	return out
}

// waitNoReassignments polls until no reassignment is in progress.
func waitNoReassignments(t *testing.T, cl *kgo.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := listReassignments(t, cl)
		if len(l) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("reassignments still in progress: %+v", l)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

// waitReplicaGone polls until broker b hosts no replica of topic-0 and its
// log directory holds nothing of it.
func waitReplicaGone(t *testing.T, b *Broker, topic string) {
	t.Helper()
	tp := logstore.TopicPartition{Topic: topic, Partition: 0}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := b.handlers.replicas.getPartition(tp)
		left := ""
		entries, _ := os.ReadDir(b.cfg.LogDirs[0])
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), topic+"-0") {
				left = e.Name()
			}
		}
		if err != nil && left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d still holds %s-0 (hosted: %v, dir %q)", b.BrokerID(), topic, err == nil, left)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func produceN(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(fmt.Sprintf("r%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
}

// waitSameLog polls until broker b's replica of topic-0 holds the same n
// records as broker ref's.
func waitSameLog(t *testing.T, ref, b *Broker, topic string, n int64) {
	t.Helper()
	tp := logstore.TopicPartition{Topic: topic, Partition: 0}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rp, err1 := ref.handlers.replicas.getPartition(tp)
		bp, err2 := b.handlers.replicas.getPartition(tp)
		if err1 == nil && err2 == nil && rp.Log().LogEndOffset() == n && bp.Log().LogEndOffset() == n {
			if !bytes.Equal(logBytes(t, rp.Log(), n), logBytes(t, bp.Log(), n)) {
				t.Fatalf("broker %d's log of %s-0 differs from broker %d's", b.BrokerID(), topic, ref.BrokerID())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker %d never caught up on %s-0 (%v %v)", b.BrokerID(), topic, err1, err2)
		}
		time.Sleep(50 * time.Millisecond) // polling with a deadline
	}
}

func TestPartitionReassignment(t *testing.T) {
	brokers, seeds := startCluster(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitForBrokers(t, cl, 3)

	t.Run("move", func(t *testing.T) {
		assignedTopic(t, cl, "moved", []int32{1, 2})
		produceN(t, cl, "moved", 50)
		if code := alterReassignments(t, cl, "moved", []int32{2, 3}); code != 0 {
			t.Fatalf("reassign: %v", kerr.ErrorForCode(code))
		}
		waitNoReassignments(t, cl)
		st := waitPartition(t, cl, "moved", []int32{2, 3}, []int32{2, 3})
		if !slices.Equal(st.Replicas, []int32{2, 3}) {
			t.Fatalf("replicas %v, want [2 3] in order", st.Replicas)
		}
		waitSameLog(t, brokers[1], brokers[2], "moved", 50)
		waitReplicaGone(t, brokers[0], "moved")
		produceN(t, cl, "moved", 1) // the moved partition still takes records
	})

	t.Run("cancel", func(t *testing.T) {
		assignedTopic(t, cl, "cancelled", []int32{1})
		// Nothing holds broker 3 back, so the reassignment may finish
		// before the cancel arrives: either the cancel reverts to [1] and
		// broker 3's new replica is deleted, or it finds nothing to cancel
		// and the partition is on [3]. (The controller's tests cancel a
		// reassignment that cannot finish.)
		if code := alterReassignments(t, cl, "cancelled", []int32{3}); code != 0 {
			t.Fatalf("reassign: %v", kerr.ErrorForCode(code))
		}
		code := alterReassignments(t, cl, "cancelled", nil)
		switch code {
		case 0:
			waitNoReassignments(t, cl)
			waitPartition(t, cl, "cancelled", []int32{1}, []int32{1})
			waitReplicaGone(t, brokers[2], "cancelled")
		case kerr.NoReassignmentInProgress.Code:
			// It had finished already.
			waitPartition(t, cl, "cancelled", []int32{3}, []int32{3})
		default:
			t.Fatalf("cancel: %v", kerr.ErrorForCode(code))
		}
	})

	t.Run("errors", func(t *testing.T) {
		assignedTopic(t, cl, "errs", []int32{1})
		for _, tt := range []struct {
			name     string
			topic    string
			replicas []int32
			want     error
		}{
			{"unknown topic", "nope", []int32{1}, kerr.UnknownTopicOrPartition},
			{"empty", "errs", []int32{}, kerr.InvalidReplicaAssignment},
			{"duplicates", "errs", []int32{1, 1}, kerr.InvalidReplicaAssignment},
			{"unknown broker", "errs", []int32{1, 9}, kerr.InvalidReplicaAssignment},
			{"cancel nothing", "errs", nil, kerr.NoReassignmentInProgress},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := kerr.ErrorForCode(alterReassignments(t, cl, tt.topic, tt.replicas)); got != tt.want {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("not controller", func(t *testing.T) {
		for _, b := range brokers {
			if ok, _ := b.handlers.elector.Load().IsController(); ok {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, req := range []kmsg.Request{kmsg.NewPtrListPartitionReassignmentsRequest(), kmsg.NewPtrAlterPartitionAssignmentsRequest()} {
				resp, err := cl.Broker(int(b.BrokerID())).Request(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				var code int16
				switch r := resp.(type) {
				case *kmsg.ListPartitionReassignmentsResponse:
					code = r.ErrorCode
				case *kmsg.AlterPartitionAssignmentsResponse:
					code = r.ErrorCode
				}
				if code != kerr.NotController.Code {
					t.Fatalf("%T on broker %d: %+v", req, b.BrokerID(), resp)
				}
			}
			return
		}
		t.Fatal("no broker other than the controller")
	})

	t.Run("znode", func(t *testing.T) {
		assignedTopic(t, cl, "byznode", []int32{1, 2})
		produceN(t, cl, "byznode", 20)
		zkc := zkClientOf(t, brokers[0])
		if err := zkc.CreatePartitionReassignment(context.Background(), map[zkutil.TopicPartition][]int32{
			{Topic: "byznode", Partition: 0}: {3, 2},
		}); err != nil {
			t.Fatal(err)
		}
		waitPartition(t, cl, "byznode", []int32{3, 2}, []int32{3, 2})
		waitSameLog(t, brokers[1], brokers[2], "byznode", 20)
		waitReplicaGone(t, brokers[0], "byznode")
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, ok, err := zkc.PartitionReassignment(context.Background())
			if err == nil && !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/admin/reassign_partitions never deleted: %v %v", ok, err)
			}
			time.Sleep(50 * time.Millisecond) // polling with a deadline
		}
		a, _, err := zkc.TopicAssignment(context.Background(), "byznode")
		if err != nil || !slices.Equal(a.Partitions[0], []int32{3, 2}) || len(a.AddingReplicas) != 0 || len(a.RemovingReplicas) != 0 {
			t.Fatalf("topic znode after reassignment: %+v %v", a, err)
		}
	})
}
