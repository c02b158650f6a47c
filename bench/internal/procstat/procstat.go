// Package procstat reads a process's CPU time and peak resident set size
// from Linux's /proc, for the benchmarks to charge each case the broker
// work it caused.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports (the kernel exports
// a fixed USER_HZ to user space whatever its internal HZ), so the package
// does not need cgo's sysconf(_SC_CLK_TCK).
const clockTick = 100

// CPU returns the user plus system CPU time pid has used so far
// (utime + stime of /proc/<pid>/stat), not counting waited-for children.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The second field, comm, is in parentheses and may hold spaces or
	// parentheses itself: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')' in %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after comm", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// PeakRSS returns pid's peak resident set size in bytes (VmHWM of
// /proc/<pid>/status): the highest since the process started or since
// the last ResetPeak.
func PeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc/%d/status: VmHWM line %q", pid, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

// ResetPeak sets pid's peak RSS (VmHWM) back to its current RSS, by
// writing 5 to /proc/<pid>/clear_refs (Linux 4.0 and later), so that
// PeakRSS afterwards covers only what happened since. The caller must be
// allowed to write that file: the process's owner may.
func ResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// Memory is a process's resident memory from /proc/<pid>/status, in bytes.
type Memory struct {
	RSS     int64 // VmRSS: resident now
	Peak    int64 // VmHWM: the peak resident set (see ResetPeak)
	Anon    int64 // RssAnon: resident anonymous memory (heap, stacks)
	File    int64 // RssFile: resident pages of mapped files (binary, indexes)
	Threads int64 // Threads: the process's thread count
}

// MemoryOf reads pid's Memory.
func MemoryOf(pid int) (Memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	fields := map[string]*int64{"VmRSS:": &m.RSS, "VmHWM:": &m.Peak, "RssAnon:": &m.Anon, "RssFile:": &m.File, "Threads:": &m.Threads}
	seen := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		p, ok := fields[f[0]]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status: %q: %w", pid, line, err)
		}
		if len(f) == 3 && f[2] == "kB" {
			n <<= 10
		}
		*p = n
		seen++
	}
	if seen != len(fields) {
		return Memory{}, fmt.Errorf("/proc/%d/status: %d of the %d fields wanted", pid, seen, len(fields))
	}
	return m, nil
}

// Mappings counts pid's memory mappings (lines of /proc/<pid>/maps, each
// one counted against vm.max_map_count) and, of those, the ones of files
// whose name ends with one of suffixes.
func Mappings(pid int, suffixes ...string) (all, matching int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		all++
		for _, s := range suffixes {
			if strings.HasSuffix(line, s) {
				matching++
				break
			}
		}
	}
	return all, matching, nil
}

// OpenFiles counts pid's open file descriptors (entries of /proc/<pid>/fd),
// each counted against RLIMIT_NOFILE.
func OpenFiles(pid int) (int, error) {
	d, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	return len(d), nil
}
