package network

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// TestBadInput sends each kind of bad input on its own connection and
// checks that the server closes that connection, logs exactly one line
// naming the peer at the right level, and serves the next client.
func TestBadInput(t *testing.T) {
	checkGoroutines(t)
	cfg, hook := testConfig()
	cfg.SocketRequestMaxBytes = 1024
	ts := startServer(t, cfg, echoHandler())

	v1Header := func(key int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint32(b, 7)
		return binary.BigEndian.AppendUint16(b, 0xffff)
	}
	tests := []struct {
		name  string
		send  []byte
		level logrus.Level
		msg   string
	}{
		{
			name:  "garbage (an HTTP request: its first bytes as a length are far too large)",
			send:  []byte("GET / HTTP/1.1\r\nHost: broker\r\n\r\n"),
			level: logrus.WarnLevel, msg: "invalid frame size",
		},
		{
			name:  "garbage inside a well-sized frame",
			send:  frame([]byte{0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}),
			level: logrus.WarnLevel, msg: "unknown api key",
		},
		{
			name:  "frame length 2^31-1",
			send:  []byte{0x7f, 0xff, 0xff, 0xff, 0, 3},
			level: logrus.WarnLevel, msg: "invalid frame size",
		},
		{
			name:  "negative frame length",
			send:  []byte{0xff, 0xff, 0xff, 0xfe, 0, 3},
			level: logrus.WarnLevel, msg: "invalid frame size",
		},
		{
			name:  "frame one byte over socket.request.max.bytes",
			send:  binary.BigEndian.AppendUint32(nil, 1025),
			level: logrus.WarnLevel, msg: "invalid frame size",
		},
		{
			name:  "header truncated inside its frame",
			send:  frame([]byte{0, 3, 0}),
			level: logrus.WarnLevel, msg: "malformed request header",
		},
		{
			name:  "empty frame",
			send:  frame(nil),
			level: logrus.WarnLevel, msg: "malformed request header",
		},
		{
			name:  "client id longer than the frame",
			send:  frame([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 50, 'a'}),
			level: logrus.WarnLevel, msg: "malformed request header",
		},
		{
			name:  "unknown api key",
			send:  frame(append(v1Header(30000), 0, 0, 0, 0)),
			level: logrus.WarnLevel, msg: "unknown api key",
		},
		{
			name:  "frame cut short by the peer",
			send:  append(binary.BigEndian.AppendUint32(nil, 100), v1Header(3)...),
			level: logrus.InfoLevel, msg: "in the middle of a request",
		},
		{
			name:  "length cut short by the peer",
			send:  []byte{0, 0},
			level: logrus.InfoLevel, msg: "in the middle of a request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRaw(t, ts.addr())
			rc.write(tt.send)
			if tt.level == logrus.InfoLevel {
				_ = rc.Conn.(interface{ CloseWrite() error }).CloseWrite() // the peer hangs up
			}
			rc.expectClosed()
			lines := linesFor(hook, rc.localAddr())
			if len(lines) != 1 {
				t.Fatalf("%d log lines for the connection, want 1: %v", len(lines), lines)
			}
			if l := lines[0]; l.Level != tt.level || !strings.Contains(l.Message, tt.msg) || l.Data["listener"] != "PLAINTEXT" {
				t.Fatalf("logged %s %q %v, want %s containing %q", l.Level, l.Message, l.Data, tt.level, tt.msg)
			}

			next := dialRaw(t, ts.addr())
			next.send(1, apiVersions(3))
			next.recv(1, apiVersions(3))
		})
	}
	waitFor(t, 5*time.Second, "every connection to be released", func() bool { return ts.connCount() == 0 })
}
