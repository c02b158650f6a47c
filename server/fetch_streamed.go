package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/gregor-broker/gregor/logstore"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// streamedFetchResponse is a Fetch response (v4-v12) whose record bytes are
// sent from the segment files rather than copied into the response: the
// zero-copy fetch of DESIGN.md section 7, through network's
// StreamedResponse seam.
//
// At construction every field of the body except the record bytes is
// encoded into body, and parts remembers, for each partition with records,
// where in body its records go and which file region holds them. The
// body's size is therefore known before anything is written, as the frame's
// length must be. WriteBody then writes body up to the first region, the
// region, body up to the next, and so on. A region goes to a *net.TCPConn
// (PLAINTEXT listeners) with sendfile(2) at an explicit offset, so that
// several fetches can read one segment at once without touching the file's
// shared offset (fetch_sendfile_linux.go); to any other writer (TLS, tests)
// it is copied through a buffer.
//
// Wire format, per Kafka's FetchResponse.json: v4-v11 use int16-length
// strings, int32-length arrays and NULLABLE_RECORDS (an int32 length, -1
// for null); v12 is flexible (KIP-482): compact strings and arrays, whose
// uvarint lengths are one more than the count (0 is null), a
// COMPACT_NULLABLE_RECORDS field, and an empty tagged-field section at the
// end of each aborted transaction, partition, topic and of the response.
// Gregor never sets the v12 tagged fields (diverging epoch, current leader,
// snapshot id), so none is encoded; records are never null (an empty
// partition has a zero length, as Kafka sends MemoryRecords.EMPTY).
//
// The segment must stay readable while the response is in flight. logstore
// keeps a segment removed by retention or truncation open under a .deleted
// name for file.delete.delay.ms (one minute by default) before closing it,
// which covers any response written within its connection's deadline. If it
// is closed anyway, the sendfile path cannot send another file's bytes: each
// sendfile runs inside the file's RawConn.Control, which holds a reference
// on the descriptor, so os.File.Close defers the close(2) until the call
// returns and later calls fail with "file already closed"; the copying path
// gets the same error from ReadAt. A region that became shorter (a follower
// truncating its log) ends the transfer early. Either way WriteBody returns
// an error, network closes the connection (a client reconnects and fetches
// again), and one Warn line names the segment. We chose this over a
// reference count on the segment, which logstore does not offer, or
// reopening the file by name, which races with the .deleted rename: the
// failure is rare, clean, and costs nothing on the common path. As in
// Kafka, whose network thread sends a FileRecords slice after the handler
// returned, bytes rewritten in place after a truncation (a follower
// truncating then appending anew before the response goes out) are not
// detected; a consumer only reads below the high watermark, which such a
// truncation does not cross.
//
// Not safe for concurrent use; network writes it once, from the
// connection's writer goroutine.
type streamedFetchResponse struct {
	// FetchResponse carries Key, version, throttle and every field but the
	// records (its RecordBatches are ignored), for network and for AppendTo.
	*kmsg.FetchResponse
	// regions are the partitions' records, indexed like
	// FetchResponse.Topics[i].Partitions[j].
	regions [][]logstore.Region
	log     *logrus.Entry
	// sendfileBytes counts the bytes sent with sendfile (the broker's
	// figure; nil counts nothing).
	sendfileBytes *atomic.Int64

	body  []byte
	parts []fetchBodyPart
	size  int64
}

// fetchBodyPart is one partition's records: they go after body[:at].
type fetchBodyPart struct {
	at     int
	region logstore.Region
}

// newStreamedFetchResponse encodes resp (version 4 to 12), with the records
// of Topics[i].Partitions[j] taken from regions[i][j] instead of
// RecordBatches.
func newStreamedFetchResponse(resp *kmsg.FetchResponse, regions [][]logstore.Region, log *logrus.Entry, sendfileBytes *atomic.Int64) *streamedFetchResponse {
	s := &streamedFetchResponse{FetchResponse: resp, regions: regions, log: log, sendfileBytes: sendfileBytes}
	v := resp.Version
	flexible := v >= 12
	b := make([]byte, 0, 64+64*len(resp.Topics))
	b = binary.BigEndian.AppendUint32(b, uint32(resp.ThrottleMillis))
	if v >= 7 {
		b = binary.BigEndian.AppendUint16(b, uint16(resp.ErrorCode))
		b = binary.BigEndian.AppendUint32(b, uint32(resp.SessionID))
	}
	b = appendArrayLen(b, len(resp.Topics), flexible)
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		b = appendString(b, rt.Topic, flexible)
		b = appendArrayLen(b, len(rt.Partitions), flexible)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			b = binary.BigEndian.AppendUint32(b, uint32(rp.Partition))
			b = binary.BigEndian.AppendUint16(b, uint16(rp.ErrorCode))
			b = binary.BigEndian.AppendUint64(b, uint64(rp.HighWatermark))
			b = binary.BigEndian.AppendUint64(b, uint64(rp.LastStableOffset))
			if v >= 5 {
				b = binary.BigEndian.AppendUint64(b, uint64(rp.LogStartOffset))
			}
			if rp.AbortedTransactions == nil {
				b = appendNullArrayLen(b, flexible)
			} else {
				b = appendArrayLen(b, len(rp.AbortedTransactions), flexible)
			}
			for _, at := range rp.AbortedTransactions {
				b = binary.BigEndian.AppendUint64(b, uint64(at.ProducerID))
				b = binary.BigEndian.AppendUint64(b, uint64(at.FirstOffset))
				if flexible {
					b = append(b, 0) // no tagged fields
				}
			}
			if v >= 11 {
				b = binary.BigEndian.AppendUint32(b, uint32(rp.PreferredReadReplica))
			}
			region := regions[i][j]
			if flexible {
				b = binary.AppendUvarint(b, uint64(region.Size)+1)
			} else {
				b = binary.BigEndian.AppendUint32(b, uint32(region.Size))
			}
			if region.Size > 0 {
				s.parts = append(s.parts, fetchBodyPart{at: len(b), region: region})
				s.size += region.Size
			}
			if flexible {
				b = append(b, 0) // partition's tagged fields
			}
		}
		if flexible {
			b = append(b, 0) // topic's tagged fields
		}
	}
	if flexible {
		b = append(b, 0) // response's tagged fields
	}
	s.body = b
	s.size += int64(len(b))
	return s
}

func appendArrayLen(b []byte, n int, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(b, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

func appendNullArrayLen(b []byte, flexible bool) []byte {
	if flexible {
		return append(b, 0)
	}
	return binary.BigEndian.AppendUint32(b, 0xffffffff) // -1
}

func appendString(b []byte, s string, flexible bool) []byte {
	if flexible {
		b = binary.AppendUvarint(b, uint64(len(s))+1)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	}
	return append(b, s...)
}

// BodySize is the body's exact size, record bytes included.
func (s *streamedFetchResponse) BodySize() int64 { return s.size }

// WriteBody writes the body to w, sending each region with sendfile when w
// is a TCP connection. A segment that cannot be read any more fails the
// write (see the type's comment) with one Warn line; network closes the
// connection.
func (s *streamedFetchResponse) WriteBody(w io.Writer) (int64, error) {
	var written int64
	pos := 0
	for _, p := range s.parts {
		if p.at > pos {
			n, err := w.Write(s.body[pos:p.at])
			written += int64(n)
			if err != nil {
				return written, err
			}
		}
		pos = p.at
		n, zeroCopy, err := sendRegion(w, p.region)
		written += n
		if zeroCopy && s.sendfileBytes != nil {
			s.sendfileBytes.Add(n)
		}
		if err != nil {
			var serr *segmentReadError
			if errors.As(err, &serr) && s.log != nil {
				s.log.WithFields(logrus.Fields{"segment": p.region.File.Name(), "position": p.region.Position, "size": p.region.Size}).
					WithError(serr.err).Warn("closing connection: segment unreadable while sending a fetch response")
			}
			return written, err
		}
	}
	if pos < len(s.body) {
		n, err := w.Write(s.body[pos:])
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// AppendTo appends the body as the copying path would encode it, reading
// the regions into memory: for a caller that needs the bytes (tests, a
// response not sent through network). A region that cannot be read is
// encoded as empty records.
func (s *streamedFetchResponse) AppendTo(dst []byte) []byte {
	resp := *s.FetchResponse
	resp.Topics = make([]kmsg.FetchResponseTopic, len(s.Topics))
	for i := range s.Topics {
		resp.Topics[i] = s.Topics[i]
		resp.Topics[i].Partitions = make([]kmsg.FetchResponseTopicPartition, len(s.Topics[i].Partitions))
		for j := range s.Topics[i].Partitions {
			rp := s.Topics[i].Partitions[j]
			b, err := s.regions[i][j].ReadAll()
			if err != nil || b == nil {
				b = []byte{}
			}
			rp.RecordBatches = b
			resp.Topics[i].Partitions[j] = rp
		}
	}
	return resp.AppendTo(dst)
}

// segmentReadError marks a failure to read the segment (as opposed to
// writing the socket) while sending a region.
type segmentReadError struct{ err error }

func (e *segmentReadError) Error() string { return "read segment: " + e.err.Error() }
func (e *segmentReadError) Unwrap() error { return e.err }

// copyRegion copies a region to w through a buffer: the path for writers
// that are not a TCP socket, and for files that are not *os.File.
func copyRegion(w io.Writer, r logstore.Region) (int64, error) {
	src := &regionReader{r: io.NewSectionReader(r.File, r.Position, r.Size)}
	n, err := io.Copy(w, src)
	if err == nil && n < r.Size {
		err = &segmentReadError{fmt.Errorf("%s ends before %d: %w", r.File.Name(), r.Position+r.Size, io.ErrUnexpectedEOF)}
	}
	return n, err
}

// regionReader marks read errors as segmentReadError.
type regionReader struct{ r io.Reader }

func (rr *regionReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	if err != nil && err != io.EOF {
		err = &segmentReadError{err}
	}
	return n, err
}
