package network

import "errors"

// Sentinel errors callers branch on with errors.Is. The ones about bytes
// from a peer (frames and headers) never reach the server package: the
// connection that sent them is closed and one line is logged. The client
// errors are returned by Client.Request.
var (
	// ErrFrameTooLarge is a frame whose length prefix is larger than
	// socket.request.max.bytes (or, for the client, than the largest
	// response it accepts). Kafka's InvalidReceiveException.
	ErrFrameTooLarge = errors.New("network: frame too large")

	// ErrNegativeFrameSize is a frame whose length prefix is negative.
	ErrNegativeFrameSize = errors.New("network: negative frame size")

	// ErrTruncatedFrame is a connection that ended, or timed out, in the
	// middle of a frame: after some but not all of its bytes.
	ErrTruncatedFrame = errors.New("network: truncated frame")

	// ErrMalformedHeader is a request or response header that does not
	// parse: too short, a client id longer than the frame, a bad tagged
	// field section.
	ErrMalformedHeader = errors.New("network: malformed header")

	// ErrUnknownAPIKey is a request header whose API key no version of the
	// Kafka protocol defines (kmsg knows none), so that not even the
	// header's own version can be chosen.
	ErrUnknownAPIKey = errors.New("network: unknown api key")

	// ErrRequestTimeout is a request of the inter-broker client that got
	// no response within ClientConfig.RequestTimeout. The connection it
	// was sent on is closed, and that request and every other one pending
	// on the connection fail with an error wrapping both ErrRequestTimeout
	// and ErrConnectionClosed.
	ErrRequestTimeout = errors.New("network: request timed out")

	// ErrConnectionClosed is a request of the inter-broker client whose
	// connection broke (or was closed) before its response arrived. The
	// request may or may not have reached the broker.
	ErrConnectionClosed = errors.New("network: connection closed")

	// ErrClientClosed is any request on a Client after Close.
	ErrClientClosed = errors.New("network: client closed")

	// ErrServerRunning is a second call of Server.Run.
	ErrServerRunning = errors.New("network: server already run")
)
