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

// TestFrameBuffersReusedOnlyAfterRelease: a request's frame buffer is
// reused for a later frame once the request is released, and never while
// it is not: an unreleased request keeps its bytes however many frames of
// the same size follow.
func TestFrameBuffersReusedOnlyAfterRelease(t *testing.T) {
	var stream []byte
	stream = append(stream, frameOf(bytes.Repeat([]byte{'a'}, 300))...)
	for i := range 200 {
		stream = append(stream, frameOf(bytes.Repeat([]byte{byte(i)}, 300))...)
	}
	fr := newFrameReader(bytes.NewReader(stream), 1<<20)
	first, err := fr.next()
	if err != nil {
		t.Fatal(err)
	}
	kept := &Request{Body: first[10:], frame: first}

	reused := 0
	var last *byte // the start of the buffer released last
	for i := range 200 {
		b, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		if &b[0] == &first[0] {
			t.Fatalf("frame %d was read into the buffer of a request not released", i)
		}
		if &b[0] == last {
			reused++
		}
		if len(b) != 300 || b[0] != byte(i) || b[299] != byte(i) {
			t.Fatalf("frame %d: %d bytes starting %d", i, len(b), b[0])
		}
		r := &Request{Body: b[10:], frame: b}
		last = &b[0]
		r.Release()
		if r.Body != nil || r.frame != nil {
			t.Fatal("Release left the request pointing at the buffer")
		}
	}
	// sync.Pool may drop what it is given (the race detector makes it drop
	// some on purpose), so not every frame finds the last one's buffer.
	if reused < 50 {
		t.Fatalf("%d of 200 frames reused a released buffer", reused)
	}
	if !bytes.Equal(kept.Body, bytes.Repeat([]byte{'a'}, 290)) {
		t.Fatal("the bytes of a request not released changed")
	}
	kept.Release()
	kept.Release() // a second call does nothing
}

// TestFrameClasses: each frame size gets a buffer of the smallest class
// that holds it, and only buffers of a class's exact capacity go back.
func TestFrameClasses(t *testing.T) {
	for _, tc := range []struct{ n, capacity int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {4096, 4096}, {4097, 8192}, {eagerFrameBytes, eagerFrameBytes},
	} {
		b := getFrame(tc.n)
		if len(b) != tc.n || cap(b) != tc.capacity {
			t.Errorf("getFrame(%d): len %d cap %d, want cap %d", tc.n, len(b), cap(b), tc.capacity)
		}
		releaseFrame(b)
	}
	releaseFrame(make([]byte, 100, 3000))             // not a class: dropped
	releaseFrame(make([]byte, 10, 2*eagerFrameBytes)) // too large: dropped
	if b := getFrame(2000); cap(b) != 2048 {
		t.Fatalf("getFrame(2000) after odd releases: cap %d", cap(b))
	}
}
