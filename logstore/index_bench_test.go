package logstore

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchIndexSizes are index sizes in entries, up to a full 10 MiB offset
// index (log.index.size.max.bytes), 1,310,720 entries.
var benchIndexSizes = []int{64, 1024, 65536, 10 << 20 / offsetIndexEntrySize}

// openBenchOffsetIndex writes an offset index of n entries, offset 10i at
// position 1000i, and opens it.
func openBenchOffsetIndex(b *testing.B, fsys FS, n int) *OffsetIndex {
	b.Helper()
	buf := make([]byte, n*offsetIndexEntrySize)
	for i := range n {
		binary.BigEndian.PutUint32(buf[i*offsetIndexEntrySize:], uint32(10*i))
		binary.BigEndian.PutUint32(buf[i*offsetIndexEntrySize+4:], uint32(1000*i))
	}
	path := filepath.Join(b.TempDir(), "00000000000000000000.index")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.Fatal(err)
	}
	ix, err := OpenOffsetIndex(fsys, path, 0, len(buf))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	return ix
}

// benchTargets returns 4,096 lookup targets: anywhere in the index, or
// among its last 1,000 entries, where caught-up fetches land.
func benchTargets(n int, tail bool) []int64 {
	r := rand.New(rand.NewPCG(1, 2))
	targets := make([]int64, 4096)
	for i := range targets {
		if tail {
			targets[i] = int64(10*n - 1 - r.IntN(10*min(n, 1000)))
		} else {
			targets[i] = r.Int64N(int64(10 * n))
		}
	}
	return targets
}

// BenchmarkOffsetIndexLookup shows lookups are O(log n): from 64 entries to
// 1.3 million the cost grows by the extra probes only, and tail lookups stay
// in the warm section.
func BenchmarkOffsetIndexLookup(b *testing.B) {
	for _, n := range benchIndexSizes {
		for _, where := range []string{"random", "tail"} {
			b.Run(fmt.Sprintf("entries=%d/%s", n, where), func(b *testing.B) {
				ix := openBenchOffsetIndex(b, OSFS{}, n)
				targets := benchTargets(n, where == "tail")
				ix.Lookup(0) // map it before b.Loop starts the timer
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					target := targets[i%len(targets)]
					if got := ix.Lookup(target); got.Offset > target {
						b.Fatalf("Lookup(%d) = %+v", target, got)
					}
				}
			})
		}
	}
}

// BenchmarkOffsetIndexLookupReadAt is the fallback when the index cannot be
// mapped: one pread per probe.
func BenchmarkOffsetIndexLookupReadAt(b *testing.B) {
	n := benchIndexSizes[len(benchIndexSizes)-1]
	ix := openBenchOffsetIndex(b, noMmapFS{OSFS{}}, n)
	targets := benchTargets(n, false)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ix.Lookup(targets[i%len(targets)])
	}
}

func BenchmarkTimeIndexLookup(b *testing.B) {
	const n = 10 << 20 / timeIndexEntrySize // a full 10 MiB time index
	buf := make([]byte, n*timeIndexEntrySize)
	for i := range n {
		binary.BigEndian.PutUint64(buf[i*timeIndexEntrySize:], uint64(10*i))
		binary.BigEndian.PutUint32(buf[i*timeIndexEntrySize+8:], uint32(i))
	}
	path := filepath.Join(b.TempDir(), "00000000000000000000.timeindex")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.Fatal(err)
	}
	ix, err := OpenTimeIndex(OSFS{}, path, 0, len(buf))
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	targets := benchTargets(n, false)
	ix.Lookup(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ix.Lookup(targets[i%len(targets)])
	}
}

// BenchmarkOffsetIndexAppend is the cost of one entry, a pwrite of 8 bytes,
// paid once per log.index.interval.bytes (4 KiB) of appended log.
func BenchmarkOffsetIndexAppend(b *testing.B) {
	path := filepath.Join(b.TempDir(), "00000000000000000000.index")
	ix, err := OpenOffsetIndex(OSFS{}, path, 0, 10<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	b.ReportAllocs()
	b.SetBytes(offsetIndexEntrySize)
	for i := 0; b.Loop(); i++ {
		if ix.IsFull() {
			b.StopTimer()
			if err := ix.Reset(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if err := ix.Append(int64(ix.Entries()), int32(ix.Entries())); err != nil {
			b.Fatal(err)
		}
	}
}
