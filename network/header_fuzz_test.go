package network

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzParseRequestHeader: ParseRequestHeader never panics; it never claims
// more bytes than it was given (0 <= n <= len(b)); a header it accepts
// re-encodes with AppendTo to exactly the bytes it took, b[:n]; and parsing
// those bytes again gives the same n.
func FuzzParseRequestHeader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 3, 0})                                                // truncated
	f.Add([]byte{0, 7, 0, 0, 0, 0, 0, 1})                                 // v0
	f.Add([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff})                     // v1, null client id
	f.Add([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff})                     // v1, client id past the end
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 1, 'c', 2, 0, 0, 1, 1, 'x'}) // v2, two tags
	f.Add([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff, 0xff, 0xff}) // unknown key
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("fuzz"))
	for _, r := range []kmsg.Request{apiVersions(3), metadataRequest(9, "t"), metadataRequest(1, "t")} {
		f.Add(formatter.AppendRequest(nil, r, 7)[4:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseRequestHeader(b)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			return
		}
		if n < 8 || n > len(b) {
			t.Fatalf("n = %d for %d bytes", n, len(b))
		}
		if got := h.AppendTo(nil); !bytes.Equal(got, b[:n]) {
			t.Fatalf("re-encoded %x, parsed from %x", got, b[:n])
		}
		if _, n2, err := ParseRequestHeader(b[:n]); err != nil || n2 != n {
			t.Fatalf("reparse of b[:n]: n = %d, %v; want %d", n2, err, n)
		}
	})
}
