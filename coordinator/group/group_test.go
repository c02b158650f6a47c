package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stableGroup joins n dynamic members (the initial delay run out), syncs
// them, and returns their ids (leader first) and the generation.
func (e *env) stableGroup(n int) ([]string, int32) {
	e.t.Helper()
	var ids []string
	var joins []pendingJoin
	for range n {
		id, j := e.joinNew()
		ids = append(ids, id)
		joins = append(joins, j)
	}
	e.clock.Advance(6 * time.Second)
	var gen int32
	var leader string
	for i, j := range joins {
		r := j.ready()
		if r == nil || r.ErrorCode != 0 {
			e.t.Fatalf("join %d: %+v", i, r)
		}
		gen, leader = r.Generation, r.LeaderID
	}
	assign := map[string]string{}
	for _, id := range ids {
		assign[id] = "a-" + id
	}
	var syncs []pendingSync
	for _, id := range ids {
		if id != leader {
			syncs = append(syncs, e.sync(id, gen, nil))
		}
	}
	syncs = append(syncs, e.sync(leader, gen, assign))
	for _, s := range syncs {
		if r := s.ready(); r == nil || r.ErrorCode != 0 {
			e.t.Fatalf("sync: %+v", r)
		}
	}
	if leader != ids[0] {
		e.t.Fatalf("leader %s, want the first member %s", leader, ids[0])
	}
	return ids, gen
}

// The whole cycle: three members join during the initial delay, the
// leader gets the member list, the assignment reaches everyone after it
// is written, heartbeats pass, a leave starts a rebalance.
func TestJoinSyncHeartbeatLeave(t *testing.T) {
	e := newEnv(t, nil)
	id1, j1 := e.joinNew()
	e.clock.Advance(2 * time.Second)
	id2, j2 := e.joinNew()
	e.clock.Advance(time.Second) // initial delay (3s) runs out, but a member came: extended
	if j1.ready() != nil {
		t.Fatal("join completed although a member joined during the initial delay")
	}
	id3, j3 := e.joinNew()
	e.clock.Advance(3 * time.Second) // extended again (member 3)
	if j1.ready() != nil {
		t.Fatal("join completed during the extended delay")
	}
	e.clock.Advance(3 * time.Second)
	r1, r2, r3 := j1.ready(), j2.ready(), j3.ready()
	if r1 == nil || r2 == nil || r3 == nil {
		t.Fatalf("joins not answered after the delay: %v %v %v", r1, r2, r3)
	}
	if r1.Generation != 1 || r1.LeaderID != id1 || len(r1.Members) != 3 || len(r2.Members) != 0 || len(r3.Members) != 0 {
		t.Fatalf("join answers: leader %+v / %+v", r1, r2)
	}
	if *r1.Protocol != "range" {
		t.Fatalf("protocol %q", *r1.Protocol)
	}
	if d := e.describe(); d.State != "CompletingRebalance" {
		t.Fatalf("state %s", d.State)
	}

	s2 := e.sync(id2, 1, nil)
	s3 := e.sync(id3, 1, nil)
	if s2.ready() != nil {
		t.Fatal("follower sync answered before the leader's")
	}
	e.log.hold = true
	s1 := e.sync(id1, 1, map[string]string{id1: "A1", id2: "A2", id3: "A3"})
	if s1.ready() != nil || s2.ready() != nil {
		t.Fatal("sync answered before the group was written")
	}
	e.log.release()
	for i, tc := range []struct {
		s    pendingSync
		want string
	}{{s1, "A1"}, {s2, "A2"}, {s3, "A3"}} {
		r := tc.s.ready()
		if r == nil || r.ErrorCode != 0 || string(r.MemberAssignment) != tc.want {
			t.Fatalf("sync %d: %+v", i, r)
		}
	}
	d := e.describe()
	if d.State != "Stable" || len(d.Members) != 3 || string(d.Members[1].MemberAssignment) != "A2" {
		t.Fatalf("describe: %+v", d)
	}
	// The group metadata record is in the log.
	recs := e.log.records(e.c.PartitionFor(testGroup))
	v, err := decodeGroupValue(recs[len(recs)-1].Value)
	if err != nil || v.Generation != 1 || len(v.Members) != 3 || string(v.Members[2].Assignment) != "A3" {
		t.Fatalf("stored group: %+v %v", v, err)
	}

	wantCode(t, "heartbeat", e.heartbeat(id2, 1), 0)
	wantCode(t, "heartbeat stale generation", e.heartbeat(id2, 0), kerr.IllegalGeneration.Code)
	wantCode(t, "heartbeat unknown member", e.heartbeat("nobody", 1), kerr.UnknownMemberID.Code)

	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 3
	leave.Group = testGroup
	leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id3}, {MemberID: "nobody"}}
	var lr *kmsg.LeaveGroupResponse
	e.c.LeaveGroup(leave, func(r *kmsg.LeaveGroupResponse) { lr = r })
	if lr == nil || lr.ErrorCode != 0 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave: %+v", lr)
	}
	wantCode(t, "heartbeat after leave", e.heartbeat(id1, 1), kerr.RebalanceInProgress.Code)
	j1 = e.join(joinReq(5, id1, nil))
	j2 = e.join(joinReq(5, id2, nil))
	r1, r2 = j1.ready(), j2.ready()
	if r1 == nil || r2 == nil || r1.Generation != 2 || len(r1.Members) != 2 {
		t.Fatalf("rejoin after leave (all joined, no wait): %+v %+v", r1, r2)
	}
}

// A member that never heartbeats is removed after its session timeout and
// the others are told to rebalance.
func TestSessionTimeoutExpelsMember(t *testing.T) {
	e := newEnv(t, nil)
	ids, gen := e.stableGroup(2)
	for range 3 {
		e.clock.Advance(3 * time.Second)
		wantCode(t, "heartbeat", e.heartbeat(ids[0], gen), 0)
	}
	e.clock.Advance(2 * time.Second)
	// 11s without a heartbeat from ids[1] (session 10s).
	wantCode(t, "heartbeat of the expired member", e.heartbeat(ids[1], gen), kerr.UnknownMemberID.Code)
	wantCode(t, "heartbeat of the survivor", e.heartbeat(ids[0], gen), kerr.RebalanceInProgress.Code)
	r := e.join(joinReq(5, ids[0], nil)).ready()
	if r == nil || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("rejoin: %+v", r)
	}
}

// A member that does not rejoin within the rebalance timeout is dropped
// from the next generation.
func TestRebalanceTimeoutDropsMember(t *testing.T) {
	e := newEnv(t, nil)
	ids, gen := e.stableGroup(2)
	j := e.join(joinReq(5, ids[0], nil)) // the leader rejoins: rebalance
	for range 5 {                        // ids[1] heartbeats but never rejoins
		e.clock.Advance(5 * time.Second)
		if r := j.ready(); r != nil {
			t.Fatalf("join completed early: %+v", r)
		}
		wantCode(t, "heartbeat", e.heartbeat(ids[1], gen), kerr.RebalanceInProgress.Code)
	}
	e.clock.Advance(5 * time.Second) // 30s rebalance timeout
	r := j.ready()
	if r == nil || r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("join after the rebalance timeout: %+v", r)
	}
	wantCode(t, "heartbeat of the dropped member", e.heartbeat(ids[1], gen), kerr.UnknownMemberID.Code)
}

// KIP-345: a static member restarting (unknown member id, same instance
// id) takes over without a rebalance; its old member id is fenced.
func TestStaticMemberRestart(t *testing.T) {
	e := newEnv(t, nil)
	i1, i2 := "inst-1", "inst-2"
	j1 := e.join(joinReq(5, "", &i1))
	j2 := e.join(joinReq(5, "", &i2))
	e.clock.Advance(6 * time.Second)
	r1, r2 := j1.ready(), j2.ready()
	if r1 == nil || r2 == nil || r1.ErrorCode != 0 || r2.ErrorCode != 0 {
		t.Fatalf("static joins: %+v %+v", r1, r2)
	}
	gen := r1.Generation
	e.sync(r2.MemberID, gen, nil)
	if s := e.sync(r1.MemberID, gen, map[string]string{r1.MemberID: "x", r2.MemberID: "y"}).ready(); s == nil || s.ErrorCode != 0 {
		t.Fatalf("sync: %+v", s)
	}

	r := e.join(joinReq(5, "", &i2)).ready()
	if r == nil || r.ErrorCode != 0 || r.Generation != gen || r.MemberID == r2.MemberID || r.LeaderID != r1.MemberID {
		t.Fatalf("static rejoin: %+v", r)
	}
	if d := e.describe(); d.State != "Stable" {
		t.Fatalf("state after static rejoin: %s", d.State)
	}
	wantCode(t, "heartbeat of the new id", e.heartbeat(r.MemberID, gen), 0)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 3
	hb.Group, hb.Generation, hb.MemberID, hb.InstanceID = testGroup, gen, r2.MemberID, &i2
	wantCode(t, "heartbeat of the old id", e.c.Heartbeat(hb).ErrorCode, kerr.FencedInstanceID.Code)
	if s := e.sync(r.MemberID, gen, nil).ready(); s == nil || string(s.MemberAssignment) != "y" {
		t.Fatalf("assignment kept: %+v", s)
	}
}

func TestJoinErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*kmsg.JoinGroupRequest)
		cfg  func(*Config)
		prep func(*env)
		want int16
	}{
		{name: "empty group id", mod: func(r *kmsg.JoinGroupRequest) { r.Group = "" }, want: kerr.InvalidGroupID.Code},
		{name: "session timeout too small", mod: func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 999 }, want: kerr.InvalidSessionTimeout.Code},
		{name: "session timeout too large", mod: func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 60_001 }, want: kerr.InvalidSessionTimeout.Code},
		{name: "empty protocol type", mod: func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "" }, want: kerr.InconsistentGroupProtocol.Code},
		{name: "no protocols", mod: func(r *kmsg.JoinGroupRequest) { r.Protocols = nil }, want: kerr.InconsistentGroupProtocol.Code},
		{name: "protocol type mismatch", prep: func(e *env) { e.stableGroup(1) },
			mod: func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }, want: kerr.InconsistentGroupProtocol.Code},
		{name: "no common protocol", prep: func(e *env) { e.stableGroup(1) },
			mod: func(r *kmsg.JoinGroupRequest) { r.Protocols[0].Name = "sticky" }, want: kerr.InconsistentGroupProtocol.Code},
		{name: "unknown member id", mod: func(r *kmsg.JoinGroupRequest) { r.MemberID = "ghost" }, want: kerr.UnknownMemberID.Code},
		{name: "group max size", cfg: func(c *Config) { c.MaxGroupSize = 1 }, prep: func(e *env) { e.stableGroup(1) },
			want: kerr.GroupMaxSizeReached.Code},
		{name: "not coordinator", mod: func(r *kmsg.JoinGroupRequest) { r.Group = otherPartitionGroup() }, want: kerr.NotCoordinator.Code},
		{name: "v4 first join", mod: func(r *kmsg.JoinGroupRequest) { r.Version = 4 }, want: kerr.MemberIDRequired.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.cfg)
			if tt.prep != nil {
				tt.prep(e)
			}
			req := joinReq(5, "", nil)
			if tt.mod != nil {
				tt.mod(req)
			}
			r := e.join(req).ready()
			if r == nil {
				t.Fatal("not answered")
			}
			wantCode(t, "join", r.ErrorCode, tt.want)
		})
	}
}

// otherPartitionGroup is a group id whose partition is not testGroup's.
func otherPartitionGroup() string {
	for _, id := range []string{"x", "y", "z", "w", "v"} {
		if partitionFor(id, 4) != partitionFor(testGroup, 4) {
			return id
		}
	}
	panic("no other partition")
}

func TestLoadingAndUnloading(t *testing.T) {
	e := newEnv(t, nil)
	other := otherPartitionGroup()
	p := e.c.PartitionFor(other)
	gate := make(chan struct{})
	e.log.readGate = gate
	e.c.OnElection(p, 1)
	req := joinReq(5, "", nil)
	req.Group = other
	r := e.join(req).ready()
	wantCode(t, "join while loading", r.ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group = other
	wantCode(t, "heartbeat while loading", e.c.Heartbeat(hb).ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	lg := e.c.ListGroups(kmsg.NewPtrListGroupsRequest())
	wantCode(t, "list groups while loading", lg.ErrorCode, kerr.CoordinatorLoadInProgress.Code)
	e.c.OnResignation(p, 2) // cancels the load
	wantCode(t, "heartbeat after resignation", e.c.Heartbeat(hb).ErrorCode, kerr.NotCoordinator.Code)
	close(gate)

	// Unloading answers a parked JoinGroup NOT_COORDINATOR.
	_, j := e.joinNew()
	e.c.OnResignation(e.c.PartitionFor(testGroup), 2)
	if r := j.ready(); r == nil || r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join after unload: %+v", r)
	}
	wantCode(t, "join after unload", e.join(joinReq(5, "", nil)).ready().ErrorCode, kerr.NotCoordinator.Code)
}

// A failed write of the leader's assignment answers every SyncGroup with
// the mapped error and starts a rebalance.
func TestSyncStoreFailure(t *testing.T) {
	e := newEnv(t, nil)
	id1, j1 := e.joinNew()
	id2, j2 := e.joinNew()
	e.clock.Advance(6 * time.Second)
	if j1.ready() == nil || j2.ready() == nil {
		t.Fatal("joins not answered")
	}
	e.log.appendErr = func(int32, []Record) error { return kerr.NotEnoughReplicas }
	s2 := e.sync(id2, 1, nil)
	s1 := e.sync(id1, 1, map[string]string{id1: "a", id2: "b"})
	for _, s := range []pendingSync{s1, s2} {
		r := s.ready()
		if r == nil {
			t.Fatal("sync not answered")
		}
		wantCode(t, "sync", r.ErrorCode, kerr.CoordinatorNotAvailable.Code)
	}
	if d := e.describe(); d.State != "PreparingRebalance" {
		t.Fatalf("state %s, want PreparingRebalance", d.State)
	}
}

func TestSyncV5ProtocolChecksAndDescribeOps(t *testing.T) {
	e := newEnv(t, nil)
	ids, gen := e.stableGroup(1)
	for _, tt := range []struct {
		ptype, proto string
		want         int16
	}{{"consumer", "range", 0}, {"connect", "range", kerr.InconsistentGroupProtocol.Code}, {"consumer", "sticky", kerr.InconsistentGroupProtocol.Code}} {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Version, r.Group, r.Generation, r.MemberID = 5, testGroup, gen, ids[0]
		r.ProtocolType, r.Protocol = &tt.ptype, &tt.proto
		var resp *kmsg.SyncGroupResponse
		e.c.SyncGroup(r, func(x *kmsg.SyncGroupResponse) { resp = x })
		wantCode(t, "sync v5 "+tt.ptype+"/"+tt.proto, resp.ErrorCode, tt.want)
	}
	d := e.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{testGroup, "unknown"}})
	if d.Groups[0].AuthorizedOperations != -2147483648 || d.Groups[1].State != "Dead" {
		t.Fatalf("describe: %+v", d.Groups)
	}
	d = e.c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{testGroup}, IncludeAuthorizedOperations: true})
	if d.Groups[0].AuthorizedOperations != 328 {
		t.Fatalf("authorized operations %d", d.Groups[0].AuthorizedOperations)
	}
}
