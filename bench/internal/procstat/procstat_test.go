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

// TestMemoryMappingsFiles reads this process's own memory, mappings and
// descriptors: a file mapped by hand shows up as one more mapping with
// its name, an opened file as one more descriptor, and touched anonymous
// memory in RssAnon.
func TestMemoryMappingsFiles(t *testing.T) {
	pid := os.Getpid()
	path := t.TempDir() + "/probe.index"
	if err := os.WriteFile(path, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	fds0, err := OpenFiles(pid)
	if err != nil {
		t.Fatal(err)
	}
	all0, idx0, err := Mappings(pid, ".index")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fds1, err := OpenFiles(pid); err != nil || fds1 != fds0+1 {
		t.Fatalf("open files %d after opening one, %d before (err %v)", fds1, fds0, err)
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 1<<20, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(m)
	all1, idx1, err := Mappings(pid, ".index")
	if err != nil {
		t.Fatal(err)
	}
	if idx1 != idx0+1 || all1 <= all0 {
		t.Fatalf("mappings %d (%d of .index files) after mapping one, %d (%d) before", all1, idx1, all0, idx0)
	}

	const size = 32 << 20
	buf, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(buf)
	for i := 0; i < size; i += 4096 {
		buf[i] = 1
	}
	mem, err := MemoryOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	if mem.Anon < size || mem.RSS < mem.Anon || mem.Peak < mem.RSS || mem.Threads < 1 {
		t.Fatalf("after touching %d anonymous bytes: %+v", size, mem)
	}
}
