// Package fleet deploys several compose stacks, each on its own Docker
// engine, from one fleet file: every stack with the single-stack machinery
// (stack.Load, engine.New, lock, preflight, deploy.Run), all at once, with
// dependencies across stacks gating exactly like depends_on inside one.
package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
	"go.yaml.in/yaml/v3"
)

// Class says what a stack's failure means for the fleet.
type Class string

const (
	// Core: its failure fails the fleet deploy and stops what is still starting.
	Core Class = "core"
	// Optional: its failure is reported; it never blocks or fails the others.
	Optional Class = "optional"
)

// DefaultEngine is the name of the engine of stacks that name none: the one
// DOCKER_HOST (or the local socket) points at.
const DefaultEngine = "default"

// Engine is one Docker engine as the fleet file describes it.
type Engine struct {
	Name string
	// Host is a DOCKER_HOST-style URL: unix://, tcp://, ssh://user@host[:port].
	Host string
	// TLSDir holds ca.pem, cert.pem and key.pem for a tcp:// host.
	TLSDir string
	// SSHKey is the identity file for an ssh:// host (default: ssh's own).
	SSHKey string
	// SSHKnownHosts is the known_hosts file for an ssh:// host (default:
	// ssh's own, new hosts accepted on first use).
	SSHKnownHosts string
	// Context is a docker context name (instead of Host). With neither,
	// the engine is the environment's (DOCKER_HOST or the local socket).
	Context string
	Line    int
}

// Describe says where the engine is, for messages.
func (e *Engine) Describe() string {
	switch {
	case e.Context != "":
		return fmt.Sprintf("%s (docker context %s)", e.Name, e.Context)
	case e.Host != "":
		return fmt.Sprintf("%s (%s)", e.Name, e.Host)
	}
	return e.Name + " (DOCKER_HOST or the local socket)"
}

// Stack is one compose stack of the fleet: a stack entry, or one instance
// of a template.
type Stack struct {
	Name     string
	Files    []string // absolute
	Project  string
	EnvFiles []string // absolute
	Profiles []string
	Engine   string // a key of Fleet.Engines
	Class    Class
	// Template and Instance are set for a template instance; Variables are
	// its variables ({{NAME}} placeholders and ${NAME} interpolation).
	Template  string
	Instance  string
	Variables map[string]string
	Line      int
}

// Ref names a service of a stack: "stack.service".
type Ref struct{ Stack, Service string }

func (r Ref) String() string { return r.Stack + "." + r.Service }

// Dep is a dependency across stacks: From waits for To to meet Condition.
type Dep struct {
	From, To  Ref
	Condition graph.Condition
	Required  bool
	Line      int
}

// Fleet is a parsed fleet file.
type Fleet struct {
	Name    string
	File    string // absolute path, "" for an in-memory fleet
	Dir     string
	Engines map[string]*Engine
	Stacks  []*Stack // sorted by name
	Deps    []Dep
}

// Stack returns the named stack or nil.
func (f *Fleet) Stack(name string) *Stack {
	for _, s := range f.Stacks {
		if s.Name == name {
			return s
		}
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// parseError is a configuration error naming the file and line.
func (p *parser) errf(n *yaml.Node, fix, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &stack.ConfigError{Msg: fmt.Sprintf("%s:%d: %s", p.file, line, fmt.Sprintf(format, args...)), Fix: fix}
}

type parser struct {
	file string // as shown in messages
	dir  string
	f    *Fleet
}

// ParseFile reads a fleet file. Every problem is a *stack.ConfigError
// naming the file and line.
func ParseFile(path string) (*Fleet, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &stack.ConfigError{Msg: fmt.Sprintf("fleet file %s: %v", path, err), Err: err}
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, &stack.ConfigError{Msg: fmt.Sprintf("fleet file %s cannot be read: %v", abs, err), Fix: "pass the fleet file with -f (default dive-fleet.yml in the current folder)", Err: err}
	}
	f, err := Parse(abs, filepath.Dir(abs), data)
	if err != nil {
		return nil, err
	}
	f.File = abs
	return f, nil
}

// Parse parses fleet file content; relative paths resolve against dir.
func Parse(file, dir string, data []byte) (*Fleet, error) {
	p := &parser{file: file, dir: dir, f: &Fleet{File: file, Dir: dir, Engines: map[string]*Engine{}}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &stack.ConfigError{Msg: fmt.Sprintf("%s: %v", file, err), Fix: "fix the YAML syntax", Err: err}
	}
	if len(doc.Content) == 0 {
		return nil, p.errf(&doc, "write at least name: and stacks: (see docs/fleet.md)", "the fleet file is empty")
	}
	if err := p.top(doc.Content[0]); err != nil {
		return nil, err
	}
	sort.Slice(p.f.Stacks, func(i, j int) bool { return p.f.Stacks[i].Name < p.f.Stacks[j].Name })
	if len(p.f.Stacks) == 0 {
		return nil, p.errf(doc.Content[0], "add a stacks: or templates: entry", "the fleet has no stacks")
	}
	return p.f, nil
}

// mapping checks that n is a mapping with only the allowed keys and returns
// its key/value pairs in order.
func (p *parser) mapping(n *yaml.Node, what string, allowed ...string) ([][2]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "see docs/fleet.md for the format", "%s must be a mapping", what)
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if allowed != nil && !contains(allowed, k.Value) {
			return nil, p.errf(k, "known keys: "+strings.Join(allowed, ", "), "%s: unknown key %q", what, k.Value)
		}
		out = append(out, [2]*yaml.Node{k, n.Content[i+1]})
	}
	return out, nil
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func (p *parser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errf(n, "", "%s must be a single value", what)
	}
	return n.Value, nil
}

// strings accepts a scalar or a sequence of scalars.
func (p *parser) strings(n *yaml.Node, what string) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "", "%s must be a value or a list of values", what)
	}
	var out []string
	for _, c := range n.Content {
		s, err := p.scalar(c, what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) path(s string) string {
	if strings.HasPrefix(s, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			s = filepath.Join(home, s[2:])
		}
	}
	if filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(p.dir, s)
}

func (p *parser) top(n *yaml.Node) error {
	kvs, err := p.mapping(n, "the fleet file", "name", "engines", "stacks", "templates", "depends_on")
	if err != nil {
		return err
	}
	// Engines first: stacks refer to them.
	for _, kv := range kvs {
		if kv[0].Value == "engines" {
			if err := p.engines(kv[1]); err != nil {
				return err
			}
		}
	}
	for _, kv := range kvs {
		var err error
		switch kv[0].Value {
		case "name":
			p.f.Name, err = p.scalar(kv[1], "name")
			if err == nil && !nameRE.MatchString(p.f.Name) {
				err = p.errf(kv[1], "use lower-case letters, digits, '-' and '_'", "name %q is not a valid fleet name", p.f.Name)
			}
		case "stacks":
			err = p.stacks(kv[1])
		case "templates":
			err = p.templates(kv[1])
		}
		if err != nil {
			return err
		}
	}
	if p.f.Name == "" {
		return p.errf(n, "add name: <fleet name> (it names the fleet's records)", "the fleet has no name")
	}
	for _, kv := range kvs {
		if kv[0].Value == "depends_on" {
			if err := p.deps(kv[1], ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) engines(n *yaml.Node) error {
	kvs, err := p.mapping(n, "engines")
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		name := kv[0].Value
		if !nameRE.MatchString(name) {
			return p.errf(kv[0], "use lower-case letters, digits, '-' and '_'", "engine name %q is not valid", name)
		}
		e := &Engine{Name: name, Line: kv[0].Line}
		if kv[1].Kind == yaml.ScalarNode {
			e.Host = kv[1].Value
		} else {
			fields, err := p.mapping(kv[1], "engines."+name, "host", "tls", "ssh_key", "ssh_known_hosts", "context")
			if err != nil {
				return err
			}
			for _, f := range fields {
				v, err := p.scalar(f[1], "engines."+name+"."+f[0].Value)
				if err != nil {
					return err
				}
				switch f[0].Value {
				case "host":
					e.Host = v
				case "tls":
					e.TLSDir = p.path(v)
				case "ssh_key":
					e.SSHKey = p.path(v)
				case "ssh_known_hosts":
					e.SSHKnownHosts = p.path(v)
				case "context":
					e.Context = v
				}
			}
		}
		if err := p.checkEngine(kv[1], e); err != nil {
			return err
		}
		p.f.Engines[name] = e
	}
	return nil
}

func (p *parser) checkEngine(n *yaml.Node, e *Engine) error {
	if e.Host != "" && e.Context != "" {
		return p.errf(n, "keep host: (unix:///var/run/docker.sock, tcp://HOST:2376, ssh://USER@HOST) or context: NAME", "engine %s has both host and context", e.Name)
	}
	if e.Host != "" {
		scheme, _, ok := strings.Cut(e.Host, "://")
		if !ok || !contains([]string{"unix", "tcp", "ssh"}, scheme) {
			return p.errf(n, "use unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST[:PORT]", "engine %s: host %q is not a unix://, tcp:// or ssh:// URL", e.Name, e.Host)
		}
		if e.TLSDir != "" && scheme != "tcp" {
			return p.errf(n, "remove tls:, or use a tcp:// host", "engine %s: tls applies to tcp:// hosts only", e.Name)
		}
		if (e.SSHKey != "" || e.SSHKnownHosts != "") && scheme != "ssh" {
			return p.errf(n, "remove ssh_key: and ssh_known_hosts:, or use an ssh:// host", "engine %s: ssh_key and ssh_known_hosts apply to ssh:// hosts only", e.Name)
		}
	}
	return nil
}

// stackFields are the keys shared by stacks and templates.
var stackFields = []string{"compose", "project", "env_file", "profiles", "engine", "class"}

func (p *parser) stacks(n *yaml.Node) error {
	kvs, err := p.mapping(n, "stacks")
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		s, err := p.stackEntry(kv[0], kv[1], "stacks."+kv[0].Value, &Stack{Name: kv[0].Value, Class: Core}, stackFields...)
		if err != nil {
			return err
		}
		if err := p.add(kv[0], s); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) add(at *yaml.Node, s *Stack) error {
	if !nameRE.MatchString(s.Name) {
		return p.errf(at, "use lower-case letters, digits, '-' and '_' (no dots: a dot separates stack and service)", "stack name %q is not valid", s.Name)
	}
	if p.f.Stack(s.Name) != nil {
		return p.errf(at, "rename one of them", "stack %s is defined twice", s.Name)
	}
	if len(s.Files) == 0 {
		return p.errf(at, "add compose: <file>", "stack %s has no compose file", s.Name)
	}
	if s.Project == "" && s.Template != "" {
		s.Project = s.Name // a stack entry's project is its compose file's (name:, COMPOSE_PROJECT_NAME, folder)
	}
	p.f.Stacks = append(p.f.Stacks, s)
	return nil
}

// stackEntry reads one stack's fields over the defaults in base.
func (p *parser) stackEntry(key, n *yaml.Node, what string, base *Stack, allowed ...string) (*Stack, error) {
	s := *base
	s.Line = key.Line
	s.Files = append([]string(nil), base.Files...)
	s.EnvFiles = append([]string(nil), base.EnvFiles...)
	s.Profiles = append([]string(nil), base.Profiles...)
	kvs, err := p.mapping(n, what, allowed...)
	if err != nil {
		return nil, err
	}
	for _, kv := range kvs {
		field := what + "." + kv[0].Value
		if err := p.stackField(&s, kv[0].Value, kv[1], field); err != nil {
			return nil, err
		}
	}
	return &s, nil
}

func (p *parser) stackField(s *Stack, key string, v *yaml.Node, field string) error {
	switch key {
	case "compose", "env_file":
		xs, err := p.strings(v, field)
		if err != nil {
			return err
		}
		for i := range xs {
			xs[i] = p.path(xs[i])
		}
		if key == "compose" {
			s.Files = xs
		} else {
			s.EnvFiles = xs
		}
	case "profiles":
		xs, err := p.strings(v, field)
		if err != nil {
			return err
		}
		s.Profiles = xs
	case "project", "engine", "class":
		x, err := p.scalar(v, field)
		if err != nil {
			return err
		}
		return p.setScalar(s, key, x, v)
	}
	return nil
}

func (p *parser) setScalar(s *Stack, key, x string, v *yaml.Node) error {
	switch key {
	case "project":
		s.Project = x
	case "class":
		if x != string(Core) && x != string(Optional) {
			return p.errf(v, "write class: core or class: optional", "class %q is not core or optional", x)
		}
		s.Class = Class(x)
	case "engine":
		name, err := p.engineRef(x, v)
		if err != nil {
			return err
		}
		s.Engine = name
	}
	return nil
}

// engineRef resolves a stack's engine: a name from engines:, or an inline
// URL (declared on the fly under its own URL as name).
func (p *parser) engineRef(x string, v *yaml.Node) (string, error) {
	if _, ok := p.f.Engines[x]; ok {
		return x, nil
	}
	if strings.Contains(x, "://") {
		e := &Engine{Name: x, Host: x, Line: v.Line}
		if err := p.checkEngine(v, e); err != nil {
			return "", err
		}
		p.f.Engines[x] = e
		return x, nil
	}
	if x == DefaultEngine {
		return x, nil
	}
	var known []string
	for k := range p.f.Engines {
		known = append(known, k)
	}
	sort.Strings(known)
	fix := "declare it under engines: (host: URL or context: NAME), or write the URL itself"
	if len(known) > 0 {
		fix += "; declared engines: " + strings.Join(known, ", ")
	}
	return "", p.errf(v, fix, "engine %q is not declared", x)
}
