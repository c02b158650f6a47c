package network

import (
	"context"
	"io"
	"net/netip"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler serves the requests the socket server reads. The server package
// implements it; network never looks inside a request body.
type Handler interface {
	// Handle serves one request. It must call respond exactly once: with
	// the response, or with nil when no response is sent (produce with
	// acks=0). It may call it before returning, or later from another
	// goroutine, for a request parked in a purgatory (delayed produce,
	// long-poll fetch): a parked request does not hold a worker.
	//
	// Returning an error closes the connection instead (unknown key,
	// version out of range, undecodable body; STYLE.md section 4), and
	// then respond must not be called. Calling respond twice, or
	// returning an error after calling it, panics: both are bugs.
	//
	// The response's key must be the request's; its version is the one
	// it is encoded at (normally the request's; ApiVersions answers an
	// unsupported version at v0). After respond the handler must not touch
	// the response again: it is encoded later, on the connection's
	// goroutine. A response may implement StreamedResponse to write its
	// own body, and io.Closer to learn when network is done with it.
	//
	// ctx is cancelled when the server stops for good (after the graceful
	// part of shutdown, Config.ShutdownTimeout); it carries no deadline of
	// its own. Handle must return promptly once it is done: Run waits for
	// it.
	//
	// Handle runs on one of Config.NumIOThreads workers, concurrently with
	// requests of other connections; requests of one connection reach it
	// one at a time and in order.
	Handle(ctx context.Context, req *Request, respond func(kmsg.Response)) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request, respond func(kmsg.Response)) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
	return f(ctx, req, respond)
}

// Request is one request read from a connection. The handler owns it and
// everything it points to: network reuses the frame buffer behind Body
// (and Header.TaggedFields) only after the handler calls Release.
type Request struct {
	Header RequestHeader
	// Body is the frame after the header, not decoded: the server decodes
	// it, so that version support is decided in one place.
	Body []byte
	// Size is the frame's size in bytes, its 4-byte length excluded: what
	// request quotas and metrics count.
	Size int
	// Conn describes the connection the request came on.
	Conn ConnInfo
	// ReceivedAt is when the last byte of the frame was read (Kafka's
	// request start time).
	ReceivedAt time.Time

	// frame is the pooled buffer Body and Header.TaggedFields are slices
	// of; nil once released, or for a request network did not read.
	frame []byte
}

// Release hands the request's frame buffer back to network, to be reused
// for a later frame of any connection. Call it only once nothing will read
// Body again: a decoded request aliases it (kmsg copies strings but not
// byte fields, so a produce's record batches and any unknown tagged
// fields are slices of the frame), and so does Header.TaggedFields;
// neither may be read after Release, by the handler or by anything it
// left waiting (a parked operation, a goroutine). Calling it is optional
// (the buffer is otherwise left to the collector); a second call does
// nothing. It must happen before the request's response is handed to
// respond, and not concurrently with anything that reads the request.
func (r *Request) Release() {
	if r.frame == nil {
		return
	}
	releaseFrame(r.frame)
	r.frame, r.Body, r.Header.TaggedFields = nil, nil, nil
}

// ConnInfo describes a connection. It does not change after the
// connection is accepted.
type ConnInfo struct {
	// ID identifies the connection as Kafka's connection ids do:
	// "localIP:localPort-remoteIP:remotePort-index", where index makes ids
	// unique even when the operating system reuses a port pair.
	ID               string
	LocalAddr        netip.AddrPort
	RemoteAddr       netip.AddrPort
	ListenerName     string
	SecurityProtocol conf.SecurityProtocol
}

// StreamedResponse is a response that writes its own body to the
// connection instead of being encoded into a buffer with AppendTo. It is
// the seam for a zero-copy fetch response (DESIGN.md section 7): the
// record bytes go from a segment file to the socket with sendfile(2), the
// header and per-partition fields are written around them, and the size is
// computed up front because the frame's length comes first.
//
// network writes the frame length (response header size plus BodySize)
// and the response header, then calls WriteBody with the connection.
// Nothing implements it yet.
type StreamedResponse interface {
	kmsg.Response
	// BodySize is the exact number of bytes WriteBody writes. It is called
	// once, before anything of the response is written.
	BodySize() int64
	// WriteBody writes the body (what AppendTo would append) to w, exactly
	// BodySize bytes, and returns how many it wrote. On PLAINTEXT listeners
	// w is the *net.TCPConn itself, whose ReadFrom (so io.Copy) uses
	// sendfile when given an *os.File or an io.LimitedReader wrapping one;
	// on other listeners it is the wrapped connection and the bytes are
	// copied. A write deadline is already set. Writing a different number
	// of bytes than declared corrupts the stream: the connection is then
	// closed and an Error line logged.
	WriteBody(w io.Writer) (int64, error)
}

// closeResponse releases a response network is done with, written or
// dropped (connection gone, server stopped): it calls Close if the
// response implements io.Closer, so that a streamed response can release
// the segment it reads from.
func closeResponse(resp kmsg.Response) {
	if c, ok := resp.(io.Closer); ok {
		_ = c.Close() // nothing to do about it here: the response is gone either way
	}
}
