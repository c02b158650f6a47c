// Package network is Gregor's socket server and inter-broker client: it
// frames Kafka requests and responses, parses the request header, keeps
// each connection's requests in order, and enforces the connection limits.
// It dispatches every request to a Handler it defines itself (the server
// package implements it) and never looks inside a request body. Among
// Gregor's packages it imports only conf.
//
// # Wire format
//
// Every request and response is a frame: a 4-byte big-endian length, then
// that many bytes. A request frame starts with the request header (v0, v1
// or v2, chosen by the API key and version: header.go explains the
// rules), followed by the body, which network hands to the Handler
// undecoded. A response frame starts with the response header (v0, or v1
// with tagged fields for flexible versions, but always v0 for ApiVersions,
// KIP-511), then the body kmsg encodes.
//
// # Goroutines
//
//	       acceptor (one per listener)
//	           │ accept, quotas (may block at max.connections)
//	           ▼
//	┌──── connection goroutine (one per connection) ◄───────────────┐
//	│  read frame, parse header                                    │
//	│  queue request ──► [queue: queued.max.requests] ──► worker   │
//	│  (blocks when the queue is full: backpressure)   (num.io.threads)
//	│                                                     │ Handler.Handle
//	│  wait for the outcome ◄── respond(resp) ◄───────────┤ now, or later from
//	│  encode + write the response                        │ a purgatory goroutine
//	└──────────────────────────────────────────────────────────────┘
//	   (only then read the next request)
//
// A connection has one goroutine. It reads a request, queues it for the
// workers, waits for its outcome, writes the response, and only then reads
// the next request. That is Kafka's channel muting: a channel is muted when
// a request is received and unmuted when its response has been sent, so a
// connection has at most one request in the broker and responses leave in
// request order without any reordering buffer. Clients still pipeline
// (up to max.in.flight.requests.per.connection, 5 by default): their
// later requests wait in the socket buffers, and TCP flow control
// eventually stops them. Because the goroutine is idle while its request
// is handled, writing the response on it costs nothing; a second, writing
// goroutine (STYLE.md section 6 suggests one) would have nothing to do
// concurrently and would double the goroutines of idle connections.
//
// Requests wait for a worker in one queue of capacity queued.max.requests
// (Kafka's RequestChannel); NumIOThreads workers (num.io.threads, Kafka's
// request handler threads) take them. When the queue is full, connection
// goroutines block on it and stop reading their sockets: memory stays
// bounded by the queue, the sockets' buffers, and one request per
// connection. A worker calls Handle; a request the handler parks (a
// delayed produce, a long-poll fetch) releases the worker, and respond is
// called later from whatever goroutine completes it. respond never blocks:
// it hands the response to the connection goroutine through a channel of
// capacity one, which can't be full since a connection has one request in
// flight.
//
// Kafka's num.network.threads has no counterpart: the Go runtime's
// network poller multiplexes the connection goroutines onto threads.
// An idle connection costs its goroutine's stack, a small struct and a
// 4-byte length buffer; request buffers are allocated per request, at
// most 1 MiB up front (frame.go), and response buffers come from a pool.
//
// The response path leaves room for a zero-copy fetch: a response that
// implements StreamedResponse declares its size and writes its own body to
// the connection (sendfile from a segment on PLAINTEXT listeners).
//
// # Bad input
//
// A negative or oversize frame length (socket.request.max.bytes), a frame
// that ends early, a header that does not parse, an unknown API key, or a
// Handler error closes that connection and logs one line with remote_addr;
// the broker goes on. Protocol violations log at Warn, a peer that hangs
// up mid-request at Info, ordinary closes and idle timeouts at Debug.
//
// # Connection limits
//
// max.connections: an acceptor that reaches the limit holds the connection
// it has just accepted and accepts no other until a connection closes, as
// Kafka's acceptor blocks; further connections wait in the kernel's accept
// queue. The inter-broker listener of a broker with
// several listeners is exempt (KIP-402): its connections are accepted past
// the limit, and the least recently active connections of other listeners
// are closed to get back under it. max.connections.per.ip (with
// overrides): a connection past its address's limit is accepted and
// closed at once, with one Info line. connections.max.idle.ms: a
// connection with nothing in flight that sends nothing (or does not read
// its response) for that long is closed.
//
// # Shutdown
//
// Run serves until its context is cancelled, then, in this order:
//
//  1. closes the listeners and waits for the acceptors;
//  2. drains: a connection reading (idle, or in the middle of a request
//     frame) is closed at once; one with a request in flight waits for the
//     outcome, writes the response, and closes;
//  3. if Config.ShutdownTimeout passes first, closes every remaining
//     connection, whatever it is doing;
//  4. cancels the Handler's context and stops the workers, dropping
//     requests still queued (their connections are gone);
//
// and returns once every goroutine it started has exited. A handler that
// responds after that finds its connection gone; the response is dropped
// (and closed, if it is an io.Closer).
//
// # Inter-broker client
//
// Client (client.go, client_conn.go) sends requests to one broker, as the
// controller and the replica fetchers need: a lazily opened connection,
// pipelined requests matched to responses by correlation id, a timeout per
// request that closes the connection and fails everything pending on it,
// and reconnection with exponential backoff. A connection has a reading
// and a writing goroutine; Close waits for both.
package network
