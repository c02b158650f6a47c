//go:build unix && !linux

package zktest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the JVM in its own process group. Outside Linux there is
// no parent-death signal: a JVM whose test binary was killed outlives it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
