package server

// ApiVersions (key 18): versions 0-3.
//
// Lists every API registered in this package with its version range; an API
// not implemented yet is simply absent. A request at a version the broker
// does not serve is answered, not refused: UNSUPPORTED_VERSION with the
// supported ranges in a v0 response, which every client can read (Kafka's
// behaviour since KIP-511; the response header is always v0 for this API,
// which network takes care of). v3 (KIP-511) adds the client's software name
// and version, which Kafka validates and records; Gregor accepts them as
// they come. No features are advertised (KIP-584 is for KRaft-era
// brokers).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerSyncAPI(kmsg.ApiVersions, 0, 3, (*handlers).handleAPIVersions) }

func (h *handlers) handleAPIVersions(_ context.Context, r *request) (kmsg.Response, error) {
	resp := r.body.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = apiVersionsKeys()
	return resp, nil
}

// unsupportedAPIVersionsResponse answers an ApiVersions request at a version
// the broker does not serve.
func unsupportedAPIVersionsResponse() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionsKeys()
	return resp
}

func apiVersionsKeys() []kmsg.ApiVersionsResponseApiKey {
	all := supportedAPIs()
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(all))
	for _, a := range all {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.minVersion, a.maxVersion
		keys = append(keys, k)
	}
	return keys
}
