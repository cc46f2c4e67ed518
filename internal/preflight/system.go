package preflight

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/docker/go-units"
)

// MemAvailable reads MemAvailable from /proc/meminfo, in bytes.
func MemAvailable() (int64, error) { return meminfo("MemAvailable") }

// MemTotal is /proc/meminfo's MemTotal in bytes: the engine reports its
// host's the same way.
func MemTotal() (int64, error) { return meminfo("MemTotal") }

func meminfo(key string) (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == key+":" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: %w", err)
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/meminfo has no %s line", key)
}

// DiskFree returns the bytes available to unprivileged users on the file
// system holding path (what df shows as Avail).
func DiskFree(path string) (int64, error) {
	var s syscall.Statfs_t
	if err := syscall.Statfs(path, &s); err != nil {
		return 0, err
	}
	return int64(s.Bavail) * int64(s.Bsize), nil
}

// ParseBytes parses a size such as 2GiB, 2g, 500MB or 1073741824 (binary units).
func ParseBytes(s string) (int64, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (like 2GiB, 500m or a number of bytes)", s)
	}
	if n < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return n, nil
}

// MinFreeDisk is the threshold given as v (the value of $DIVE_MIN_FREE_DISK,
// which the caller reads), else the default.
func MinFreeDisk(v string) (int64, error) {
	if v == "" {
		return DefaultMinFreeDisk, nil
	}
	n, err := ParseBytes(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", EnvMinFreeDisk, err)
	}
	return n, nil
}

func bytesText(n int64) string {
	return units.BytesSize(float64(n))
}
