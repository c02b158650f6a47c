package logstore

import (
	"errors"
	"io"
)

// batchReader reads whole batches from a segment file sequentially through a
// buffer, for recovery and tools: one large read serves many small batches.
// A batch larger than the buffer gets a buffer of its own size, bounded by
// the bytes left in the file, so a garbage length field cannot make it
// allocate more than the file holds.
type batchReader struct {
	f    File
	size int64 // valid bytes in f

	buf    []byte
	bufPos int64 // file position of buf[0]
}

const batchReaderBufferSize = 1 << 20

func newBatchReader(f File, size int64) *batchReader {
	return &batchReader{f: f, size: size}
}

// next returns the batch at pos, including its 12-byte prefix. The slice is
// valid until the next call. A batch that is cut short by the end of the file,
// or whose length is smaller than a header, is reported as ErrCorrupt; its
// CRC is not checked here (CheckBatch does that).
func (r *batchReader) next(pos int64) ([]byte, error) {
	if pos+LogOverhead > r.size {
		return nil, Corruptf("%s: %d stray bytes at position %d", r.f.Name(), r.size-pos, pos)
	}
	prefix, err := r.window(pos, LogOverhead)
	if err != nil {
		return nil, err
	}
	length := int64(int32(uint32(prefix[8])<<24 | uint32(prefix[9])<<16 | uint32(prefix[10])<<8 | uint32(prefix[11])))
	if length < BatchHeaderSize-LogOverhead {
		return nil, Corruptf("%s: batch at position %d has length %d, less than a header", r.f.Name(), pos, length)
	}
	if pos+LogOverhead+length > r.size {
		return nil, Corruptf("%s: batch at position %d has length %d, past the end of the file (%d bytes)", r.f.Name(), pos, length, r.size)
	}
	return r.window(pos, int(LogOverhead+length))
}

// window returns n bytes at pos, refilling the buffer when they are not in it.
func (r *batchReader) window(pos int64, n int) ([]byte, error) {
	if pos >= r.bufPos && pos+int64(n) <= r.bufPos+int64(len(r.buf)) {
		off := pos - r.bufPos
		return r.buf[off : off+int64(n)], nil
	}
	want := max(n, batchReaderBufferSize)
	if left := r.size - pos; int64(want) > left {
		want = int(left)
	}
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	got, err := r.f.ReadAt(r.buf, pos)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, Corruptf("%s: file shorter than expected at position %d", r.f.Name(), pos)
		}
		return nil, storageErr("read segment", err)
	}
	r.buf, r.bufPos = r.buf[:got], pos
	return r.buf[:n], nil
}

// ScanBatches calls fn with each batch of a segment file in order, with its
// file position; the batch slice is valid only during the call. It stops at
// the end of the file, when fn returns false, or at the first batch that is
// torn or shorter than a header, which it reports as an error wrapping
// ErrCorrupt. CRCs are not checked: fn may call CheckBatch. Tools use it
// (gregor dump-log).
func ScanBatches(f File, size int64, fn func(pos int64, batch []byte) bool) error {
	r := newBatchReader(f, size)
	for pos := int64(0); pos < size; {
		batch, err := r.next(pos)
		if err != nil {
			return err
		}
		if !fn(pos, batch) {
			return nil
		}
		pos += int64(len(batch))
	}
	return nil
}
