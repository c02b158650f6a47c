package logstore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkClean measures one full cleaning of a 16 MiB log of 1 MiB
// segments: 100-byte values in batches of 10 records, over 10,000 keys, so
// that most records go. The bytes per second are those of the log read
// (compressed, for lz4, whose batches hold many more records per byte).
func BenchmarkClean(b *testing.B) {
	for _, codec := range []Compression{CompressionNone, CompressionLZ4} {
		b.Run(codec.String(), func(b *testing.B) {
			cfg := DefaultLogConfig()
			cfg.Compact, cfg.Delete = true, false
			cfg.SegmentBytes = 1 << 20
			cfg.FileDeleteDelay = 0
			value := make([]byte, 100)
			var size int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				l, err := Open(Options{Dir: filepath.Join(b.TempDir(), "t-0"), TopicPartition: TopicPartition{Topic: "t"}, Config: cfg, CleanShutdown: true})
				if err != nil {
					b.Fatal(err)
				}
				key := 0
				for l.Size() < 16<<20 {
					recs := make([]Record, 10)
					for j := range recs {
						recs[j] = Record{Key: fmt.Appendf(nil, "key-%05d", key%10000), Value: value}
						key += 7
					}
					opts := NewBuildOptions()
					opts.Compression = codec
					opts.BaseTimestamp = time.Now().UnixMilli()
					batch, err := BuildBatch(opts, recs)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := l.Append(batch, AppendOptions{Origin: AppendOriginClient}); err != nil {
						b.Fatal(err)
					}
				}
				if err := l.Roll(); err != nil {
					b.Fatal(err)
				}
				l.SetHighWatermark(l.LogEndOffset())
				size = l.Size()
				b.StartTimer()
				res, err := l.Clean(-1, 128<<20)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if res.FirstDirty != l.LogEndOffset() {
					b.Fatalf("cleaned to %d of %d", res.FirstDirty, l.LogEndOffset())
				}
				b.ReportMetric(float64(res.BytesWritten)/float64(res.BytesRead), "written/read")
				l.Close()
			}
			b.SetBytes(size)
		})
	}
}
