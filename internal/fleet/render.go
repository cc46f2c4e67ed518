package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/template"
)

// Render replaces every {{NAME}} placeholder with its variable, with the
// one renderer dive has for DIVE's templates (internal/template): compose's
// ${VAR} is left to compose-go, a placeholder without a value is an error
// naming it and its lines.
func Render(text string, vars map[string]string) (string, error) {
	out, err := template.Render([]byte(text), vars)
	return string(out), err
}

// renderFiles renders the stack's compose files when they hold {{NAME}}
// placeholders. A rendered file is written beside its template (as
// .<name>.<stack>.rendered.yml) so that relative paths in it (build
// contexts, bind mounts, env_file) keep meaning what they meant.
func renderFiles(s *Stack) ([]string, error) {
	out := make([]string, 0, len(s.Files))
	for _, f := range s.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, &stack.ConfigError{Msg: fmt.Sprintf("stack %s: compose file %s cannot be read: %v", s.Name, f, err), Fix: "fix the compose: path in the fleet file", Err: err}
		}
		if len(template.Placeholders(b)) == 0 {
			out = append(out, f)
			continue
		}
		text, err := Render(string(b), s.Variables)
		if err != nil {
			return nil, &stack.ConfigError{Msg: fmt.Sprintf("%s: %v (instance %s of template %s)", f, err, s.Instance, s.Template),
				Fix: "add the variable to the instance's (or the template's) variables: in the fleet file", Err: err}
		}
		base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		dst := filepath.Join(filepath.Dir(f), "."+base+"."+s.Name+".rendered.yml")
		if old, err := os.ReadFile(dst); err != nil || string(old) != text {
			if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
				return nil, fmt.Errorf("stack %s: write the rendered template %s: %w", s.Name, dst, err)
			}
		}
		out = append(out, dst)
	}
	return out, nil
}
