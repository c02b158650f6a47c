package server

import (
	"context"
	"testing"

	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// call runs one request through handlers.Handle as network would and returns
// the response it got.
func call(t *testing.T, h *handlers, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	nr := &network.Request{
		Header: network.RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: 7},
		Body:   req.AppendTo(nil),
	}
	var got kmsg.Response
	responded := 0
	err := h.Handle(context.Background(), nr, func(r kmsg.Response) { got = r; responded++ })
	if err == nil && responded != 1 {
		t.Fatalf("respond called %d times", responded)
	}
	return got, err
}

func TestAPIVersions(t *testing.T) {
	h := &handlers{log: discardLogger()}
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		resp, err := call(t, h, req)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		av := resp.(*kmsg.ApiVersionsResponse)
		if av.ErrorCode != 0 || av.GetVersion() != v {
			t.Fatalf("v%d: error %d version %d", v, av.ErrorCode, av.GetVersion())
		}
		found := false
		for _, k := range av.ApiKeys {
			if k.ApiKey == int16(kmsg.ApiVersions) && k.MinVersion == 0 && k.MaxVersion == 3 {
				found = true
			}
		}
		if !found {
			t.Fatalf("v%d: ApiVersions itself not listed: %+v", v, av.ApiKeys)
		}
	}
}

func TestAPIVersionsUnsupportedVersionAnswersV0(t *testing.T) {
	h := &handlers{log: discardLogger()}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	nr := &network.Request{
		Header: network.RequestHeader{APIKey: 18, APIVersion: 99, CorrelationID: 1},
		Body:   req.AppendTo(nil),
	}
	var got kmsg.Response
	if err := h.Handle(context.Background(), nr, func(r kmsg.Response) { got = r }); err != nil {
		t.Fatal(err)
	}
	av := got.(*kmsg.ApiVersionsResponse)
	if av.GetVersion() != 0 || av.ErrorCode != kerr.UnsupportedVersion.Code || len(av.ApiKeys) == 0 {
		t.Fatalf("got version %d error %d keys %d", av.GetVersion(), av.ErrorCode, len(av.ApiKeys))
	}
}

func TestUnservedRequestsCloseTheConnection(t *testing.T) {
	h := &handlers{log: discardLogger()}
	tests := []struct {
		name   string
		header network.RequestHeader
		body   []byte
	}{
		{"unknown key", network.RequestHeader{APIKey: 999, APIVersion: 0}, nil},
		{"version above the range", network.RequestHeader{APIKey: 18, APIVersion: 2}, []byte{0xff}},
		{"undecodable body", network.RequestHeader{APIKey: 18, APIVersion: 3}, []byte{0x05}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "version above the range" {
				tt.header = network.RequestHeader{APIKey: int16(kmsg.Metadata), APIVersion: 99}
			}
			err := h.Handle(context.Background(), &network.Request{Header: tt.header, Body: tt.body}, func(kmsg.Response) {
				t.Fatal("respond called for a request that must close the connection")
			})
			if err == nil {
				t.Fatal("want an error that closes the connection")
			}
		})
	}
}
