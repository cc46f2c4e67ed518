package stack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MaxInputFile is the largest compose or env file dive reads. The real
// hub's files are a few KiB; anything near this is not a compose file, and
// reading it whole would only eat memory.
const MaxInputFile = 4 << 20

// checkInputFile refuses, before it is opened, an input that is not a
// regular file (a device like /dev/zero, a FIFO, a socket, a folder) or
// is larger than MaxInputFile: reading one of those never ends or fills
// memory. kind is "compose file" or "env file". A missing file passes:
// the caller reports it with its own fix.
func checkInputFile(kind, path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &ConfigError{Msg: fmt.Sprintf("%s %s: %v", kind, path, err), Err: err}
	}
	switch {
	case fi.IsDir():
		return &ConfigError{Msg: fmt.Sprintf("%s %s is a folder", kind, path),
			Fix: fmt.Sprintf("name the %s inside it", kind)}
	case !fi.Mode().IsRegular():
		return &ConfigError{Msg: fmt.Sprintf("%s %s is not a regular file (it is a %s)", kind, path, fileType(fi.Mode())),
			Fix: fmt.Sprintf("pass a regular file; to use generated content, write it to a file first (dive reads a %s whole and only from a regular file)", kind)}
	case fi.Size() > MaxInputFile:
		return &ConfigError{Msg: fmt.Sprintf("%s %s is %d bytes, more than the %d MiB dive reads", kind, path, fi.Size(), MaxInputFile>>20),
			Fix: fmt.Sprintf("check the path: a %s is a few KiB of text", kind)}
	}
	return nil
}

// fileType names a non-regular file mode.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeIrregular != 0:
		return "special file"
	}
	return m.Type().String()
}
