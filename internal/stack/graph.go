package stack

import (
	"fmt"
	"strings"

	"github.com/dive-hub/dive/internal/graph"
)

// Graph builds the dependency graph of the active services. A cycle is a
// *ConfigError naming the services on it.
func (s *Stack) Graph() (*graph.Graph, error) {
	var edges []graph.Edge
	for _, n := range s.Names {
		for dep, d := range s.Services[n].Config.DependsOn {
			cond := graph.Condition(d.Condition)
			if cond == "" {
				cond = graph.Started
			}
			edges = append(edges, graph.Edge{From: n, To: dep, Condition: cond, Required: d.Required, Restart: d.Restart})
		}
	}
	g, err := graph.New(s.Names, edges)
	if err != nil {
		if ce, ok := err.(*graph.CycleError); ok {
			return nil, &ConfigError{Msg: fmt.Sprintf("%s: dependency cycle between services %s", strings.Join(s.Files, ", "), strings.Join(ce.Cycle, " -> ")),
				Fix: "remove one of the depends_on edges of the cycle", Err: err}
		}
		return nil, err
	}
	return g, nil
}
