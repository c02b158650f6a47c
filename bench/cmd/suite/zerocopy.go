package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// zeroCopyCase names the rows of the zero-copy comparison: one Gregor
// broker, the same records consumed with sendfile on and off.
func zeroCopyCase(size int, on bool) string {
	mode := "off (copying)"
	if on {
		mode = "on (sendfile)"
	}
	return fmt.Sprintf("1 broker, RF 1, %s: consume, gregor.fetch.zero.copy %s", sizeLabel(size), mode)
}

const cpuPerGB = "broker CPU s per GB consumed"

// zeroCopyMinBytes is the least the zero-copy comparison consumes, even in
// a quick run: CPU time comes from /proc in 10 ms ticks, and sendfile
// serves 256 MiB in about ten of them.
const zeroCopyMinBytes = 256 << 20

// runZeroCopy measures the zero-copy target: the broker CPU per GB
// consumed with sendfile, against the copying path
// (gregor.fetch.zero.copy=false). For each setting it starts one broker,
// produces -records records of size bytes (acks=1), or enough for
// zeroCopyMinBytes if that is more, and measures only the
// consume: the broker's CPU time from before the first fetch to after the
// last record, divided by the bytes of record values consumed. The
// records are read from the page cache both times (they were just
// written), which is the case sendfile is for.
func runZeroCopy(ctx context.Context, cfg config, bin, dir, zkConnect string, size int, res *results) error {
	topic := fmt.Sprintf("zero-copy-%d", size)
	cfg.records = max(cfg.records, zeroCopyMinBytes/size)
	for _, on := range []bool{true, false} {
		name := zeroCopyCase(size, on)
		fmt.Fprintf(os.Stderr, "gregor: %s\n", name)
		s, err := startGregor(ctx, bin, filepath.Join(dir, fmt.Sprintf("zero-copy-%v", on)), fmt.Sprintf("%s-zc-%v", zkConnect, on), 1,
			fmt.Sprintf("gregor.fetch.zero.copy=%v", on))
		if err != nil {
			return fmt.Errorf("starting gregor for %s: %w", name, err)
		}
		err = func() error {
			if err := s.create(ctx, topic, int32(cfg.partitions), 1, ""); err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, cfg.caseTimeout)
			defer cancel()
			if _, err := produce(cctx, cfg, s.addrs, topic, "1", size); err != nil {
				return err
			}
			u, err := s.measure(func() error {
				_, err := consume(cctx, s.addrs, topic, cfg.partitions, cfg.records, size)
				return err
			})
			if err != nil {
				return err
			}
			if err := s.alive(); err != nil {
				return err
			}
			gb := float64(cfg.records) * float64(size) / 1e9
			res.add(name, cpuPerGB, "gregor", u.CPUSeconds/gb, lower)
			res.usage = append(res.usage, caseUsage{Case: name, System: s.name, Usage: u})
			return nil
		}()
		if serr := s.stop(); serr != nil && err == nil {
			err = fmt.Errorf("stopping gregor: %w", serr)
		}
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, s.logs())
		}
	}
	return nil
}

// zeroCopyRatio is the zero-copy target's figure: CPU per GB with
// sendfile over CPU per GB copying, nil unless both were measured.
func (r *results) zeroCopyRatio(size int) *float64 {
	on, off := r.value(zeroCopyCase(size, true), cpuPerGB, "gregor"), r.value(zeroCopyCase(size, false), cpuPerGB, "gregor")
	if on == nil || off == nil || *off == 0 {
		return nil
	}
	v := *on / *off
	return &v
}
