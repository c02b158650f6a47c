package procstat

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestSelf reads this process's own figures: the CPU time grows with
// work, and the peak RSS is at least the memory just touched, then drops
// back after ResetPeak once that memory is released.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	c0, err := CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c1, err := CPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if c1-c0 >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU grew by %v in 10 s of spinning", c1-c0)
		}
		spin(time.Millisecond)
	}

	// Memory mapped and unmapped by hand, so that it leaves the RSS at
	// once (the Go heap would keep it).
	const size = 64 << 20
	buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	peak, err := PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if peak < size {
		t.Fatalf("peak RSS %d after touching %d bytes", peak, size)
	}
	if err := syscall.Munmap(buf); err != nil {
		t.Fatal(err)
	}
	if err := ResetPeak(pid); err != nil {
		t.Fatal(err)
	}
	after, err := PeakRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after > peak-size/2 {
		t.Fatalf("peak RSS %d after unmapping %d bytes and ResetPeak, %d before", after, size, peak)
	}
}

func TestMissingProcess(t *testing.T) {
	// PIDs are at most 2^22 on Linux.
	const pid = 1 << 23
	if _, err := CPU(pid); err == nil {
		t.Error("CPU of a missing process: no error")
	}
	if _, err := PeakRSS(pid); err == nil {
		t.Error("PeakRSS of a missing process: no error")
	}
}

func spin(d time.Duration) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
	}
}
