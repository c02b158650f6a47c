package logstore

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchRecords returns records of about recSize bytes each (an 8-byte key
// and a value of words drawn at random from a small vocabulary, which
// compresses about as well as typical JSON payloads, 3-5x) filling about
// total bytes of encoded records.
func benchRecords(total, recSize int) []Record {
	words := []string{"order", "id", "customer", "amount", "currency", "EUR", "status", "shipped",
		"timestamp", "2024-05-01T12:00:00Z", "sku", "quantity", "warehouse", "berlin", "true", "null"}
	rnd := rand.New(rand.NewPCG(7, 11))
	var recs []Record
	for size := 0; size < total; {
		v := make([]byte, 0, recSize)
		for len(v) < recSize-8 {
			v = append(v, words[rnd.IntN(len(words))]...)
			v = append(v, ' ')
		}
		r := Record{TimestampDelta: int64(len(recs)), Key: fmt.Appendf(nil, "k%07d", len(recs)), Value: v[:recSize-8]}
		size += len(AppendRecord(nil, r))
		recs = append(recs, r)
	}
	return recs
}

type benchBatch struct {
	name     string
	batch    []byte
	rawBytes int64 // size of the batch were it uncompressed: what SetBytes reports
}

// benchBatches are 16 KiB batches (the Java producer's default batch.size)
// of 1 KiB and 100-byte records, uncompressed and with each codec.
func benchBatches(b *testing.B, codecs ...Compression) []benchBatch {
	b.Helper()
	var out []benchBatch
	for _, recSize := range []int{1024, 100} {
		recs := benchRecords(16<<10, recSize)
		opts := NewBuildOptions()
		raw := mustBuild(b, opts, recs)
		for _, c := range codecs {
			opts.Compression = c
			name := fmt.Sprintf("%s/%dB-records", c, recSize)
			out = append(out, benchBatch{name: name, batch: mustBuild(b, opts, recs), rawBytes: int64(len(raw))})
		}
	}
	return out
}

// BenchmarkValidateBatch is the produce path's per-batch cost. SetBytes is
// the uncompressed batch size, so MB/s compare across codecs.
func BenchmarkValidateBatch(b *testing.B) {
	for _, bb := range benchBatches(b, allCodecs...) {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bb.rawBytes)
			opts := ValidateOptions{RequireKeys: true}
			for b.Loop() {
				if _, err := ValidateBatch(bb.batch, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecordIterator is the read path of the dump tool, coordinators
// and the cleaner: decompress (for compressed batches) and decode every
// record.
func BenchmarkRecordIterator(b *testing.B) {
	for _, bb := range benchBatches(b, CompressionNone, CompressionLZ4, CompressionZstd) {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(bb.rawBytes)
			for b.Loop() {
				it, err := NewRecordIterator(bb.batch)
				if err != nil {
					b.Fatal(err)
				}
				for it.Next() {
					_ = it.Record()
				}
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
			}
		})
	}
}

// BenchmarkCheckBatch is the recovery and follower-append cost: the CRC.
func BenchmarkCheckBatch(b *testing.B) {
	bb := benchBatches(b, CompressionNone)[0]
	b.ReportAllocs()
	b.SetBytes(int64(len(bb.batch)))
	for b.Loop() {
		if _, err := CheckBatch(bb.batch); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildBatch is the cost for the coordinators and the cleaner.
func BenchmarkBuildBatch(b *testing.B) {
	recs := benchRecords(16<<10, 100)
	for _, c := range []Compression{CompressionNone, CompressionLZ4, CompressionZstd} {
		b.Run(c.String(), func(b *testing.B) {
			opts := NewBuildOptions()
			opts.Compression = c
			b.ReportAllocs()
			b.SetBytes(int64(len(mustBuild(b, NewBuildOptions(), recs))))
			for b.Loop() {
				if _, err := BuildBatch(opts, recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
