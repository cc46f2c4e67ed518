package fleet

import (
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"

	"github.com/dive-hub/dive/internal/graph"
	"go.yaml.in/yaml/v3"
)

// templates reads the templates: section: one compose file, many instances.
func (p *parser) templates(n *yaml.Node) error {
	kvs, err := p.mapping(n, "templates")
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if err := p.template(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) template(key, n *yaml.Node) error {
	name := key.Value
	what := "templates." + name
	if !nameRE.MatchString(name) {
		return p.errf(key, "use lower-case letters, digits, '-' and '_'", "template name %q is not valid", name)
	}
	kvs, err := p.mapping(n, what, append([]string{"variables", "instances", "depends_on"}, stackFields...)...)
	if err != nil {
		return err
	}
	base := &Stack{Class: Core, Template: name}
	vars := map[string]string{}
	var instances, deps *yaml.Node
	for _, kv := range kvs {
		switch kv[0].Value {
		case "variables":
			if err := p.variables(kv[1], what+".variables", vars); err != nil {
				return err
			}
		case "instances":
			instances = kv[1]
		case "depends_on":
			deps = kv[1]
		default:
			if err := p.stackField(base, kv[0].Value, kv[1], what+"."+kv[0].Value); err != nil {
				return err
			}
		}
	}
	if instances == nil {
		return p.errf(n, "add instances: {fra: {variables: {...}}, ...}", "template %s has no instances", name)
	}
	ikvs, err := p.mapping(instances, what+".instances")
	if err != nil {
		return err
	}
	for _, ikv := range ikvs {
		s, err := p.instance(base, vars, ikv[0], ikv[1])
		if err != nil {
			return err
		}
		if err := p.add(ikv[0], s); err != nil {
			return err
		}
		if deps != nil {
			if err := p.deps(deps, s.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) instance(base *Stack, tvars map[string]string, key, n *yaml.Node) (*Stack, error) {
	inst := key.Value
	what := "templates." + base.Template + ".instances." + inst
	if !nameRE.MatchString(inst) {
		return nil, p.errf(key, "use lower-case letters, digits, '-' and '_'", "instance name %q is not valid", inst)
	}
	b := *base
	b.Name = base.Template + "-" + inst
	b.Instance = inst
	b.Variables = maps.Clone(tvars)
	s := &b
	if n.Kind != yaml.ScalarNode || n.Tag != "!!null" {
		// variables are read apart: they are not a stack field.
		fields := &yaml.Node{Kind: yaml.MappingNode}
		kvs, err := p.mapping(n, what, append([]string{"variables"}, stackFields...)...)
		if err != nil {
			return nil, err
		}
		for _, kv := range kvs {
			if kv[0].Value == "variables" {
				if err := p.variables(kv[1], what+".variables", b.Variables); err != nil {
					return nil, err
				}
				continue
			}
			fields.Content = append(fields.Content, kv[0], kv[1])
		}
		st, err := p.stackEntry(key, fields, what, &b, stackFields...)
		if err != nil {
			return nil, err
		}
		s = st
	}
	s.Line = key.Line
	instanceVariables(s)
	if s.Project != "" {
		project, err := Render(s.Project, s.Variables)
		if err != nil {
			return nil, p.errf(key, "add the variable to the instance's variables:", "%s.project: %v", what, err)
		}
		s.Project = project
	}
	return s, nil
}

// instanceVariables adds the variables every instance has: INSTANCE_NAME
// (the instance key), INSTANCE_CODE (default: the key in upper case) and
// INSTANCE_CODE_UPPER / INSTANCE_CODE_LOWER, as DIVE's spoke template uses.
func instanceVariables(s *Stack) {
	v := s.Variables
	if v == nil {
		v = map[string]string{}
		s.Variables = v
	}
	v["INSTANCE_NAME"] = s.Instance
	if v["INSTANCE_CODE"] == "" {
		v["INSTANCE_CODE"] = strings.ToUpper(s.Instance)
	}
	v["INSTANCE_CODE_UPPER"] = strings.ToUpper(v["INSTANCE_CODE"])
	v["INSTANCE_CODE_LOWER"] = strings.ToLower(v["INSTANCE_CODE"])
}

// varRE is a variable name (a template placeholder or a compose variable).
var varRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (p *parser) variables(n *yaml.Node, what string, into map[string]string) error {
	kvs, err := p.mapping(n, what)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		if !varRE.MatchString(kv[0].Value) {
			return p.errf(kv[0], "variable names are letters, digits and '_', not starting with a digit", "%s: %q is not a variable name", what, kv[0].Value)
		}
		v, err := p.scalar(kv[1], what+"."+kv[0].Value)
		if err != nil {
			return err
		}
		into[kv[0].Value] = v
	}
	return nil
}

// deps reads a depends_on: section. At the top level (from == "") each key
// is "stack.service"; in a template each key is a service of the instance
// named from.
func (p *parser) deps(n *yaml.Node, from string) error {
	what := "depends_on"
	kvs, err := p.mapping(n, what)
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		var src Ref
		if from == "" {
			src, err = p.ref(kv[0], "")
		} else {
			src, err = p.ref(kv[0], from)
		}
		if err != nil {
			return err
		}
		targets, err := p.mapping(kv[1], what+"."+kv[0].Value)
		if err != nil {
			return err
		}
		for _, t := range targets {
			d, err := p.dep(src, t[0], t[1])
			if err != nil {
				return err
			}
			p.f.Deps = append(p.f.Deps, d)
		}
	}
	return nil
}

// ref parses "stack.service"; with local set, a bare "service" of that stack.
func (p *parser) ref(n *yaml.Node, local string) (Ref, error) {
	st, svc, ok := strings.Cut(n.Value, ".")
	if local != "" && !ok {
		return Ref{Stack: local, Service: n.Value}, nil
	}
	if !ok || st == "" || svc == "" {
		return Ref{}, p.errf(n, "write STACK.SERVICE, e.g. hub.keycloak", "%q does not name a stack's service", n.Value)
	}
	if p.f.Stack(st) == nil {
		return Ref{}, p.errf(n, "stacks: "+strings.Join(p.f.stackNames(), ", "), "%q: there is no stack %s", n.Value, st)
	}
	return Ref{Stack: st, Service: svc}, nil
}

func (f *Fleet) stackNames() []string {
	var out []string
	for _, s := range f.Stacks {
		out = append(out, s.Name)
	}
	sort.Strings(out)
	return out
}

var conditions = []string{string(graph.Started), string(graph.Healthy), string(graph.Completed)}

func (p *parser) dep(from Ref, key, v *yaml.Node) (Dep, error) {
	to, err := p.ref(key, "")
	if err != nil {
		return Dep{}, err
	}
	if to.Stack == from.Stack {
		return Dep{}, p.errf(key, "write it as depends_on in the stack's compose file", "%s -> %s stays inside stack %s", from, to, from.Stack)
	}
	d := Dep{From: from, To: to, Condition: graph.Started, Required: true, Line: key.Line}
	if v.Kind == yaml.ScalarNode {
		d.Condition = graph.Condition(v.Value)
	} else {
		kvs, err := p.mapping(v, fmt.Sprintf("%s -> %s", from, to), "condition", "required")
		if err != nil {
			return Dep{}, err
		}
		for _, kv := range kvs {
			switch kv[0].Value {
			case "condition":
				d.Condition = graph.Condition(kv[1].Value)
			case "required":
				if kv[1].Value != "true" && kv[1].Value != "false" {
					return Dep{}, p.errf(kv[1], "write required: true or required: false", "required must be true or false")
				}
				d.Required = kv[1].Value == "true"
			}
		}
	}
	if !contains(conditions, string(d.Condition)) {
		return Dep{}, p.errf(v, "conditions: "+strings.Join(conditions, ", "), "%s -> %s: condition %q is not one of compose's", from, to, d.Condition)
	}
	return d, nil
}
