package integration

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts a broker in its own process group, so that a Ctrl-C meant
// for `go test` does not stop it before the test's cleanup does, and has the
// kernel kill it if the test binary dies without stopping it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
