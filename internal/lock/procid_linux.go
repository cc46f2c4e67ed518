package lock

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procIdentity names a process beyond its pid, so that a pid reused by
// another process, a pid seen from another pid namespace or a pid from
// before a reboot is not taken for the holder: "boot=<boot id>
// pidns=<inode of its pid namespace> start=<start time in clock ticks
// since boot>". "" when /proc cannot tell (the holder is then judged by
// its pid and its hold's expiry only).
func procIdentity(pid int) string {
	var f []string
	if boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		f = append(f, "boot="+strings.TrimSpace(string(boot)))
	}
	// The namespace link needs ptrace rights over the process (another
	// user's is unreadable): then it is left out.
	if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil {
		f = append(f, "pidns="+strings.Trim(strings.TrimPrefix(ns, "pid:"), "[]"))
	}
	start, ok := procStart(pid)
	if !ok {
		return "" // no such process here
	}
	return strings.Join(append(f, fmt.Sprintf("start=%d", start)), " ")
}

// procStart is field 22 of /proc/<pid>/stat: the start time in clock ticks.
func procStart(pid int) (uint64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields after it start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}
