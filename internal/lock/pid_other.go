//go:build !unix

package lock

// pidAlive cannot tell here; a holder is then stale only when its hold expires.
func pidAlive(pid int) bool { return pid > 0 }
