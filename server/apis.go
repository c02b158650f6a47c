package server

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// request is one decoded request, as handlers see it.
type request struct {
	header network.RequestHeader
	// body is the decoded request, its version set to the header's.
	body       kmsg.Request
	conn       network.ConnInfo
	receivedAt time.Time
	// raw is the request as network read it, for releaseFrame; nil in
	// tests that build a request by hand.
	raw *network.Request
}

// clientID is the request's client id, "" when null.
func (r *request) clientID() string {
	if r.header.ClientID == nil {
		return ""
	}
	return *r.header.ClientID
}

// apiHandler serves one decoded request and calls respond exactly once (with
// nil when nothing is sent back), before it returns or later for a request
// parked in a purgatory. Returning an error closes the connection instead.
type apiHandler func(h *handlers, ctx context.Context, r *request, respond func(kmsg.Response)) error

// syncHandler serves a request whose response is ready when it returns.
type syncHandler func(h *handlers, ctx context.Context, r *request) (kmsg.Response, error)

// api is one Kafka API the broker serves: its key, the versions it accepts
// and its handler. Each lives in its own file (00_produce.go, ...), which
// registers it in an init function right by the handler, so that
// ApiVersions can never disagree with the code.
type api struct {
	key        int16
	minVersion int16
	maxVersion int16
	handle     apiHandler
}

// apis maps an API key to what serves it. It is filled by init functions and
// read-only afterwards.
var apis = map[int16]*api{}

// registerAPI adds an API whose handler may answer later. Registering a key
// twice is a programming error and panics at start-up.
func registerAPI(key kmsg.Key, minVersion, maxVersion int16, handle apiHandler) {
	if _, dup := apis[int16(key)]; dup {
		panic(fmt.Sprintf("server: API %s registered twice", key.Name()))
	}
	if minVersion < 0 || maxVersion < minVersion || maxVersion > key.Request().MaxVersion() {
		panic(fmt.Sprintf("server: API %s registered with versions %d-%d, beyond what kmsg can decode (%d)",
			key.Name(), minVersion, maxVersion, key.Request().MaxVersion()))
	}
	apis[int16(key)] = &api{key: int16(key), minVersion: minVersion, maxVersion: maxVersion, handle: handle}
}

// registerSyncAPI adds an API whose response is ready when its handler
// returns: most of them.
func registerSyncAPI(key kmsg.Key, minVersion, maxVersion int16, handle syncHandler) {
	registerAPI(key, minVersion, maxVersion, func(h *handlers, ctx context.Context, r *request, respond func(kmsg.Response)) error {
		resp, err := handle(h, ctx, r)
		if err != nil {
			return err
		}
		respond(resp)
		return nil
	})
}

// supportedAPIs lists the registered APIs by key, for ApiVersions.
func supportedAPIs() []*api {
	out := make([]*api, 0, len(apis))
	for _, a := range apis {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// errUnsupportedVersion closes the connection of a request whose version
// the broker does not serve, as Kafka does for every API but ApiVersions.
var errUnsupportedVersion = errors.New("server: unsupported API version")

// Handle implements network.Handler: it decodes the request body at the
// header's version and calls the API's handler. An unknown key, a version
// out of range or a body that does not decode close the connection, with
// one exception: ApiVersions at an unsupported version is answered with
// UNSUPPORTED_VERSION and the supported ranges in a v0 response (KIP-511),
// so that a newer client can find a version both sides speak.
func (h *handlers) Handle(ctx context.Context, nr *network.Request, respond func(kmsg.Response)) error {
	key := nr.Header.APIKey
	a, ok := apis[key]
	if !ok {
		return fmt.Errorf("server: API key %d is not served", key)
	}
	version := nr.Header.APIVersion
	if version < a.minVersion || version > a.maxVersion {
		if key == int16(kmsg.ApiVersions) {
			respond(unsupportedAPIVersionsResponse())
			return nil
		}
		return fmt.Errorf("%w: %s v%d (served: v%d-v%d)", errUnsupportedVersion, kmsg.Key(key).Name(), version, a.minVersion, a.maxVersion)
	}
	body := kmsg.RequestForKey(key)
	body.SetVersion(version)
	if err := body.ReadFrom(nr.Body); err != nil {
		return fmt.Errorf("server: decode %s v%d: %w", kmsg.Key(key).Name(), version, err)
	}
	r := &request{header: nr.Header, body: body, conn: nr.Conn, receivedAt: nr.ReceivedAt, raw: nr}
	if h.log.Logger.IsLevelEnabled(debugLevel) {
		h.log.WithFields(requestFields(r)).Debug("handling request")
	}
	return a.handle(h, ctx, r, respond)
}
