package fleet

import "syscall"

// tunnelProcAttr: the tunnel's ssh is in its own process group (a Ctrl-C
// at the terminal reaches dive, which still needs the tunnel to stop what
// it started) and dies with dive.
func tunnelProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
