package deploy

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// What an engine operation costs on this engine, measured as the deploy
// goes: the probing budget is derived from it, and a slow deploy says why.
const (
	costStart  = "container start"
	costCreate = "container create"
	costProbe  = "exec probe"

	// costSamples: the most recent samples kept per kind.
	costSamples = 256
	// probeShare is the share of the CPUs dive's own exec probes may keep
	// busy, counting a probe's cost as its latency (which grows when the
	// engine is saturated, so dive probes less exactly then).
	probeShare = 0.25
	// assumedProbeLatency stands for the cost of a probe before one was
	// measured (an exec round trip on an idle 2-core engine is ~55 ms).
	assumedProbeLatency = 100 * time.Millisecond
	// ewmaWeight is the weight of a new probe latency in the running mean.
	ewmaWeight = 0.2

	// slowStart and slowProbe: medians above these mean the engine, not
	// the service, is slow (a start takes ~0.3–0.5 s and an exec ~55 ms on
	// an idle 2-core machine).
	slowStart = 2 * time.Second
	slowProbe = 500 * time.Millisecond
)

type engineCost struct {
	mu      sync.Mutex
	cpus    int
	sharing int // deploys probing this engine at once (≥ 1)
	samples map[string][]time.Duration
	probe   time.Duration // running mean of probe latency
}

func newEngineCost(cpus int) *engineCost {
	return &engineCost{cpus: max(1, cpus), sharing: 1, samples: map[string][]time.Duration{}}
}

func (c *engineCost) record(kind string, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := append(c.samples[kind], took)
	if len(s) > costSamples {
		s = s[len(s)-costSamples:]
	}
	c.samples[kind] = s
	if kind == costProbe {
		if c.probe == 0 {
			c.probe = took
		} else {
			c.probe = time.Duration(float64(c.probe)*(1-ewmaWeight) + float64(took)*ewmaWeight)
		}
	}
}

// probeLatency is the running mean of an exec probe's latency.
func (c *engineCost) probeLatency() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.probe == 0 {
		return assumedProbeLatency
	}
	return c.probe
}

// probeSpacing is the least time between two probe admissions that keeps
// the probes within probeShare of the CPUs, this deploy's part of it when
// others probe the same engine.
func (c *engineCost) probeSpacing() time.Duration {
	return time.Duration(float64(c.probeLatency()) * float64(c.sharing) / (probeShare * float64(c.cpus)))
}

// median of the recent samples of kind, and how many there are.
func (c *engineCost) median(kind string) (time.Duration, int) {
	c.mu.Lock()
	s := slices.Clone(c.samples[kind])
	c.mu.Unlock()
	if len(s) == 0 {
		return 0, 0
	}
	slices.Sort(s)
	return s[len(s)/2], len(s)
}

// max of the recent samples of kind, and how many there are.
func (c *engineCost) max(kind string) (time.Duration, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.samples[kind]
	if len(s) == 0 {
		return 0, 0
	}
	return slices.Max(s), len(s)
}

// slowness says why a deploy is slow when dive's own operations show the
// engine saturated; "" when they do not.
func (c *engineCost) slowness() string {
	var parts []string
	if m, n := c.median(costStart); n > 0 && m > slowStart {
		parts = append(parts, fmt.Sprintf("container starts took %s (median of %d; ~0.5 s on an idle engine)", m.Round(10*time.Millisecond), n))
	}
	if m, n := c.median(costProbe); n > 0 && m > slowProbe {
		parts = append(parts, fmt.Sprintf("exec probes took %s (median of %d; ~0.06 s on an idle engine)", m.Round(10*time.Millisecond), n))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("the engine was slow during this deploy: %s — its queue or the %d CPU(s) were saturated (many containers starting or running healthchecks at once, or other load), not necessarily this service",
		strings.Join(parts, ", "), c.cpus)
}
