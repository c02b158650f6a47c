//go:build !linux

package integration

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts a broker in its own process group (see proc_linux_test.go).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
