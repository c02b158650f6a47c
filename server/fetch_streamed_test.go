package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// segmentFile writes n random bytes to a file and returns it open for
// reading, with its contents.
func segmentFile(t *testing.T, n int, seed uint64) (*os.File, []byte) {
	t.Helper()
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	path := filepath.Join(t.TempDir(), "00000000000000000000.log")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

// fetchShape describes one partition of a test response.
type fetchShape struct {
	topic    string
	code     int16
	aborted  []kmsg.FetchResponseTopicPartitionAbortedTransaction // nil: null
	position int64
	size     int64
}

// buildFetchPair returns a response with records as regions of f, and the
// same response with the records copied in (what kmsg encodes).
func buildFetchPair(version int16, throttle int32, code int16, session int32, shapes []fetchShape, f *os.File, data []byte) (*kmsg.FetchResponse, [][]logstore.Region, *kmsg.FetchResponse) {
	skeleton, want := kmsg.NewPtrFetchResponse(), kmsg.NewPtrFetchResponse()
	var regions [][]logstore.Region
	for _, r := range []*kmsg.FetchResponse{skeleton, want} {
		r.Version, r.ThrottleMillis, r.ErrorCode, r.SessionID = version, throttle, code, session
	}
	for i, sh := range shapes {
		if i == 0 || shapes[i-1].topic != sh.topic {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = sh.topic
			skeleton.Topics = append(skeleton.Topics, rt)
			want.Topics = append(want.Topics, rt)
			regions = append(regions, nil, nil)
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = int32(i)
		rp.ErrorCode = sh.code
		rp.HighWatermark = int64(1000 + i)
		rp.LastStableOffset = int64(900 + i)
		rp.LogStartOffset = int64(i)
		rp.AbortedTransactions = sh.aborted
		rp.PreferredReadReplica = -1
		t := len(skeleton.Topics) - 1
		skeleton.Topics[t].Partitions = append(skeleton.Topics[t].Partitions, rp)
		rp.RecordBatches = append([]byte{}, data[sh.position:sh.position+sh.size]...)
		want.Topics[t].Partitions = append(want.Topics[t].Partitions, rp)
		regions[t] = append(regions[t], logstore.Region{File: f, Position: sh.position, Size: sh.size})
	}
	return skeleton, regions, want
}

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends. The server end has a 4 KiB send buffer, so that sendfile meets
// EAGAIN and waits for the reader, the path a large response takes.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	_ = server.(*net.TCPConn).SetWriteBuffer(4096)
	return server, client
}

// viaTCP writes the body to one end of a loopback TCP connection (the
// sendfile path) and returns what the other end read.
func viaTCP(t *testing.T, s *streamedFetchResponse) ([]byte, int64, error) {
	t.Helper()
	server, client := tcpPair(t)
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.WriteBody(server)
		server.Close()
		done <- result{n, err}
	}()
	got, rerr := io.ReadAll(client)
	if rerr != nil {
		t.Fatal(rerr)
	}
	r := <-done
	return got, r.n, r.err
}

// checkStreamed checks the streamed encoding of a response against kmsg's,
// through a buffer (the copying path) and through TCP (sendfile).
func checkStreamed(t *testing.T, skeleton *kmsg.FetchResponse, regions [][]logstore.Region, want *kmsg.FetchResponse) {
	t.Helper()
	wantBytes := want.AppendTo(nil)
	s := newStreamedFetchResponse(skeleton, regions, nil, nil)
	if s.BodySize() != int64(len(wantBytes)) {
		t.Fatalf("v%d: BodySize %d, kmsg encodes %d bytes", want.Version, s.BodySize(), len(wantBytes))
	}
	var buf bytes.Buffer
	n, err := s.WriteBody(&buf)
	if err != nil || n != int64(len(wantBytes)) || !bytes.Equal(buf.Bytes(), wantBytes) {
		t.Fatalf("v%d: buffer: wrote %d, %v; equal %v", want.Version, n, err, bytes.Equal(buf.Bytes(), wantBytes))
	}
	got, n, err := viaTCP(t, s)
	if err != nil || n != int64(len(wantBytes)) || !bytes.Equal(got, wantBytes) {
		t.Fatalf("v%d: tcp: wrote %d, %v; equal %v", want.Version, n, err, bytes.Equal(got, wantBytes))
	}
	if app := s.AppendTo(nil); !bytes.Equal(app, wantBytes) {
		t.Fatalf("v%d: AppendTo differs from kmsg", want.Version)
	}
	decoded := kmsg.NewPtrFetchResponse()
	decoded.Version = want.Version
	if err := decoded.ReadFrom(got); err != nil {
		t.Fatalf("v%d: kmsg cannot decode: %v", want.Version, err)
	}
}

func TestStreamedFetchMatchesKmsg(t *testing.T) {
	f, data := segmentFile(t, 300_000, 1)
	aborted := []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: 7, FirstOffset: 3}, {ProducerID: -1, FirstOffset: 1 << 40}}
	tests := []struct {
		name     string
		throttle int32
		code     int16
		session  int32
		shapes   []fetchShape
	}{
		{name: "no topics"},
		{name: "one partition", shapes: []fetchShape{{topic: "orders", position: 0, size: 1000}}},
		{name: "empty records", shapes: []fetchShape{{topic: "orders", size: 0}}},
		{name: "error and null aborted", code: 0, shapes: []fetchShape{
			{topic: "orders", code: 6, size: 0},
			{topic: "orders", position: 10, size: 77},
		}},
		{name: "several topics, empty and full aborted", throttle: 250, session: 0, shapes: []fetchShape{
			{topic: "a", aborted: []kmsg.FetchResponseTopicPartitionAbortedTransaction{}, position: 5, size: 100},
			{topic: "a", aborted: aborted, position: 200_000, size: 100_000},
			{topic: "b", aborted: aborted, size: 0},
			{topic: "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc", position: 1, size: 1},
		}},
		{name: "response error", code: 70, session: -1},
		{name: "records only at the end", shapes: []fetchShape{
			{topic: "x", size: 0}, {topic: "y", size: 0}, {topic: "y", position: 299_000, size: 1000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for v := int16(4); v <= 12; v++ {
				skeleton, regions, want := buildFetchPair(v, tt.throttle, tt.code, tt.session, tt.shapes, f, data)
				checkStreamed(t, skeleton, regions, want)
			}
		})
	}
	if pos, err := f.Seek(0, io.SeekCurrent); err != nil || pos != 0 {
		t.Fatalf("sendfile moved the file's shared offset to %d (%v)", pos, err)
	}
}

// TestStreamedFetchRandom: random responses, every version, encode as kmsg
// encodes them, through a buffer and through sendfile.
func TestStreamedFetchRandom(t *testing.T) {
	f, data := segmentFile(t, 1<<20, 2)
	r := rand.New(rand.NewPCG(42, 42))
	for round := range 60 {
		v := int16(4 + r.IntN(9))
		var shapes []fetchShape
		topics := r.IntN(4)
		for tp := range topics {
			name := string(rune('a'+tp)) + string(bytes.Repeat([]byte{'t'}, r.IntN(200)))
			for range 1 + r.IntN(5) {
				sh := fetchShape{topic: name, code: int16(r.IntN(3)) * 3}
				switch r.IntN(3) {
				case 1:
					sh.aborted = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				case 2:
					for range 1 + r.IntN(3) {
						sh.aborted = append(sh.aborted, kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: r.Int64(), FirstOffset: r.Int64()})
					}
				}
				if r.IntN(4) > 0 {
					sh.position = r.Int64N(int64(len(data)))
					sh.size = r.Int64N(int64(len(data)) - sh.position)
					if r.IntN(2) == 0 {
						sh.size = min(sh.size, 200) // small records: varint edge cases
					}
				}
				shapes = append(shapes, sh)
			}
		}
		skeleton, regions, want := buildFetchPair(v, r.Int32(), int16(r.IntN(2)*70), r.Int32(), shapes, f, data)
		t.Logf("round %d: v%d, %d partitions", round, v, len(shapes))
		checkStreamed(t, skeleton, regions, want)
	}
}

// TestStreamedFetchSegmentGone: a segment closed (retention's delayed
// delete ran) or truncated before the response goes out fails the write
// with a segment error, on the buffer and on the sendfile path, and never
// sends other bytes in place of the records.
func TestStreamedFetchSegmentGone(t *testing.T) {
	for _, how := range []string{"closed", "truncated"} {
		for _, path := range []string{"buffer", "tcp"} {
			t.Run(how+"/"+path, func(t *testing.T) {
				f, data := segmentFile(t, 10_000, 3)
				skeleton, regions, want := buildFetchPair(12, 0, 0, 0, []fetchShape{
					{topic: "a", position: 0, size: 100},
					{topic: "a", position: 5000, size: 5000},
				}, f, data)
				s := newStreamedFetchResponse(skeleton, regions, nil, nil)
				switch how {
				case "closed":
					f.Close()
				case "truncated":
					if err := os.Truncate(f.Name(), 6000); err != nil {
						t.Fatal(err)
					}
				}
				var got []byte
				var err error
				if path == "buffer" {
					var buf bytes.Buffer
					_, err = s.WriteBody(&buf)
					got = buf.Bytes()
				} else {
					got, _, err = viaTCP(t, s)
				}
				var serr *segmentReadError
				if !errors.As(err, &serr) {
					t.Fatalf("error %v, want a segment read error", err)
				}
				wantBytes := want.AppendTo(nil)
				if !bytes.HasPrefix(wantBytes, got) {
					t.Fatalf("sent %d bytes that are not a prefix of the response", len(got))
				}
			})
		}
	}
}

// TestStreamedFetchConcurrentReaders: fetches sending from one segment at
// once each send their own region (the offset is per call, not the
// file's).
func TestStreamedFetchConcurrentReaders(t *testing.T) {
	f, data := segmentFile(t, 1<<20, 4)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pos := int64(i) * 100_000
			skeleton, regions, want := buildFetchPair(11, 0, 0, 0, []fetchShape{{topic: "a", position: pos, size: 300_000}}, f, data)
			got, _, err := viaTCP(t, newStreamedFetchResponse(skeleton, regions, nil, nil))
			if err != nil || !bytes.Equal(got, want.AppendTo(nil)) {
				t.Errorf("reader %d: %v, equal %v", i, err, bytes.Equal(got, want.AppendTo(nil)))
			}
		}()
	}
	wg.Wait()
}

// TestStreamedFetchWriteDeadline: a peer that stops reading makes the
// sendfile path fail at the write deadline instead of blocking forever.
func TestStreamedFetchWriteDeadline(t *testing.T) {
	f, data := segmentFile(t, 8<<20, 5)
	skeleton, regions, _ := buildFetchPair(12, 0, 0, 0, []fetchShape{{topic: "a", size: int64(len(data))}}, f, data)
	s := newStreamedFetchResponse(skeleton, regions, nil, nil)
	server, client := tcpPair(t)
	_ = client.(*net.TCPConn).SetReadBuffer(4096)
	_ = server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	n, err := s.WriteBody(server)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n >= s.BodySize() {
		t.Fatalf("wrote %d of %d, error %v; want a deadline error", n, s.BodySize(), err)
	}
}

// TestSmallFetchResponsesAreCopied checks the cut-over between the two
// ways of sending records with zero-copy on: a response with at most
// smallFetchRecordBytes of records is read into a pooled buffer and sent
// as one frame; a larger one is streamed with sendfile. Both carry the
// same bytes, and closing the copied one returns its buffer.
func TestSmallFetchResponsesAreCopied(t *testing.T) {
	h := fetchTestHandlers(t)
	// One 100-record batch of 100-byte values: well under 16 KiB.
	appendBatchTo(t, h, orders0, 100)
	small := respondRaw(t, h, fetchReq(12, at(orders0, 0)))
	cp, ok := small.(*copiedFetchResponse)
	if !ok {
		t.Fatalf("small response is a %T, want *copiedFetchResponse", small)
	}
	smallRecords := cp.Topics[0].Partitions[0].RecordBatches
	if n := int64(len(smallRecords)); n == 0 || n > smallFetchRecordBytes || h.smallFetchCopiedBytes.Load() != n {
		t.Fatalf("copied %d record bytes, counter %d", n, h.smallFetchCopiedBytes.Load())
	}
	if bases, partial := batchBases(t, smallRecords); len(bases) != 1 || partial != 0 {
		t.Fatalf("small response: batches %v, %d trailing bytes", bases, partial)
	}
	_ = cp.Close()
	if cp.Topics[0].Partitions[0].RecordBatches != nil || cp.pooled != nil {
		t.Fatal("Close kept the pooled buffer in the response")
	}

	// Two more batches take the partition past the cut-over.
	appendBatchTo(t, h, orders0, 100)
	appendBatchTo(t, h, orders0, 100)
	large := respondRaw(t, h, fetchReq(12, at(orders0, 0)))
	if _, ok := large.(*streamedFetchResponse); !ok {
		t.Fatalf("large response is a %T, want *streamedFetchResponse", large)
	}
	closeIf(large)
}

// respondRaw calls the handler and returns the response it gave, not
// re-decoded (callOnListener decodes).
func respondRaw(t *testing.T, h *handlers, req kmsg.Request) kmsg.Response {
	t.Helper()
	nr := &network.Request{
		Header: network.RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: 7},
		Body:   req.AppendTo(nil),
		Conn:   network.ConnInfo{ListenerName: "PLAINTEXT"},
	}
	var got kmsg.Response
	if err := h.Handle(context.Background(), nr, func(r kmsg.Response) { got = r }); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("no response")
	}
	return got
}

func closeIf(r kmsg.Response) {
	if c, ok := r.(io.Closer); ok {
		_ = c.Close()
	}
}
