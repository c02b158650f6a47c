package group

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetCommitChecks(t *testing.T) {
	e := newEnv(t, nil)
	// Standalone commit on a group that does not exist yet.
	got := e.commit("", -1, map[string]int64{"t1": 5}, "")
	wantCode(t, "standalone commit", got["t1"], 0)
	wantCode(t, "commit with a generation to an unknown group", func() int16 {
		e2 := newEnv(t, nil)
		return e2.commit("m", 3, map[string]int64{"t1": 5}, "")["t1"]
	}(), kerr.IllegalGeneration.Code)

	ids, gen := e.stableGroup(2)
	tests := []struct {
		name   string
		member string
		gen    int32
		md     string
		want   int16
	}{
		{"member of the current generation", ids[1], gen, "", 0},
		{"stale generation", ids[1], gen - 1, "", kerr.IllegalGeneration.Code},
		{"unknown member", "ghost", gen, "", kerr.UnknownMemberID.Code},
		{"standalone commit to a group with members", "", -1, "", kerr.UnknownMemberID.Code},
		{"metadata too large", ids[1], gen, "0123456789abcdefX", kerr.OffsetMetadataTooLarge.Code},
		{"metadata at the limit", ids[1], gen, "0123456789abcdef", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.commit(tt.member, tt.gen, map[string]int64{"t9": 7}, tt.md)
			wantCode(t, "commit", got["t9"], tt.want)
		})
	}

	// Too-large metadata fails only its partition; the others commit.
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.Generation, r.MemberID = testGroup, gen, ids[0]
	big, small := "0123456789abcdefX", "ok"
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t2", Partitions: []kmsg.OffsetCommitRequestTopicPartition{
		{Partition: 0, Offset: 10, Metadata: &big}, {Partition: 1, Offset: 11, Metadata: &small, LeaderEpoch: 4}}}}
	var resp *kmsg.OffsetCommitResponse
	e.c.OffsetCommit(r, func(x *kmsg.OffsetCommitResponse) { resp = x })
	if resp == nil || resp.Topics[0].Partitions[0].ErrorCode != kerr.OffsetMetadataTooLarge.Code || resp.Topics[0].Partitions[1].ErrorCode != 0 {
		t.Fatalf("mixed commit: %+v", resp)
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version = 5
	f.Group = testGroup
	f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t2", Partitions: []int32{0, 1}}, {Topic: "none", Partitions: []int32{0}}}
	fr := e.c.OffsetFetch(f)
	p0, p1, none := fr.Topics[0].Partitions[0], fr.Topics[0].Partitions[1], fr.Topics[1].Partitions[0]
	if p0.Offset != -1 || p1.Offset != 11 || p1.LeaderEpoch != 4 || *p1.Metadata != "ok" || none.Offset != -1 || *none.Metadata != "" || none.ErrorCode != 0 {
		t.Fatalf("fetch: %+v", fr.Topics)
	}

	// During CompletingRebalance commits are refused.
	j0 := e.join(joinReq(5, ids[0], nil))
	j1 := e.join(joinReq(5, ids[1], nil))
	if j0.ready() == nil || j1.ready() == nil {
		t.Fatal("rejoin not answered")
	}
	wantCode(t, "commit while CompletingRebalance", e.commit(ids[1], gen+1, map[string]int64{"t9": 1}, "")["t9"], kerr.RebalanceInProgress.Code)
}

// The commit is answered once the log committed it, with the log's error
// mapped as Kafka's storeOffsets maps it.
func TestOffsetCommitLogErrors(t *testing.T) {
	tests := []struct {
		err  error
		want int16
	}{
		{nil, 0},
		{kerr.NotEnoughReplicas, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotEnoughReplicasAfterAppend, kerr.CoordinatorNotAvailable.Code},
		{kerr.RequestTimedOut, kerr.CoordinatorNotAvailable.Code},
		{kerr.UnknownTopicOrPartition, kerr.CoordinatorNotAvailable.Code},
		{kerr.NotLeaderForPartition, kerr.NotCoordinator.Code},
		{kerr.KafkaStorageError, kerr.NotCoordinator.Code},
		{kerr.MessageTooLarge, kerr.InvalidCommitOffsetSize.Code},
		{kerr.RecordListTooLarge, kerr.InvalidCommitOffsetSize.Code},
		{kerr.InvalidFetchSize, kerr.InvalidCommitOffsetSize.Code},
		{kerr.CorruptMessage, kerr.CorruptMessage.Code},
		{errors.New("disk on fire"), kerr.UnknownServerError.Code},
	}
	for _, tt := range tests {
		t.Run(errName(errCode(tt.err)), func(t *testing.T) {
			e := newEnv(t, nil)
			e.log.hold = true
			e.log.appendErr = func(int32, []Record) error { return tt.err }
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Version, r.Group, r.Generation = 2, testGroup, -1
			r.RetentionTimeMillis = -1
			r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 3}}}}
			ch := make(chan *kmsg.OffsetCommitResponse, 1)
			e.c.OffsetCommit(r, func(x *kmsg.OffsetCommitResponse) { ch <- x })
			if len(ch) != 0 {
				t.Fatal("answered before the log committed")
			}
			e.log.release()
			resp := <-ch
			wantCode(t, "commit", resp.Topics[0].Partitions[0].ErrorCode, tt.want)
			if off := e.fetch("t")["t"]; tt.want == 0 && off != 3 || tt.want != 0 && off != -1 {
				t.Fatalf("offset after %v: %d", tt.err, off)
			}
		})
	}
}

// Groups and offsets survive a move: a fresh coordinator loading the same
// log finds them.
func TestLoadRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	ids, gen := e.stableGroup(2)
	wantCode(t, "commit", e.commit(ids[0], gen, map[string]int64{"t1": 42, "t2": 7}, "md")["t1"], 0)
	wantCode(t, "commit", e.commit(ids[0], gen, map[string]int64{"t1": 43}, "")["t1"], 0)
	// A deleted offset (tombstone) stays deleted.
	p := e.c.PartitionFor(testGroup)
	e.log.Append(p, []Record{{Key: encodeOffsetKey(testGroup, "t2", 0)}}, func(error) {})
	// Undecodable records are skipped.
	e.log.Append(p, []Record{{Key: []byte{0, 9, 0}, Value: []byte{1}}}, func(error) {})

	clock := newFakeClock()
	c2 := New(testConfig(clock), e.log, quietLogger())
	t.Cleanup(c2.Close)
	e2 := &env{t: t, c: c2, log: e.log, clock: clock}
	e2.elect(p)
	if got := e2.fetch(); len(got) != 1 || got["t1"] != 43 {
		t.Fatalf("offsets after load: %v", got)
	}
	d := e2.describe()
	if d.State != "Stable" || len(d.Members) != 2 || d.Protocol != "range" || string(d.Members[1].MemberAssignment) != "a-"+ids[1] {
		t.Fatalf("group after load: %+v", d)
	}
	// Members must heartbeat again within their session timeout: ids[0]
	// does not and is expelled, which starts a rebalance.
	clock.Advance(6 * time.Second)
	wantCode(t, "heartbeat after load", e2.heartbeat(ids[1], gen), 0)
	clock.Advance(5 * time.Second)
	wantCode(t, "heartbeat of the silent member", e2.heartbeat(ids[0], gen), kerr.UnknownMemberID.Code)
	wantCode(t, "heartbeat of the live member", e2.heartbeat(ids[1], gen), kerr.RebalanceInProgress.Code)
}

// KIP-211 retention: offsets of an Empty group expire retention after it
// became Empty; the group then is Dead, with tombstones for both.
func TestOffsetRetention(t *testing.T) {
	e := newEnv(t, nil)
	ids, gen := e.stableGroup(1)
	wantCode(t, "commit", e.commit(ids[0], gen, map[string]int64{"t1": 1, "other": 2}, "")["t1"], 0)

	// Stable consumer group: offsets of a topic not subscribed expire by
	// commit time; t1 (subscribed) stays.
	for range 61 * 12 {
		e.clock.Advance(5 * time.Second)
		wantCode(t, "heartbeat", e.heartbeat(ids[0], gen), 0)
	}
	if got := e.fetch(); len(got) != 1 || got["t1"] != 1 {
		t.Fatalf("offsets of a stable group after retention: %v", got)
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = testGroup, ids[0]
	e.c.LeaveGroup(leave, func(*kmsg.LeaveGroupResponse) {})
	if d := e.describe(); d.State != "Empty" {
		t.Fatalf("state %s", d.State)
	}
	e.clock.Advance(59 * time.Minute)
	if got := e.fetch(); got["t1"] != 1 {
		t.Fatalf("offsets expired early: %v", got)
	}
	e.clock.Advance(2 * time.Minute)
	if got := e.fetch(); len(got) != 0 {
		t.Fatalf("offsets after retention: %v", got)
	}
	if d := e.describe(); d.State != "Dead" {
		t.Fatalf("state after expiry %s, want Dead", d.State)
	}
	recs := e.log.records(e.c.PartitionFor(testGroup))
	last := recs[len(recs)-1]
	if k, _ := decodeKey(last.Key); !k.isGroup || last.Value != nil {
		t.Fatalf("last record %+v, want the group tombstone", k)
	}
}

func TestDeleteGroupsAndOffsets(t *testing.T) {
	e := newEnv(t, nil)
	ids, gen := e.stableGroup(1)
	wantCode(t, "commit", e.commit(ids[0], gen, map[string]int64{"t1": 1, "other": 2}, "")["t1"], 0)

	del := func() int16 {
		var r *kmsg.DeleteGroupsResponse
		e.c.DeleteGroups(&kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{testGroup}}, func(x *kmsg.DeleteGroupsResponse) { r = x })
		return r.Groups[0].ErrorCode
	}
	offDel := func(topic string) (int16, int16) {
		var r *kmsg.OffsetDeleteResponse
		req := &kmsg.OffsetDeleteRequest{Group: testGroup, Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}}
		e.c.OffsetDelete(req, func(x *kmsg.OffsetDeleteResponse) { r = x })
		if r.ErrorCode != 0 {
			return r.ErrorCode, 0
		}
		return 0, r.Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "delete a group with members", del(), kerr.NonEmptyGroup.Code)
	_, pc := offDel("t1")
	wantCode(t, "offset delete of a subscribed topic", pc, kerr.GroupSubscribedToTopic.Code)
	_, pc = offDel("other")
	wantCode(t, "offset delete of another topic", pc, 0)
	if got := e.fetch(); len(got) != 1 {
		t.Fatalf("offsets after offset delete: %v", got)
	}

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = testGroup, ids[0]
	e.c.LeaveGroup(leave, func(*kmsg.LeaveGroupResponse) {})
	wantCode(t, "delete an empty group", del(), 0)
	wantCode(t, "delete again", del(), kerr.GroupIDNotFound.Code)
	top, _ := offDel("t1")
	wantCode(t, "offset delete of a deleted group", top, kerr.GroupIDNotFound.Code)
	if got := e.fetch(); len(got) != 0 {
		t.Fatalf("offsets after group delete: %v", got)
	}
	if lg := e.c.ListGroups(&kmsg.ListGroupsRequest{Version: 4}); len(lg.Groups) != 0 {
		t.Fatalf("groups listed after delete: %+v", lg.Groups)
	}
}

func TestListGroupsStatesFilter(t *testing.T) {
	e := newEnv(t, nil)
	e.stableGroup(1)
	for _, tt := range []struct {
		filter []string
		want   int
	}{{nil, 1}, {[]string{"stable"}, 1}, {[]string{"Empty"}, 0}} {
		lg := e.c.ListGroups(&kmsg.ListGroupsRequest{Version: 4, StatesFilter: tt.filter})
		if len(lg.Groups) != tt.want {
			t.Fatalf("filter %v: %+v", tt.filter, lg.Groups)
		}
	}
}
