package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/dive-hub/dive/internal/stack"
)

// placeholderRE matches DIVE's template placeholders, {{NAME}} (spaces
// inside the braces allowed). Lower-case or dotted forms ({{.Name}}, Go
// templates in labels) are not placeholders and are left alone.
var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Z_][A-Z0-9_]*)\s*\}\}`)

var varRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// missingError lists placeholders without a value.
type missingError struct {
	names []string
	line  int
}

func (e *missingError) Error() string {
	s := "no value for " + strings.Join(e.names, ", ")
	if e.line > 0 {
		s = fmt.Sprintf("line %d: %s", e.line, s)
	}
	return s
}

// Render replaces every {{NAME}} placeholder with its variable. A
// placeholder without a variable is an error naming it and its first line.
func Render(text string, vars map[string]string) (string, error) {
	missing := map[string]bool{}
	out := placeholderRE.ReplaceAllStringFunc(text, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		if v, ok := vars[name]; ok {
			return v
		}
		missing[name] = true
		return m
	})
	if len(missing) == 0 {
		return out, nil
	}
	e := &missingError{}
	for n := range missing {
		e.names = append(e.names, "{{"+n+"}}")
	}
	sort.Strings(e.names)
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(text, -1) {
		if missing[text[m[2]:m[3]]] {
			e.line = strings.Count(text[:m[0]], "\n") + 1
			break
		}
	}
	return "", e
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
		if !placeholderRE.Match(b) {
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
