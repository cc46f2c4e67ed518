package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/graph"
)

type hc struct {
	interval, timeout, startPeriod time.Duration
	retries                        int
}

type dep struct {
	name string
	cond graph.Condition
}

type svcDef struct {
	name       string
	job        bool
	readyAfter time.Duration
	deps       []dep
	listForm   bool // depends_on: [a, b] (service_started)
	hc         *hc
	class      string
}

type stackDef struct {
	key      string
	slug     string
	services []*svcDef
	about    string
}

func (s *stackDef) svc(name string) *svcDef {
	for _, x := range s.services {
		if x.name == name {
			return x
		}
	}
	return nil
}

// realHub is the real hub's seconds from start to healthy and its
// healthchecks (/work/shared/dive-hub-topology.md).
func hubStack(scale float64, rsInit time.Duration) *stackDef {
	sec := func(s float64) time.Duration {
		return time.Duration(s * scale * float64(time.Second)).Round(time.Millisecond)
	}
	h := func(interval, timeout, retries, start int) *hc {
		return &hc{interval: time.Duration(interval) * time.Second, timeout: time.Duration(timeout) * time.Second,
			retries: retries, startPeriod: time.Duration(start) * time.Second}
	}
	healthy := func(names ...string) []dep {
		var out []dep
		for _, n := range names {
			out = append(out, dep{n, graph.Healthy})
		}
		return out
	}
	started := func(names ...string) []dep {
		var out []dep
		for _, n := range names {
			out = append(out, dep{n, graph.Started})
		}
		return out
	}
	return &stackDef{
		key: "hub-shaped", slug: "hub",
		about: fmt.Sprintf("the DIVE hub's 12 services and dependency graph, readiness = the real hub's seconds-to-healthy x %g, the real healthchecks", scale),
		services: []*svcDef{
			{name: "postgres", readyAfter: sec(6), hc: h(5, 3, 10, 15), class: "core"},
			{name: "mongodb", readyAfter: sec(6), hc: h(3, 5, 15, 20), class: "core"},
			{name: "redis", readyAfter: sec(6), hc: h(3, 3, 5, 5), class: "core"},
			{name: "redis-blacklist", readyAfter: sec(6), hc: h(3, 3, 5, 5), class: "core"},
			{name: "opa", readyAfter: sec(6), hc: h(3, 3, 5, 5), class: "core"},
			{name: "keycloak", readyAfter: sec(13), hc: h(10, 10, 10, 90), class: "core", deps: healthy("postgres")},
			{name: "mongodb-rs-init", job: true, readyAfter: rsInit, class: "core", deps: healthy("mongodb")},
			{name: "backend", readyAfter: sec(11), hc: h(5, 10, 10, 45), class: "core",
				deps: append(healthy("keycloak", "mongodb", "redis", "redis-blacklist", "opa"), dep{"mongodb-rs-init", graph.Completed})},
			{name: "frontend", readyAfter: sec(9), hc: h(10, 10, 12, 90), class: "core", deps: healthy("keycloak", "backend")},
			{name: "kas", readyAfter: sec(12), hc: h(5, 8, 8, 20), class: "stretch", deps: started("opa", "mongodb"), listForm: true},
			{name: "opal-server", readyAfter: sec(8), hc: h(5, 8, 10, 30), class: "stretch", deps: started("opa", "backend"), listForm: true},
			{name: "otel-collector", readyAfter: sec(3), class: "optional", deps: started("keycloak", "backend"), listForm: true},
		},
	}
}

// benchHC is the healthcheck of chain-20 and fanout-50. Only the interval
// changes how soon a tool can see readiness; the generous timeout and
// start_period keep a busy machine from turning slow checks into failures.
func benchHC(interval time.Duration) *hc {
	return &hc{interval: interval, timeout: 5 * time.Second, retries: 10, startPeriod: 30 * time.Second}
}

func chainStack(n int, delay, interval time.Duration) *stackDef {
	s := &stackDef{key: fmt.Sprintf("chain-%d", n), slug: fmt.Sprintf("chain%d", n),
		about: fmt.Sprintf("s01 <- s02 <- ... <- s%02d, each service_healthy on the previous, each ready %s after start, healthcheck interval %s", n, delay, interval)}
	for i := 1; i <= n; i++ {
		d := &svcDef{name: fmt.Sprintf("s%02d", i), readyAfter: delay, hc: benchHC(interval)}
		if i > 1 {
			d.deps = []dep{{fmt.Sprintf("s%02d", i-1), graph.Healthy}}
		}
		s.services = append(s.services, d)
	}
	return s
}

func fanoutStack(n int, root, leaf, interval time.Duration) *stackDef {
	s := &stackDef{key: fmt.Sprintf("fanout-%d", n), slug: fmt.Sprintf("fanout%d", n),
		about: fmt.Sprintf("one root ready after %s, %d leaves (service_healthy on the root) ready %s after start, healthcheck interval %s", root, n, leaf, interval)}
	mk := func() *hc { return benchHC(interval) }
	s.services = append(s.services, &svcDef{name: "root", readyAfter: root, hc: mk()})
	for i := 1; i <= n; i++ {
		s.services = append(s.services, &svcDef{name: fmt.Sprintf("leaf%02d", i), readyAfter: leaf, hc: mk(), deps: []dep{{"root", graph.Healthy}}})
	}
	return s
}

func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// composeFile renders the stack. Every dependency with service_healthy is
// also in STANDIN_REQUIRES, so a service started before it is ready exits 3
// (and restart "no" keeps it dead: the run fails instead of hiding it).
// service_started (list form) dependencies are not required: the condition
// only promises a start, and the graph's critical path counts it that way.
func composeFile(s *stackDef) string { return composeFileProbes(s, true) }

// composeFileProbes renders the stack; probes false turns dive's own probe
// off on every service (label dive.health.probe-interval: "off"): dive then
// relies on the engine's health events alone, the "probing off" column.
func composeFileProbes(s *stackDef, probes bool) string {
	var w strings.Builder
	fmt.Fprintf(&w, "# dive-bench: %s\n# %s\n# Generated; every service is the stand-in (dive standin) from ${DIVE_STANDIN_IMAGE}.\n", s.key, s.about)
	w.WriteString("services:\n")
	for _, v := range s.services {
		fmt.Fprintf(&w, "  %s:\n", v.name)
		w.WriteString("    image: ${DIVE_STANDIN_IMAGE:?DIVE_STANDIN_IMAGE must name the stand-in image}\n")
		w.WriteString("    restart: \"no\"\n")
		w.WriteString("    stop_grace_period: 2s\n")
		w.WriteString("    environment:\n")
		fmt.Fprintf(&w, "      STANDIN_NAME: %s\n", v.name)
		mode := "serve"
		if v.job {
			mode = "job"
		}
		fmt.Fprintf(&w, "      STANDIN_MODE: %s\n", mode)
		fmt.Fprintf(&w, "      STANDIN_READY_AFTER: %s\n", v.readyAfter)
		var req []string
		for _, d := range v.deps {
			if d.cond == graph.Healthy {
				req = append(req, d.name+":8080")
			}
		}
		if len(req) > 0 {
			fmt.Fprintf(&w, "      STANDIN_REQUIRES: %s\n", strings.Join(req, ","))
		}
		if len(v.deps) > 0 {
			if v.listForm {
				var names []string
				for _, d := range v.deps {
					names = append(names, d.name)
				}
				fmt.Fprintf(&w, "    depends_on: [%s]\n", strings.Join(names, ", "))
			} else {
				w.WriteString("    depends_on:\n")
				for _, d := range v.deps {
					fmt.Fprintf(&w, "      %s:\n        condition: %s\n", d.name, d.cond)
				}
			}
		}
		if v.hc != nil {
			fmt.Fprintf(&w, "    healthcheck:\n      test: %s\n      interval: %s\n      timeout: %s\n      retries: %d\n      start_period: %s\n",
				healthcheckTest, secs(v.hc.interval), secs(v.hc.timeout), v.hc.retries, secs(v.hc.startPeriod))
		}
		if v.class != "" || !probes {
			w.WriteString("    labels:\n")
		}
		if v.class != "" {
			fmt.Fprintf(&w, "      dive.service.class: %s\n", v.class)
		}
		if !probes {
			w.WriteString("      dive.health.probe-interval: \"off\"\n")
		}
	}
	return w.String()
}

// flatStack parses "flat-N": N independent services without a healthcheck
// (ready once running, for both tools). It measures what N containers cost
// to create and start, and each tool's memory for N services, with no
// healthcheck load on the engine.
func flatStack(key string) (*stackDef, bool) {
	num, ok := strings.CutPrefix(key, "flat-")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 1 {
		return nil, false
	}
	s := &stackDef{key: key, slug: "flat" + num,
		about: fmt.Sprintf("%d independent services, no healthcheck (ready once running), no dependencies", n)}
	for i := 1; i <= n; i++ {
		s.services = append(s.services, &svcDef{name: fmt.Sprintf("s%03d", i)})
	}
	return s, true
}

// cadenceStack parses the shapes of issues 10 and 16, "chain-N@I" and
// "fanout-N@I": N services, healthcheck interval I. At a 1 s interval (the
// engine's own checks saturate the CPUs) every app is ready 0.25 s after
// its start (a chain) or the leaves 0.5 s (a fan-out, root 1 s); at the DIVE
// hub file's cadence (5–10 s) the apps are ready 1–3 s after their start,
// spread evenly, as real services are.
func cadenceStack(key string) (*stackDef, bool) {
	shape, at, ok := strings.Cut(key, "@")
	if !ok {
		return nil, false
	}
	interval, err := time.ParseDuration(at)
	kind, num, ok2 := strings.Cut(shape, "-")
	n, nerr := strconv.Atoi(num)
	if err != nil || !ok2 || nerr != nil || n < 1 || interval <= 0 {
		return nil, false
	}
	slow := interval >= 5*time.Second
	spread := func(i int) time.Duration { return time.Second + time.Duration(i%5)*500*time.Millisecond }
	var s *stackDef
	switch kind {
	case "chain":
		s = chainStack(n, 250*time.Millisecond, interval)
	case "fanout":
		s = fanoutStack(n, time.Second, 500*time.Millisecond, interval)
	default:
		return nil, false
	}
	if slow {
		for i, v := range s.services {
			v.readyAfter = spread(i)
			v.hc.timeout = 2 * time.Second
		}
		s.about += "; apps ready 1–3 s after their start (spread), healthcheck timeout 2 s"
		s.about = strings.Replace(s.about, "each ready 250ms after start, ", "", 1)
	}
	s.key = key
	s.slug = strings.ReplaceAll(strings.ReplaceAll(shape, "-", ""), ".", "") + "i" + strings.TrimSuffix(strings.ReplaceAll(at, ".", ""), "s")
	return s, true
}
