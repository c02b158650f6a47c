package logstore

// This file holds what the offset index (.index) and the time index
// (.timeindex) share: the file, its preallocation, the entry count, the lazy
// read-only mapping, binary search, truncation, resizing, renaming and
// closing. offset_index.go and time_index.go only add their entry layout and
// their append and sanity rules.
//
// Both files are arrays of fixed-size big-endian entries, exactly as Kafka
// writes them, so that Kafka's tools can read ours and a Kafka log directory
// can be loaded by Gregor:
//
//	.index      8 bytes per entry:  int32 relative offset, int32 position in the .log
//	.timeindex 12 bytes per entry:  int64 timestamp,      int32 relative offset
//
// The relative offset is the offset minus the segment's base offset. Neither
// file has a header or a checksum: after a crash an index past the recovery
// point is rebuilt from its .log, as in Kafka.
//
// # Life of an index file
//
// The active segment's index is created preallocated to log.index.size.max.bytes
// (10 MiB by default), rounded down to a whole number of entries, as a sparse
// file: File.Truncate extends it without allocating blocks, so a broker with
// 1,000 partitions does not reserve 20 GiB of disk for two mostly empty
// indexes each. Entries fill the file from the front; the count of valid
// entries lives in memory. When the segment rolls or closes the file is
// trimmed to its valid entries (TrimToValidSize), so that on the next start
// the number of entries is simply the file size divided by the entry size.
// A trimmed index is therefore full; Resize makes it appendable again when a
// segment becomes active once more.
//
// # Appends go through pwrite, lookups through a read-only mapping
//
// Kafka writes index entries through a writable shared mapping. We do not:
// a store into a shared mapping of a sparse file must allocate a block in
// the page fault, and when the disk is full the kernel answers the fault
// with SIGBUS. The Go runtime makes that a fatal error (unless the goroutine
// set debug.SetPanicOnFault), so a full disk would crash the whole broker
// instead of taking one log directory offline. File.WriteAt (pwrite) hits
// the same condition as an ordinary ENOSPC error, which we wrap with
// storageErr so that it matches ErrStorage and the log goes offline cleanly.
// An append is one 8- or 12-byte pwrite every log.index.interval.bytes
// (4 KiB) of log, about a microsecond per 4 KiB appended, which is noise
// next to the append itself.
//
// Recovery is different: it rebuilds both indexes while it reads the log at
// page-cache speed, and one pwrite per entry took 45% of its CPU time in
// BenchmarkRecovery (two syscalls per 16 KiB batch, against one 1 MiB read
// per 64 batches).
// Segment.recover therefore buffers its appends (bufferAppends): the entries
// are counted at once and written indexWriteBufferBytes at a time, and all
// of them before recover returns. Nothing looks the index up meanwhile.
//
// Lookups read through a PROT_READ, MAP_SHARED mapping of the whole file.
// Linux has a unified page cache, so an entry written with pwrite is visible
// through the mapping at once, with no msync. Reading a hole of the sparse
// file through the mapping yields zeros, never SIGBUS, and the mapping never
// extends past the end of the file (every shrink unmaps first). A lookup can
// still crash the broker in two ways, the risk every mmap reader takes,
// Kafka included: a read error from the disk on a page no longer cached, or
// another process truncating the file under us.
//
// The mapping is made lazily, on the first lookup, and dropped on Close,
// Resize and TrimToValidSize (the next lookup maps the new size). A broker
// with thousands of segments only maps the indexes that are read, mostly
// those of active segments, which keeps both the number of mappings (each
// one a VMA counted against vm.max_map_count) and the resident set small.
// If the mapping cannot be made, lookups fall back to one ReadAt per probe.
// We advise MADV_RANDOM on the mapping: a binary search touches scattered
// pages, and on a fault in a cold index the kernel's default read-around
// reads up to 128 KiB (read_ahead_kb) around each probe: for the dozen
// distinct pages a lookup in a full 10 MiB index touches, up to 1.5 MiB of
// disk reads instead of 48 KiB.
//
// # Binary search with a warm section
//
// Most lookups are for offsets near the end of the active segment: followers
// and consumers that keep up fetch what was just appended. A plain binary
// search over a full 1.3-million-entry offset index probes entries in about
// 12 different pages for such a target (at 1/2, 3/4, 7/8, ... of the file)
// before its range fits in one page. Like Kafka's AbstractIndex, we first
// compare the target with the start of the last 8 KiB of entries (the warm
// section, 1,024 offset entries or 682 time entries) and search only there
// when the target is in it, so tail lookups touch the last two or three
// pages of the file, which appends keep in the page cache anyway. Older
// pages may then be evicted without slowing the common case, and the
// resident set of a mapped index stays small: see warmSectionBytes for the
// measured figures. Lookups of older offsets cost one extra probe.
//
// # Concurrency
//
// An index is not safe for concurrent use: the owning Log's RWMutex guards
// it. Appends, truncation, resizing, renaming and closing run under the
// write lock. Lookups (Lookup, Entry, LastEntry, LastOffset, Entries, ...)
// only read and may run concurrently with each other under the read lock;
// the one thing they may change, the lazily created mapping, is guarded by
// its own mutex and published through an atomic pointer.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

const (
	// maxIndexEntrySize is the largest entry of any index, the time index's.
	maxIndexEntrySize = 12

	// warmSectionBytes is the size of the tail of an index that lookups
	// search first (see the file comment). Kafka uses the same 8 KiB: two
	// pages, so small that a segment's warm section costs nothing to keep
	// cached, and large enough to cover the entries of the last 4 MiB of log
	// at the default index interval of 4 KiB (1,024 offset entries), which
	// is where caught-up fetches land.
	//
	// Measured on Linux 6.18 and ext4, with a full 10 MiB offset index
	// built by Append (1,310,720 entries) and 100,000 lookups of targets
	// among its last 1,000 entries: a plain binary search left 512 KiB of
	// the mapping resident (the scattered probe pages, each with the
	// kernel's 64 KiB fault-around), the warm section 64 KiB. For 1,000
	// partitions whose active segments are near their roll, that is about
	// 500 MiB of resident set against 63 MiB, with a target of 300 MiB for
	// the whole broker.
	warmSectionBytes = 8192

	// indexWriteBufferBytes is how many bytes of buffered entries a
	// rebuilding index collects before it writes them: 8,192 offset entries,
	// the index of 32 MiB of log at the default interval.
	indexWriteBufferBytes = 64 << 10
)

// indexField locates one big-endian signed integer inside an index entry.
type indexField struct {
	offset int // byte offset inside the entry
	width  int // 4 or 8 bytes
}

func (f indexField) read(entry []byte) int64 {
	if f.width == 4 {
		return int64(int32(binary.BigEndian.Uint32(entry[f.offset:])))
	}
	return int64(binary.BigEndian.Uint64(entry[f.offset:]))
}

// IndexAppendError is an index append that breaks the index's ordering: an
// offset below the base offset, too far above it for a 32-bit relative
// offset, or not above the last entry's; a timestamp below the last entry's.
// It is a bug in the caller, not corruption: it does not match ErrCorrupt,
// and nothing was written.
type IndexAppendError struct {
	Path   string
	Reason string
}

func (e *IndexAppendError) Error() string {
	return "logstore: invalid append to index " + e.Path + ": " + e.Reason
}

// indexFile is the machinery shared by OffsetIndex and TimeIndex, which embed
// it; its exported methods are theirs. See the file comment for the design
// and the concurrency contract.
type indexFile struct {
	fsys       FS
	entrySize  int   // bytes per entry; immutable
	baseOffset int64 // the segment's base offset; immutable

	// The fields below change only under the owning Log's write lock.
	path       string
	file       File
	entries    int                     // valid entries, in [0, maxEntries]
	maxEntries int                     // file length / entrySize
	lastEntry  [maxIndexEntrySize]byte // copy of entry entries-1; zeros when empty
	closed     bool
	// maxIndexSize is the size Reset preallocates the file to: the one
	// given to open, or to the last Resize. TrimToValidSize leaves it.
	maxIndexSize int
	scratch      [maxIndexEntrySize]byte // what appendEntry writes, so that an append does not allocate
	// buffered holds the last entries appended while buffering, counted in
	// entries and lastEntry but not yet written; nil when not buffering.
	buffered []byte

	mapMu     sync.Mutex             // serialises making the mapping under concurrent lookups
	mapping   atomic.Pointer[[]byte] // read-only view of the whole file; nil until a lookup needs it
	noMapping atomic.Bool            // mmap failed: lookups use ReadAt until the file is resized
}

// open opens the index file at path, creating it preallocated to
// maxIndexSize (rounded down to whole entries) if it does not exist. An
// existing file is taken as it is: all its entries are valid, none is added
// (see Resize).
func (ix *indexFile) open(fsys FS, path string, baseOffset int64, maxIndexSize, entrySize int) error {
	ix.fsys, ix.path, ix.baseOffset, ix.entrySize = fsys, path, baseOffset, entrySize
	ix.maxIndexSize = maxIndexSize
	if baseOffset < 0 {
		return fmt.Errorf("logstore: open index %s: negative base offset %d", path, baseOffset)
	}
	file, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	switch {
	case err == nil:
		return ix.preallocate(file, maxIndexSize)
	case errors.Is(err, fs.ErrExist):
		file, err = fsys.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return storageErr("open index "+path, err)
		}
		return ix.load(file)
	default:
		return storageErr("create index "+path, err)
	}
}

func (ix *indexFile) preallocate(file File, maxIndexSize int) error {
	size := maxIndexSize / ix.entrySize * ix.entrySize
	if size < ix.entrySize {
		err := fmt.Errorf("logstore: create index %s: max index size %d is smaller than one %d-byte entry", ix.path, maxIndexSize, ix.entrySize)
		return ix.abandon(file, err)
	}
	if err := file.Truncate(int64(size)); err != nil {
		return ix.abandon(file, storageErr("preallocate index "+ix.path, err))
	}
	ix.file, ix.maxEntries = file, size/ix.entrySize
	return nil
}

// abandon closes and removes the file open just created, and returns err.
func (ix *indexFile) abandon(file File, err error) error {
	file.Close()
	ix.fsys.Remove(ix.path)
	return err
}

func (ix *indexFile) load(file File) error {
	info, err := file.Stat()
	if err != nil {
		file.Close()
		return storageErr("stat index "+ix.path, err)
	}
	size := info.Size()
	if size%int64(ix.entrySize) != 0 || size/int64(ix.entrySize) > math.MaxInt32 {
		file.Close()
		return Corruptf("index %s has %d bytes, not a whole number of %d-byte entries", ix.path, size, ix.entrySize)
	}
	ix.file = file
	ix.entries = int(size / int64(ix.entrySize))
	ix.maxEntries = ix.entries
	if ix.entries > 0 {
		if err := ix.readEntry(ix.entries-1, ix.lastEntry[:ix.entrySize]); err != nil {
			file.Close()
			return storageErr("read index "+ix.path, err)
		}
	}
	return nil
}

// BaseOffset is the base offset of the index's segment.
func (ix *indexFile) BaseOffset() int64 { return ix.baseOffset }

// Path is the file's current name.
func (ix *indexFile) Path() string { return ix.path }

// Entries is the number of valid entries.
func (ix *indexFile) Entries() int { return ix.entries }

// MaxEntries is the number of entries the file has room for.
func (ix *indexFile) MaxEntries() int { return ix.maxEntries }

// SizeInBytes is the size of the valid entries, what the file is trimmed to.
func (ix *indexFile) SizeInBytes() int { return ix.entries * ix.entrySize }

// appendEntry writes entry (entrySize bytes) after the last valid one. The
// caller has checked the ordering and that there is room. On failure nothing
// changes: a torn entry past the valid ones is overwritten by the next append.
func (ix *indexFile) appendEntry(entry []byte) error {
	if ix.entries >= ix.maxEntries {
		return fmt.Errorf("append to index %s with %d entries: %w", ix.path, ix.entries, ErrIndexFull)
	}
	if ix.buffered != nil {
		ix.buffered = append(ix.buffered, entry...)
		copy(ix.lastEntry[:], entry)
		ix.entries++
		if len(ix.buffered) >= indexWriteBufferBytes {
			return ix.writeBuffered()
		}
		return nil
	}
	// A slice of entry itself would escape through the File interface.
	write := ix.scratch[:copy(ix.scratch[:], entry)]
	if _, err := ix.file.WriteAt(write, int64(ix.entries)*int64(ix.entrySize)); err != nil {
		return storageErr("append to index "+ix.path, err)
	}
	copy(ix.lastEntry[:], entry)
	ix.entries++
	return nil
}

// bufferAppends makes appends collect entries in memory and write them
// indexWriteBufferBytes at a time (see the file comment). The entries count
// at once, but lookups and reads would not see them in the file: the caller
// must not look the index up, truncate, resize or close it before
// endBufferedAppends.
func (ix *indexFile) bufferAppends() {
	ix.buffered = make([]byte, 0, indexWriteBufferBytes+maxIndexEntrySize)
}

// endBufferedAppends writes the buffered entries and makes appends write
// each entry again. If the write fails, the entries not written are dropped
// from the index.
func (ix *indexFile) endBufferedAppends() error {
	if ix.buffered == nil {
		return nil
	}
	err := ix.writeBuffered()
	ix.buffered = nil
	return err
}

// writeBuffered writes the buffered entries after the ones in the file.
func (ix *indexFile) writeBuffered() error {
	if len(ix.buffered) == 0 {
		return nil
	}
	first := ix.entries - len(ix.buffered)/ix.entrySize
	_, err := ix.file.WriteAt(ix.buffered, int64(first)*int64(ix.entrySize))
	ix.buffered = ix.buffered[:0]
	if err != nil {
		err = storageErr("append to index "+ix.path, err)
		return errors.Join(err, ix.truncateToEntries(first))
	}
	return nil
}

// truncateToEntries keeps the first n entries; n >= Entries() changes
// nothing. The bytes past the new end stay in the file until appends
// overwrite them or a trim removes them, as in Kafka.
func (ix *indexFile) truncateToEntries(n int) error {
	if ix.closed {
		return ix.closedErr("truncate")
	}
	if n >= ix.entries {
		return nil
	}
	var last [maxIndexEntrySize]byte
	if n > 0 {
		if err := ix.readEntry(n-1, last[:ix.entrySize]); err != nil {
			return storageErr("read index "+ix.path, err)
		}
	}
	ix.entries, ix.lastEntry = n, last
	return nil
}

// Reset removes every entry and, as in Kafka, resizes the file to the
// maxIndexSize given to open or to the last Resize, so that an index being
// rebuilt from its segment has room even if it had been trimmed.
func (ix *indexFile) Reset() error {
	if err := ix.truncateToEntries(0); err != nil {
		return err
	}
	if ix.maxIndexSize < ix.entrySize {
		return nil // opened without a usable size: keep the file as it is
	}
	return ix.resize(ix.maxIndexSize)
}

// TrimToValidSize truncates the file to its valid entries, which makes the
// index full. The segment calls it when it rolls and before a clean close,
// so that the next start counts entries from the file size.
func (ix *indexFile) TrimToValidSize() error { return ix.resize(ix.SizeInBytes()) }

// Resize sets the file length to maxIndexSize rounded down to whole entries,
// keeping the entries: the log calls it to make the index of a segment that
// becomes active again appendable. Growing extends the sparse file without
// allocating blocks. It is an error to shrink below the valid entries.
func (ix *indexFile) Resize(maxIndexSize int) error {
	if err := ix.resize(maxIndexSize); err != nil {
		return err
	}
	ix.maxIndexSize = maxIndexSize
	return nil
}

func (ix *indexFile) resize(maxIndexSize int) error {
	if ix.closed {
		return ix.closedErr("resize")
	}
	newMax := maxIndexSize / ix.entrySize
	if maxIndexSize < 0 || newMax < ix.entries {
		return fmt.Errorf("logstore: resize index %s to %d bytes: below its %d entries", ix.path, maxIndexSize, ix.entries)
	}
	if newMax == ix.maxEntries {
		return nil
	}
	// The mapping must go before the file shrinks: touching a mapped page
	// past the end of a file raises SIGBUS. The next lookup maps anew.
	ix.unmap()
	if err := ix.file.Truncate(int64(newMax) * int64(ix.entrySize)); err != nil {
		return storageErr("resize index "+ix.path, err)
	}
	ix.maxEntries = newMax
	return nil
}

// RenameTo renames the file, for the .deleted, .cleaned and .swap suffixes
// of segment deletion and log cleaning. The index stays usable: the open
// file and its mapping are unaffected by the rename. It does not fsync the
// directory; the caller does so once for all the files of a segment when the
// new name must survive a crash. On failure the index keeps its old path.
func (ix *indexFile) RenameTo(path string) error {
	if err := ix.fsys.Rename(ix.path, path); err != nil {
		return storageErr("rename index "+ix.path, err)
	}
	ix.path = path
	return nil
}

// Flush fsyncs the file. The log runs it without its lock, concurrently with
// appends and renames, so it reads neither the entries nor the current path:
// only the file, fixed at open (its Name is the path it was opened with).
// Close runs under the log's flush lock, never concurrently with Flush.
func (ix *indexFile) Flush() error {
	if ix.closed {
		return ix.closedErr("flush")
	}
	return storageErr("fsync index "+ix.file.Name(), ix.file.Sync())
}

// Close unmaps and closes the file. It does not trim it: call
// TrimToValidSize first on a clean close. Closing twice is harmless; every
// later call that can fail returns ErrClosed, and lookups on a closed index
// answer the start of the segment, which is always a correct place to begin
// a scan.
func (ix *indexFile) Close() error {
	if ix.closed {
		return nil
	}
	ix.closed = true
	ix.unmap()
	return storageErr("close index "+ix.path, ix.file.Close())
}

func (ix *indexFile) closedErr(op string) error {
	return fmt.Errorf("%s index %s: %w", op, ix.path, ErrClosed)
}

// view returns the read-only mapping of the file, making it on first use, or
// nil when the index cannot be mapped (lookups then use ReadAt). Safe for
// concurrent callers under the Log's read lock.
func (ix *indexFile) view() []byte {
	if m := ix.mapping.Load(); m != nil {
		return *m
	}
	if ix.noMapping.Load() || ix.closed {
		return nil
	}
	ix.mapMu.Lock()
	defer ix.mapMu.Unlock()
	if m := ix.mapping.Load(); m != nil {
		return *m
	}
	if ix.noMapping.Load() {
		return nil
	}
	size := ix.maxEntries * ix.entrySize
	if size == 0 {
		return nil // nothing to map, and mmap refuses a zero length
	}
	data, err := unix.Mmap(int(ix.file.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		ix.noMapping.Store(true)
		return nil
	}
	// Advice only; a failure changes nothing but readahead.
	_ = unix.Madvise(data, unix.MADV_RANDOM)
	ix.mapping.Store(&data)
	return data
}

// unmap drops the mapping, if any. Called under the Log's write lock, so no
// lookup holds the slice.
func (ix *indexFile) unmap() {
	ix.noMapping.Store(false)
	if m := ix.mapping.Swap(nil); m != nil {
		// Munmap fails only for an invalid range, which ours never is.
		_ = unix.Munmap(*m)
	}
}

// currentView returns the mapping if there is one, without making one.
func (ix *indexFile) currentView() []byte {
	if m := ix.mapping.Load(); m != nil {
		return *m
	}
	return nil
}

// readBuffer returns what entryBytes needs to read an entry with ReadAt when
// there is no view: nothing when there is one, so the mapped path does not
// allocate.
func (ix *indexFile) readBuffer(view []byte) []byte {
	if view != nil {
		return nil
	}
	return make([]byte, ix.entrySize)
}

// entryBytes returns entry n: a slice of view when view is not nil, valid
// until the Log's write lock is next taken; otherwise read with ReadAt into
// buf (entrySize bytes).
func (ix *indexFile) entryBytes(view []byte, n int, buf []byte) ([]byte, error) {
	if view != nil {
		return view[n*ix.entrySize : (n+1)*ix.entrySize], nil
	}
	if _, err := ix.file.ReadAt(buf[:ix.entrySize], int64(n)*int64(ix.entrySize)); err != nil {
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF // the file is shorter than its entries
		}
		return nil, err
	}
	return buf[:ix.entrySize], nil
}

// readEntry copies entry n into buf (entrySize bytes), from the mapping if
// there is one and otherwise with ReadAt. It never makes a mapping, so that
// opening, checking and truncating an index does not map it.
func (ix *indexFile) readEntry(n int, buf []byte) error {
	entry, err := ix.entryBytes(ix.currentView(), n, buf)
	if err != nil {
		return err
	}
	copy(buf, entry)
	return nil
}

// entry returns entry n for the exported Entry methods, which panic on an
// n out of range as slice indexing does, or nil when the entry cannot be
// read: the index is closed or the read failed.
func (ix *indexFile) entry(n int) []byte {
	if n < 0 || n >= ix.entries {
		panic(fmt.Sprintf("logstore: entry %d of index %s, which has %d entries", n, ix.path, ix.entries))
	}
	if ix.closed {
		return nil
	}
	view := ix.currentView()
	entry, err := ix.entryBytes(view, n, ix.readBuffer(view))
	if err != nil {
		return nil
	}
	return entry
}

// lookup returns the last entry whose field is <= target, or nil when there
// is none or the entries cannot be read. nil is always a safe answer for a
// lookup: the caller then scans from the start of the segment. It reads
// through the mapping, making it if needed: this is the lookup path, and it
// does not allocate when the index is mapped.
func (ix *indexFile) lookup(field indexField, target int64) []byte {
	if ix.closed || ix.entries == 0 {
		return nil
	}
	view := ix.view()
	buf := ix.readBuffer(view)
	slot, err := ix.search(view, buf, field, target)
	if err != nil || slot < 0 {
		return nil
	}
	entry, err := ix.entryBytes(view, slot, buf)
	if err != nil {
		return nil
	}
	return entry
}

// search returns the slot of the last entry whose field is <= target, or -1,
// assuming the field does not decrease from one entry to the next. On a
// corrupt index whose fields are not sorted it returns some slot in range,
// and never panics. It reads through view, or with ReadAt into buf when view
// is nil.
func (ix *indexFile) search(view, buf []byte, field indexField, target int64) (int, error) {
	// Find the first slot in [lo, hi) whose field is above target.
	lo, hi := 0, ix.entries
	if warm := ix.entries - warmSectionBytes/ix.entrySize; warm > 0 {
		entry, err := ix.entryBytes(view, warm, buf)
		if err != nil {
			return -1, err
		}
		if field.read(entry) <= target {
			lo = warm + 1
		} else {
			hi = warm
		}
	}
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		entry, err := ix.entryBytes(view, mid, buf)
		if err != nil {
			return -1, err
		}
		if field.read(entry) <= target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1, nil
}

// truncateToOffset removes the entries whose offset, held in field as an
// offset relative to the base, is at or above offset, for TruncateTo. The
// time index may repeat an offset, so this keeps the entries below offset
// rather than cutting after the last one at or below it. It uses the
// mapping if there is one but does not make one.
func (ix *indexFile) truncateToOffset(field indexField, offset int64) error {
	if ix.closed {
		return ix.closedErr("truncate")
	}
	if offset <= ix.baseOffset {
		return ix.truncateToEntries(0)
	}
	view := ix.currentView()
	slot, err := ix.search(view, ix.readBuffer(view), field, offset-ix.baseOffset-1)
	if err != nil {
		return storageErr("read index "+ix.path, err)
	}
	return ix.truncateToEntries(slot + 1)
}

// edgeEntries reads the entries SanityCheck looks at: the first, the one
// before the last (nil with fewer than two entries) and the last. All are
// nil for an empty index. It does not make a mapping, so that checking the
// indexes of every segment at load maps none of them.
func (ix *indexFile) edgeEntries() (first, previous, last []byte, err error) {
	if ix.closed {
		return nil, nil, nil, ix.closedErr("check")
	}
	if ix.entries == 0 {
		return nil, nil, nil, nil
	}
	buf := make([]byte, 2*ix.entrySize)
	first, last = buf[:ix.entrySize], ix.lastEntry[:ix.entrySize]
	if err := ix.readEntry(0, first); err != nil {
		return nil, nil, nil, storageErr("read index "+ix.path, err)
	}
	if ix.entries >= 2 {
		previous = buf[ix.entrySize:]
		if err := ix.readEntry(ix.entries-2, previous); err != nil {
			return nil, nil, nil, storageErr("read index "+ix.path, err)
		}
	}
	return first, previous, last, nil
}

// relativeOffset converts an absolute offset to the index's 32-bit relative
// form, or explains why it cannot.
func (ix *indexFile) relativeOffset(offset int64) (int32, error) {
	if offset < ix.baseOffset || offset-ix.baseOffset > math.MaxInt32 {
		return 0, &IndexAppendError{Path: ix.path, Reason: fmt.Sprintf("offset %d does not fit a 32-bit offset relative to base offset %d", offset, ix.baseOffset)}
	}
	return int32(offset - ix.baseOffset), nil
}
