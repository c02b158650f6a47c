package server

// JoinGroup (key 11): versions 0-7.
//
// Served by the group coordinator (coordinator/group), which may park the
// request until the group's rebalance completes; the handler only passes
// the client's id and host along for DescribeGroups. The host is the
// connection's remote address written as Kafka writes an InetAddress
// ("/127.0.0.1").
//
// Per version (the coordinator's): v1 adds the rebalance timeout (KIP-62);
// v2 throttle time; v4 answers MEMBER_ID_REQUIRED to a new member
// (KIP-394); v5 adds the group instance id (KIP-345); v6 is flexible; v7
// adds the protocol type and name (KIP-559).

import (
	"context"

	"github.com/gregor-broker/gregor/coordinator/group"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAPI(kmsg.JoinGroup, 0, 7, (*handlers).handleJoinGroup) }

func (h *handlers) handleJoinGroup(_ context.Context, r *request, respond func(kmsg.Response)) error {
	req := r.body.(*kmsg.JoinGroupRequest)
	h.groups.JoinGroup(req, clientInfo(r), func(resp *kmsg.JoinGroupResponse) {
		resp.Version = req.Version
		respond(resp)
	})
	return nil
}

// clientInfo identifies the connection a request came on, as Kafka's
// RequestContext gives it to the group coordinator: the client id and the
// remote host as InetAddress.toString writes it ("/1.2.3.4").
func clientInfo(r *request) group.ClientInfo {
	host := "/"
	if a := r.conn.RemoteAddr.Addr(); a.IsValid() {
		host += a.Unmap().String()
	}
	return group.ClientInfo{ClientID: r.clientID(), Host: host}
}
