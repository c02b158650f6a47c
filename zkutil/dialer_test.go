package zkutil

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestHandshakeDeadline(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	start := time.Now()
	c := &handshakeConn{Conn: client, limit: 100 * time.Millisecond, start: start}
	defer c.Close()

	// Before the answer, a far deadline, or none, is capped.
	if got := c.capped(time.Time{}); !got.Equal(start.Add(100 * time.Millisecond)) {
		t.Errorf("capped(no deadline) = %v, want the handshake limit", got)
	}
	near := start.Add(10 * time.Millisecond)
	if got := c.capped(near); !got.Equal(near) {
		t.Errorf("capped(an earlier deadline) = %v, want it unchanged", got)
	}
	if err := c.SetReadDeadline(start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	if _, err := c.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a silent server: Read = %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the read waited %v", d)
	}

	// Once the first frame (length 3, then 3 bytes) has been read,
	// deadlines pass through.
	c.start = time.Now() // a fresh limit for the frame to arrive within
	c.limit = 5 * time.Second
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	go server.Write([]byte{0, 0, 0, 3, 'a', 'b', 'c'})
	frame := make([]byte, 7)
	if _, err := io.ReadFull(c, frame[:4]); err != nil {
		t.Fatal(err)
	}
	if got := c.capped(time.Time{}); got.IsZero() {
		t.Error("the deadline was let through before the frame's body was read")
	}
	if _, err := io.ReadFull(c, frame[4:]); err != nil {
		t.Fatal(err)
	}
	if got := c.capped(time.Time{}); !got.IsZero() {
		t.Errorf("after the handshake, capped(no deadline) = %v, want no deadline", got)
	}
}
