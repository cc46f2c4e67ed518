package main

import (
	"math"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/graph"
)

func (s *stackDef) graph(split bool) *graph.Graph {
	var nodes []string
	var edges []graph.Edge
	for _, v := range s.services {
		nodes = append(nodes, v.name)
		from := v.name
		if split {
			nodes = append(nodes, v.name+"#start")
			edges = append(edges, graph.Edge{From: v.name, To: v.name + "#start", Condition: graph.Healthy, Required: true})
			from = v.name + "#start"
		}
		for _, d := range v.deps {
			to, cond := d.name, d.cond
			if split && cond == graph.Started {
				// waits for the dependency's start to be done
				to, cond = d.name+"#start", graph.Healthy
			}
			edges = append(edges, graph.Edge{From: from, To: to, Condition: cond, Required: true})
		}
	}
	g, err := graph.New(nodes, edges)
	if err != nil {
		panic(err)
	}
	return g
}

// appDelay is a service's own time from start to ready as the tools see it
// at best: the delay for a served app with a healthcheck or a job, zero for a
// service without a healthcheck (ready when running).
func appDelay(v *svcDef) time.Duration {
	if v.job || v.hc != nil {
		return v.readyAfter
	}
	return 0
}

// composeDelay is when docker's own healthcheck can first see the service
// ready: the first check runs one interval after the start, then one every
// interval, so readiness is seen at the first multiple of the interval at or
// after the app's delay. A model, from the configuration.
func composeDelay(v *svcDef) time.Duration {
	if v.job || v.hc == nil {
		return appDelay(v)
	}
	k := math.Ceil(float64(v.readyAfter) / float64(v.hc.interval))
	if k < 1 {
		k = 1
	}
	return time.Duration(k) * v.hc.interval
}

type cpResult struct {
	path  []graph.Link
	total time.Duration
}

// criticalPath is the readiness critical path with per-service delays and a
// container start cost (0 for the pure application path).
func (s *stackDef) criticalPath(delay func(*svcDef) time.Duration, startCost time.Duration) cpResult {
	split := startCost > 0
	g := s.graph(split)
	weight := func(n string) time.Duration {
		if strings.HasSuffix(n, "#start") {
			return startCost
		}
		return delay(s.svc(n))
	}
	include := func(n string) bool { return !strings.HasSuffix(n, "#start") }
	path, total := g.CriticalPath(weight, include)
	var out []graph.Link
	for _, l := range path {
		if include(l.Service) {
			out = append(out, l)
		}
	}
	return cpResult{path: out, total: total}
}

func pathString(p []graph.Link) string { return graph.PathString(p) }
