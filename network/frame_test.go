package network

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// countingReader counts the Read calls that reach the connection.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

func frameOf(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestFrameReaderBuffersReads: a connection's frame reader takes small
// frames, length and body, from one read of the connection (two frames
// that arrived together, from one read in all), and still reads a frame
// larger than its buffer whole and in order.
func TestFrameReaderBuffersReads(t *testing.T) {
	small1 := bytes.Repeat([]byte{'a'}, 200)
	small2 := bytes.Repeat([]byte{'b'}, 300)
	large := make([]byte, 5*frameReadBuffer+17)
	for i := range large {
		large[i] = byte(i * 7)
	}
	stream := append(append(frameOf(small1), frameOf(small2)...), frameOf(large)...)
	cr := &countingReader{r: bytes.NewReader(stream)}
	fr := newFrameReader(cr, 1<<20)

	for i, want := range [][]byte{small1, small2} {
		got, err := fr.next()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %d bytes, %v", i, len(got), err)
		}
	}
	if cr.reads != 1 {
		t.Fatalf("two small frames took %d reads of the connection, want 1", cr.reads)
	}
	got, err := fr.next()
	if err != nil || !bytes.Equal(got, large) {
		t.Fatalf("large frame: %d bytes, %v", len(got), err)
	}
	// The large frame's body, beyond what the first read buffered, is read
	// straight into the frame: a handful of reads, not one per buffer.
	if cr.reads > 4 {
		t.Fatalf("%d reads in all", cr.reads)
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}
