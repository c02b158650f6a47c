package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/logstore"
	"github.com/gregor-broker/gregor/network"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Environment of the client half of BenchmarkFetchServing.
const (
	fetchBenchAddrEnv  = "GREGOR_FETCH_BENCH_ADDR"
	fetchBenchPartsEnv = "GREGOR_FETCH_BENCH_PARTITIONS"
)

// BenchmarkFetchServing measures the broker's CPU time per GB served to
// consumers, with the zero-copy (sendfile) fetch path and with the copying
// path, in the same run, on loopback.
//
// One process hosts the broker: a log of 4 partitions, 64 MiB each (GREGOR_FETCH_BENCH_MIB
// changes the total), already in the page cache after the first pass, served by
// two socket servers over the same partitions, one with
// gregor.fetch.zero.copy on and one off. Each iteration runs a client in a
// separate process (this test binary, TestFetchBenchClient) that reads the
// whole log once, as a consumer does (Fetch v11, 1 MiB per partition per
// request), and discards the bytes. The broker's CPU is this process's
// user+system time (getrusage) over the iteration, so the client's own
// reading and decoding is not counted. It reports cpu-ms/GB per path; the
// log line gives the ratio zero-copy/copying.
//
//	go test ./server/ -run '^$' -bench FetchServing -benchtime 4x
func BenchmarkFetchServing(b *testing.B) {
	totalMiB := 256
	if s := os.Getenv("GREGOR_FETCH_BENCH_MIB"); s != "" {
		totalMiB, _ = strconv.Atoi(s)
	}
	const partitions = 4
	h := fetchBenchHandlers(b, partitions, int64(totalMiB)<<20/partitions)
	cpuPerGB := map[bool]float64{}
	for _, zeroCopy := range []bool{true, false} {
		cfg := conf.Default()
		cfg.FetchZeroCopy = zeroCopy
		hz := newHandlers(1, discardLogger())
		hz.replicas, hz.cfg = h.replicas, cfg
		addr := fetchBenchServe(b, hz)
		runClient(b, addr, partitions) // warm the page cache and the connections' paths
		b.Run(fmt.Sprintf("zero_copy=%v", zeroCopy), func(b *testing.B) {
			var bytesRead int64
			var cpu time.Duration
			for b.Loop() {
				before := processCPU(b)
				bytesRead += runClient(b, addr, partitions)
				cpu += processCPU(b) - before
			}
			gb := float64(bytesRead) / 1e9
			b.SetBytes(bytesRead / int64(b.N))
			b.ReportMetric(float64(cpu.Milliseconds())/gb, "cpu-ms/GB")
			cpuPerGB[zeroCopy] = float64(cpu.Milliseconds()) / gb
		})
	}
	if cpuPerGB[false] > 0 {
		b.Logf("broker CPU per GB: zero-copy %.0f ms, copying %.0f ms, ratio %.2f",
			cpuPerGB[true], cpuPerGB[false], cpuPerGB[true]/cpuPerGB[false])
	}
}

// fetchBenchHandlers returns handlers leading partitions bench-0..n-1,
// each holding about bytesPer bytes of 1 KiB records in batches of 100.
func fetchBenchHandlers(b *testing.B, n int32, bytesPer int64) *handlers {
	b.Helper()
	m, err := logstore.NewManager(logstore.ManagerConfig{
		Dirs: []string{b.TempDir()}, DefaultLogConfig: logstore.DefaultLogConfig(), Logger: discardLogger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Shutdown() })
	h := newHandlers(1, discardLogger())
	h.replicas = newReplicaManager(1, m, func(string) logstore.LogConfig { return logstore.DefaultLogConfig() }, discardLogger())
	var states []kmsg.LeaderAndISRRequestTopicPartition
	for p := range n {
		st := leaderAndISRState("bench", p, 1, 1, 1)
		st.Replicas = []int32{1}
		states = append(states, st)
	}
	for tp, c := range h.replicas.becomeLeaderOrFollower(0, states, nil) {
		if c != 0 {
			b.Fatalf("%s: code %d", tp, c)
		}
	}
	recs := make([]logstore.Record, 100)
	for i := range recs {
		recs[i].Value = bytes.Repeat([]byte{byte('a' + i%26)}, 1024)
	}
	for p := range n {
		part, err := h.replicas.leaderPartition(logstore.TopicPartition{Topic: "bench", Partition: p})
		if err != nil {
			b.Fatal(err)
		}
		for written := int64(0); written < bytesPer; {
			batch, err := logstore.BuildBatch(logstore.NewBuildOptions(), recs)
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := part.AppendRecordsToLeader(batch, logstore.AppendOriginClient, 1); err != nil {
				b.Fatal(err)
			}
			written += int64(len(batch))
		}
	}
	return h
}

// fetchBenchServe serves h on a loopback PLAINTEXT listener until the
// benchmark ends.
func fetchBenchServe(b *testing.B, h *handlers) string {
	b.Helper()
	cfg := network.DefaultConfig()
	cfg.Listeners = []conf.Listener{{Name: "PLAINTEXT", SecurityProtocol: conf.Plaintext, Host: "127.0.0.1"}}
	cfg.Logger = discardLogger()
	s, err := network.New(cfg, h)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	select {
	case <-s.Ready():
	case err := <-done:
		b.Fatal(err)
	}
	return s.Addrs()[0].String()
}

// runClient runs TestFetchBenchClient in a subprocess against addr and
// returns the bytes it read.
func runClient(b *testing.B, addr string, partitions int32) int64 {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFetchBenchClient$", "-test.v")
	cmd.Env = append(os.Environ(), fetchBenchAddrEnv+"="+addr, fetchBenchPartsEnv+"="+strconv.Itoa(int(partitions)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("client: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if s, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "fetch_bench_test.go"); ok {
			if _, v, ok := strings.Cut(s, "BYTES "); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	b.Fatalf("client printed no byte count:\n%s", out)
	return 0
}

// processCPU is this process's user plus system CPU time.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFetchBenchClient is the client half of BenchmarkFetchServing, run by
// it in a subprocess: it reads partitions bench-0..n-1 of the broker at
// $GREGOR_FETCH_BENCH_ADDR from offset 0 to their high watermarks, with raw
// Fetch v11 requests on one connection, and logs the bytes read.
func TestFetchBenchClient(t *testing.T) {
	addr := os.Getenv(fetchBenchAddrEnv)
	if addr == "" {
		t.Skip("the client half of BenchmarkFetchServing, which runs it in a subprocess")
	}
	n, _ := strconv.Atoi(os.Getenv(fetchBenchPartsEnv))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 1<<20)
	next := make([]int64, n)
	done := make([]bool, n)
	var total int64
	var buf []byte
	for corr := int32(0); ; corr++ {
		req := kmsg.NewPtrFetchRequest()
		req.Version, req.ReplicaID, req.MaxBytes, req.MinBytes = 11, -1, 50<<20, 1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "bench"
		for p := range n {
			if done[p] {
				continue
			}
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = int32(p), next[p], 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) == 0 {
			break
		}
		req.Topics = append(req.Topics, rt)
		frame := []byte{0, 0, 0, 0, 0, 1, 0, 11}
		frame = binary.BigEndian.AppendUint32(frame, uint32(corr))
		frame = append(frame, 0xff, 0xff) // null client id
		frame = req.AppendTo(frame)
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			t.Fatal(err)
		}
		size := int(binary.BigEndian.Uint32(head[:4])) - 4
		buf = append(buf[:0], make([]byte, size)...)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatal(err)
		}
		total += int64(size) + 8
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 11
		if err := resp.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("partition %d: error %d", rp.Partition, rp.ErrorCode)
				}
				b := rp.RecordBatches
				for len(b) >= 61 {
					length := int64(binary.BigEndian.Uint32(b[8:12])) + 12
					if int64(len(b)) < length {
						break
					}
					next[rp.Partition] = int64(binary.BigEndian.Uint64(b)) + int64(binary.BigEndian.Uint32(b[23:27])) + 1
					b = b[length:]
				}
				done[rp.Partition] = next[rp.Partition] >= rp.HighWatermark
			}
		}
	}
	t.Logf("BYTES %d", total)
}
