//go:build !linux

package fleet

import "syscall"

// tunnelProcAttr: elsewhere CloseTunnels ends the tunnel when dive exits.
func tunnelProcAttr() *syscall.SysProcAttr { return nil }

// processAlive: elsewhere a folder is never taken for a dead process's.
func processAlive(int) bool { return true }
