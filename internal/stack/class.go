package stack

import (
	"fmt"
	"sort"
	"strings"
)

// ExtensionKey is the top-level compose extension dive reads:
//
//	x-dive:
//	  classes:
//	    init:           {blocking: dependents, one-shot: true}
//	    infrastructure: {blocking: true}
//	    monitoring:     {blocking: false}
//
// It declares service classes (the values of the dive.service.class label)
// beyond the built-in ones, so a team's own vocabulary needs no release of dive.
const ExtensionKey = "x-dive"

// Blocking says whether a class's failure blocks (fails) the deploy.
type Blocking string

const (
	// BlockAlways: the service is core; its failure fails the deploy.
	BlockAlways Blocking = "true"
	// BlockNever: reported, never blocks nor fails the deploy.
	BlockNever Blocking = "false"
	// BlockAsDependents: as blocking as the services that depend on it (the
	// strongest class among them); non-blocking when nothing depends on it.
	BlockAsDependents Blocking = "dependents"
)

// ClassDef is what a class name means to a deploy.
type ClassDef struct {
	Name     string   `json:"name"`
	Blocking Blocking `json:"blocking"`
	// OneShot: the service is a job that runs once and must exit 0; it is
	// ready when it has.
	OneShot bool `json:"one_shot,omitempty"`
	// Builtin: defined by dive rather than by the compose file.
	Builtin bool `json:"builtin,omitempty"`
}

// BuiltinClasses are the classes dive knows without any x-dive declaration.
func BuiltinClasses() map[string]ClassDef {
	return map[string]ClassDef{
		string(Core):     {Name: string(Core), Blocking: BlockAlways, Builtin: true},
		string(Optional): {Name: string(Optional), Blocking: BlockNever, Builtin: true},
		string(Stretch):  {Name: string(Stretch), Blocking: BlockNever, Builtin: true},
		// DIVE's own vocabulary (February 2026 files).
		"infrastructure": {Name: "infrastructure", Blocking: BlockAlways, Builtin: true},
		"init":           {Name: "init", Blocking: BlockAsDependents, OneShot: true, Builtin: true},
	}
}

// classNames lists the known classes, sorted, for error messages.
func classNames(defs map[string]ClassDef) string {
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// parseClasses reads x-dive.classes from the project's extensions and
// merges it over the built-in classes. core, optional and stretch cannot
// be redefined: every other class is expressed through them.
func parseClasses(ext map[string]any) (map[string]ClassDef, error) {
	defs := BuiltinClasses()
	raw, ok := ext[ExtensionKey]
	if !ok || raw == nil {
		return defs, nil
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s must be a mapping (with a classes: key), not %T", ExtensionKey, raw)
	}
	cls, ok := top["classes"]
	if !ok || cls == nil {
		return defs, nil
	}
	m, ok := cls.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s.classes must map class names to {blocking, one-shot}, not %T", ExtensionKey, cls)
	}
	var errs []string
	for name, v := range m {
		def, err := parseClassDef(strings.ToLower(strings.TrimSpace(name)), v)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		defs[def.Name] = def
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return defs, nil
}

func parseClassDef(name string, v any) (ClassDef, error) {
	where := fmt.Sprintf("%s.classes.%s", ExtensionKey, name)
	switch Class(name) {
	case Core, Optional, Stretch:
		return ClassDef{}, fmt.Errorf("%s: %s is built in and cannot be redefined", where, name)
	}
	if name == "" {
		return ClassDef{}, fmt.Errorf("%s.classes: a class name is empty", ExtensionKey)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return ClassDef{}, fmt.Errorf("%s must be a mapping like {blocking: true, one-shot: false}, not %v", where, v)
	}
	def := ClassDef{Name: name, Blocking: BlockAlways}
	for k, val := range m {
		switch k {
		case "blocking":
			b, err := parseBlocking(val)
			if err != nil {
				return ClassDef{}, fmt.Errorf("%s.blocking: %w", where, err)
			}
			def.Blocking = b
		case "one-shot", "one_shot", "oneshot":
			b, err := parseBool(val)
			if err != nil {
				return ClassDef{}, fmt.Errorf("%s.%s: %w", where, k, err)
			}
			def.OneShot = b
		default:
			return ClassDef{}, fmt.Errorf("%s: unknown key %q (known: blocking, one-shot)", where, k)
		}
	}
	return def, nil
}

func parseBlocking(v any) (Blocking, error) {
	if s, ok := v.(string); ok && strings.EqualFold(strings.TrimSpace(s), string(BlockAsDependents)) {
		return BlockAsDependents, nil
	}
	b, err := parseBool(v)
	if err != nil {
		return "", fmt.Errorf("%v is not true, false or dependents", v)
	}
	if b {
		return BlockAlways, nil
	}
	return BlockNever, nil
}

func parseBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	return false, fmt.Errorf("%v is not true or false", v)
}

// resolveClasses turns each service's declared class into the class the
// deploy acts on (core, optional or stretch): blocking classes are core,
// non-blocking ones optional (stretch stays stretch), and a class blocking
// as its dependents takes the strongest class among the services that
// depend on it, transitively through other such classes.
func resolveClasses(svcs map[string]*Service, defs map[string]ClassDef) {
	dependents := map[string][]string{}
	var inherit []string
	for name, s := range svcs {
		for dep := range s.Config.DependsOn {
			dependents[dep] = append(dependents[dep], name)
		}
		switch def := defs[s.Declared]; {
		case Class(s.Declared) == Stretch:
			s.Class = Stretch
		case def.Blocking == BlockAlways:
			s.Class = Core
		case def.Blocking == BlockAsDependents:
			s.Class = Optional
			inherit = append(inherit, name)
		default:
			s.Class = Optional
		}
	}
	sort.Strings(inherit)
	// The strongest class only grows, and the graph has no cycles: this
	// settles in at most len(inherit)+1 rounds.
	for changed := true; changed; {
		changed = false
		for _, name := range inherit {
			want := Optional
			for _, d := range dependents[name] {
				if ds, ok := svcs[d]; ok {
					want = stronger(want, ds.Class)
				}
			}
			if want != svcs[name].Class {
				svcs[name].Class, changed = want, true
			}
		}
	}
}

// stronger returns the class that weighs more: core > stretch > optional.
func stronger(a, b Class) Class {
	rank := map[Class]int{Optional: 0, Stretch: 1, Core: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}
