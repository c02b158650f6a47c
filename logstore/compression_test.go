package logstore

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/snappy/xerial"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

var allCodecs = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}

// independentCompressors compress with other code than ours, configured as
// the clients are: the standard library's gzip (Go's, not klauspost's),
// xerial-framed and raw snappy, lz4 frames with pierrec's defaults (4 MiB
// blocks, content checksum, as franz-go and sarama write them), and zstd
// both from EncodeAll (content size in the header) and from a streaming
// writer (no content size, as zstd-jni's ZstdOutputStream writes).
func independentCompressors(t testing.TB) map[string]func([]byte) (Compression, []byte) {
	t.Helper()
	return map[string]func([]byte) (Compression, []byte){
		"none": func(b []byte) (Compression, []byte) { return CompressionNone, b },
		"gzip-stdlib": func(b []byte) (Compression, []byte) {
			var buf bytes.Buffer
			w := stdgzip.NewWriter(&buf)
			mustWrite(t, w, b)
			return CompressionGzip, buf.Bytes()
		},
		"snappy-xerial": func(b []byte) (Compression, []byte) {
			return CompressionSnappy, xerial.Encode(nil, b)
		},
		"snappy-raw": func(b []byte) (Compression, []byte) {
			return CompressionSnappy, snappy.Encode(nil, b)
		},
		"lz4-frame-defaults": func(b []byte) (Compression, []byte) {
			var buf bytes.Buffer
			mustWrite(t, lz4.NewWriter(&buf), b)
			return CompressionLZ4, buf.Bytes()
		},
		"lz4-frame-block-checksums-content-size": func(b []byte) (Compression, []byte) {
			var buf bytes.Buffer
			w := lz4.NewWriter(&buf)
			if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true), lz4.SizeOption(uint64(len(b)))); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, w, b)
			return CompressionLZ4, buf.Bytes()
		},
		"zstd-encodeall": func(b []byte) (Compression, []byte) {
			enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true))
			if err != nil {
				t.Fatal(err)
			}
			defer enc.Close()
			return CompressionZstd, enc.EncodeAll(b, nil)
		},
		"zstd-stream": func(b []byte) (Compression, []byte) {
			var buf bytes.Buffer
			enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedBetterCompression))
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, enc, b)
			return CompressionZstd, buf.Bytes()
		},
	}
}

func mustWrite(t testing.TB, w io.WriteCloser, b []byte) {
	t.Helper()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// independentDecompress decodes with other code than ours.
func independentDecompress(t testing.TB, c Compression, b []byte) []byte {
	t.Helper()
	var out []byte
	var err error
	switch c {
	case CompressionNone:
		return b
	case CompressionGzip:
		var r *stdgzip.Reader
		if r, err = stdgzip.NewReader(bytes.NewReader(b)); err == nil {
			out, err = io.ReadAll(r)
		}
	case CompressionSnappy:
		out, err = xerial.Decode(b)
	case CompressionLZ4:
		out, err = io.ReadAll(lz4.NewReader(bytes.NewReader(b)))
	case CompressionZstd:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil); err == nil {
			out, err = d.DecodeAll(b, nil)
			d.Close()
		}
	}
	if err != nil {
		t.Fatalf("independent %s decompression: %v", c, err)
	}
	return out
}

func compressionInputs() map[string][]byte {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 5000)
	return map[string][]byte{
		"empty":  {},
		"one":    {'x'},
		"text":   text,
		"random": random,
		"zeros":  make([]byte, 1<<20),
	}
}

func TestCompressRoundTrip(t *testing.T) {
	for name, in := range compressionInputs() {
		for _, c := range allCodecs {
			t.Run(name+"/"+c.String(), func(t *testing.T) {
				comp, err := Compress(c, in)
				if err != nil {
					t.Fatalf("Compress: %v", err)
				}
				out, err := Decompress(c, comp)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("round trip changed %d bytes into %d", len(in), len(out))
				}
				if got := independentDecompress(t, c, comp); !bytes.Equal(got, in) {
					t.Fatalf("independent decoder read %d bytes, want %d", len(got), len(in))
				}
			})
		}
	}
}

func TestDecompressIndependentlyCompressed(t *testing.T) {
	for name, in := range compressionInputs() {
		for cname, compress := range independentCompressors(t) {
			t.Run(name+"/"+cname, func(t *testing.T) {
				c, comp := compress(in)
				if len(comp) == 0 {
					t.Skip("this encoder writes nothing for no input")
				}
				out, err := Decompress(c, comp)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("got %d bytes, want %d", len(out), len(in))
				}
			})
		}
	}
}

// TestCompressFormats pins the framing details Java clients depend on.
func TestCompressFormats(t *testing.T) {
	in := bytes.Repeat([]byte("abc"), 100<<10) // 300 KiB: several blocks
	t.Run("snappy is xerial framed in 32 KiB blocks", func(t *testing.T) {
		b, err := Compress(CompressionSnappy, in)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b[:16], []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}) {
			t.Fatalf("header %x", b[:16])
		}
		blocks := 0
		for p := 16; p < len(b); blocks++ {
			n := int(binary.BigEndian.Uint32(b[p:]))
			dl, err := snappy.DecodedLen(b[p+4 : p+4+n])
			if err != nil || dl > 32<<10 {
				t.Fatalf("block %d decodes to %d bytes, %v", blocks, dl, err)
			}
			p += 4 + n
		}
		if want := (len(in) + 32<<10 - 1) / (32 << 10); blocks != want {
			t.Fatalf("%d blocks, want %d", blocks, want)
		}
	})
	t.Run("lz4 frame has 64 KiB independent blocks", func(t *testing.T) {
		b, err := Compress(CompressionLZ4, in)
		if err != nil {
			t.Fatal(err)
		}
		if binary.LittleEndian.Uint32(b) != 0x184D2204 {
			t.Fatalf("magic %x", b[:4])
		}
		flg, bd := b[4], b[5]
		if flg>>6 != 1 || flg&0x20 == 0 {
			t.Fatalf("FLG %08b: want version 01 and block independence", flg)
		}
		if (bd>>4)&7 != 4 {
			t.Fatalf("BD %08b: want block max size 64 KiB", bd)
		}
	})
}

func TestDecompressLimit(t *testing.T) {
	in := make([]byte, 1<<20)
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := Compress(c, in)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecompressLimit(c, comp, len(in)-1); !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("limit one byte short: err = %v, want ErrRecordTooLarge", err)
			}
			if _, err := DecompressLimit(c, comp, 1000); !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("small limit: err = %v, want ErrRecordTooLarge", err)
			}
			out, err := DecompressLimit(c, comp, len(in))
			if err != nil || len(out) != len(in) {
				t.Fatalf("exact limit: %d bytes, %v", len(out), err)
			}
		})
	}
	t.Run("bomb does not allocate past the limit", func(t *testing.T) {
		big := make([]byte, 256<<20) // 256 MiB of zeros: a few KiB compressed
		comp, err := Compress(CompressionZstd, big)
		if err != nil {
			t.Fatal(err)
		}
		big = nil
		allocs := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecompressLimit(CompressionZstd, comp, 1<<20); !errors.Is(err, ErrRecordTooLarge) {
					b.Fatalf("err = %v", err)
				}
			}
		})
		// The decoder allocates its window (8 MiB here, the encoder's) when a
		// pooled one is not at hand (the race detector makes sync.Pool drop
		// some), plus the output up to the limit: far below the 256 MiB.
		if per := allocs.AllocedBytesPerOp(); per > 16<<20 {
			t.Fatalf("a 1 MiB limit allocated %d bytes per call", per)
		}
	})
}

func TestDecompressCorrupt(t *testing.T) {
	text := bytes.Repeat([]byte("hello, world "), 1000)
	for _, c := range allCodecs[1:] {
		comp, err := Compress(c, text)
		if err != nil {
			t.Fatal(err)
		}
		flipped := append([]byte{}, comp...)
		flipped[len(flipped)/2] ^= 0xff
		for name, in := range map[string][]byte{
			"empty":     {},
			"garbage":   []byte("this is not compressed data at all"),
			"truncated": comp[:len(comp)/2],
			"flipped":   flipped,
		} {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				out, err := Decompress(c, in)
				if name == "flipped" && err == nil {
					// Some codecs have no checksum over the data:
					// a flipped byte may decode to other bytes.
					if bytes.Equal(out, text) {
						t.Fatal("flipped byte decoded to the original")
					}
					return
				}
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("err = %v, want ErrCorrupt", err)
				}
			})
		}
	}
	for name, in := range map[string][]byte{
		"xerial header truncated":    {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0},
		"xerial block length short":  append(append([]byte{}, xerialHeader...), 0, 0),
		"xerial block length zero":   append(append([]byte{}, xerialHeader...), 0, 0, 0, 0),
		"xerial block length < 0":    append(append([]byte{}, xerialHeader...), 0xff, 0xff, 0xff, 0xff, 1),
		"xerial block past the end":  append(append([]byte{}, xerialHeader...), 0, 0, 0, 9, 1),
		"xerial block not snappy":    append(append([]byte{}, xerialHeader...), 0, 0, 0, 2, 0xff, 0xff),
		"raw block length over data": {0x10, 0x00},
	} {
		t.Run("snappy/"+name, func(t *testing.T) {
			if _, err := Decompress(CompressionSnappy, in); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestUnsupportedCompression(t *testing.T) {
	for _, c := range []Compression{5, 6, 7, -1} {
		if _, err := Compress(c, []byte("x")); !errors.Is(err, ErrUnsupportedCompression) {
			t.Fatalf("Compress(%d) err = %v", c, err)
		}
		if _, err := Decompress(c, []byte("x")); !errors.Is(err, ErrUnsupportedCompression) {
			t.Fatalf("Decompress(%d) err = %v", c, err)
		}
	}
	if s := Compression(6).String(); s != "unknown" {
		t.Fatalf("String() = %q", s)
	}
}

// TestCompressionConcurrent shares the pooled and package-level coders
// between goroutines; run it with -race.
func TestCompressionConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				c := allCodecs[(g+i)%len(allCodecs)]
				in := fmt.Appendf(nil, "goroutine %d iteration %d %s", g, i, bytes.Repeat([]byte{byte(i)}, i*100))
				comp, err := Compress(c, in)
				if err != nil {
					errs <- err
					return
				}
				out, err := Decompress(c, comp)
				if err != nil || !bytes.Equal(out, in) {
					errs <- fmt.Errorf("%s: %v", c, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestDecompressHandMadeLZ4Frame decodes an LZ4 frame built here byte by
// byte as KafkaLZ4BlockOutputStream lays it out (FLG 0x60: version 1,
// independent blocks, no checksums; BD 0x40: 64 KiB blocks), with stored
// (uncompressed) blocks, which Java writes when a block does not shrink.
// It checks our reader against the frame format rather than against the
// writer of the same library.
func TestDecompressHandMadeLZ4Frame(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 15000) // 150,000 bytes: three blocks
	frame := func(hc byte) []byte {
		b := []byte{0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, hc}
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 64<<10)
			b = binary.LittleEndian.AppendUint32(b, uint32(n)|0x80000000) // high bit: stored
			b = append(b, rest[:n]...)
			rest = rest[n:]
		}
		return binary.LittleEndian.AppendUint32(b, 0) // end mark
	}
	if got := xxh32(nil); got != 0x02cc5d05 { // the specification's test vector
		t.Fatalf("xxh32(\"\") = %#x", got)
	}
	hc := byte(xxh32([]byte{0x60, 0x40}) >> 8)
	out, err := Decompress(CompressionLZ4, frame(hc))
	if err != nil {
		t.Fatalf("Decompress: %v", err)
	}
	if !bytes.Equal(out, data) {
		t.Fatalf("got %d bytes, want %d", len(out), len(data))
	}
	if _, err := Decompress(CompressionLZ4, frame(hc+1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("wrong header checksum: err = %v, want ErrCorrupt", err)
	}
}

// xxh32 is XXH32 with seed 0, written from the xxHash specification, for
// the LZ4 frame header checksum.
func xxh32(b []byte) uint32 {
	var p1, p2, p3, p4, p5 uint32 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
	rotl := func(x uint32, r uint) uint32 { return x<<r | x>>(32-r) }
	n := uint32(len(b))
	var h uint32
	if len(b) >= 16 {
		v := [4]uint32{p1 + p2, p2, 0, -p1}
		for ; len(b) >= 16; b = b[16:] {
			for i := range v {
				v[i] = rotl(v[i]+binary.LittleEndian.Uint32(b[4*i:])*p2, 13) * p1
			}
		}
		h = rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)
	} else {
		h = p5
	}
	h += n
	for ; len(b) >= 4; b = b[4:] {
		h = rotl(h+binary.LittleEndian.Uint32(b)*p3, 17) * p4
	}
	for _, c := range b {
		h = rotl(h+uint32(c)*p5, 11) * p1
	}
	h ^= h >> 15
	h *= p2
	h ^= h >> 13
	h *= p3
	h ^= h >> 16
	return h
}

type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// TestReadLimitStuckReader: a codec that stops making progress without an
// error ends the read instead of spinning forever.
func TestReadLimitStuckReader(t *testing.T) {
	if _, err := readLimit(nil, stuckReader{}, 1<<20, 0, 10); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v, want io.ErrNoProgress", err)
	}
}
