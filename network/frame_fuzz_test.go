package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrames: reading a stream of frames never panics; the reader never
// claims more bytes than the stream has (the frames and their 4-byte
// prefixes add up to at most the bytes consumed, which are at most the
// bytes given); no frame is longer than the limit; the frames re-framed are
// exactly the stream's prefix that was consumed whole; and reading stops
// with io.EOF only at a frame boundary, with ErrTruncatedFrame otherwise.
func FuzzReadFrames(f *testing.F) {
	f.Add([]byte{}, int32(16))
	f.Add([]byte{0, 0, 0}, int32(16))                              // truncated length
	f.Add([]byte{0, 0, 0, 0}, int32(16))                           // empty frame
	f.Add([]byte{0, 0, 0, 2, 'h', 'i', 0, 0, 0, 1, '!'}, int32(2)) // two frames
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff}, int32(1<<20))            // 2^31-1
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, int32(16))               // negative
	f.Add([]byte{0, 0, 0, 9, 'a'}, int32(16))                      // truncated body
	f.Add(append([]byte{0, 0x10, 0, 0}, make([]byte, 1<<20)...), int32(2<<20))
	f.Fuzz(func(t *testing.T, stream []byte, max int32) {
		if max < 0 {
			max = -(max + 1)
		}
		r := bytes.NewReader(stream)
		fr := frameReader{r: r, max: max}
		var reframed []byte
		for {
			frame, err := fr.next()
			consumed := len(stream) - r.Len()
			if err != nil {
				switch {
				case errors.Is(err, io.EOF):
					if len(reframed) != len(stream) {
						t.Fatalf("io.EOF after %d of %d bytes", len(reframed), len(stream))
					}
				case errors.Is(err, ErrTruncatedFrame):
					if consumed != len(stream) {
						t.Fatalf("truncated with %d bytes left", r.Len())
					}
				case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrNegativeFrameSize):
					if consumed != len(reframed)+4 {
						t.Fatalf("a bad length consumed %d bytes past the last frame", consumed-len(reframed))
					}
				default:
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(frame) > int(max) {
				t.Fatalf("frame of %d bytes, limit %d", len(frame), max)
			}
			reframed = binary.BigEndian.AppendUint32(reframed, uint32(len(frame)))
			reframed = append(reframed, frame...)
			if len(reframed) != consumed || !bytes.Equal(reframed, stream[:consumed]) {
				t.Fatalf("frames re-framed are %d bytes, %d consumed", len(reframed), consumed)
			}
			if _, _, err := ParseRequestHeader(frame); err == nil && len(frame) < 8 {
				t.Fatalf("a %d-byte frame parsed as a header", len(frame))
			}
		}
	})
}
