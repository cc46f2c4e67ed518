// Package secopt reads a service's security_opt as docker compose does
// (its parseSecurityOpts, copied from the docker CLI's --security-opt).
package secopt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Parse turns security_opt into the engine's SecurityOpt, as compose does:
//   - systempaths=unconfined is left out and reported as unconfined (the
//     container's MaskedPaths and ReadonlyPaths are then empty);
//   - seccomp=FILE or seccomp:FILE (not unconfined or builtin) is the file's
//     JSON, read relative to the project folder and compacted:
//     seccomp=<profile>;
//   - no-new-privileges alone, KEY=VALUE and KEY:VALUE (apparmor, label,
//     no-new-privileges:true, seccomp:unconfined, ...) are passed as written;
//   - anything else is an error.
func Parse(p *types.Project, opts []string) (parsed []string, unconfined bool, err error) {
	for _, opt := range opts {
		if opt == "systempaths=unconfined" {
			unconfined = true
			continue
		}
		file, ok, err := ProfileFile(opt)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			parsed = append(parsed, opt)
			continue
		}
		profile, err := seccompProfile(p, file)
		if err != nil {
			return nil, false, err
		}
		parsed = append(parsed, "seccomp="+profile)
	}
	return parsed, unconfined, nil
}

// ProfileFile is the seccomp profile file opt names (seccomp=FILE or
// seccomp:FILE, FILE not unconfined or builtin), as written; an error when
// opt is neither KEY=VALUE, KEY:VALUE nor no-new-privileges.
func ProfileFile(opt string) (file string, ok bool, err error) {
	key, value, found := strings.Cut(opt, "=")
	if !found && key != "no-new-privileges" {
		if key, value, found = strings.Cut(opt, ":"); !found {
			return "", false, fmt.Errorf("security_opt %q is not KEY=VALUE or KEY:VALUE", opt)
		}
	}
	if key != "seccomp" || value == "unconfined" || value == "builtin" {
		return "", false, nil
	}
	if value == "" {
		return "", false, fmt.Errorf("security_opt %q names no seccomp profile file", opt)
	}
	return value, true, nil
}

// seccompProfile is the compacted JSON of a seccomp profile file.
func seccompProfile(p *types.Project, file string) (string, error) {
	path := p.RelativePath(file)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("security_opt seccomp profile %s: %w", path, err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return "", fmt.Errorf("security_opt seccomp profile %s is not JSON: %w", path, err)
	}
	return out.String(), nil
}
