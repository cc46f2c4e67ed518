package stack

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/compose-spec/compose-go/v2/dotenv"
)

// docker compose registers the env_file format "raw" (the parser of
// `docker run --env-file`: no quotes, no interpolation) in its CLI; compose-go
// only knows the format name through this registry, so dive registers the
// same parser once.
func init() {
	dotenv.RegisterFormat("raw", parseRawEnv)
}

// parseRawEnv reads KEY=VALUE lines verbatim; a line holding only KEY takes
// the value from the environment when set and is left out when not; blank
// lines and # comments are skipped, as docker/cli's kvfile does.
func parseRawEnv(r io.Reader, filename string, vars map[string]string, lookup func(string) (string, bool)) error {
	sc := bufio.NewScanner(r)
	first := true
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if first {
			b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
			first = false
		}
		if !utf8.Valid(b) {
			return fmt.Errorf("env file %s line %d: invalid UTF-8", filename, n)
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, hasValue := strings.Cut(line, "=")
		key = strings.TrimLeftFunc(key, unicode.IsSpace)
		if key == "" {
			return fmt.Errorf("env file %s line %d: no variable name before =", filename, n)
		}
		if strings.ContainsFunc(key, unicode.IsSpace) {
			return fmt.Errorf("env file %s line %d: variable %q contains whitespace", filename, n, key)
		}
		if hasValue {
			vars[key] = value
			continue
		}
		if lookup != nil {
			if v, ok := lookup(key); ok {
				vars[key] = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("env file %s: %w", filename, err)
	}
	return nil
}
