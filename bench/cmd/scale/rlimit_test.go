package main

import (
	"strings"
	"syscall"
	"testing"
)

// TestRaiseOpenFilesNeverLowers: asking for less than the current limit
// leaves it as it is; asking for more raises it or says why not.
func TestRaiseOpenFilesNeverLowers(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	if msg := raiseOpenFiles(before.Cur / 2); !strings.HasPrefix(msg, "RLIMIT_NOFILE ") {
		t.Fatalf("message %q", msg)
	}
	var after syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("limit went from %+v to %+v", before, after)
	}
	want := before.Max + 1
	msg := raiseOpenFiles(want)
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	switch {
	case strings.Contains(msg, "raised"):
		if after.Cur != want || after.Max != want {
			t.Fatalf("%q but the limit is %+v", msg, after)
		}
	case strings.Contains(msg, "failed"):
		if after != before {
			t.Fatalf("%q but the limit went from %+v to %+v", msg, before, after)
		}
	default:
		t.Fatalf("message %q", msg)
	}
}
