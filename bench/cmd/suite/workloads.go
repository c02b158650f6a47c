package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"github.com/twmb/franz-go/pkg/kgo"
)

// acks returns the client option for acks "1" or "all".
func acksOpt(acks string) kgo.Acks {
	if acks == "all" {
		return kgo.AllISRAcks()
	}
	return kgo.LeaderAck()
}

// producerOpts are the producer settings of every workload: idempotence
// off (franz-go requires it for acks=1, and both acks settings should
// differ only in acks), no compression.
func producerOpts(addrs []string, topic, acks string, linger time.Duration, maxBuffered int) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(acksOpt(acks)),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(linger),
		kgo.MaxBufferedRecords(maxBuffered),
	}
}

type produceResult struct {
	elapsed time.Duration
	latency []time.Duration // per record, Produce call to promise, sorted
}

// produce sends records records of size bytes to topic as fast as the
// client takes them.
func produce(ctx context.Context, cfg config, addrs []string, topic, acks string, size int) (produceResult, error) {
	cl, err := kgo.NewClient(producerOpts(addrs, topic, acks, cfg.linger, cfg.maxBuffered)...)
	if err != nil {
		return produceResult{}, err
	}
	defer cl.Close()
	var r produceResult
	r.elapsed, r.latency, err = cluster.Produce(ctx, cl, cfg.records, size)
	slices.Sort(r.latency)
	return r, err
}

// consume reads topic's partitions from the start until it has records
// records, each of size bytes, and returns how long that took from the
// first fetch.
func consume(ctx context.Context, addrs []string, topic string, partitions, records, size int) (time.Duration, error) {
	parts := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	got := 0
	start := time.Now()
	for got < records {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("consume: %d of %d records: %w", got, records, err)
		}
		for _, e := range fs.Errors() {
			return 0, fmt.Errorf("consume: partition %d: %w", e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) != size && err == nil {
				err = fmt.Errorf("partition %d, offset %d: value of %d bytes, want %d", r.Partition, r.Offset, len(r.Value), size)
			}
			got++
		})
		if err != nil {
			return 0, err
		}
	}
	elapsed := time.Since(start)
	if got != records {
		return 0, fmt.Errorf("consume: %d records, %d produced", got, records)
	}
	return elapsed, nil
}

type e2eResult struct {
	latency  []time.Duration // per measured record, send to receipt, sorted
	sentRate float64         // measured records per second actually sent
}

// The value of an end-to-end record starts with the send time (Unix
// nanoseconds, big-endian) and a flag byte: 1 for a measured record, 0
// for a warm-up record.
const e2eHeader = 9

// endToEnd produces records of size bytes to topic (new and empty) at
// rate records per second for dur, while a consumer reads the topic
// from the start, and returns each record's latency from just before its
// Produce call to the consumer's receipt. A warm-up of a tenth of a
// second at the same rate goes first and is not measured, so that both
// clients have their metadata and connections.
func endToEnd(ctx context.Context, cfg config, addrs []string, topic, acks string, partitions int) (e2eResult, error) {
	size := max(cfg.e2eSize, e2eHeader)
	warm := max(cfg.e2eRate/10, 1)
	measured := int(float64(cfg.e2eRate) * cfg.e2eDuration.Seconds())
	// Linger 0: send as soon as a record is there, as a latency-minded
	// producer would (franz-go's default linger is 10 ms).
	pcl, err := kgo.NewClient(producerOpts(addrs, topic, acks, 0, cfg.maxBuffered)...)
	if err != nil {
		return e2eResult{}, err
	}
	defer pcl.Close()
	parts := map[int32]kgo.Offset{}
	for p := range int32(partitions) {
		parts[p] = kgo.NewOffset().AtStart()
	}
	ccl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return e2eResult{}, err
	}
	defer ccl.Close()

	var (
		received atomic.Int64 // records received, warm-up included
		lat      = make([]time.Duration, 0, measured)
		cerr     = make(chan error, 1)
	)
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go func() {
		total := int64(warm + measured)
		for received.Load() < total {
			fs := ccl.PollFetches(cctx)
			now := time.Now().UnixNano()
			if err := cctx.Err(); err != nil {
				cerr <- fmt.Errorf("end-to-end consumer: %d of %d records: %w", received.Load(), total, err)
				return
			}
			for _, e := range fs.Errors() {
				cerr <- fmt.Errorf("end-to-end consumer: partition %d: %w", e.Partition, e.Err)
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) >= e2eHeader && r.Value[8] == 1 {
					lat = append(lat, time.Duration(now-int64(binary.BigEndian.Uint64(r.Value))))
				}
				received.Add(1)
			})
		}
		cerr <- nil
	}()

	var perr atomic.Pointer[error]
	send := func(n int, flag byte) time.Duration {
		interval := time.Second / time.Duration(cfg.e2eRate)
		start := time.Now()
		for i := range n {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			v := make([]byte, size)
			binary.BigEndian.PutUint64(v, uint64(time.Now().UnixNano()))
			v[8] = flag
			pcl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					perr.CompareAndSwap(nil, &err)
				}
			})
		}
		return time.Since(start)
	}
	send(warm, 0)
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < int64(warm) {
		if time.Now().After(deadline) {
			return e2eResult{}, fmt.Errorf("end-to-end warm-up: %d of %d records received in 30 s", received.Load(), warm)
		}
		select {
		case err := <-cerr:
			return e2eResult{}, fmt.Errorf("end-to-end warm-up: consumer stopped: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	took := send(measured, 1)
	if err := pcl.Flush(ctx); err != nil {
		return e2eResult{}, err
	}
	if p := perr.Load(); p != nil {
		return e2eResult{}, fmt.Errorf("end-to-end produce: %w", *p)
	}
	wait := time.NewTimer(30 * time.Second)
	defer wait.Stop()
	select {
	case err := <-cerr:
		if err != nil {
			return e2eResult{}, err
		}
	case <-wait.C:
		return e2eResult{}, fmt.Errorf("end-to-end: %d of %d records received 30 s after the last was acknowledged", received.Load(), warm+measured)
	}
	slices.Sort(lat)
	return e2eResult{latency: lat, sentRate: float64(measured) / took.Seconds()}, nil
}

// pct returns the p-th percentile (nearest rank) of sorted ds.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(ds))*p/100)) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
