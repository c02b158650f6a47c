//go:build linux

package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/gregor-broker/gregor/logstore"
	"golang.org/x/sys/unix"
)

// maxSendfileChunk bounds one sendfile(2) call; Linux moves at most
// 0x7ffff000 bytes per call anyway, and a non-blocking socket takes what
// its send buffer holds.
const maxSendfileChunk = 1 << 30

// sendRegion sends a region of a segment file to w: with sendfile(2) when
// w is a TCP connection and the file an *os.File (what logstore.OSFS
// opens), otherwise by copying. zeroCopy says which.
//
// The offset is explicit (sendfile's offset argument), never the file's
// own, which concurrent fetches of the same segment share. The socket is
// non-blocking: when its send buffer is full sendfile returns EAGAIN, the
// callback returns false, and Go's poller parks the goroutine until the
// socket is writable again or the write deadline passes. Each sendfile
// runs inside the file's RawConn.Control, which holds a reference on the
// descriptor so that a concurrent Close cannot let its number be reused by
// another file mid-call (see streamedFetchResponse).
func sendRegion(w io.Writer, r logstore.Region) (n int64, zeroCopy bool, err error) {
	tc, ok := w.(*net.TCPConn)
	if !ok {
		n, err = copyRegion(w, r)
		return n, false, err
	}
	sc, ok := r.File.(syscall.Conn)
	if !ok {
		n, err = copyRegion(w, r)
		return n, false, err
	}
	src, err := sc.SyscallConn()
	if err != nil {
		return 0, true, &segmentReadError{err}
	}
	dst, err := tc.SyscallConn()
	if err != nil {
		return 0, true, err
	}
	offset, remain := r.Position, r.Size
	var fileErr, sockErr error
	werr := dst.Write(func(outfd uintptr) bool {
		for remain > 0 {
			var n int
			var serr error
			cerr := src.Control(func(infd uintptr) {
				n, serr = unix.Sendfile(int(outfd), int(infd), &offset, int(min(remain, maxSendfileChunk)))
			})
			if cerr != nil {
				fileErr = cerr
				return true
			}
			if n > 0 {
				remain -= int64(n) // the kernel advanced offset by n
			}
			switch {
			case errors.Is(serr, unix.EAGAIN):
				return false // wait until the socket is writable
			case errors.Is(serr, unix.EINTR):
			case errors.Is(serr, unix.EPIPE), errors.Is(serr, unix.ECONNRESET), errors.Is(serr, unix.ENOTCONN):
				sockErr = serr
				return true
			case serr != nil:
				fileErr = serr
				return true
			case n == 0:
				// End of file before the region's end: the segment was
				// truncated after the region was read.
				fileErr = fmt.Errorf("%s ends before %d: %w", r.File.Name(), r.Position+r.Size, io.ErrUnexpectedEOF)
				return true
			}
		}
		return true
	})
	written := r.Size - remain
	switch {
	case werr != nil: // deadline, connection closed
		return written, true, werr
	case sockErr != nil:
		return written, true, &net.OpError{Op: "sendfile", Net: "tcp", Err: sockErr}
	case fileErr != nil:
		return written, true, &segmentReadError{fileErr}
	}
	return written, true, nil
}
