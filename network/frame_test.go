package network

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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

// nextPooled reads one whole frame into a pooled buffer.
func nextPooled(fr *frameReader) ([]byte, error) {
	size, err := fr.readSize()
	if err != nil {
		return nil, err
	}
	return fr.readPooledBody(size)
}

// TestPeekAPIKey: the API key of a request frame is read without
// consuming it, and a frame too short to hold one has none.
func TestPeekAPIKey(t *testing.T) {
	stream := append(frameOf([]byte{0, 0, 0, 9, 'x'}), frameOf([]byte{1})...)
	stream = append(stream, frameOf([]byte{0, 1, 0, 4})...)
	fr := newFrameReader(bytes.NewReader(stream), 1<<20)
	for i, want := range []struct {
		key int16
		ok  bool
	}{{0, true}, {0, false}, {1, true}} {
		size, err := fr.readSize()
		if err != nil {
			t.Fatal(err)
		}
		key, ok := fr.peekAPIKey(size)
		if key != want.key || ok != want.ok {
			t.Errorf("frame %d: key %d, %v; want %d, %v", i, key, ok, want.key, want.ok)
		}
		body, err := fr.readPooledBody(size)
		if err != nil || len(body) != int(size) {
			t.Fatalf("frame %d after the peek: %d bytes, %v", i, len(body), err)
		}
	}
}

// TestFrameBuffersReusedOnlyAfterRelease: a request's frame buffer is
// reused for a later frame once the request is released, and never while
// it is not: an unreleased request keeps its bytes however many frames of
// its size follow. Frames larger than eagerFrameBytes, read through a
// buffer that grows, come out whole too.
func TestFrameBuffersReusedOnlyAfterRelease(t *testing.T) {
	for _, size := range []int{300, eagerFrameBytes, eagerFrameBytes + 1, 3*eagerFrameBytes + 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			const frames = 40
			var stream []byte
			stream = append(stream, frameOf(bytes.Repeat([]byte{'a'}, size))...)
			for i := range frames {
				b := bytes.Repeat([]byte{byte(i)}, size)
				b[size-1] = ^byte(i)
				stream = append(stream, frameOf(b)...)
			}
			fr := newFrameReader(bytes.NewReader(stream), 1<<30)
			first, err := nextPooled(&fr)
			if err != nil {
				t.Fatal(err)
			}
			kept := &Request{Body: first[10:], frame: first}

			reused := 0
			var last *byte // the start of the buffer released last
			for i := range frames {
				b, err := nextPooled(&fr)
				if err != nil {
					t.Fatal(err)
				}
				if &b[0] == &first[0] {
					t.Fatalf("frame %d was read into the buffer of a request not released", i)
				}
				if &b[0] == last {
					reused++
				}
				if len(b) != size || b[0] != byte(i) || b[size/2] != byte(i) || b[size-1] != ^byte(i) {
					t.Fatalf("frame %d: %d bytes, %d...%d", i, len(b), b[0], b[size-1])
				}
				r := &Request{Body: b[10:], frame: b}
				last = &b[0]
				r.Release()
				if r.Body != nil || r.frame != nil {
					t.Fatal("Release left the request pointing at the buffer")
				}
			}
			// sync.Pool may drop what it is given (the race detector makes
			// it drop some on purpose), so not every frame finds the last
			// one's buffer.
			if reused < frames/4 {
				t.Fatalf("%d of %d frames reused a released buffer", reused, frames)
			}
			if !bytes.Equal(kept.Body, bytes.Repeat([]byte{'a'}, size-10)) {
				t.Fatal("the bytes of a request not released changed")
			}
			kept.Release()
			kept.Release() // a second call does nothing
		})
	}
}

// TestFrameClasses: each frame size gets a buffer of the smallest class
// that holds it, frames above the largest class one of their own size,
// and only buffers of a class's exact capacity go back to a pool.
func TestFrameClasses(t *testing.T) {
	const largest = 1 << maxFrameClassShift
	for _, tc := range []struct{ n, capacity int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {4096, 4096}, {4097, 8192},
		{eagerFrameBytes, eagerFrameBytes}, {6 << 20, 8 << 20}, {largest, largest}, {largest + 1, largest + 1},
	} {
		b := getFrame(tc.n)
		if len(b) != tc.n || cap(b) != tc.capacity {
			t.Errorf("getFrame(%d): len %d cap %d, want cap %d", tc.n, len(b), cap(b), tc.capacity)
		}
		releaseFrame(b)
	}
	releaseFrame(make([]byte, 100, 3000))     // not a class: dropped
	releaseFrame(make([]byte, 10, 2*largest)) // too large: dropped
	if b := getFrame(2000); cap(b) != 2048 {
		t.Fatalf("getFrame(2000) after odd releases: cap %d", cap(b))
	}
}

// TestTruncatedLargeFrame: a large frame that ends early is an error, and
// its partly filled buffers go back to the pool without harm.
func TestTruncatedLargeFrame(t *testing.T) {
	size := 3 * eagerFrameBytes
	stream := frameOf(bytes.Repeat([]byte{7}, size))[:4+2*eagerFrameBytes+3]
	fr := newFrameReader(bytes.NewReader(stream), 1<<30)
	if _, err := nextPooled(&fr); !errors.Is(err, ErrTruncatedFrame) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want a truncated frame", err)
	}
}

// BenchmarkReadFrame is the cost of reading one request frame of each
// size: into a buffer of its own (readBody: every request but produce),
// and from the pool with the buffer released after use (readPooledBody, as
// the produce handler does).
func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{200, 64 << 10, eagerFrameBytes, 6 << 20} {
		for _, pooled := range []bool{false, true} {
			b.Run(fmt.Sprintf("size=%d/pooled=%v", size, pooled), func(b *testing.B) {
				stream := frameOf(bytes.Repeat([]byte{1}, size))
				r := bytes.NewReader(stream)
				fr := newFrameReader(r, 1<<30)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(stream)
					fr.r.(*bufio.Reader).Reset(r)
					if !pooled {
						if _, err := fr.next(); err != nil {
							b.Fatal(err)
						}
						continue
					}
					buf, err := nextPooled(&fr)
					if err != nil {
						b.Fatal(err)
					}
					releaseFrame(buf)
				}
			})
		}
	}
}
