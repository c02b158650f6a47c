//go:build !linux

package server

import (
	"io"

	"github.com/gregor-broker/gregor/logstore"
)

// sendRegion copies a region to w: the sendfile path with an explicit
// offset is written for Linux only (fetch_sendfile_linux.go).
func sendRegion(w io.Writer, r logstore.Region) (n int64, zeroCopy bool, err error) {
	n, err = copyRegion(w, r)
	return n, false, err
}
