package stack

import (
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// compose-go rejects cycles at load; Stack.Graph must still turn a cycle
// that reaches it (consistency checks off, or a hand-built stack) into a
// ConfigError naming the services.
func TestStackGraphCycleIsConfigError(t *testing.T) {
	svc := func(name string, deps ...string) *Service {
		d := types.DependsOnConfig{}
		for _, x := range deps {
			d[x] = types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
		}
		cfg := types.ServiceConfig{Name: name}
		cfg.DependsOn = d
		return &Service{Name: name, Config: cfg}
	}
	st := &Stack{
		Files: []string{"/x/compose.yml"},
		Names: []string{"a", "b", "c"},
		Services: map[string]*Service{
			"a": svc("a", "b"),
			"b": svc("b", "a"),
			"c": svc("c"),
		},
	}
	_, err := st.Graph()
	ce := requireConfigError(t, err, "/x/compose.yml", "dependency cycle between services a -> b -> a")
	assert.NotEmpty(t, ce.Fix)
	var cyc *graph.CycleError
	require.ErrorAs(t, err, &cyc)
	assert.Equal(t, []string{"a", "b", "a"}, cyc.Cycle)
}

func TestStackGraphDefaultsCondition(t *testing.T) {
	a := types.ServiceConfig{Name: "a"}
	a.DependsOn = types.DependsOnConfig{"b": {Required: true, Restart: true}}
	st := &Stack{
		Names:    []string{"a", "b"},
		Services: map[string]*Service{"a": {Name: "a", Config: a}, "b": {Name: "b"}},
	}
	g, err := st.Graph()
	require.NoError(t, err)
	assert.Equal(t, []graph.Edge{{From: "a", To: "b", Condition: graph.Started, Required: true, Restart: true}}, g.Edges())
}
