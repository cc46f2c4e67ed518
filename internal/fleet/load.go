package fleet

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"

	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
)

// Loaded is a fleet whose compose files are loaded and checked.
type Loaded struct {
	*Fleet
	Stacks map[string]*LoadedStack
}

// LoadedStack is one stack, loaded.
type LoadedStack struct {
	*Stack
	St *stack.Stack
	G  *graph.Graph
}

// LoadOptions are what every stack's load shares.
type LoadOptions struct {
	// Env holds variables for every stack (below the OS environment and a
	// template instance's variables), e.g. DIVE_STANDIN_IMAGE.
	Env         map[string]string
	SchemaCache string
	// Environ is the process environment ("KEY=value") that interpolates
	// every stack's compose files (stack.Options.Environ).
	Environ []string
}

// Load renders templates and loads every stack's compose files, all at once,
// then checks that each dependency across stacks names services that exist
// and that no cycle runs through the stacks. Every problem is a
// *stack.ConfigError: nothing has touched an engine yet.
func Load(ctx context.Context, f *Fleet, o LoadOptions) (*Loaded, error) {
	l := &Loaded{Fleet: f, Stacks: map[string]*LoadedStack{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := map[string]error{}
	for _, s := range f.Stacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls, err := loadStack(ctx, s, o)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[s.Name] = err
				return
			}
			l.Stacks[s.Name] = ls
		}()
	}
	wg.Wait()
	for _, s := range f.Stacks { // the first in name order, for a stable message
		if err := errs[s.Name]; err != nil {
			return nil, fmt.Errorf("stack %s (%s line %d): %w", s.Name, f.where(), s.Line, err)
		}
	}
	if err := l.checkDeps(); err != nil {
		return nil, err
	}
	return l, nil
}

func (f *Fleet) where() string {
	if f.File == "" {
		return "fleet " + f.Name
	}
	return f.File
}

func loadStack(ctx context.Context, s *Stack, o LoadOptions) (*LoadedStack, error) {
	files, err := renderFiles(s)
	if err != nil {
		return nil, err
	}
	env := maps.Clone(o.Env)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, s.Variables)
	st, err := stack.Load(ctx, stack.Options{Environ: o.Environ, Files: files, ProjectName: s.Project, EnvFiles: s.EnvFiles, Profiles: s.Profiles,
		Env: env, SchemaCache: o.SchemaCache})
	if err != nil {
		return nil, err
	}
	g, err := st.Graph()
	if err != nil {
		return nil, err
	}
	return &LoadedStack{Stack: s, St: st, G: g}, nil
}

// checkDeps: every edge names active services, and the services of all
// stacks with their local and cross-stack edges form no cycle (which would
// wait until the deadline).
func (l *Loaded) checkDeps() error {
	var nodes []string
	var edges []graph.Edge
	for _, name := range l.stackNames() {
		ls := l.Stacks[name]
		for _, n := range ls.St.Names {
			nodes = append(nodes, name+"."+n)
			for _, e := range ls.G.Deps(n) {
				edges = append(edges, graph.Edge{From: name + "." + n, To: name + "." + e.To, Condition: e.Condition})
			}
		}
	}
	for _, d := range l.Deps {
		for _, r := range []Ref{d.From, d.To} {
			st := l.Stacks[r.Stack].St
			if st.Service(r.Service) == nil {
				return &stack.ConfigError{Msg: fmt.Sprintf("%s:%d: depends_on %s -> %s: stack %s has no active service %s", l.where(), d.Line, d.From, d.To, r.Stack, r.Service),
					Fix: fmt.Sprintf("services of %s: %s (a profile may exclude the one you mean)", r.Stack, strings.Join(st.Names, ", "))}
			}
		}
		edges = append(edges, graph.Edge{From: d.From.String(), To: d.To.String(), Condition: d.Condition})
	}
	if _, err := graph.New(nodes, edges); err != nil {
		if ce, ok := err.(*graph.CycleError); ok {
			return &stack.ConfigError{Msg: fmt.Sprintf("%s: the dependencies across stacks make a cycle: %s", l.where(), strings.Join(ce.Cycle, " -> ")),
				Fix: "remove one depends_on edge of the cycle (in the fleet file or a compose file)"}
		}
		return err
	}
	return nil
}

// depsOf returns the cross-stack dependencies of a stack, by service.
func (l *Loaded) depsOf(stackName string) map[string][]Dep {
	out := map[string][]Dep{}
	for _, d := range l.Deps {
		if d.From.Stack == stackName {
			out[d.From.Service] = append(out[d.From.Service], d)
		}
	}
	for _, ds := range out {
		sort.Slice(ds, func(i, j int) bool { return ds[i].To.String() < ds[j].To.String() })
	}
	return out
}
