package network

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// A frame is a 4-byte big-endian length followed by that many bytes: a
// request (header and body) from a client, or a response to one. Kafka's
// NetworkReceive reads the length, refuses a negative one or one larger
// than socket.request.max.bytes before allocating anything, then reads the
// payload.

// eagerFrameBytes is the largest frame whose buffer is allocated in full as
// soon as its length is known. A larger frame's buffer grows as its bytes
// arrive, so that a peer announcing 100 MiB and sending nothing ties up
// 1 MiB, not 100 MiB, per connection. Almost every request is smaller
// (producers batch up to 1 MiB by default), and for the rest growing by
// doubling costs one extra copy of the bytes on average.
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
// into a new buffer that the caller owns.
func (fr *frameReader) readBody(size int32) ([]byte, error) {
	n := int(size)
	buf := make([]byte, min(n, eagerFrameBytes))
	got, err := io.ReadFull(fr.r, buf)
	for err == nil && got < n {
		buf = slices.Grow(buf, min(n, 2*len(buf))-len(buf))
		buf = buf[:min(n, cap(buf))]
		var m int
		m, err = io.ReadFull(fr.r, buf[got:])
		got += m
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %d of %d bytes: %w", ErrTruncatedFrame, got, n, err)
	}
	return buf, nil
}

// next reads one whole frame.
func (fr *frameReader) next() ([]byte, error) {
	size, err := fr.readSize()
	if err != nil {
		return nil, err
	}
	return fr.readBody(size)
}
