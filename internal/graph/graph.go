// Package graph holds the service dependency graph: edges with their
// conditions, cycle detection, a topological order and the critical path.
// It is pure.
package graph

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Condition is a depends_on condition.
type Condition string

const (
	Started   Condition = "service_started"
	Healthy   Condition = "service_healthy"
	Completed Condition = "service_completed_successfully"
)

// Edge says From waits for To to meet Condition.
type Edge struct {
	From      string    `json:"from"`
	To        string    `json:"to"`
	Condition Condition `json:"condition"`
	Required  bool      `json:"required"`
	Restart   bool      `json:"restart"`
}

// Graph is a DAG of services.
type Graph struct {
	nodes      []string
	deps       map[string][]Edge // From -> edges
	dependents map[string][]string
}

// CycleError names the services of a dependency cycle.
type CycleError struct{ Cycle []string }

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Cycle, " -> ")
}

// New builds a graph. Edges to nodes not in the graph are dropped (compose-go
// has already rejected required ones). It fails on a cycle.
func New(nodes []string, edges []Edge) (*Graph, error) {
	g := &Graph{deps: map[string][]Edge{}, dependents: map[string][]string{}}
	in := map[string]bool{}
	for _, n := range nodes {
		if !in[n] {
			in[n] = true
			g.nodes = append(g.nodes, n)
		}
	}
	sort.Strings(g.nodes)
	for _, e := range edges {
		if !in[e.From] || !in[e.To] {
			continue
		}
		if e.Condition == "" {
			e.Condition = Started
		}
		g.deps[e.From] = append(g.deps[e.From], e)
		g.dependents[e.To] = append(g.dependents[e.To], e.From)
	}
	for n := range g.deps {
		sort.Slice(g.deps[n], func(i, j int) bool { return g.deps[n][i].To < g.deps[n][j].To })
	}
	for n := range g.dependents {
		sort.Strings(g.dependents[n])
	}
	if c := g.findCycle(); c != nil {
		return nil, &CycleError{Cycle: c}
	}
	return g, nil
}

// Nodes returns the services, sorted by name.
func (g *Graph) Nodes() []string { return append([]string(nil), g.nodes...) }

// Deps returns the edges out of name (what it waits for).
func (g *Graph) Deps(name string) []Edge { return g.deps[name] }

// Dependents returns the services that wait for name.
func (g *Graph) Dependents(name string) []string { return g.dependents[name] }

// Edges returns every edge, sorted.
func (g *Graph) Edges() []Edge {
	var out []Edge
	for _, n := range g.nodes {
		out = append(out, g.deps[n]...)
	}
	return out
}

func (g *Graph) findCycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, e := range g.deps[n] {
			switch color[e.To] {
			case grey:
				i := len(stack) - 1
				for stack[i] != e.To {
					i--
				}
				cycle = append(append([]string(nil), stack[i:]...), e.To)
				return true
			case white:
				if visit(e.To) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range g.nodes {
		if color[n] == white && visit(n) {
			return cycle
		}
	}
	return nil
}

// Order returns a topological order (dependencies first), ties by name.
func (g *Graph) Order() []string {
	indeg := map[string]int{}
	for _, n := range g.nodes {
		indeg[n] = len(g.deps[n])
	}
	var ready, out []string
	for _, n := range g.nodes {
		if indeg[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, d := range g.dependents[n] {
			indeg[d]--
			if indeg[d] == 0 {
				ready = append(ready, d)
			}
		}
	}
	return out
}

// Levels groups the order into waves: every service in a wave depends only on
// earlier waves. Shown by plan; the scheduler never waits level by level.
func (g *Graph) Levels() [][]string {
	level := map[string]int{}
	maxLevel := 0
	for _, n := range g.Order() {
		l := 0
		for _, e := range g.deps[n] {
			if level[e.To]+1 > l {
				l = level[e.To] + 1
			}
		}
		level[n] = l
		if l > maxLevel {
			maxLevel = l
		}
	}
	out := make([][]string, maxLevel+1)
	for _, n := range g.Order() {
		out[level[n]] = append(out[level[n]], n)
	}
	if len(g.nodes) == 0 {
		return nil
	}
	return out
}

// Link is one step of a critical path.
type Link struct {
	Service string        `json:"service"`
	Start   time.Duration `json:"start"` // when it can start, from the deploy's start
	Ready   time.Duration `json:"ready"` // when it is ready
	// Via is the condition that made its successor wait on it.
	Via Condition `json:"via,omitempty"`
}

// CriticalPath computes, for the given per-service readiness times (start to
// ready), when each service can start and be ready if everything starts the
// moment its own dependencies meet their conditions, and returns the chain
// that ends last. A service_started edge only waits for the dependency's
// start; healthy and completed edges wait for its readiness. Only services
// in include (all when nil) end the path, so optional services can be left out.
func (g *Graph) CriticalPath(weight func(string) time.Duration, include func(string) bool) ([]Link, time.Duration) {
	start := map[string]time.Duration{}
	ready := map[string]time.Duration{}
	prev := map[string]Edge{}
	for _, n := range g.Order() {
		var s time.Duration
		var via Edge
		for _, e := range g.deps[n] {
			t := ready[e.To]
			if e.Condition == Started {
				t = start[e.To]
			}
			if t > s || (t == s && via.To == "") {
				s, via = t, e
			}
		}
		start[n] = s
		ready[n] = s + weight(n)
		if via.To != "" {
			prev[n] = via
		}
	}
	var end string
	for _, n := range g.nodes {
		if include != nil && !include(n) {
			continue
		}
		if end == "" || ready[n] > ready[end] {
			end = n
		}
	}
	if end == "" {
		return nil, 0
	}
	var path []Link
	for n := end; ; {
		l := Link{Service: n, Start: start[n], Ready: ready[n]}
		e, ok := prev[n]
		if len(path) > 0 {
			l.Via = path[len(path)-1].Via
		}
		path = append(path, l)
		if !ok {
			break
		}
		path[len(path)-1].Via = e.Condition
		n = e.To
	}
	// reverse to dependency-first order, shifting Via to the waiting link
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	for i := range path {
		path[i].Via = ""
		if i > 0 {
			for _, e := range g.deps[path[i].Service] {
				if e.To == path[i-1].Service {
					path[i].Via = e.Condition
				}
			}
		}
	}
	return path, ready[end]
}

// String renders a path like "postgres -> keycloak -> backend".
func PathString(p []Link) string {
	names := make([]string, len(p))
	for i, l := range p {
		names[i] = l.Service
	}
	return strings.Join(names, " -> ")
}

// Validate is a helper for tests and plan: it checks that an observed
// timeline honours every edge.
func (g *Graph) Validate(started, ready map[string]time.Time) error {
	var errs []string
	for _, e := range g.Edges() {
		s, ok := started[e.From]
		if !ok {
			continue
		}
		var t time.Time
		switch e.Condition {
		case Started:
			t = started[e.To]
		default:
			t = ready[e.To]
		}
		if t.IsZero() || s.Before(t) {
			errs = append(errs, fmt.Sprintf("%s started at %s before %s met %s (%s)", e.From, s.Format(time.RFC3339Nano), e.To, e.Condition, t.Format(time.RFC3339Nano)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
