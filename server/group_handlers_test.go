package server

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/gregor-broker/gregor/coordinator/group"
	"github.com/gregor-broker/gregor/internal/zktest"
	"github.com/gregor-broker/gregor/network"
	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeGroups is a group coordinator that records what it is asked and
// answers at once with the request's empty response (every offset commit
// partition NONE).
type fakeGroups struct {
	partition int32 // what PartitionFor answers

	mu      sync.Mutex
	calls   []string
	reqs    []kmsg.Request
	clients []group.ClientInfo
	events  []string // OnElection and OnResignation, as "elect 3@7"
}

var _ groupCoordinator = (*fakeGroups)(nil)

func (f *fakeGroups) record(name string, req kmsg.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	f.reqs = append(f.reqs, req)
}

func (f *fakeGroups) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeGroups) leadership() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func (f *fakeGroups) PartitionFor(string) int32 { return f.partition }
func (f *fakeGroups) OnElection(p, epoch int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fmt.Sprintf("elect %d@%d", p, epoch))
}
func (f *fakeGroups) OnResignation(p, epoch int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fmt.Sprintf("resign %d@%d", p, epoch))
}
func (f *fakeGroups) Close() { f.record("Close", nil) }
func (f *fakeGroups) JoinGroup(req *kmsg.JoinGroupRequest, c group.ClientInfo, respond func(*kmsg.JoinGroupResponse)) {
	f.record("JoinGroup", req)
	f.mu.Lock()
	f.clients = append(f.clients, c)
	f.mu.Unlock()
	respond(req.ResponseKind().(*kmsg.JoinGroupResponse))
}
func (f *fakeGroups) SyncGroup(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	f.record("SyncGroup", req)
	respond(req.ResponseKind().(*kmsg.SyncGroupResponse))
}
func (f *fakeGroups) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	f.record("Heartbeat", req)
	return req.ResponseKind().(*kmsg.HeartbeatResponse)
}
func (f *fakeGroups) LeaveGroup(req *kmsg.LeaveGroupRequest, respond func(*kmsg.LeaveGroupResponse)) {
	f.record("LeaveGroup", req)
	respond(req.ResponseKind().(*kmsg.LeaveGroupResponse))
}
func (f *fakeGroups) OffsetCommit(req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	f.record("OffsetCommit", req)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	respond(resp)
}
func (f *fakeGroups) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	f.record("OffsetFetch", req)
	return req.ResponseKind().(*kmsg.OffsetFetchResponse)
}
func (f *fakeGroups) OffsetDelete(req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	f.record("OffsetDelete", req)
	respond(req.ResponseKind().(*kmsg.OffsetDeleteResponse))
}
func (f *fakeGroups) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	f.record("DescribeGroups", req)
	return req.ResponseKind().(*kmsg.DescribeGroupsResponse)
}
func (f *fakeGroups) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	f.record("ListGroups", req)
	return req.ResponseKind().(*kmsg.ListGroupsResponse)
}
func (f *fakeGroups) DeleteGroups(req *kmsg.DeleteGroupsRequest, respond func(*kmsg.DeleteGroupsResponse)) {
	f.record("DeleteGroups", req)
	respond(req.ResponseKind().(*kmsg.DeleteGroupsResponse))
}

// groupTestHandlers are the handlers of broker 1 with a fake coordinator,
// knowing orders-0 and orders-1 from UpdateMetadata.
func groupTestHandlers(t *testing.T) (*handlers, *fakeGroups) {
	t.Helper()
	h := newHandlers(1, discardLogger())
	f := &fakeGroups{}
	h.groups = f
	h.metadata.update(&MetadataUpdate{
		ControllerID: 1,
		LiveBrokers:  []CachedBroker{plaintextBroker(1, "h1", 9092)},
		Partitions:   []PartitionState{partitionState("orders", 0, 1, 1), partitionState("orders", 1, 1, 1)},
	})
	return h, f
}

// callFrom runs req through Handle on a connection from remote and returns
// the response decoded again at the request's version.
func callFrom(t *testing.T, h *handlers, remote netip.AddrPort, clientID string, req kmsg.Request) kmsg.Response {
	t.Helper()
	nr := &network.Request{
		Header: network.RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: 7, ClientID: &clientID},
		Body:   req.AppendTo(nil),
		Conn:   network.ConnInfo{ListenerName: "PLAINTEXT", RemoteAddr: remote},
	}
	var got kmsg.Response
	responded := 0
	if err := h.Handle(context.Background(), nr, func(r kmsg.Response) { got = r; responded++ }); err != nil {
		t.Fatal(err)
	}
	if responded != 1 {
		t.Fatalf("respond called %d times", responded)
	}
	if got.GetVersion() != req.GetVersion() {
		t.Fatalf("response version %d, request %d", got.GetVersion(), req.GetVersion())
	}
	decoded := req.ResponseKind()
	decoded.SetVersion(req.GetVersion())
	if err := decoded.ReadFrom(got.AppendTo(nil)); err != nil {
		t.Fatalf("decode %s v%d: %v", kmsg.Key(req.Key()).Name(), req.GetVersion(), err)
	}
	return decoded
}

// TestGroupAPIsReachTheCoordinator sends every group API at every version
// Kafka 2.8 serves and checks that the coordinator got it, and that the
// answer has the request's version; versions past 2.8's close the
// connection.
func TestGroupAPIsReachTheCoordinator(t *testing.T) {
	tests := []struct {
		key       kmsg.Key
		max       int16
		coordName string
	}{
		{kmsg.JoinGroup, 7, "JoinGroup"},
		{kmsg.SyncGroup, 5, "SyncGroup"},
		{kmsg.Heartbeat, 4, "Heartbeat"},
		{kmsg.LeaveGroup, 4, "LeaveGroup"},
		{kmsg.OffsetCommit, 8, "OffsetCommit"},
		{kmsg.OffsetFetch, 7, "OffsetFetch"},
		{kmsg.DescribeGroups, 5, "DescribeGroups"},
		{kmsg.ListGroups, 4, "ListGroups"},
		{kmsg.DeleteGroups, 2, "DeleteGroups"},
		{kmsg.OffsetDelete, 0, "OffsetDelete"},
	}
	remote := netip.MustParseAddrPort("10.1.2.3:5555")
	for _, tt := range tests {
		for v := int16(0); v <= tt.max+1; v++ {
			t.Run(fmt.Sprintf("%s v%d", tt.coordName, v), func(t *testing.T) {
				h, f := groupTestHandlers(t)
				req := kmsg.RequestForKey(int16(tt.key))
				req.SetVersion(v)
				switch r := req.(type) {
				case *kmsg.OffsetCommitRequest:
					rt := kmsg.NewOffsetCommitRequestTopic()
					rt.Topic = "orders"
					rt.Partitions = []kmsg.OffsetCommitRequestTopicPartition{kmsg.NewOffsetCommitRequestTopicPartition()}
					r.Group, r.Topics = "g", []kmsg.OffsetCommitRequestTopic{rt}
				case *kmsg.OffsetFetchRequest:
					r.Group = "g"
				}
				if v > tt.max {
					nr := &network.Request{Header: network.RequestHeader{APIKey: int16(tt.key), APIVersion: v}, Body: req.AppendTo(nil)}
					if err := h.Handle(context.Background(), nr, func(kmsg.Response) {}); err == nil {
						t.Fatalf("v%d served, Kafka 2.8 serves up to v%d", v, tt.max)
					}
					return
				}
				callFrom(t, h, remote, "client-a", req)
				want := []string{tt.coordName}
				if (tt.key == kmsg.OffsetCommit || tt.key == kmsg.OffsetFetch) && v == 0 {
					want = nil // ZooKeeper's
				}
				if got := f.called(); !slices.Equal(got, want) {
					t.Fatalf("coordinator calls %v, want %v", got, want)
				}
				if want != nil && f.reqs[0].GetVersion() != v {
					t.Fatalf("coordinator got v%d", f.reqs[0].GetVersion())
				}
				if tt.key == kmsg.JoinGroup {
					if c := f.clients[0]; c.ClientID != "client-a" || c.Host != "/10.1.2.3" {
						t.Fatalf("client info %+v", c)
					}
				}
			})
		}
	}
}

// TestOffsetCommitUnknownTopics checks that partitions the metadata cache
// does not know are answered UNKNOWN_TOPIC_OR_PARTITION by the server and
// never reach the coordinator.
func TestOffsetCommitUnknownTopics(t *testing.T) {
	type tp struct {
		topic     string
		partition int32
	}
	tests := []struct {
		name        string
		commit      []tp
		toCoord     []tp // nil: the coordinator is not asked
		unknown     []tp
		answeredAll bool
	}{
		{name: "mixed", commit: []tp{{"orders", 0}, {"orders", 9}, {"ghost", 0}, {"orders", 1}},
			toCoord: []tp{{"orders", 0}, {"orders", 1}}, unknown: []tp{{"orders", 9}, {"ghost", 0}}},
		{name: "all unknown", commit: []tp{{"ghost", 0}, {"ghost", 1}}, unknown: []tp{{"ghost", 0}, {"ghost", 1}}},
		{name: "all known", commit: []tp{{"orders", 1}}, toCoord: []tp{{"orders", 1}}},
	}
	for _, tt := range tests {
		for v := int16(1); v <= 8; v++ {
			t.Run(fmt.Sprintf("%s v%d", tt.name, v), func(t *testing.T) {
				h, f := groupTestHandlers(t)
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Version, req.Group = v, "g"
				for _, c := range tt.commit {
					i := slices.IndexFunc(req.Topics, func(rt kmsg.OffsetCommitRequestTopic) bool { return rt.Topic == c.topic })
					if i < 0 {
						rt := kmsg.NewOffsetCommitRequestTopic()
						rt.Topic = c.topic
						req.Topics = append(req.Topics, rt)
						i = len(req.Topics) - 1
					}
					p := kmsg.NewOffsetCommitRequestTopicPartition()
					p.Partition, p.Offset = c.partition, 5
					req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
				}
				resp := callFrom(t, h, netip.AddrPort{}, "c", req).(*kmsg.OffsetCommitResponse)
				var sent []tp
				if calls := f.called(); len(calls) > 0 {
					for _, rt := range f.reqs[0].(*kmsg.OffsetCommitRequest).Topics {
						for _, p := range rt.Partitions {
							sent = append(sent, tp{rt.Topic, p.Partition})
						}
					}
				}
				if !slices.Equal(sent, tt.toCoord) {
					t.Fatalf("coordinator got %v, want %v", sent, tt.toCoord)
				}
				answered := map[tp]int16{}
				for _, rt := range resp.Topics {
					for _, p := range rt.Partitions {
						answered[tp{rt.Topic, p.Partition}] = p.ErrorCode
					}
				}
				if len(answered) != len(tt.commit) {
					t.Fatalf("answered %v, asked %v", answered, tt.commit)
				}
				for _, u := range tt.unknown {
					if answered[u] != kerr.UnknownTopicOrPartition.Code {
						t.Fatalf("%v answered %d", u, answered[u])
					}
				}
				for _, k := range tt.toCoord {
					if answered[k] != 0 {
						t.Fatalf("%v answered %d", k, answered[k])
					}
				}
			})
		}
	}
}

// TestOffsetCommitFetchV0ZooKeeper commits and fetches with v0, which
// keep offsets in /consumers/<group>/offsets on a real ZooKeeper.
func TestOffsetCommitFetchV0ZooKeeper(t *testing.T) {
	h, f := groupTestHandlers(t)
	zkc := connectZK(t, zktest.Shared(t).Chroot(t))
	h.consumerOffsets = zkc
	ctx := context.Background()

	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version, commit.Group = 0, "legacy"
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "orders"
	for _, c := range []struct {
		p        int32
		offset   int64
		metadata string
	}{{0, 42, "m"}, {1, 7, string(make([]byte, 4097))}, {5, 3, ""}} {
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.Metadata = c.p, c.offset, kmsg.StringPtr(c.metadata)
		rt.Partitions = append(rt.Partitions, p)
	}
	commit.Topics = append(commit.Topics, rt)
	resp := callFrom(t, h, netip.AddrPort{}, "c", commit).(*kmsg.OffsetCommitResponse)
	codes := map[int32]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			codes[p.Partition] = p.ErrorCode
		}
	}
	want := map[int32]int16{0: 0, 1: kerr.OffsetMetadataTooLarge.Code, 5: kerr.UnknownTopicOrPartition.Code}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Fatalf("commit codes %v, want %v", codes, want)
	}
	if off, ok, err := zkc.ConsumerOffset(ctx, "legacy", zkutil.TopicPartition{Topic: "orders", Partition: 0}); err != nil || !ok || off != 42 {
		t.Fatalf("znode: %d %v %v", off, ok, err)
	}
	if _, ok, err := zkc.ConsumerOffset(ctx, "legacy", zkutil.TopicPartition{Topic: "orders", Partition: 1}); err != nil || ok {
		t.Fatalf("metadata too large was stored: %v %v", ok, err)
	}

	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version, fetch.Group = 0, "legacy"
	ft := kmsg.NewOffsetFetchRequestTopic()
	ft.Topic, ft.Partitions = "orders", []int32{0, 1, 5}
	gt := kmsg.NewOffsetFetchRequestTopic()
	gt.Topic, gt.Partitions = "ghost", []int32{0}
	fetch.Topics = append(fetch.Topics, ft, gt)
	fresp := callFrom(t, h, netip.AddrPort{}, "c", fetch).(*kmsg.OffsetFetchResponse)
	got := map[string]string{}
	for _, rt := range fresp.Topics {
		for _, p := range rt.Partitions {
			got[fmt.Sprintf("%s-%d", rt.Topic, p.Partition)] = fmt.Sprintf("%d %q %d", p.Offset, *p.Metadata, p.ErrorCode)
		}
	}
	wantFetch := map[string]string{"orders-0": `42 "" 0`, "orders-1": `-1 "" 0`, "orders-5": `-1 "" 0`, "ghost-0": `-1 "" 0`}
	if fmt.Sprint(got) != fmt.Sprint(wantFetch) {
		t.Fatalf("fetched %v, want %v", got, wantFetch)
	}
	if calls := f.called(); len(calls) != 0 {
		t.Fatalf("v0 reached the coordinator: %v", calls)
	}
}
