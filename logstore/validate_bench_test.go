package logstore

import "testing"

// BenchmarkValidateProducerBatch is ValidateBatch on the batches the append
// figures use (1 KiB records, uncompressed), split into its two costs: the
// CRC alone and the whole validation.
func BenchmarkValidateProducerBatch(b *testing.B) {
	for _, s := range appendBatchSizes {
		batch := producerBatch(b, s.bytes)
		b.Run(s.name+"/crc", func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := CheckBatch(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(s.name+"/validate", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				if _, err := ValidateBatch(batch, ValidateOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWalkRecords is the record walk alone on the append figures'
// batches.
func BenchmarkWalkRecords(b *testing.B) {
	for _, s := range appendBatchSizes {
		batch := producerBatch(b, s.bytes)
		h, _ := ParseBatchHeader(batch)
		b.Run(s.name, func(b *testing.B) {
			b.SetBytes(int64(len(batch)))
			c := recordChecks{baseTimestamp: h.BaseTimestamp}
			for b.Loop() {
				if _, ok := walkRecords(batch[BatchHeaderSize:], h.RecordCount, &c); !ok {
					b.Fatal("walk rejected the batch")
				}
			}
		})
	}
}
