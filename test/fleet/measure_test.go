package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestMeasureFleet (opt-in: DIVE_FLEET_MEASURE=N runs) compares the demo
// fleet's wall time with the slowest stack deployed alone plus its
// cross-stack wait, for docs/fleet.md. Images are warm (one deploy first).
func TestMeasureFleet(t *testing.T) {
	needEngines(t)
	runs := 0
	if _, err := fmt.Sscan(os.Getenv("DIVE_FLEET_MEASURE"), &runs); err != nil || runs < 1 {
		t.Skip("set DIVE_FLEET_MEASURE=N to measure N rounds")
	}
	env := demoEnv(t)
	stateDir := t.TempDir()
	home := ""
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "XDG_STATE_HOME="); ok {
			home = v
		}
	}
	demoDir := filepath.Join(home, "dive", "demo-fleet")
	t.Cleanup(func() { dive(t, env, append([]string{"fleet", "down", "-v"}, fleetArgs(stateDir)...)...) })
	deploy := func(args ...string) time.Duration {
		t0 := time.Now()
		r := dive(t, env, append([]string{"fleet", "deploy"}, args...)...)
		took := time.Since(t0)
		require.Equal(t, 0, r.code)
		return took
	}
	deploy(fleetArgs(stateDir)...) // warm-up: images on every engine
	down(t, env, stateDir)
	// One-stack fleets, from the demo's own files.
	alone := filepath.Join(demoDir, "alone.yml")
	require.NoError(t, os.WriteFile(alone, []byte(`name: alone
engines: {one: {}, two: {}}
stacks:
  hub: {compose: docker-compose.hub.yml, env_file: .env.hub, engine: one}
templates:
  spoke:
    compose: docker-compose.spoke.template.yml
    env_file: .env.spoke
    project: dive-spoke-{{INSTANCE_CODE_LOWER}}
    instances:
      fra: {engine: two, variables: {INSTANCE_CODE: FRA, FRONTEND_PORT: "13010"}}
`), 0o644))
	aloneArgs := func() []string {
		return []string{"-f", alone, "--state-dir", stateDir, "--engine", "one=" + engines.hosts[0], "--engine", "two=" + engines.hosts[1]}
	}
	for i := 0; i < runs; i++ {
		fleetWall := deploy(fleetArgs(stateDir)...)
		evs, _ := lastDeploy(t, stateDir)
		ready := times(evs, "service_ready")
		started := times(evs, "service_started")
		waiting := map[string]time.Time{}
		for _, e := range evs {
			if ext, _ := e.Attrs["external"].(bool); ext && e.Kind == "service_waiting" {
				waiting[e.Attrs["stack"].(string)] = e.Time
			}
		}
		release := ready["hub.keycloak"]
		if started["hub.backend"].After(release) {
			release = started["hub.backend"]
		}
		var crossWait time.Duration
		for _, w := range waiting {
			crossWait = max(crossWait, release.Sub(w))
		}
		down(t, env, stateDir)
		// Each stack alone (the spoke without its edges to the hub).
		hubAlone := deployStack(t, env, aloneArgs(), "hub")
		down2(t, env, aloneArgs())
		spokeAlone := deployStack(t, env, aloneArgs(), "spoke-fra")
		down2(t, env, aloneArgs())
		bound := max(hubAlone, spokeAlone+crossWait)
		t.Logf("MEASURE round %d: fleet %.2fs; hub alone %.2fs; spoke alone %.2fs; spokes' cross-stack wait %.2fs; bound %.2fs; ratio %.2f",
			i+1, fleetWall.Seconds(), hubAlone.Seconds(), spokeAlone.Seconds(), crossWait.Seconds(), bound.Seconds(), fleetWall.Seconds()/bound.Seconds())
	}
}

// deployStack deploys one stack of the one-stack fleet file: the fleet
// file's other stacks are left out by a fleet file of its own.
func deployStack(t *testing.T, env []string, args []string, stack string) time.Duration {
	t.Helper()
	f := args[1]
	b, err := os.ReadFile(f)
	require.NoError(t, err)
	only := filepath.Join(filepath.Dir(f), "only-"+stack+".yml")
	content := string(b)
	if stack == "hub" {
		content = content[:strings.Index(content, "templates:")]
	} else {
		content = strings.Replace(content, "  hub: {compose: docker-compose.hub.yml, env_file: .env.hub, engine: one}\n", "", 1)
		content = strings.Replace(content, "stacks:\n", "", 1)
	}
	require.NoError(t, os.WriteFile(only, []byte(content), 0o644))
	args = append([]string{"-f", only}, args[2:]...)
	t0 := time.Now()
	r := dive(t, env, append([]string{"fleet", "deploy"}, args...)...)
	took := time.Since(t0)
	require.Equal(t, 0, r.code)
	return took
}

func down2(t *testing.T, env []string, args []string) {
	t.Helper()
	dive(t, env, append([]string{"fleet", "down", "-v"}, args...)...)
}
