//go:build !linux

package fleet

import "syscall"

// tunnelProcAttr: elsewhere CloseTunnels ends the tunnel when dive exits.
func tunnelProcAttr() *syscall.SysProcAttr { return nil }
