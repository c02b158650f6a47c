package network

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// This file holds the request and response headers (Kafka's
// RequestHeader.json and ResponseHeader.json) and the choice of their
// versions.
//
// Request header, all integers big-endian:
//
//	v0  api_key int16, api_version int16, correlation_id int32
//	v1  v0 + client_id nullable string (int16 length, -1 for null)
//	v2  v1 + tagged fields (unsigned varint count, then per field:
//	    unsigned varint tag, unsigned varint size, size bytes)
//
// The client id keeps its two-byte length even in v2 ("flexibleVersions":
// "none"), so that a broker can read the header of an ApiVersions request
// of any version, newer than it knows included.
//
// A request uses header v2 when its API key and version are flexible
// (KIP-482), v1 otherwise, and v0 only for ControlledShutdown v0. A
// response uses header v1 (correlation id and tagged fields) when the
// request was flexible, v0 (correlation id) otherwise, except that an
// ApiVersions response always uses v0 (KIP-511): a client that sent a
// version the broker does not know must still be able to read the answer.
//
// Which versions are flexible comes from kmsg, generated from Kafka's
// message definitions. kmsg knows the flexible threshold of a key for every
// version, including versions newer than Gregor serves, which is what lets
// the header of a too-new request be parsed and answered.

const (
	apiKeyControlledShutdown = 7  // its v0 uses request header v0
	apiKeyAPIVersions        = 18 // its responses always use header v0 (KIP-511)

	// neverFlexible marks a known key with no flexible version.
	neverFlexible = math.MaxInt16 + 1
	// unknownKey marks an API key kmsg does not know.
	unknownKey = -1
)

// flexibleSince[key] is the first flexible version of key, neverFlexible
// when it has none, or unknownKey. Built once from kmsg, so that parsing a
// header allocates nothing to learn it.
var flexibleSince = buildFlexibleSince()

func buildFlexibleSince() []int32 {
	var table []int32
	for key := int16(0); key < math.MaxInt16; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		for len(table) <= int(key) {
			table = append(table, unknownKey)
		}
		table[key] = firstFlexibleVersion(r)
	}
	return table
}

// firstFlexibleVersion finds the smallest version at which r is flexible.
// kmsg's IsFlexible is "version >= N" (or always false), so a binary search
// over every int16 version finds N.
func firstFlexibleVersion(r kmsg.Request) int32 {
	lo, hi := int32(0), int32(neverFlexible) // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo)/2
		r.SetVersion(int16(mid))
		if r.IsFlexible() {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// isFlexible reports whether key at version is flexible; ok is false for
// an unknown key.
func isFlexible(key, version int16) (flexible, ok bool) {
	if key < 0 || int(key) >= len(flexibleSince) || flexibleSince[key] == unknownKey {
		return false, false
	}
	return int32(version) >= flexibleSince[key], true
}

// RequestHeaderVersion is the request header version (0, 1 or 2) that key
// at version uses. It fails with ErrUnknownAPIKey for a key kmsg does not
// know.
func RequestHeaderVersion(key, version int16) (int8, error) {
	flexible, ok := isFlexible(key, version)
	switch {
	case !ok:
		return 0, fmt.Errorf("%w %d", ErrUnknownAPIKey, key)
	case flexible:
		return 2, nil
	case key == apiKeyControlledShutdown && version == 0:
		return 0, nil
	default:
		return 1, nil
	}
}

// ResponseHeaderVersion is the response header version (0 or 1) of the
// response to a request of key at version: 1 for flexible requests except
// ApiVersions, else 0. It fails with ErrUnknownAPIKey for a key kmsg does
// not know.
func ResponseHeaderVersion(key, version int16) (int8, error) {
	flexible, ok := isFlexible(key, version)
	switch {
	case !ok:
		return 0, fmt.Errorf("%w %d", ErrUnknownAPIKey, key)
	case flexible && key != apiKeyAPIVersions:
		return 1, nil
	default:
		return 0, nil
	}
}

// RequestHeader is a parsed request header. The version of the header
// itself is not a field: it follows from APIKey and APIVersion
// (RequestHeaderVersion).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	// ClientID is nil in header v0 and for a null client id. Kafka treats
	// null and "" alike; the pointer keeps the difference so that the
	// header re-encodes to the same bytes. The server shares one ClientID
	// among the requests of a connection that repeat it: read-only.
	ClientID *string
	// TaggedFields is header v2's tagged field section exactly as
	// received, its leading count included, or nil in v0 and v1. Kafka
	// defines no request header tags yet; a v2 header built in code with
	// nil TaggedFields encodes an empty section.
	TaggedFields []byte
}

// ParseRequestHeader parses the request header at the start of frame (a
// frame without its length prefix) and returns it with the number of bytes
// it took; the request body is frame[n:]. On error, h holds whatever
// was read before the problem (API key, version, correlation id) for
// logging. Errors wrap ErrUnknownAPIKey or ErrMalformedHeader.
//
// The client id is copied into a string; h.TaggedFields is a sub-slice of
// frame (valid until the server's Request is released, Request.Release).
func ParseRequestHeader(frame []byte) (h RequestHeader, n int, err error) {
	return parseRequestHeader(frame, nil)
}

// parseRequestHeader is ParseRequestHeader, except that a client id equal to
// *prevClientID is returned as prevClientID itself: a connection keeps its
// last client id, so that its requests share one string instead of
// allocating one each (clients send the same id on every request).
func parseRequestHeader(frame []byte, prevClientID *string) (h RequestHeader, n int, err error) {
	if len(frame) < 4 {
		return h, 0, fmt.Errorf("%w: %d bytes, too short for an api key and version", ErrMalformedHeader, len(frame))
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	hv, err := RequestHeaderVersion(h.APIKey, h.APIVersion)
	if err != nil {
		return h, 0, err
	}
	if len(frame) < 8 {
		return h, 0, fmt.Errorf("%w: %d bytes, too short for a correlation id", ErrMalformedHeader, len(frame))
	}
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	n = 8
	if hv == 0 {
		return h, n, nil
	}
	if len(frame) < n+2 {
		return h, 0, fmt.Errorf("%w: no room for the client id length", ErrMalformedHeader)
	}
	idLen := int(int16(binary.BigEndian.Uint16(frame[n:])))
	n += 2
	switch {
	case idLen == -1:
	case idLen < -1:
		return h, 0, fmt.Errorf("%w: client id length %d", ErrMalformedHeader, idLen)
	case idLen > len(frame)-n:
		return h, 0, fmt.Errorf("%w: client id of %d bytes, %d left", ErrMalformedHeader, idLen, len(frame)-n)
	default:
		raw := frame[n : n+idLen]
		if prevClientID != nil && *prevClientID == string(raw) { // compares without allocating
			h.ClientID = prevClientID
		} else {
			id := string(raw)
			h.ClientID = &id
		}
		n += idLen
	}
	if hv == 1 {
		return h, n, nil
	}
	tagLen, err := taggedFieldsLen(frame[n:])
	if err != nil {
		return h, 0, err
	}
	h.TaggedFields = frame[n : n+tagLen : n+tagLen]
	return h, n + tagLen, nil
}

// taggedFieldsLen measures the tagged field section at the start of b
// without interpreting the tags: Kafka keeps unknown tags as they come
// (its generated readers have no order or duplicate check), and so do we.
func taggedFieldsLen(b []byte) (int, error) {
	count, n, err := readUvarint32(b)
	if err != nil {
		return 0, fmt.Errorf("%w: tagged field count: %v", ErrMalformedHeader, err)
	}
	for i := uint32(0); i < count; i++ {
		_, m, err := readUvarint32(b[n:])
		if err != nil {
			return 0, fmt.Errorf("%w: tag of field %d: %v", ErrMalformedHeader, i, err)
		}
		n += m
		size, m, err := readUvarint32(b[n:])
		if err != nil {
			return 0, fmt.Errorf("%w: size of field %d: %v", ErrMalformedHeader, i, err)
		}
		n += m
		if uint64(size) > uint64(len(b)-n) {
			return 0, fmt.Errorf("%w: field %d of %d bytes, %d left", ErrMalformedHeader, i, size, len(b)-n)
		}
		n += int(size)
	}
	return n, nil
}

// readUvarint32 reads Kafka's unsigned varint: at most five bytes, and a
// value that fits 32 bits.
func readUvarint32(b []byte) (v uint32, n int, err error) {
	var shift uint
	for n < len(b) {
		c := b[n]
		n++
		if n == 5 && c > 0x0f {
			return 0, 0, fmt.Errorf("varint overflows 32 bits")
		}
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v, n, nil
		}
		shift += 7
	}
	return 0, 0, fmt.Errorf("varint truncated after %d bytes", n)
}

// AppendTo appends h in the header version its key and version use and
// returns the extended slice. A parsed header re-encodes to the bytes it
// was parsed from. A v2 header with nil TaggedFields gets an empty
// section. An unknown key is encoded as v1 (it can't be parsed back).
func (h *RequestHeader) AppendTo(dst []byte) []byte {
	hv, err := RequestHeaderVersion(h.APIKey, h.APIVersion)
	if err != nil {
		hv = 1
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.APIKey))
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.APIVersion))
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.CorrelationID))
	if hv == 0 {
		return dst
	}
	if h.ClientID == nil {
		dst = binary.BigEndian.AppendUint16(dst, 0xffff) // -1: null
	} else {
		id := *h.ClientID
		if len(id) > math.MaxInt16 {
			id = id[:math.MaxInt16] // longer does not fit the int16 length
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(id)))
		dst = append(dst, id...)
	}
	if hv == 1 {
		return dst
	}
	if h.TaggedFields == nil {
		return append(dst, 0) // no tagged fields
	}
	return append(dst, h.TaggedFields...)
}

// appendResponseHeader appends the response header of version hv (0 or 1)
// carrying correlationID; v1 gets an empty tagged field section, since
// Gregor sets no response header tags.
func appendResponseHeader(dst []byte, hv int8, correlationID int32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if hv >= 1 {
		dst = append(dst, 0)
	}
	return dst
}

// responseHeaderLen is the encoded size of response header version hv.
func responseHeaderLen(hv int8) int {
	if hv >= 1 {
		return 5
	}
	return 4
}

// appendRequest appends a whole request frame: length, the header of the
// version req's key and version use, and req's body.
func appendRequest(dst []byte, req kmsg.Request, correlationID int32, clientID string) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // the length, set below
	h := RequestHeader{APIKey: req.Key(), APIVersion: req.GetVersion(), CorrelationID: correlationID, ClientID: &clientID}
	dst = h.AppendTo(dst)
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// appendResponse appends a whole response frame: length, the response
// header of version hv with correlationID, and resp's body. ok is false
// when the frame would be larger than a 4-byte length can say.
func appendResponse(dst []byte, hv int8, correlationID int32, resp kmsg.Response) (out []byte, ok bool) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0) // the length, set below
	dst = appendResponseHeader(dst, hv, correlationID)
	dst = resp.AppendTo(dst)
	size := len(dst) - start - 4
	if size > math.MaxInt32 {
		return dst, false
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(size))
	return dst, true
}
