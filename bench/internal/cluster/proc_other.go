//go:build !linux

package cluster

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the broker in its own process group, so that a Ctrl-C
// reaches only this program, which then stops it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
