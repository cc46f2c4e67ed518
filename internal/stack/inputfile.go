package stack

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/secopt"
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

// resolveServiceFiles reads the services' env_file and label_file entries
// into their environment and labels, as compose-go's loader would, after
// checking each file with checkInputFile: an env_file: /dev/zero or a FIFO
// is refused, naming the service, instead of read forever. It also returns,
// per service with env_file entries, what those files set (serviceEnvFiles).
func resolveServiceFiles(p *types.Project, files []string) (*types.Project, map[string]map[string]string, error) {
	for _, name := range p.ServiceNames() {
		svc := p.Services[name]
		check := func(kind, path string) error {
			err := checkInputFile(kind, path)
			var ce *ConfigError
			if errors.As(err, &ce) {
				ce.Msg = fmt.Sprintf("service %q: %s", name, ce.Msg)
			}
			return err
		}
		for _, path := range svc.LabelFiles {
			if err := check("label file", path); err != nil {
				return nil, nil, err
			}
		}
		envFiles := slices.Clone(svc.EnvFiles)
		for _, h := range svc.PreStart {
			envFiles = append(envFiles, h.EnvFiles...)
		}
		for _, ef := range envFiles {
			if err := check("env file", ef.Path); err != nil {
				return nil, nil, err
			}
		}
		// a seccomp profile file is read at create (its JSON is what the
		// engine gets): absolute, so that a rollback's copy of the file finds it
		opts := slices.Clone(svc.SecurityOpt)
		for i, opt := range opts {
			file, ok, err := secopt.ProfileFile(opt)
			if err != nil || !ok {
				continue // checkSecurityOpt reports a bad one
			}
			abs := p.RelativePath(file)
			if err := check("seccomp profile", abs); err != nil {
				return nil, nil, err
			}
			opts[i] = "seccomp=" + abs
		}
		svc.SecurityOpt = opts
		p.Services[name] = svc
	}
	resolved, err := p.WithServicesEnvironmentResolved(false)
	if err != nil {
		return nil, nil, wrapLoadError(files, err)
	}
	if resolved, err = resolved.WithServicesLabelsResolved(false); err != nil {
		return nil, nil, wrapLoadError(files, err)
	}
	fileValues := map[string]map[string]string{}
	for name, svc := range p.Services {
		if vals := serviceEnvFiles(svc, p.Environment); len(vals) > 0 {
			fileValues[name] = vals
		}
	}
	return resolved, fileValues, nil
}

// serviceEnvFiles is what svc's env_file entries set, read as compose-go
// reads them when it resolves the environment (later files winning, ${VAR}
// from the project environment, then from the service's environment:), before
// the service's environment: entries override them. svc is the service as
// loaded, its environment not resolved yet; files that cannot be read are
// left out (the resolution before reported them).
func serviceEnvFiles(svc types.ServiceConfig, projectEnv types.Mapping) map[string]string {
	if len(svc.EnvFiles) == 0 {
		return nil
	}
	own := maps.Clone(svc.Environment).Resolve(projectEnv.Resolve)
	vars := own.ToMapping() // as compose-go: the files' values land on the service's own
	lookup := func(k string) (string, bool) {
		if v, ok := projectEnv.Resolve(k); ok {
			return v, true
		}
		if v, ok := own[k]; ok && v != nil {
			return *v, true
		}
		return "", false
	}
	set := map[string]bool{}
	for _, ef := range svc.EnvFiles {
		b, err := os.ReadFile(ef.Path)
		if err != nil {
			continue
		}
		// Parsed alone to learn which variables the file sets (vars may
		// hold the same name from environment:), then into vars for the
		// values compose-go gives them.
		keys := map[string]string{}
		if dotenv.ParseWithFormat(bytes.NewReader(b), ef.Path, keys, lookup, ef.Format) != nil ||
			dotenv.ParseWithFormat(bytes.NewReader(b), ef.Path, vars, lookup, ef.Format) != nil {
			continue
		}
		for k := range keys {
			set[k] = true
		}
	}
	out := make(map[string]string, len(set))
	for k := range set {
		out[k] = vars[k]
	}
	return out
}
