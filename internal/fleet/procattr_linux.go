package fleet

import (
	"errors"
	"syscall"
)

// tunnelProcAttr: the tunnel's ssh is in its own process group (a Ctrl-C
// at the terminal reaches dive, which still needs the tunnel to stop what
// it started) and dies with dive. Pdeathsig follows the thread that
// started it (golang/go#27505): fine here, no goroutine of dive locks
// its thread.
func tunnelProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// processAlive: a process pid exists (it may be another user's).
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
