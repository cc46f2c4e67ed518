package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// relaxed overrides give every probe a 30 s timeout and every service a
// 5 min budget, so that a loaded machine measures time, not budget failures.
func relaxed(services ...string) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for _, s := range services {
		name, probe := strings.CutSuffix(s, "+")
		fmt.Fprintf(&b, "  %s:\n    labels: {dive.service.timeout: 5m}\n", name)
		if probe {
			b.WriteString("    healthcheck: {timeout: 30s}\n")
		}
	}
	return b.String()
}

const measureFleet = `name: relaxed
engines: {one: {}, two: {}, three: {}}
stacks:
  hub: {compose: [docker-compose.hub.yml, hub-relaxed.yml], env_file: .env.hub, engine: one}
templates:
  spoke:
    compose: [docker-compose.spoke.template.yml, spoke-relaxed.yml]
    env_file: .env.spoke
    project: dive-spoke-{{INSTANCE_CODE_LOWER}}
    class: optional
    DEPS
    instances:
      INSTANCES
`

const spokeDeps = `depends_on:
      backend:
        hub.keycloak: service_healthy
        hub.backend: service_started`

// relaxedFiles is the demo fleet with relaxed budgets (and two one-stack
// fleets of it), and the flags pointing it at the test's engines.
type relaxedFiles struct {
	full, hubOnly, spokeOnly string
	args                     func(file string) []string
}

func relaxedFleet(t *testing.T, env []string, stateDir string) relaxedFiles {
	t.Helper()
	home := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "XDG_STATE_HOME="); ok {
			home = v
		}
	}
	require.Equal(t, 0, dive(t, env, "fleet", "plan", "--demo").code) // materializes the demo's files
	dir := filepath.Join(home, "dive", "demo-fleet")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	write("hub-relaxed.yml", relaxed("postgres+", "mongodb+", "redis+", "redis-blacklist+", "opa+", "keycloak+", "mongodb-rs-init",
		"backend+", "frontend+", "kas+", "opal-server+", "otel-collector"))
	write("spoke-relaxed.yml", relaxed("postgres+", "mongodb+", "mongodb-rs-init", "keycloak+", "backend+", "frontend+", "kas+"))
	all := `fra: {engine: two, variables: {INSTANCE_CODE: FRA, FRONTEND_PORT: "13010"}}
      gbr: {engine: three, variables: {INSTANCE_CODE: GBR, FRONTEND_PORT: "13020"}}
      deu: {engine: one, variables: {INSTANCE_CODE: DEU, FRONTEND_PORT: "13030"}}`
	return relaxedFiles{
		full:    write("relaxed.yml", strings.NewReplacer("DEPS", spokeDeps, "INSTANCES", all).Replace(measureFleet)),
		hubOnly: write("hub-only.yml", measureFleet[:strings.Index(measureFleet, "templates:")]),
		spokeOnly: write("spoke-only.yml", strings.NewReplacer("DEPS", "", "INSTANCES", `gbr: {engine: three, variables: {INSTANCE_CODE: GBR, FRONTEND_PORT: "13020"}}`,
			"  hub: {compose: [docker-compose.hub.yml, hub-relaxed.yml], env_file: .env.hub, engine: one}\n", "", "stacks:\n", "").Replace(measureFleet)),
		args: func(file string) []string {
			return []string{"-f", file, "--state-dir", stateDir, "--engine", "one=" + engines.hosts[0], "--engine", "two=" + engines.hosts[1],
				"--engine", "three=" + engines.sshURL, "--ssh-key", "three=" + engines.sshKey, "--ssh-known-hosts", "three=" + engines.knownHosts}
		},
	}
}

// TestMeasureFleet (opt-in: DIVE_FLEET_MEASURE=N rounds) compares the demo
// fleet's wall time (hub + 3 spokes on 3 engines, one over ssh) with the
// slowest stack deployed alone plus its cross-stack wait, for
// docs/fleet.md. The demo's files with relaxed budgets; images warm.
func TestMeasureFleet(t *testing.T) {
	needEngines(t)
	runs := 0
	if _, err := fmt.Sscan(os.Getenv("DIVE_FLEET_MEASURE"), &runs); err != nil || runs < 1 {
		t.Skip("set DIVE_FLEET_MEASURE=N to measure N rounds")
	}
	env := demoEnv(t)
	stateDir := t.TempDir()
	rf := relaxedFleet(t, env, stateDir)
	full, hubOnly, spokeOnly, args := rf.full, rf.hubOnly, rf.spokeOnly, rf.args
	t.Cleanup(func() { dive(t, env, append([]string{"fleet", "down", "-v"}, args(full)...)...) })
	var busy float64 // CPU-seconds of the machine during the last deploy
	deploy := func(file string) time.Duration {
		t0, c0 := time.Now(), busyCPU(t)
		r := dive(t, env, append([]string{"fleet", "deploy"}, args(file)...)...)
		took := time.Since(t0)
		busy = busyCPU(t) - c0
		require.Equal(t, 0, r.code)
		dive(t, env, append([]string{"fleet", "down", "-v"}, args(file)...)...)
		return took
	}
	deploy(full) // warm-up: the stand-in image on every engine
	for i := 0; i < runs; i++ {
		fleetWall := deploy(full)
		fleetBusy := busy
		evs, stacks := lastDeployOf(t, stateDir, "relaxed")
		var first time.Time
		for _, st := range stacks {
			if first.IsZero() || st.Started.Before(first) {
				first = st.Started
			}
		}
		// dive's own exec probes (each an exec, as the engine's checks).
		probes := 0
		for _, e := range evs {
			if n, ok := e.Attrs["probes"].(float64); ok && e.Kind == "service_ready" {
				probes += int(n)
			}
		}
		var ends []string
		for _, n := range []string{"hub", "spoke-fra", "spoke-gbr", "spoke-deu"} {
			ends = append(ends, fmt.Sprintf("%s %.2fs", n, stacks[n].Finished.Sub(first).Seconds()))
		}
		ready, started := times(evs, "service_ready"), times(evs, "service_started")
		release := ready["hub.keycloak"]
		if started["hub.backend"].After(release) {
			release = started["hub.backend"]
		}
		var crossWait time.Duration
		for _, e := range evs {
			if ext, _ := e.Attrs["external"].(bool); ext && e.Kind == "service_waiting" {
				crossWait = max(crossWait, release.Sub(e.Time))
			}
		}
		hubAlone := deploy(hubOnly)
		hubBusy := busy
		spokeAlone := deploy(spokeOnly) // gbr: the spoke over ssh, the slowest
		spokeBusy := busy
		bound := max(hubAlone, spokeAlone+crossWait)
		t.Logf("MEASURE round %d: fleet %.2fs; hub alone %.2fs; spoke-gbr alone %.2fs; cross-stack wait %.2fs; bound %.2fs; ratio %.2f",
			i+1, fleetWall.Seconds(), hubAlone.Seconds(), spokeAlone.Seconds(), crossWait.Seconds(), bound.Seconds(), fleetWall.Seconds()/bound.Seconds())
		// On one machine the fleet cannot beat its work divided by the
		// CPUs: the engines' own checks, the containers, dive.
		t.Logf("MEASURE round %d: CPU-seconds busy: fleet %.1f (%.2f of %d CPUs over its wall); hub alone %.1f; spoke-gbr alone %.1f; the fleet's work / CPUs %.2fs; dive's exec probes in the fleet: %d",
			i+1, fleetBusy, fleetBusy/fleetWall.Seconds(), runtime.NumCPU(), hubBusy, spokeBusy, fleetBusy/float64(runtime.NumCPU()), probes)
		t.Logf("MEASURE round %d: each stack ready at (from the fleet's start): %s; hub.keycloak ready at %.2fs", i+1, strings.Join(ends, ", "), ready["hub.keycloak"].Sub(first).Seconds())
	}
}

// busyCPU is the machine's busy CPU time so far, in seconds (/proc/stat:
// user, nice, system, irq, softirq, steal).
func busyCPU(t *testing.T) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	require.NoError(t, err)
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	require.True(t, len(f) > 8 && f[0] == "cpu", "/proc/stat: %q", line)
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		var v float64
		_, err := fmt.Sscan(f[i], &v)
		require.NoError(t, err)
		ticks += v
	}
	return ticks / 100 // USER_HZ
}
