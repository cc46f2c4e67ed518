package graph

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hubEdges is the depends_on graph of the DIVE hub (docker-compose.hub.yml).
func hubEdges() []Edge {
	h := func(from, to string) Edge { return Edge{From: from, To: to, Condition: Healthy, Required: true} }
	s := func(from, to string) Edge { return Edge{From: from, To: to, Condition: Started, Required: true} }
	return []Edge{
		h("keycloak", "postgres"),
		h("backend", "keycloak"), h("backend", "mongodb"), h("backend", "redis"), h("backend", "redis-blacklist"), h("backend", "opa"),
		h("frontend", "keycloak"), h("frontend", "backend"),
		s("kas", "opa"), s("kas", "mongodb"),
		s("opal-server", "opa"), s("opal-server", "backend"),
		s("otel-collector", "keycloak"), s("otel-collector", "backend"),
	}
}

var hubNodes = []string{"postgres", "mongodb", "redis", "redis-blacklist", "opa", "keycloak", "backend", "frontend", "kas", "opal-server", "otel-collector"}

// hubReadiness: seconds from a service's start to ready on a clean deploy of the real stack.
var hubReadiness = map[string]time.Duration{
	"opa": 6 * time.Second, "postgres": 6 * time.Second, "redis": 6 * time.Second, "redis-blacklist": 6 * time.Second,
	"mongodb": 6 * time.Second, "keycloak": 13 * time.Second, "kas": 12 * time.Second, "backend": 11 * time.Second,
	"otel-collector": 3 * time.Second, "frontend": 9 * time.Second, "opal-server": 8 * time.Second,
}

var hubClass = map[string]string{
	"postgres": "core", "mongodb": "core", "redis": "core", "redis-blacklist": "core", "opa": "core",
	"keycloak": "core", "backend": "core", "frontend": "core",
	"kas": "stretch", "opal-server": "stretch", "otel-collector": "optional",
}

func hubGraph(t *testing.T) *Graph {
	t.Helper()
	g, err := New(hubNodes, hubEdges())
	require.NoError(t, err)
	return g
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func TestNewCycle(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string
		edges []Edge
		want  []string
	}{
		{name: "self loop", nodes: []string{"a"}, edges: []Edge{{From: "a", To: "a"}}, want: []string{"a", "a"}},
		{name: "two", nodes: []string{"a", "b"}, edges: []Edge{{From: "a", To: "b"}, {From: "b", To: "a"}}, want: []string{"a", "b", "a"}},
		{
			name:  "three behind a tail",
			nodes: []string{"web", "x", "y", "z"},
			edges: []Edge{{From: "web", To: "x"}, {From: "x", To: "y"}, {From: "y", To: "z"}, {From: "z", To: "x"}},
			want:  []string{"x", "y", "z", "x"},
		},
		{
			name:  "hub plus a back edge postgres -> frontend",
			nodes: hubNodes,
			edges: append(hubEdges(), Edge{From: "postgres", To: "frontend", Condition: Healthy}),
			want:  []string{"backend", "keycloak", "postgres", "frontend", "backend"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.nodes, tt.edges)
			require.Error(t, err)
			var ce *CycleError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tt.want, ce.Cycle)
			assert.Contains(t, err.Error(), "dependency cycle: ")
		})
	}
}

func TestNewDropsEdgesToUnknownNodes(t *testing.T) {
	g, err := New([]string{"web", "web", "db"}, []Edge{{From: "web", To: "db"}, {From: "web", To: "authzforce", Condition: Healthy}, {From: "ghost", To: "db"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "web"}, g.Nodes())
	assert.Equal(t, []Edge{{From: "web", To: "db", Condition: Started}}, g.Edges(), "empty condition means service_started")
	assert.Equal(t, []string{"web"}, g.Dependents("db"))
	assert.Empty(t, g.Dependents("web"))
}

func isTopological(t *testing.T, g *Graph, order []string) {
	t.Helper()
	pos := map[string]int{}
	for i, n := range order {
		pos[n] = i
	}
	require.Len(t, pos, len(g.Nodes()), "every node exactly once")
	for _, e := range g.Edges() {
		assert.Less(t, pos[e.To], pos[e.From], "%s must come before %s", e.To, e.From)
	}
}

func TestOrder(t *testing.T) {
	g := hubGraph(t)
	want := []string{"mongodb", "opa", "kas", "postgres", "keycloak", "redis", "redis-blacklist", "backend", "frontend", "opal-server", "otel-collector"}
	assert.Equal(t, want, g.Order())
	isTopological(t, g, g.Order())

	// Stable: the input order of nodes and edges does not matter.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		nodes := append([]string(nil), hubNodes...)
		edges := hubEdges()
		rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		rng.Shuffle(len(edges), func(i, j int) { edges[i], edges[j] = edges[j], edges[i] })
		g2, err := New(nodes, edges)
		require.NoError(t, err)
		assert.Equal(t, want, g2.Order())
		assert.Equal(t, g.Edges(), g2.Edges())
	}
}

func TestOrderAndLevelsSmall(t *testing.T) {
	tests := []struct {
		name   string
		nodes  []string
		edges  []Edge
		order  []string
		levels [][]string
	}{
		{name: "empty", order: nil, levels: nil},
		{name: "independent", nodes: []string{"c", "a", "b"}, order: []string{"a", "b", "c"}, levels: [][]string{{"a", "b", "c"}}},
		{
			name:   "chain",
			nodes:  []string{"a", "b", "c"},
			edges:  []Edge{{From: "a", To: "b"}, {From: "b", To: "c"}},
			order:  []string{"c", "b", "a"},
			levels: [][]string{{"c"}, {"b"}, {"a"}},
		},
		{
			name:   "diamond",
			nodes:  []string{"top", "l", "r", "bottom"},
			edges:  []Edge{{From: "top", To: "l"}, {From: "top", To: "r"}, {From: "l", To: "bottom"}, {From: "r", To: "bottom"}},
			order:  []string{"bottom", "l", "r", "top"},
			levels: [][]string{{"bottom"}, {"l", "r"}, {"top"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.nodes, tt.edges)
			require.NoError(t, err)
			assert.Equal(t, tt.order, g.Order())
			assert.Equal(t, tt.levels, g.Levels())
		})
	}
}

func TestLevelsHub(t *testing.T) {
	g := hubGraph(t)
	assert.Equal(t, [][]string{
		{"mongodb", "opa", "postgres", "redis", "redis-blacklist"},
		{"kas", "keycloak"},
		{"backend"},
		{"frontend", "opal-server", "otel-collector"},
	}, g.Levels())
}

func TestCriticalPathHub(t *testing.T) {
	g := hubGraph(t)
	weight := func(n string) time.Duration { return hubReadiness[n] }
	onlyClass := func(classes ...string) func(string) bool {
		return func(n string) bool {
			for _, c := range classes {
				if hubClass[n] == c {
					return true
				}
			}
			return false
		}
	}
	// Hand-computed schedule, each service starting when its own conditions hold:
	//   postgres/mongodb/redis/redis-blacklist/opa: start 0, ready 6
	//   keycloak: waits postgres healthy (6) → 6..19
	//   backend: waits keycloak healthy (19) → 19..30
	//   frontend: waits backend healthy (30) → 30..39
	//   kas: started edges on opa and mongodb (start 0) → 0..12
	//   opal-server: started edge on backend (start 19) → 19..27
	//   otel-collector: started edges on keycloak (6) and backend (19) → 19..22
	corePath := []Link{
		{Service: "postgres", Start: 0, Ready: sec(6)},
		{Service: "keycloak", Start: sec(6), Ready: sec(19), Via: Healthy},
		{Service: "backend", Start: sec(19), Ready: sec(30), Via: Healthy},
		{Service: "frontend", Start: sec(30), Ready: sec(39), Via: Healthy},
	}
	tests := []struct {
		name    string
		include func(string) bool
		want    []Link
		total   time.Duration
	}{
		{name: "all services", include: nil, want: corePath, total: sec(39)},
		{name: "core only", include: onlyClass("core"), want: corePath, total: sec(39)},
		{
			// A started edge waits only for backend's start (19), not its readiness (30).
			name:    "stretch only: opal-server",
			include: onlyClass("stretch"),
			want: []Link{
				{Service: "postgres", Start: 0, Ready: sec(6)},
				{Service: "keycloak", Start: sec(6), Ready: sec(19), Via: Healthy},
				{Service: "backend", Start: sec(19), Ready: sec(30), Via: Healthy},
				{Service: "opal-server", Start: sec(19), Ready: sec(27), Via: Started},
			},
			total: sec(27),
		},
		{
			name:    "optional only: otel-collector",
			include: onlyClass("optional"),
			want: []Link{
				{Service: "postgres", Start: 0, Ready: sec(6)},
				{Service: "keycloak", Start: sec(6), Ready: sec(19), Via: Healthy},
				{Service: "backend", Start: sec(19), Ready: sec(30), Via: Healthy},
				{Service: "otel-collector", Start: sec(19), Ready: sec(22), Via: Started},
			},
			total: sec(22),
		},
		{
			// Both deps start at 0: the tie goes to the first edge by name (mongodb).
			name:    "kas only",
			include: func(n string) bool { return n == "kas" },
			want: []Link{
				{Service: "mongodb", Start: 0, Ready: sec(6)},
				{Service: "kas", Start: 0, Ready: sec(12), Via: Started},
			},
			total: sec(12),
		},
		{name: "nothing included", include: func(string) bool { return false }, want: nil, total: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, total := g.CriticalPath(weight, tt.include)
			assert.Equal(t, tt.want, path)
			assert.Equal(t, tt.total, total)
		})
	}
	path, _ := g.CriticalPath(weight, nil)
	assert.Equal(t, "postgres -> keycloak -> backend -> frontend", PathString(path))
}

func TestCriticalPathStartedVsHealthy(t *testing.T) {
	// The same two-node graph with each condition: only healthy and
	// completed wait for the dependency's readiness.
	w := map[string]time.Duration{"db": sec(10), "app": sec(2)}
	for _, tt := range []struct {
		cond  Condition
		start time.Duration
	}{
		{Started, 0},
		{Healthy, sec(10)},
		{Completed, sec(10)},
	} {
		t.Run(string(tt.cond), func(t *testing.T) {
			g, err := New([]string{"app", "db"}, []Edge{{From: "app", To: "db", Condition: tt.cond}})
			require.NoError(t, err)
			path, total := g.CriticalPath(func(n string) time.Duration { return w[n] }, func(n string) bool { return n == "app" })
			require.Len(t, path, 2)
			assert.Equal(t, Link{Service: "app", Start: tt.start, Ready: tt.start + sec(2), Via: tt.cond}, path[1])
			assert.Equal(t, tt.start+sec(2), total)
		})
	}
}

func TestValidate(t *testing.T) {
	g := hubGraph(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(sec(s)) }
	// A correct timeline: the hand-computed schedule of TestCriticalPathHub.
	started := map[string]time.Time{}
	ready := map[string]time.Time{}
	for n, s := range map[string]int{"postgres": 0, "mongodb": 0, "redis": 0, "redis-blacklist": 0, "opa": 0, "keycloak": 6, "backend": 19, "frontend": 30, "kas": 0, "opal-server": 19, "otel-collector": 19} {
		started[n] = at(s)
		ready[n] = at(s).Add(hubReadiness[n])
	}
	require.NoError(t, g.Validate(started, ready))

	t.Run("healthy edge violated", func(t *testing.T) {
		s := copyTimes(started)
		s["backend"] = at(18) // keycloak is ready at 19
		err := g.Validate(s, ready)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "backend started")
		assert.Contains(t, err.Error(), "before keycloak met service_healthy")
	})
	t.Run("started edge only needs the start", func(t *testing.T) {
		s := copyTimes(started)
		s["opal-server"] = at(19) // backend started at 19, ready only at 30
		require.NoError(t, g.Validate(s, ready))
		s["opal-server"] = at(18)
		err := g.Validate(s, ready)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "opal-server started")
		assert.Contains(t, err.Error(), "before backend met service_started")
	})
	t.Run("dependency never ready", func(t *testing.T) {
		r := copyTimes(ready)
		delete(r, "postgres")
		err := g.Validate(started, r)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "keycloak started")
	})
	t.Run("a service that never started is not checked", func(t *testing.T) {
		s := copyTimes(started)
		delete(s, "frontend")
		require.NoError(t, g.Validate(s, ready))
	})
}

func copyTimes(m map[string]time.Time) map[string]time.Time {
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
