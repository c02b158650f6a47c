package network

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"slices"
	"sync"
)

// A frame is a 4-byte big-endian length followed by that many bytes: a
// request (header and body) from a client, or a response to one. Kafka's
// NetworkReceive reads the length, refuses a negative one or one larger
// than socket.request.max.bytes before allocating anything, then reads the
// payload.

// eagerFrameBytes is the largest frame whose buffer is taken in full as
// soon as its length is known. A larger frame's buffer grows as its bytes
// arrive (readBody), so that a peer announcing 100 MiB and sending nothing
// ties up 1 MiB, not 100 MiB, per connection. Almost every request is
// smaller (producers batch up to 1 MiB per partition by default).
const eagerFrameBytes = 1 << 20

// frameReadBuffer is the size of a connection's read buffer. A request or
// response of a few hundred bytes (a produce of a few records, a fetch, a
// follower's fetch response with nothing new) then takes one read system
// call, length and body together, instead of one for the length and one for
// the body; bytes of a frame that follows stay buffered for the next
// frame. Reads of a frame's body larger than the buffer go straight into
// the frame's own buffer once the buffered bytes are used up (bufio does
// not copy them twice).
const frameReadBuffer = 4 << 10

// newFrameReader reads frames of at most max bytes from r, through a read
// buffer of frameReadBuffer bytes.
func newFrameReader(r io.Reader, max int32) frameReader {
	return frameReader{r: bufio.NewReaderSize(r, frameReadBuffer), max: max}
}

// frameReader reads frames from one connection. Not safe for concurrent
// use: it belongs to the connection's goroutine.
type frameReader struct {
	r   io.Reader
	max int32 // largest accepted frame length, prefix excluded
	len [4]byte
}

// readSize reads a frame's length prefix. A connection that ends before the
// first byte gives io.EOF (a clean close); one that ends inside the prefix
// gives ErrTruncatedFrame.
func (fr *frameReader) readSize() (int32, error) {
	n, err := io.ReadFull(fr.r, fr.len[:])
	if err != nil {
		if n > 0 {
			return 0, fmt.Errorf("%w: %d of 4 length bytes: %w", ErrTruncatedFrame, n, err)
		}
		return 0, err
	}
	size := int32(binary.BigEndian.Uint32(fr.len[:]))
	switch {
	case size < 0:
		return 0, fmt.Errorf("%w: %d", ErrNegativeFrameSize, size)
	case size > fr.max:
		return 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, size, fr.max)
	}
	return size, nil
}

// readBody reads the size bytes of a frame whose prefix readSize returned,
// into a new buffer that the caller owns. A frame larger than
// eagerFrameBytes grows its buffer by frameGrowth each time it is full, as
// readPooledBody does.
func (fr *frameReader) readBody(size int32) ([]byte, error) {
	n := int(size)
	buf := make([]byte, min(n, eagerFrameBytes))
	got, err := io.ReadFull(fr.r, buf)
	for err == nil && got < n {
		buf = slices.Grow(buf, min(n, frameGrowth*len(buf))-len(buf))
		buf = buf[:min(n, cap(buf))]
		var m int
		m, err = io.ReadFull(fr.r, buf[got:])
		got += m
	}
	if err != nil {
		return nil, truncated(got, n, err)
	}
	return buf, nil
}

func truncated(got, n int, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %d of %d bytes: %w", ErrTruncatedFrame, got, n, err)
}

// peekAPIKey returns the API key of the request frame whose length
// readSize just returned, without consuming it: the frame's first two
// bytes. ok is false for a frame too short to have one.
func (fr *frameReader) peekAPIKey(size int32) (key int16, ok bool) {
	br, isBuffered := fr.r.(*bufio.Reader)
	if size < 2 || !isBuffered {
		return 0, false
	}
	b, err := br.Peek(2) // bytes of this frame: waiting for them is what reading it does
	if err != nil {
		return 0, false // readBody sees the same error
	}
	return int16(binary.BigEndian.Uint16(b)), true
}

// readPooledBody is readBody into a buffer from the frame pool (getFrame),
// which the caller may hand back with releaseFrame once nothing refers to
// it any more (Request.Release); if it does not, the collector takes it.
//
// A frame of at most eagerFrameBytes gets its buffer at once. A larger one
// starts with eagerFrameBytes and moves to a buffer frameGrowth times as
// large (or the frame's size) each time the last one is full, so the
// memory a peer ties up stays within frameGrowth times what it has sent,
// and a frame of up to frameGrowth*eagerFrameBytes (a producer's six 1 MB
// batches) costs one copy of its first MiB.
func (fr *frameReader) readPooledBody(size int32) ([]byte, error) {
	n := int(size)
	buf := getFrame(min(n, eagerFrameBytes))
	got, err := io.ReadFull(fr.r, buf)
	for err == nil && got < n {
		next := getFrame(min(n, frameGrowth*len(buf)))
		copy(next, buf[:got])
		releaseFrame(buf)
		buf = next
		var m int
		m, err = io.ReadFull(fr.r, buf[got:])
		got += m
	}
	if err != nil {
		releaseFrame(buf)
		return nil, truncated(got, n, err)
	}
	return buf, nil
}

// frameGrowth is how many times larger a large frame's next buffer is
// than the one it filled (readBody).
const frameGrowth = 8

// Frame buffers are pooled by size class, powers of two from
// 1<<minFrameClassShift to 1<<maxFrameClassShift bytes; a larger frame
// gets a buffer of its own. A pooled buffer is not zeroed: the frame's
// bytes overwrite all of it that is used (readBody reads exactly len
// bytes into it). It is reused only after the handler released it:
// decoded kmsg requests alias their frame (a produce's record batches are
// slices of it), so network cannot know on its own when the bytes are no
// longer read. sync.Pool lets the collector drop buffers nobody asks for.
const (
	minFrameClassShift = 9  // 512 bytes
	maxFrameClassShift = 24 // 16 MiB
	frameClasses       = maxFrameClassShift - minFrameClassShift + 1
)

var framePools [frameClasses]sync.Pool

// frameClass is the index of the smallest class that holds n bytes, for
// n of at most 1<<maxFrameClassShift.
func frameClass(n int) int {
	if n <= 1<<minFrameClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minFrameClassShift
}

// getFrame returns a buffer of n bytes: from its class's pool, with the
// class's capacity, or for n above the largest class a new one of its own.
func getFrame(n int) []byte {
	if n > 1<<maxFrameClassShift {
		return make([]byte, n)
	}
	c := frameClass(n)
	if b, ok := framePools[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<(c+minFrameClassShift))
}

// releaseFrame hands buf, from getFrame, back for reuse by any connection;
// nothing may read or write it afterwards. Buffers whose capacity is not a
// class's are dropped.
func releaseFrame(buf []byte) {
	c := cap(buf)
	if c < 1<<minFrameClassShift || c > 1<<maxFrameClassShift || c&(c-1) != 0 {
		return
	}
	full := buf[:c]
	if raceEnabled {
		// Make a premature release visible: whatever still reads the
		// frame sees 0xdb bytes instead of the ones it expects.
		for i := range full {
			full[i] = 0xdb
		}
	}
	framePools[frameClass(c)].Put(&full)
}

// next reads one whole frame.
func (fr *frameReader) next() ([]byte, error) {
	size, err := fr.readSize()
	if err != nil {
		return nil, err
	}
	return fr.readBody(size)
}
