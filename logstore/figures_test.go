package logstore

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Each benchmark runs figureRounds times for figureBenchTime. Figures and
// their baselines alternate, so a burst of load on a shared machine tends to
// slow both sides of a ratio in the same round, and the median of the
// rounds' ratios drops the rounds in which it did not. Many short rounds
// pair the two sides more closely than a few long ones.
const (
	figureRounds    = 7
	figureBenchTime = "250ms"
)

// TestStorageFigures measures the storage engine's figures in one process
// and prints them as the markdown table of docs/BENCHMARKS.md: each figure,
// a baseline measured in the same run, their ratio, and whether the target
// holds. It runs the bench* functions of log_bench_test.go through
// testing.Benchmark.
//
// It measures and prints; it never fails because a target is missed, since
// a speed goal is checked by benchmarks, not by timed assertions in tests.
// `make bench` runs it.
func TestStorageFigures(t *testing.T) {
	if os.Getenv("GREGOR_FIGURES") != "1" {
		t.Skip("set GREGOR_FIGURES=1 to measure; run by make bench")
	}
	// testing.Benchmark takes its duration from -test.benchtime.
	benchTime := flag.Lookup("test.benchtime")
	defer benchTime.Value.Set(benchTime.Value.String())
	if err := benchTime.Value.Set(figureBenchTime); err != nil {
		t.Fatal(err)
	}
	var rows []figureRow
	for i, s := range appendBatchSizes {
		batch := producerBatch(t, s.bytes)
		rows = append(rows, figureRow{
			name:     fmt.Sprintf("Append, %s batches of %d 1 KiB records", sizeText(s.bytes), countRecords(t, batch)),
			figure:   &measurement{name: "append " + s.name, run: func(b *testing.B) { benchLogAppend(b, batch) }},
			baseline: &measurement{name: "pwrite of the same bytes", run: func(b *testing.B) { benchRawWrite(b, batch) }},
			unit:     megabytesPerSecond,
			bound:    []float64{0.60, 0.80}[i],
		})
	}

	readLog := writeBenchLog(t, benchLogBytes)
	readPaths := segmentPaths(readLog)
	rawRead := func() *measurement {
		return &measurement{name: "ReadAt of 1 MiB, same files", run: func(b *testing.B) { benchRawRead(b, readPaths) }}
	}
	for _, reuse := range []bool{false, true} {
		how := "Region.ReadAll"
		if reuse {
			how = "ReadAt of each Region into one buffer"
		}
		rows = append(rows, figureRow{
			name:     "Sequential read of 256 MiB in 1 MiB fetches: Log.Read, " + how,
			figure:   &measurement{name: "read with " + how, run: func(b *testing.B) { benchLogRead(b, readLog, reuse) }},
			baseline: rawRead(),
			unit:     megabytesPerSecond,
		})
	}
	recoveryDir, recoveryPaths := closedBenchLog(t, benchLogBytes)
	rows = append(rows, figureRow{
		name:     "Recovery of 256 MiB after an unclean shutdown (Open)",
		figure:   &measurement{name: "recovery", run: func(b *testing.B) { benchRecovery(b, recoveryDir) }},
		baseline: &measurement{name: "ReadAt of 1 MiB, same files", run: func(b *testing.B) { benchRawRead(b, recoveryPaths) }},
		unit:     secondsPerGiB,
	})

	// Lookups compare with the first log of their series, measured again
	// next to each. Independent of the segment count means within 25% of the
	// cost in one segment holding as many entries; O(log n) means growing no
	// faster than log n: at most log2(n)/log2(1024) times the cost at 1,024
	// entries.
	for _, series := range []struct {
		shapes []lookupShape
		bound  func(lookupShape) float64
	}{
		{lookupsBySegments, func(lookupShape) float64 { return 1.25 }},
		{lookupsByEntries, func(s lookupShape) float64 {
			return math.Log2(float64(s.entries)) / math.Log2(float64(lookupsByEntries[0].entries))
		}},
	} {
		base := lookupLog(t, series.shapes[0])
		for _, shape := range series.shapes[1:] {
			l := lookupLog(t, shape)
			rows = append(rows, figureRow{
				name:     "Offset lookup (Log.Read down to a Region), " + shape.text(),
				figure:   &measurement{name: shape.text(), run: func(b *testing.B) { benchOffsetLookup(b, l) }},
				baseline: &measurement{name: series.shapes[0].text(), run: func(b *testing.B) { benchOffsetLookup(b, base) }},
				unit:     nanoseconds,
				bound:    series.bound(shape),
			})
		}
	}

	start := time.Now()
	for range figureRounds {
		for _, row := range rows {
			row.baseline.measure(t)
			row.figure.measure(t)
		}
	}
	printFigures(t, rows, time.Since(start))
}

// sizeText is a batch size in KiB or MiB.
func sizeText(bytes int) string {
	if bytes >= 1<<20 {
		return fmt.Sprintf("%d MiB", bytes>>20)
	}
	return fmt.Sprintf("%d KiB", bytes>>10)
}

// text names the shape for the table.
func (s lookupShape) text() string {
	segments := "segments"
	if s.segments == 1 {
		segments = "segment"
	}
	entries := strconv.Itoa(s.entries)
	for i := len(entries) - 3; i > 0; i -= 3 {
		entries = entries[:i] + "," + entries[i:]
	}
	return fmt.Sprintf("%d %s × %s entries", s.segments, segments, entries)
}

// measurement is one benchmark and its result in each round.
type measurement struct {
	name    string
	run     func(*testing.B)
	results []testing.BenchmarkResult
}

func (m *measurement) measure(t *testing.T) {
	t.Helper()
	r := testing.Benchmark(m.run)
	if r.N == 0 {
		t.Fatalf("benchmark %q failed", m.name)
	}
	m.results = append(m.results, r)
}

// figureUnit turns a benchmark result into the figure's value, and the
// value into text.
type figureUnit struct {
	value         func(testing.BenchmarkResult) float64
	print         func(float64) string
	lowerIsBetter bool
}

func throughput(r testing.BenchmarkResult) float64 {
	return float64(r.Bytes) * float64(r.N) / r.T.Seconds() / 1e6
}

var (
	megabytesPerSecond = figureUnit{value: throughput, print: func(v float64) string {
		return fmt.Sprintf("%.0f MB/s", v)
	}}
	// secondsPerGiB is a throughput also shown as the time a GiB takes.
	secondsPerGiB = figureUnit{value: throughput, print: func(v float64) string {
		return fmt.Sprintf("%.0f MB/s = %.2f s/GiB", v, float64(1<<30)/1e6/v)
	}}
	nanoseconds = figureUnit{value: func(r testing.BenchmarkResult) float64 {
		return float64(r.T.Nanoseconds()) / float64(r.N)
	}, print: func(v float64) string {
		return fmt.Sprintf("%.0f ns", v)
	}, lowerIsBetter: true}
)

// figureRow is a line of the table: a figure against its baseline. bound is
// the target for the ratio, a minimum for throughputs and a maximum for
// times; 0 means none.
type figureRow struct {
	name             string
	figure, baseline *measurement
	unit             figureUnit
	bound            float64
}

func (row figureRow) values(m *measurement) []float64 {
	var vs []float64
	for _, r := range m.results {
		vs = append(vs, row.unit.value(r))
	}
	return vs
}

// ratios are figure over baseline, round by round.
func (row figureRow) ratios() []float64 {
	f, b := row.values(row.figure), row.values(row.baseline)
	rs := make([]float64, len(f))
	for i := range f {
		rs[i] = f[i] / b[i]
	}
	return rs
}

func (row figureRow) target() (text, holds string) {
	if row.bound == 0 {
		return "", ""
	}
	ratio := median(row.ratios())
	ok := ratio >= row.bound
	text = fmt.Sprintf("≥ %.2f", row.bound)
	if row.unit.lowerIsBetter {
		ok = ratio <= row.bound
		text = fmt.Sprintf("≤ %.2f", row.bound)
	}
	if ok {
		return text, "yes"
	}
	return text, "**no**"
}

func printFigures(t *testing.T, rows []figureRow, took time.Duration) {
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "\nMeasured %s by `make bench` (GREGOR_FIGURES=1 go test -run TestStorageFigures -v -count=1 ./logstore) on %s/%s, %d CPUs (%s), %s, load average %s at the end; each figure the median of %d rounds of %s, %s in all.\n\n",
		time.Now().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(),
		runtime.Version(), loadAverage(), figureRounds, figureBenchTime, took.Round(time.Second))
	fmt.Fprintln(w, "| Figure | Measured | Baseline, same run | Ratio (lowest–highest round) | Target | Holds |")
	fmt.Fprintln(w, "|---|--:|---|--:|:-:|:-:|")
	for _, row := range rows {
		ratios := row.ratios()
		target, holds := row.target()
		fmt.Fprintf(w, "| %s | %s | %s: %s | %.2f (%.2f–%.2f) | %s | %s |\n",
			row.name, row.unit.print(median(row.values(row.figure))),
			row.baseline.name, row.unit.print(median(row.values(row.baseline))),
			median(ratios), slices.Min(ratios), slices.Max(ratios), target, holds)
	}
	fmt.Fprintln(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

// countRecords is the number of records in a batch.
func countRecords(t *testing.T, batch []byte) int32 {
	h, err := ParseBatchHeader(batch)
	if err != nil {
		t.Fatal(err)
	}
	return h.RecordCount
}

// cpuModel is the processor's name from /proc/cpuinfo, where there is one.
func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown processor"
	}
	for line := range strings.Lines(string(data)) {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimLeft(name, " \t:"))
		}
	}
	return "unknown processor"
}

// loadAverage is the one-minute load average from /proc/loadavg, which says
// how busy a shared machine was; "unknown" elsewhere.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if fields := strings.Fields(string(data)); err == nil && len(fields) > 0 {
		return fields[0]
	}
	return "unknown"
}
