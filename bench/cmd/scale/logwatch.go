package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"time"
)

// watchLog follows the file at path from its current end, every 5 ms,
// until needle appears in what is appended or ctx ends. The returned
// function stops following, after reading what was written before the
// call, and gives the moment needle was first seen (ok false when it was
// not, or the file could not be read): a broker logs unbuffered, so that
// moment is within about 5 ms of the line's writing.
func watchLog(ctx context.Context, path, needle string) func() (time.Time, bool) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var seen time.Time
	f, err := os.Open(path)
	if err == nil {
		_, err = f.Seek(0, io.SeekEnd)
	}
	if err != nil {
		cancel()
		if f != nil {
			f.Close()
		}
		return func() (time.Time, bool) { return time.Time{}, false }
	}
	go func() {
		defer close(done)
		defer f.Close()
		var tail []byte
		buf := make([]byte, 64<<10)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			stopped := ctx.Err() != nil // then read once more: what was written before the stop counts
			for {
				n, _ := f.Read(buf)
				if n == 0 {
					break
				}
				tail = append(tail, buf[:n]...)
				if bytes.Contains(tail, []byte(needle)) {
					seen = time.Now()
					return
				}
				if i := bytes.LastIndexByte(tail, '\n'); i >= 0 {
					tail = append(tail[:0], tail[i+1:]...)
				}
			}
			if stopped {
				return
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	return func() (time.Time, bool) {
		cancel()
		<-done
		return seen, !seen.IsZero()
	}
}
