package preflight

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/dive-hub/dive/internal/validate"
	"go.yaml.in/yaml/v3"
)

// envChecks reports the env files and the variables the compose files
// reference. A stack that loaded already had every ${VAR:?} set; what can
// still go wrong is a plain ${VAR} or $VAR that resolved to an empty string
// (compose-go only logs that, and dive silences the log).
func envChecks(st *stack.Stack) []validate.Check {
	out := envFileChecks(st)
	return append(out, variableChecks(st)...)
}

func envFileChecks(st *stack.Stack) []validate.Check {
	type use struct {
		path     string
		flag     bool // given with --env-file
		required bool
		services []string
		classes  []stack.Class
	}
	byPath := map[string]*use{}
	get := func(p string) *use {
		u := byPath[p]
		if u == nil {
			u = &use{path: p}
			byPath[p] = u
		}
		return u
	}
	for _, f := range st.EnvFile {
		u := get(f)
		u.flag, u.required = true, true
	}
	for _, n := range st.Names {
		s := st.Services[n]
		for _, ef := range s.Config.EnvFiles {
			p := ef.Path
			if !filepath.IsAbs(p) {
				p = filepath.Join(st.WorkDir, p)
			}
			u := get(p)
			u.services = append(u.services, n)
			u.classes = append(u.classes, s.Class)
			u.required = u.required || bool(ef.Required)
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var out []validate.Check
	if len(paths) == 0 {
		return []validate.Check{{Name: CheckEnvFile, Status: validate.Pass, Detail: "no env file is used: variables come from the environment"}}
	}
	for _, p := range paths {
		u := byPath[p]
		var by []string
		if u.flag {
			by = append(by, "--env-file")
		}
		by = append(by, u.services...)
		c := validate.Check{Name: CheckEnvFile, Class: validate.StrongestClass(u.classes...)}
		if u.flag {
			c.Class = ""
		}
		if len(u.services) == 1 && !u.flag {
			c.Service = u.services[0]
		}
		if _, err := os.Stat(p); err != nil {
			if u.required {
				c.Status, c.Detail = validate.Fail, fmt.Sprintf("env file %s (used by %s) does not exist", p, strings.Join(by, ", "))
				c.Fix = "create it (copy the example env file of your stack), or mark it required: false in env_file"
			} else {
				c.Status, c.Detail = validate.Pass, fmt.Sprintf("optional env file %s (used by %s) is absent", p, strings.Join(by, ", "))
			}
			out = append(out, c)
			continue
		}
		n := 0
		if vals, err := dotenv.GetEnvFromFile(map[string]string{}, []string{p}); err == nil {
			n = len(vals)
		} else {
			c.Status, c.Detail, c.Fix = validate.Fail, fmt.Sprintf("env file %s cannot be read: %v", p, err), "fix its syntax: KEY=value, one per line"
			out = append(out, c)
			continue
		}
		c.Status, c.Detail = validate.Pass, fmt.Sprintf("env file %s exists (%d variables; used by %s)", p, n, strings.Join(by, ", "))
		out = append(out, c)
	}
	return out
}

// varRef is one variable reference in a compose file.
type varRef struct {
	name string
	// plain: no default, alternative or required marker (${X} or $X).
	plain bool
}

// scanRefs finds the variable references in s, the way compose interpolates
// them: $$ is a literal dollar; ${X:-d}, ${X-d}, ${X:+a}, ${X+a} have a
// default or alternative (scanned too); ${X:?e}, ${X?e} were required at load.
func scanRefs(s string) []varRef {
	var out []varRef
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		switch c := s[i+1]; {
		case c == '$':
			i++
		case c == '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return out
			}
			body := s[i+2 : end]
			name := leadingName(body)
			if name != "" {
				rest := body[len(name):]
				switch {
				case rest == "":
					out = append(out, varRef{name: name, plain: true})
				case strings.HasPrefix(rest, ":-"), strings.HasPrefix(rest, ":+"):
					out = append(out, varRef{name: name})
					out = append(out, scanRefs(rest[2:])...)
				case strings.HasPrefix(rest, "-"), strings.HasPrefix(rest, "+"):
					out = append(out, varRef{name: name})
					out = append(out, scanRefs(rest[1:])...)
				default: // :? and ?
					out = append(out, varRef{name: name})
				}
			}
			i = end
		case isNameStart(c):
			name := leadingName(s[i+1:])
			out = append(out, varRef{name: name, plain: true})
			i += len(name)
		}
	}
	return out
}

func closingBrace(s string, from int) int {
	depth := 1
	for j := from; j < len(s); j++ {
		switch s[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func leadingName(s string) string {
	if s == "" || !isNameStart(s[0]) {
		return ""
	}
	j := 1
	for j < len(s) && (isNameStart(s[j]) || (s[j] >= '0' && s[j] <= '9')) {
		j++
	}
	return s[:j]
}

// walkStrings calls f for every string value (not map keys) in a YAML tree.
func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case map[string]any:
		for _, e := range x {
			walkStrings(e, f)
		}
	case map[any]any:
		for _, e := range x {
			walkStrings(e, f)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, f)
		}
	}
}

// secretLike says whether a variable name looks like it holds a credential:
// an empty one is a certain failure at run time, not a matter of taste.
func secretLike(name string) bool {
	u := strings.ToUpper(name)
	for _, s := range []string{"PASSWORD", "PASSWD", "SECRET", "TOKEN", "CREDENTIAL", "PRIVATE_KEY", "API_KEY", "ACCESS_KEY"} {
		if strings.Contains(u, s) {
			return true
		}
	}
	return strings.HasSuffix(u, "_KEY") || strings.HasSuffix(u, "_PASS") || strings.HasSuffix(u, "_PWD")
}

// variableChecks re-reads the compose files (compose-go keeps no record of
// which variables it interpolated) and reports every plain ${VAR} / $VAR of
// an active service, or of the top-level sections, that is unset or empty.
func variableChecks(st *stack.Stack) []validate.Check {
	refs, readErrs := collectVarUses(st)
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	envHint := "the environment"
	if len(st.EnvFile) > 0 {
		envHint = strings.Join(st.EnvFile, " or ") + " or the environment"
	}
	var out []validate.Check
	for _, n := range names {
		u := refs[n]
		if !u.plain || n == "COMPOSE_PROJECT_NAME" {
			continue
		}
		val, set := st.Environment[n]
		if set && val != "" {
			continue
		}
		out = append(out, emptyVarCheck(n, u, set, envHint))
	}
	if len(out) == 0 && len(readErrs) == 0 {
		detail := fmt.Sprintf("all %d variables the compose file references are set or have a default", len(names))
		if len(names) == 0 {
			detail = "the compose file references no variables"
		}
		out = append(out, validate.Check{Name: CheckEnv, Status: validate.Pass, Detail: detail})
	}
	return append(readErrs, out...)
}

// varUse is where the compose files use one variable.
type varUse struct {
	services map[string]bool
	classes  []stack.Class
	stack    bool // referenced outside services
	plain    bool
}

// collectVarUses re-reads the compose files of st and finds the variables
// they reference, by name; a file it cannot read or parse gives a warning.
func collectVarUses(st *stack.Stack) (map[string]*varUse, []validate.Check) {
	refs := map[string]*varUse{}
	add := func(r varRef, svc string, class stack.Class) {
		u := refs[r.name]
		if u == nil {
			u = &varUse{services: map[string]bool{}}
			refs[r.name] = u
		}
		if svc == "" {
			u.stack = true
		} else if !u.services[svc] {
			u.services[svc] = true
			u.classes = append(u.classes, class)
		}
		u.plain = u.plain || r.plain
	}
	var readErrs []validate.Check
	for _, f := range st.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			readErrs = append(readErrs, validate.Check{Name: CheckEnv, Status: validate.Warn, Detail: fmt.Sprintf("cannot re-read %s to check its variables: %v", f, err)})
			continue
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			readErrs = append(readErrs, validate.Check{Name: CheckEnv, Status: validate.Warn, Detail: fmt.Sprintf("cannot parse %s to check its variables: %v", f, err)})
			continue
		}
		for key, v := range doc {
			switch {
			case key == "services":
				svcs, _ := v.(map[string]any)
				for name, def := range svcs {
					s := st.Services[name]
					if s == nil {
						continue // disabled by a profile or not selected
					}
					walkStrings(def, func(str string) {
						for _, r := range scanRefs(str) {
							add(r, name, s.Class)
						}
					})
				}
			case key == "name", key == "networks", key == "volumes", key == "configs", key == "secrets":
				walkStrings(v, func(str string) {
					for _, r := range scanRefs(str) {
						add(r, "", "")
					}
				})
			}
		}
	}
	return refs, readErrs
}

// emptyVarCheck is the check of variable n, used as u says, that resolves
// to an empty string; set says it is set (but empty).
func emptyVarCheck(n string, u *varUse, set bool, envHint string) validate.Check {
	svcs := make([]string, 0, len(u.services))
	for s := range u.services {
		svcs = append(svcs, s)
	}
	sort.Strings(svcs)
	where := strings.Join(svcs, ", ")
	if u.stack {
		where = strings.TrimPrefix(where+", top-level sections", ", ")
	}
	c := validate.Check{Name: CheckEnv, Class: validate.StrongestClass(u.classes...)}
	if u.stack {
		c.Class = ""
	}
	if len(svcs) == 1 && !u.stack {
		c.Service = svcs[0]
	}
	state := "is not set"
	if set {
		state = "is set but empty"
	}
	c.Fix = fmt.Sprintf("set %s in %s; if empty is intended, write ${%s:-} in the compose file", n, envHint, n)
	if secretLike(n) {
		c.Status = validate.Fail
		c.Detail = fmt.Sprintf("variable %s %s, so it resolves to an empty string (used by %s); it looks like a secret", n, state, where)
	} else {
		c.Status = validate.Warn
		c.Detail = fmt.Sprintf("variable %s %s, so it resolves to an empty string (used by %s)", n, state, where)
	}
	return c
}
