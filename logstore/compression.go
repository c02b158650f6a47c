package logstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Compression is a record batch codec, the low three bits of the attributes.
type Compression int8

const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return "unknown"
}

// Codecs and their wire formats, as Kafka's clients write them:
//
//	gzip    an RFC 1952 gzip stream (java.util.zip.GZIPOutputStream)
//	snappy  xerial framing (org.xerial.snappy.SnappyOutputStream, below);
//	        some clients write one raw snappy block instead, so decoding
//	        accepts both
//	lz4     the LZ4 frame format with independent blocks; Kafka's own
//	        KafkaLZ4BlockOutputStream writes 64 KiB blocks without checksums
//	zstd    a zstd frame (zstd-jni's ZstdOutputStream)
//
// The xerial snappy framing is
//
//	offset  size  field
//	     0     8  magic {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}
//	     8     4  version               1
//	    12     4  compatible version    1
//	    16     .  blocks, each [int32 big-endian length][raw snappy block]
//
// Decompression bombs. A batch of a few kilobytes can expand to gigabytes
// (zstd encodes a run of 128 KiB of zeros in 3 bytes, about 40,000:1), and
// the produce path decompresses every compressed batch to validate it. Kafka
// bounds nothing here; it streams the records through. Gregor materialises
// the decompressed records in memory, so it bounds them: every decompression
// in logstore has a limit, and going past it fails with ErrRecordTooLarge
// (MESSAGE_TOO_LARGE: the client learns its batch is too big, and the error
// is not retriable, so it does not try again in a loop). There is no way to
// turn the limit off; callers that need more pass a larger one.
//
// DefaultMaxDecompressedBytes is 64 MiB. Real producers stay far below it: a
// Java producer closes a batch when its estimated compressed size reaches
// batch.size (16 KiB by default), franz-go and sarama bound batches by their
// uncompressed size (1 MB by default), so even a 100:1 ratio on a batch
// tuned to 512 KiB is 50 MiB. At 64 MiB a 24 GiB broker can decompress a few
// hundred bombs at once before memory is at risk, and produce requests on a
// connection are handled one at a time.

// DefaultMaxDecompressedBytes bounds the decompressed size of one batch's
// records when the caller gives no limit of its own (see the codec notes
// above for how the figure was chosen).
const DefaultMaxDecompressedBytes = 64 << 20

// zstdMaxWindow is the largest zstd window accepted: 128 MiB, what libzstd
// (and so zstd-jni in Kafka's own broker) accepts by default
// (ZSTD_WINDOWLOG_LIMIT_DEFAULT is 27). A producer at level 22 declares a
// window that large even for a small batch, so a smaller bound would refuse
// real clients. The decoder allocates the window up front (plus 1 MiB in low
// memory mode), once per pooled decoder, so a hostile frame costs at most
// that much memory, as it does in Kafka.
const zstdMaxWindow = 128 << 20

// xerialHeader is the 8-byte magic, version 1 and compatible version 1 that
// a xerial SnappyOutputStream writes first.
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

const (
	xerialHeaderSize = 16
	// xerialBlockSize is the uncompressed size of each xerial block we
	// write, SnappyOutputStream's default.
	xerialBlockSize = 32 << 10
)

// Decompress decompresses the records section of a batch compressed with c,
// bounded by DefaultMaxDecompressedBytes. For CompressionNone it returns src
// itself.
//
// Malformed input is an error matching ErrCorrupt; output beyond the bound
// matches ErrRecordTooLarge; a codec id logstore does not know (5, 6 or 7)
// matches ErrUnsupportedCompression. Decompress is safe for concurrent use.
func Decompress(c Compression, src []byte) ([]byte, error) {
	return DecompressLimit(c, src, DefaultMaxDecompressedBytes)
}

// DecompressLimit is Decompress with an explicit bound: it fails with an
// error matching ErrRecordTooLarge as soon as the output would exceed
// maxBytes, without decoding or allocating the rest. maxBytes <= 0 means
// DefaultMaxDecompressedBytes. The result is a new slice, except for
// CompressionNone, which returns src (and applies no bound: nothing is
// allocated).
func DecompressLimit(c Compression, src []byte, maxBytes int) ([]byte, error) {
	if c == CompressionNone {
		return src, nil
	}
	return decompressAppend(nil, c, src, maxBytes)
}

// Compress compresses src with c, in the format Kafka's Java producer writes
// (see the codec notes above), so that every client can read it. For
// CompressionNone it returns src itself. Compress is safe for concurrent use.
func Compress(c Compression, src []byte) ([]byte, error) {
	if c == CompressionNone {
		return src, nil
	}
	return compressAppend(nil, c, src)
}

// decompressAppend appends the decompression of src to dst. Unlike the
// exported functions it copies for CompressionNone too.
func decompressAppend(dst []byte, c Compression, src []byte, maxBytes int) ([]byte, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDecompressedBytes
	}
	var err error
	switch c {
	case CompressionNone:
		if len(src) > maxBytes {
			return dst, tooLarge(c, maxBytes)
		}
		return append(dst, src...), nil
	case CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd:
		// Every codec writes something even for no data; some readers
		// would take nothing at all for an empty stream.
		if len(src) == 0 {
			return dst, Corruptf("%s: no compressed data", c)
		}
	}
	switch c {
	case CompressionGzip:
		dst, err = gunzipAppend(dst, src, maxBytes)
	case CompressionSnappy:
		dst, err = unsnappyAppend(dst, src, maxBytes)
	case CompressionLZ4:
		dst, err = unlz4Append(dst, src, maxBytes)
	case CompressionZstd:
		dst, err = unzstdAppend(dst, src, maxBytes)
	default:
		return dst, unsupportedCompression(c)
	}
	if err != nil {
		return dst, err
	}
	return dst, nil
}

// compressAppend appends the compression of src to dst.
func compressAppend(dst []byte, c Compression, src []byte) ([]byte, error) {
	switch c {
	case CompressionNone:
		return append(dst, src...), nil
	case CompressionGzip:
		return gzipAppend(dst, src)
	case CompressionSnappy:
		return snappyAppend(dst, src), nil
	case CompressionLZ4:
		return lz4Append(dst, src)
	case CompressionZstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	}
	return dst, unsupportedCompression(c)
}

func unsupportedCompression(c Compression) error {
	return fmt.Errorf("logstore: compression codec id %d: %w", int8(c), ErrUnsupportedCompression)
}

// errTooLarge is the internal signal of readLimit; callers turn it into
// tooLarge, which names the codec.
var errTooLarge = errors.New("decompressed size over the limit")

func tooLarge(c Compression, maxBytes int) error {
	return fmt.Errorf("logstore: %s records decompress to more than %d bytes: %w", c, maxBytes, ErrRecordTooLarge)
}

// decodeErr classifies an error from a codec: the limit is ErrRecordTooLarge,
// anything else is corruption.
func decodeErr(c Compression, maxBytes int, err error) error {
	if errors.Is(err, errTooLarge) {
		return tooLarge(c, maxBytes)
	}
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return fmt.Errorf("logstore: zstd frame needs a window over %d bytes: %w", zstdMaxWindow, ErrRecordTooLarge)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // a bare io.EOF would read as "done" to careless callers
	}
	return Corruptf("%s decompression: %w", c, err)
}

// readLimit appends everything r yields to dst, failing with errTooLarge as
// soon as more than maxBytes have been read; it never asks r for more than
// maxBytes+1 bytes. sizeHint is the output size the compressed data claims
// (0 if unknown) and srcLen the compressed size.
func readLimit(dst []byte, r io.Reader, maxBytes, sizeHint, srcLen int) ([]byte, error) {
	start := len(dst)
	// A claimed size is only a hint, and a hostile one must not make us
	// allocate: trust it up to 64 times the input (plus 64 KiB), and let
	// append's doubling take over beyond that.
	if limit := 64*srcLen + 64<<10; sizeHint <= 0 || sizeHint > limit {
		sizeHint = min(4*srcLen+4<<10, limit)
	}
	dst = slices.Grow(dst, min(sizeHint, maxBytes+1))
	for stalls := 0; ; {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)] // let append pick the growth
		}
		room := cap(dst) - len(dst)
		if left := maxBytes + 1 - (len(dst) - start); room > left {
			room = left
		}
		n, err := r.Read(dst[len(dst) : len(dst)+room])
		dst = dst[:len(dst)+n]
		if n == 0 && err == nil {
			// io.Reader allows this but discourages it; never spin on a
			// codec that stops making progress.
			if stalls++; stalls == 100 {
				return dst, io.ErrNoProgress
			}
			continue
		}
		stalls = 0
		if len(dst)-start > maxBytes {
			return dst, errTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// appendWriter is an io.Writer that appends to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// --- gzip

// gzipReaderPool holds *gzipReader. A gzip.Reader keeps a flate decoder of
// about 40 KiB; pooling saves allocating it per batch.
var gzipReaderPool sync.Pool

type gzipReader struct {
	src bytes.Reader
	zr  gzip.Reader
}

func gunzipAppend(dst, src []byte, maxBytes int) ([]byte, error) {
	gr, _ := gzipReaderPool.Get().(*gzipReader)
	if gr == nil {
		gr = new(gzipReader)
	}
	defer func() {
		gr.src.Reset(nil) // drop the reference to src before pooling
		gzipReaderPool.Put(gr)
	}()
	gr.src.Reset(src)
	if err := gr.zr.Reset(&gr.src); err != nil {
		return dst, decodeErr(CompressionGzip, maxBytes, err)
	}
	// The gzip trailer's ISIZE is the decompressed size mod 2^32; use it as
	// a hint only.
	hint := 0
	if len(src) >= 4 {
		hint = int(binary.LittleEndian.Uint32(src[len(src)-4:]))
	}
	dst, err := readLimit(dst, &gr.zr, maxBytes, hint, len(src))
	if err != nil {
		return dst, decodeErr(CompressionGzip, maxBytes, err)
	}
	return dst, nil
}

var gzipWriterPool sync.Pool

type gzipWriter struct {
	out appendWriter
	zw  *gzip.Writer
}

func gzipAppend(dst, src []byte) ([]byte, error) {
	gw, _ := gzipWriterPool.Get().(*gzipWriter)
	if gw == nil {
		gw = new(gzipWriter)
		gw.zw = gzip.NewWriter(&gw.out)
	}
	defer func() {
		gw.out.b = nil
		gzipWriterPool.Put(gw)
	}()
	gw.out.b = dst
	gw.zw.Reset(&gw.out)
	if _, err := gw.zw.Write(src); err != nil {
		return dst, fmt.Errorf("logstore: gzip compression: %w", err)
	}
	if err := gw.zw.Close(); err != nil {
		return dst, fmt.Errorf("logstore: gzip compression: %w", err)
	}
	return gw.out.b, nil
}

// --- snappy

func unsnappyAppend(dst, src []byte, maxBytes int) ([]byte, error) {
	if !bytes.HasPrefix(src, xerialHeader[:8]) {
		return unsnappyBlock(dst, src, maxBytes, 0)
	}
	// Xerial framing. The version fields are not checked: every writer
	// uses 1, and readers (xerial's own, sarama's) ignore them.
	if len(src) < xerialHeaderSize {
		return dst, Corruptf("snappy: xerial header needs %d bytes, have %d", xerialHeaderSize, len(src))
	}
	start := len(dst)
	var err error
	for pos := xerialHeaderSize; pos < len(src); {
		if len(src)-pos < 4 {
			return dst, Corruptf("snappy: truncated xerial block length at byte %d", pos)
		}
		n := int32(binary.BigEndian.Uint32(src[pos:]))
		pos += 4
		if n <= 0 || int(n) > len(src)-pos {
			return dst, Corruptf("snappy: xerial block at byte %d has length %d, %d bytes left", pos-4, n, len(src)-pos)
		}
		dst, err = unsnappyBlock(dst, src[pos:pos+int(n)], maxBytes, len(dst)-start)
		if err != nil {
			return dst, err
		}
		pos += int(n)
	}
	return dst, nil
}

// unsnappyBlock appends the decoding of one raw snappy block to dst; done is
// how much of the maxBytes budget earlier blocks used. A block starts with
// its decoded length, so the bound is checked before anything is allocated.
func unsnappyBlock(dst, block []byte, maxBytes, done int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return dst, Corruptf("snappy: %w", err)
	}
	if n > maxBytes-done {
		return dst, tooLarge(CompressionSnappy, maxBytes)
	}
	l := len(dst)
	dst = grow(dst, n)
	out, err := snappy.Decode(dst[l:l+n], block)
	if err != nil {
		return dst[:l], Corruptf("snappy: %w", err)
	}
	if len(out) != n {
		return dst[:l], Corruptf("snappy: block decoded to %d bytes, header says %d", len(out), n)
	}
	return dst, nil
}

// grow extends dst by n bytes, reallocating if needed.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst[:len(dst)+n]
	}
	return append(dst, make([]byte, n)...)
}

func snappyAppend(dst, src []byte) []byte {
	dst = append(dst, xerialHeader...)
	for len(src) > 0 {
		chunk := src
		if len(chunk) > xerialBlockSize {
			chunk = chunk[:xerialBlockSize]
		}
		src = src[len(chunk):]
		l := len(dst)
		dst = grow(dst, 4+snappy.MaxEncodedLen(len(chunk)))
		enc := snappy.Encode(dst[l+4:], chunk)
		binary.BigEndian.PutUint32(dst[l:], uint32(len(enc)))
		dst = dst[:l+4+len(enc)]
	}
	return dst
}

// --- lz4

var lz4ReaderPool sync.Pool

type lz4Reader struct {
	src bytes.Reader
	zr  *lz4.Reader
}

func unlz4Append(dst, src []byte, maxBytes int) ([]byte, error) {
	lr, _ := lz4ReaderPool.Get().(*lz4Reader)
	if lr == nil {
		lr = &lz4Reader{zr: lz4.NewReader(nil)}
	}
	defer func() {
		lr.zr.Reset(nil) // returns its block buffer to lz4's pool
		lr.src.Reset(nil)
		lz4ReaderPool.Put(lr)
	}()
	lr.src.Reset(src)
	lr.zr.Reset(&lr.src)
	dst, err := readLimit(dst, lr.zr, maxBytes, 0, len(src))
	if err != nil {
		return dst, decodeErr(CompressionLZ4, maxBytes, err)
	}
	return dst, nil
}

var lz4WriterPool sync.Pool

type lz4Writer struct {
	out appendWriter
	zw  *lz4.Writer
}

func lz4Append(dst, src []byte) ([]byte, error) {
	lw, _ := lz4WriterPool.Get().(*lz4Writer)
	if lw == nil {
		lw = new(lz4Writer)
		lw.zw = lz4.NewWriter(&lw.out)
		// What KafkaLZ4BlockOutputStream writes: 64 KiB independent
		// blocks, no content checksum (the batch CRC covers the bytes).
		if err := lw.zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false)); err != nil {
			return dst, fmt.Errorf("logstore: lz4 options: %w", err)
		}
	}
	defer func() {
		lw.out.b = nil
		lz4WriterPool.Put(lw)
	}()
	lw.out.b = dst
	lw.zw.Reset(&lw.out)
	if _, err := lw.zw.Write(src); err != nil {
		return dst, fmt.Errorf("logstore: lz4 compression: %w", err)
	}
	if err := lw.zw.Close(); err != nil {
		return dst, fmt.Errorf("logstore: lz4 compression: %w", err)
	}
	return lw.out.b, nil
}

// --- zstd

// zstdEncoder is shared: EncodeAll is safe for concurrent use and keeps its
// own pool of encoder states (one per GOMAXPROCS), which are expensive to
// build (hundreds of KiB of tables each).
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		// An empty input still makes a valid frame, which every reader
		// decodes to nothing, rather than no bytes at all.
		zstd.WithZeroFrames(true))
	if err != nil {
		panic(fmt.Sprintf("logstore: zstd encoder options: %v", err)) // constant options: a programmer error
	}
	return enc
})

// zstdDecoderPool holds *zstdReader. Each decoder runs synchronously
// (concurrency 1: no goroutines to leak when the pool drops it) and streams,
// so readLimit can stop it at the bound; DecodeAll would decode a whole frame
// first.
var zstdDecoderPool sync.Pool

type zstdReader struct {
	src bytes.Reader // a *bytes.Reader, not a *bytes.Buffer: the latter makes Reset decode everything at once
	zd  *zstd.Decoder
}

func unzstdAppend(dst, src []byte, maxBytes int) ([]byte, error) {
	zr, _ := zstdDecoderPool.Get().(*zstdReader)
	if zr == nil {
		zd, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return dst, fmt.Errorf("logstore: zstd decoder: %w", err)
		}
		zr = &zstdReader{zd: zd}
	}
	defer func() {
		zr.src.Reset(nil)
		zstdDecoderPool.Put(zr)
	}()
	zr.src.Reset(src)
	if err := zr.zd.Reset(&zr.src); err != nil {
		return dst, decodeErr(CompressionZstd, maxBytes, err)
	}
	hint := 0
	var h zstd.Header
	if h.Decode(src) == nil && h.HasFCS && h.FrameContentSize < uint64(maxBytes) {
		hint = int(h.FrameContentSize) + 1 // +1: room to see the EOF without growing
	}
	dst, err := readLimit(dst, zr.zd, maxBytes, hint, len(src))
	if err != nil {
		return dst, decodeErr(CompressionZstd, maxBytes, err)
	}
	return dst, nil
}
