package network

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fileResponse is a StreamedResponse whose body comes from a file, the
// way a zero-copy fetch response will send record bytes from a segment.
type fileResponse struct {
	kmsg.Response
	f      *os.File
	size   int64
	lie    int64 // added to the declared size
	writer atomic.Value
	closed atomic.Int32
}

func (r *fileResponse) BodySize() int64 { return r.size + r.lie }

func (r *fileResponse) WriteBody(w io.Writer) (int64, error) {
	r.writer.Store(w)
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	// io.Copy to a *net.TCPConn from an io.LimitedReader of an *os.File
	// is sendfile(2).
	return io.Copy(w, &io.LimitedReader{R: r.f, N: r.size})
}

func (r *fileResponse) Close() error { r.closed.Add(1); return nil }

// newFileResponse writes resp's body to a file and returns a streamed
// response that sends it from there.
func newFileResponse(t *testing.T, resp kmsg.Response) *fileResponse {
	t.Helper()
	body := resp.AppendTo(nil)
	f, err := os.Create(filepath.Join(t.TempDir(), "body"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if _, err := f.Write(body); err != nil {
		t.Fatal(err)
	}
	return &fileResponse{Response: resp, f: f, size: int64(len(body))}
}

func TestStreamedResponse(t *testing.T) {
	checkGoroutines(t)
	for _, v := range []int16{2, 9} { // response header v0 and v1
		t.Run("metadata v"+itoa(int(v)), func(t *testing.T) {
			var last atomic.Pointer[fileResponse]
			h := HandlerFunc(func(_ context.Context, req *Request, respond func(kmsg.Response)) error {
				resp, err := echoResponse(req)
				if err != nil {
					return err
				}
				streamed := newFileResponse(t, resp)
				last.Store(streamed)
				respond(streamed)
				return nil
			})
			cfg, _ := testConfig()
			ts := startServer(t, cfg, h)
			c := newTestClient(t, testClientConfig(ts.addr()))
			resp, err := c.Request(context.Background(), metadataRequest(v, "from-a-file"))
			if err != nil {
				t.Fatal(err)
			}
			if id := resp.(*kmsg.MetadataResponse).ClusterID; id == nil || *id != "from-a-file" {
				t.Fatalf("cluster id %v", id)
			}
			streamed := last.Load()
			if _, ok := streamed.writer.Load().(*net.TCPConn); !ok {
				t.Errorf("WriteBody got a %T, want the *net.TCPConn itself", streamed.writer.Load())
			}
			// Closed once written; the client may see the bytes first.
			waitFor(t, 5*time.Second, "the response to be closed", func() bool { return streamed.closed.Load() == 1 })
		})
	}
}

// TestStreamedResponseOfTheWrongSize: a body shorter than declared would
// desynchronise the stream; the connection is closed with an Error line.
func TestStreamedResponseOfTheWrongSize(t *testing.T) {
	checkGoroutines(t)
	var last atomic.Pointer[fileResponse]
	h := HandlerFunc(func(_ context.Context, req *Request, respond func(kmsg.Response)) error {
		resp, err := echoResponse(req)
		if err != nil {
			return err
		}
		streamed := newFileResponse(t, resp)
		streamed.lie = 1
		last.Store(streamed)
		respond(streamed)
		return nil
	})
	cfg, hook := testConfig()
	ts := startServer(t, cfg, h)
	rc := dialRaw(t, ts.addr())
	rc.send(1, apiVersions(3))
	if _, err := rc.readFrame(); !errors.Is(err, ErrTruncatedFrame) {
		t.Fatalf("read: %v, want a truncated frame", err)
	}
	lines := linesFor(hook, rc.localAddr())
	if len(lines) != 1 || lines[0].Level != logrus.ErrorLevel || !strings.Contains(lines[0].Message, "another size") {
		t.Fatalf("log lines: %v", lines)
	}
	waitFor(t, 5*time.Second, "the response to be closed", func() bool { return last.Load().closed.Load() == 1 })
}
