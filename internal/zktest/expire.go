package zktest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ExpireSession makes the server at addr end the session sessionID, as if
// its timeout had passed: its ephemeral znodes are deleted and its client,
// on its next contact, is told the session has expired. It is the classic
// trick of ZooKeeper's own tests and Kafka's: connect a second time with the
// same session id and password (which moves the session to the new
// connection and drops the client's), then close the session from there.
//
// The client reconnects on its own after losing its connection and may win
// the session back before the close; so ExpireSession repeats until a
// connect with the session's id is answered "expired", or ctx ends (without
// a deadline in ctx it gives up after 10s).
func ExpireSession(ctx context.Context, addr string, sessionID int64) error {
	if sessionID == 0 {
		return errors.New("zktest: session id 0 is no session")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	password := sessionPassword(sessionID)
	for {
		alive, err := closeSession(ctx, addr, sessionID, password)
		if err == nil && !alive {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("the session was still alive")
			}
			return fmt.Errorf("zktest: expire session 0x%x on %s: %w (%v)", sessionID, addr, ctx.Err(), err)
		case <-time.After(pollInterval):
		}
	}
}

// ExpireSession ends the session on this server (see the package-level
// ExpireSession).
func (s *Server) ExpireSession(ctx context.Context, sessionID int64) error {
	return ExpireSession(ctx, s.Addr(), sessionID)
}

// closeSession connects with the session's credentials. If the server says
// the session does not exist, alive is false. Otherwise it sends
// closeSession and reports alive true: the caller checks again.
func closeSession(ctx context.Context, addr string, sessionID int64, password []byte) (alive bool, err error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	deadline := time.Now().Add(3 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return false, err
	}

	// ConnectRequest: protocolVersion int32, lastZxidSeen int64,
	// timeOut int32, sessionId int64, passwd buffer, readOnly bool.
	req := binary.BigEndian.AppendUint32(nil, 0)
	req = binary.BigEndian.AppendUint64(req, 0)
	req = binary.BigEndian.AppendUint32(req, 10000)
	req = binary.BigEndian.AppendUint64(req, uint64(sessionID))
	req = binary.BigEndian.AppendUint32(req, uint32(len(password)))
	req = append(req, password...)
	req = append(req, 0)
	if err := writeFrame(conn, req); err != nil {
		return false, err
	}
	// ConnectResponse: protocolVersion int32, timeOut int32, sessionId
	// int64, passwd buffer[, readOnly bool]. Session id 0 means expired.
	resp, err := readFrame(conn)
	if err != nil {
		return false, fmt.Errorf("read connect response: %w", err)
	}
	if len(resp) < 16 {
		return false, fmt.Errorf("connect response of %d bytes", len(resp))
	}
	if binary.BigEndian.Uint64(resp[8:16]) == 0 {
		return false, nil
	}

	// RequestHeader: xid int32, type int32; closeSession is type -11.
	closeReq := binary.BigEndian.AppendUint32(nil, 1)
	closeReq = binary.BigEndian.AppendUint32(closeReq, uint32(0xFFFFFFF5)) // -11
	if err := writeFrame(conn, closeReq); err != nil {
		return true, err
	}
	// ReplyHeader: xid int32, zxid int64, err int32. The server may also
	// just close the connection once the session is gone.
	if _, err := readFrame(conn); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return true, fmt.Errorf("read close response: %w", err)
	}
	return true, nil
}

func writeFrame(w io.Writer, payload []byte) error {
	_, err := w.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", size)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}

// sessionPassword is the password a ZooKeeper server gives the session id:
// ZooKeeperServer.generatePasswd fills 16 bytes from java.util.Random seeded
// with the id XOR the server's constant 0xB3415C00.
func sessionPassword(sessionID int64) []byte {
	r := newJavaRandom(sessionID ^ 0xB3415C00)
	p := make([]byte, 16)
	r.nextBytes(p)
	return p
}

// javaRandom is java.util.Random's 48-bit linear congruential generator, as
// its Javadoc specifies it.
type javaRandom struct{ seed int64 }

const (
	javaRandomMultiplier = 0x5DEECE66D
	javaRandomMask       = 1<<48 - 1
)

func newJavaRandom(seed int64) *javaRandom {
	return &javaRandom{seed: (seed ^ javaRandomMultiplier) & javaRandomMask}
}

// next returns the next bits pseudo-random bits (Random.next).
func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*javaRandomMultiplier + 0xB) & javaRandomMask
	return int32(r.seed >> (48 - bits))
}

// nextBytes fills b as Random.nextBytes does: each int from next(32)
// supplies up to four bytes, low byte first.
func (r *javaRandom) nextBytes(b []byte) {
	for i := 0; i < len(b); {
		rnd := r.next(32)
		for n := min(len(b)-i, 4); n > 0; n-- {
			b[i] = byte(rnd)
			i++
			rnd >>= 8
		}
	}
}
