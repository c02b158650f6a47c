package network

import (
	"context"
	"testing"
)

// BenchmarkRoundTrip measures a request through the inter-broker client,
// the loopback socket, the server's connection goroutine and a worker, and
// back: the fixed cost of the request path, without a real handler.
// Parallel runs pipeline on the client's one connection.
func BenchmarkRoundTrip(b *testing.B) {
	cfg, _ := testConfig()
	ts := startServer(b, cfg, echoHandler())
	c, err := NewClient(testClientConfig(ts.addr()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	req := apiVersions(3)
	if _, err := c.Request(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Request(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			req := apiVersions(3)
			for pb.Next() {
				if _, err := c.Request(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
