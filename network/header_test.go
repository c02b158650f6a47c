package network

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestHeaderVersions(t *testing.T) {
	tests := []struct {
		name           string
		key, version   int16
		request, reply int8
	}{
		{"produce v8 is not flexible", 0, 8, 1, 0},
		{"produce v9 is flexible", 0, 9, 2, 1},
		{"metadata v8", 3, 8, 1, 0},
		{"metadata v9", 3, 9, 2, 1},
		{"controlled shutdown v0 has no client id", 7, 0, 0, 0},
		{"controlled shutdown v1", 7, 1, 1, 0},
		{"controlled shutdown v3 is flexible", 7, 3, 2, 1},
		{"api versions v2", 18, 2, 1, 0},
		{"api versions v3 answers with header v0 (KIP-511)", 18, 3, 2, 0},
		{"api versions from the future", 18, 100, 2, 0},
		{"negative version", 3, -1, 1, 0},
		{"fetch far past what anyone serves", 1, 30000, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := RequestHeaderVersion(tt.key, tt.version)
			if err != nil || req != tt.request {
				t.Errorf("RequestHeaderVersion = %d, %v; want %d", req, err, tt.request)
			}
			resp, err := ResponseHeaderVersion(tt.key, tt.version)
			if err != nil || resp != tt.reply {
				t.Errorf("ResponseHeaderVersion = %d, %v; want %d", resp, err, tt.reply)
			}
		})
	}
	for _, key := range []int16{-1, 10000, 32767} {
		if _, err := RequestHeaderVersion(key, 0); !errors.Is(err, ErrUnknownAPIKey) {
			t.Errorf("RequestHeaderVersion(%d) = %v, want ErrUnknownAPIKey", key, err)
		}
		if _, err := ResponseHeaderVersion(key, 0); !errors.Is(err, ErrUnknownAPIKey) {
			t.Errorf("ResponseHeaderVersion(%d) = %v, want ErrUnknownAPIKey", key, err)
		}
	}
}

// TestFlexibleTableMatchesKmsg checks the precomputed thresholds against
// kmsg itself, for every key it knows and versions around its range.
func TestFlexibleTableMatchesKmsg(t *testing.T) {
	known := 0
	for key := int16(0); key < 1000; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			if _, ok := isFlexible(key, 0); ok {
				t.Errorf("key %d: kmsg does not know it, the table does", key)
			}
			continue
		}
		known++
		for v := int16(-2); v <= r.MaxVersion()+3; v++ {
			r.SetVersion(v)
			got, ok := isFlexible(key, v)
			if !ok || got != r.IsFlexible() {
				t.Errorf("key %d v%d: table says flexible=%v (known %v), kmsg says %v", key, v, got, ok, r.IsFlexible())
			}
		}
	}
	if known < 60 {
		t.Fatalf("kmsg knows only %d keys?", known)
	}
}

// TestParseKmsgFormattedHeaders parses requests framed by kmsg's own
// formatter (an independent encoder) for every key and version kmsg knows.
func TestParseKmsgFormattedHeaders(t *testing.T) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("client-1"))
	for key := int16(0); key < 1000; key++ {
		r := kmsg.RequestForKey(key)
		if r == nil {
			continue
		}
		for v := int16(0); v <= r.MaxVersion(); v++ {
			r.SetVersion(v)
			framed := formatter.AppendRequest(nil, r, 1234)
			payload := framed[4:]
			h, n, err := ParseRequestHeader(payload)
			if err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(key), v, err)
			}
			if h.APIKey != key || h.APIVersion != v || h.CorrelationID != 1234 {
				t.Fatalf("%s v%d: parsed %+v", kmsg.NameForKey(key), v, h)
			}
			hv, _ := RequestHeaderVersion(key, v)
			switch {
			case hv == 0 && h.ClientID != nil:
				t.Fatalf("%s v%d: header v0 with a client id", kmsg.NameForKey(key), v)
			case hv > 0 && (h.ClientID == nil || *h.ClientID != "client-1"):
				t.Fatalf("%s v%d: client id %v", kmsg.NameForKey(key), v, h.ClientID)
			}
			if key == apiKeyControlledShutdown && v == 0 {
				continue // kmsg's formatter writes only this version's header, no length or body
			}
			if body := r.AppendTo(nil); !bytes.Equal(payload[n:], body) {
				t.Fatalf("%s v%d: body after the header differs from the request's encoding", kmsg.NameForKey(key), v)
			}
			// Our own encoder writes the same bytes as kmsg's.
			if ours := appendRequest(nil, r, 1234, "client-1"); !bytes.Equal(ours, framed) {
				t.Fatalf("%s v%d: appendRequest\n%x\nkmsg\n%x", kmsg.NameForKey(key), v, ours, framed)
			}
		}
	}
}

func TestParseRequestHeader(t *testing.T) {
	clientID := "abc"
	tests := []struct {
		name  string
		in    []byte
		want  RequestHeader
		n     int
		isErr error
	}{
		{
			name: "v0: controlled shutdown v0",
			in:   []byte{0, 7, 0, 0, 0, 0, 0, 9, 0xaa},
			want: RequestHeader{APIKey: 7, APIVersion: 0, CorrelationID: 9},
			n:    8,
		},
		{
			name: "v1 with client id",
			in:   []byte{0, 3, 0, 1, 0, 0, 0, 5, 0, 3, 'a', 'b', 'c', 0xbb},
			want: RequestHeader{APIKey: 3, APIVersion: 1, CorrelationID: 5, ClientID: &clientID},
			n:    13,
		},
		{
			name: "v1 with null client id",
			in:   []byte{0, 3, 0, 1, 0, 0, 0, 5, 0xff, 0xff},
			want: RequestHeader{APIKey: 3, APIVersion: 1, CorrelationID: 5},
			n:    10,
		},
		{
			name: "v2 with no tags",
			in:   []byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 3, 'a', 'b', 'c', 0, 0xcc},
			want: RequestHeader{APIKey: 18, APIVersion: 3, CorrelationID: 1, ClientID: &clientID, TaggedFields: []byte{0}},
			n:    14,
		},
		{
			name: "v2 with an unknown tag kept raw",
			in:   []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 1, 7, 2, 'h', 'i', 0xcc},
			want: RequestHeader{APIKey: 18, APIVersion: 3, CorrelationID: 1, TaggedFields: []byte{1, 7, 2, 'h', 'i'}},
			n:    15,
		},
		{name: "empty", in: nil, isErr: ErrMalformedHeader},
		{name: "three bytes", in: []byte{0, 3, 0}, isErr: ErrMalformedHeader},
		{name: "unknown key", in: []byte{0x7f, 0xff, 0, 0, 0, 0, 0, 1}, isErr: ErrUnknownAPIKey},
		{name: "negative key", in: []byte{0xff, 0xff, 0, 0, 0, 0, 0, 1}, isErr: ErrUnknownAPIKey},
		{name: "no correlation id", in: []byte{0, 3, 0, 1, 0, 0}, isErr: ErrMalformedHeader},
		{name: "no client id length", in: []byte{0, 3, 0, 1, 0, 0, 0, 1, 0}, isErr: ErrMalformedHeader},
		{name: "client id past the end", in: []byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 5, 'a'}, isErr: ErrMalformedHeader},
		{name: "client id length -2", in: []byte{0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xfe}, isErr: ErrMalformedHeader},
		{name: "v2 without tag section", in: []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff}, isErr: ErrMalformedHeader},
		{name: "tag size past the end", in: []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 1, 0, 5, 'x'}, isErr: ErrMalformedHeader},
		{name: "tag count varint too long", in: []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0x80, 0x80, 0x80, 0x80, 0x10}, isErr: ErrMalformedHeader},
		{name: "tag count of 2^32-1 with nothing after", in: []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}, isErr: ErrMalformedHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, err := ParseRequestHeader(tt.in)
			if tt.isErr != nil {
				if !errors.Is(err, tt.isErr) {
					t.Fatalf("err = %v, want %v", err, tt.isErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.n {
				t.Errorf("n = %d, want %d", n, tt.n)
			}
			if h.APIKey != tt.want.APIKey || h.APIVersion != tt.want.APIVersion || h.CorrelationID != tt.want.CorrelationID ||
				!bytes.Equal(h.TaggedFields, tt.want.TaggedFields) || (h.ClientID == nil) != (tt.want.ClientID == nil) ||
				h.ClientID != nil && *h.ClientID != *tt.want.ClientID {
				t.Errorf("parsed %+v, want %+v", h, tt.want)
			}
			if got := h.AppendTo(nil); !bytes.Equal(got, tt.in[:n]) {
				t.Errorf("re-encoded %x, want %x", got, tt.in[:n])
			}
		})
	}
}

func TestParseErrorKeepsWhatWasRead(t *testing.T) {
	h, _, err := ParseRequestHeader([]byte{0, 3, 0, 1, 0, 0, 0, 42, 0, 9})
	if !errors.Is(err, ErrMalformedHeader) || h.APIKey != 3 || h.APIVersion != 1 || h.CorrelationID != 42 {
		t.Fatalf("got %+v, %v", h, err)
	}
}

func TestAppendResponseHeader(t *testing.T) {
	if got := appendResponseHeader(nil, 0, 7); !bytes.Equal(got, []byte{0, 0, 0, 7}) || len(got) != responseHeaderLen(0) {
		t.Errorf("v0: %x", got)
	}
	if got := appendResponseHeader(nil, 1, 7); !bytes.Equal(got, []byte{0, 0, 0, 7, 0}) || len(got) != responseHeaderLen(1) {
		t.Errorf("v1: %x", got)
	}
}

func TestParseReusesTheLastClientID(t *testing.T) {
	b := appendRequest(nil, metadataRequest(9, "t"), 1, "same")[4:]
	prev := "same"
	h, _, err := parseRequestHeader(b, &prev)
	if err != nil || h.ClientID != &prev {
		t.Fatalf("same client id: got %p (%v), want the previous pointer %p", h.ClientID, err, &prev)
	}
	other := "other"
	h, _, err = parseRequestHeader(b, &other)
	if err != nil || h.ClientID == &other || *h.ClientID != "same" {
		t.Fatalf("another client id: got %v, %v", h.ClientID, err)
	}
}
