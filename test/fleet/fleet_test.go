package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deployTimeout bounds one fleet deploy: a hang guard for a loaded machine.
const deployTimeout = 10 * time.Minute

type result struct {
	stdout, stderr string
	code           int
}

func dive(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deployTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, diveBin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("dive %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("dive %s: exit %d\n%s%s", args[1], code, out.String(), errb.String())
	return result{out.String(), errb.String(), code}
}

type event struct {
	Time    time.Time      `json:"ts"`
	Kind    string         `json:"event"`
	Service string         `json:"service"`
	Stack   string         `json:"stack"`
	Engine  string         `json:"engine"`
	Attrs   map[string]any `json:"attributes"`
}

type stackResult struct {
	Name     string    `json:"name"`
	Engine   string    `json:"engine"`
	State    string    `json:"state"`
	Error    string    `json:"error"`
	Started  time.Time `json:"started_at"`
	Finished time.Time `json:"finished_at"`
}

// lastDeploy reads the latest fleet deploy's events and per-stack results.
func lastDeploy(t *testing.T, stateDir string) ([]event, map[string]stackResult) {
	t.Helper()
	return lastDeployOf(t, stateDir, "dive-demo")
}

func lastDeployOf(t *testing.T, stateDir, fleet string) ([]event, map[string]stackResult) {
	t.Helper()
	base := filepath.Join(stateDir, "fleet-"+fleet, "deploys")
	ents, err := os.ReadDir(base)
	require.NoError(t, err)
	var ids []string
	for _, e := range ents {
		ids = append(ids, e.Name())
	}
	sort.Strings(ids)
	require.NotEmpty(t, ids)
	dir := filepath.Join(base, ids[len(ids)-1])
	f, err := os.Open(filepath.Join(dir, "events.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	var evs []event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		evs = append(evs, e)
	}
	b, err := os.ReadFile(filepath.Join(dir, "fleet.json"))
	require.NoError(t, err)
	var res struct {
		Stacks map[string]stackResult `json:"stacks"`
	}
	require.NoError(t, json.Unmarshal(b, &res))
	return evs, res.Stacks
}

// times maps "stack.service" to when each event kind was seen first.
func times(evs []event, kinds ...string) map[string]time.Time {
	out := map[string]time.Time{}
	for _, e := range evs {
		st := e.Stack
		if st == "" || e.Service == "" {
			continue
		}
		for _, k := range kinds {
			if e.Kind == k {
				key := st + "." + e.Service
				if _, ok := out[key]; !ok {
					out[key] = e.Time
				}
			}
		}
	}
	return out
}

func engineClient(t *testing.T, i int) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost(engines.hosts[i]))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// startedAt is a container's own StartedAt, from its engine.
func startedAt(t *testing.T, engine int, name string) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ins, err := engineClient(t, engine).ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	require.NoError(t, err, name)
	ts, err := time.Parse(time.RFC3339Nano, ins.Container.State.StartedAt)
	require.NoError(t, err)
	return ts
}

// spokeEngine is where the demo fleet puts each spoke.
var spokeEngine = map[string]int{"fra": 1, "gbr": 2, "deu": 0}

func down(t *testing.T, env []string, stateDir string) {
	t.Helper()
	r := dive(t, env, append([]string{"fleet", "down", "-v"}, fleetArgs(stateDir)...)...)
	assert.Equal(t, 0, r.code, "fleet down")
}

// assertEmpty: no container, network (beyond the defaults) or volume left
// on any engine.
func assertEmpty(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range engines.hosts {
		c := engineClient(t, i)
		cs, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
		require.NoError(t, err)
		for _, ct := range cs.Items {
			assert.Fail(t, "container left", "engine %d: %v", i+1, ct.Names)
		}
		ns, err := c.NetworkList(ctx, client.NetworkListOptions{})
		require.NoError(t, err)
		for _, n := range ns.Items {
			if n.Name != "bridge" && n.Name != "host" && n.Name != "none" {
				assert.Fail(t, "network left", "engine %d: %s", i+1, n.Name)
			}
		}
		vs, err := c.VolumeList(ctx, client.VolumeListOptions{})
		require.NoError(t, err)
		for _, v := range vs.Items {
			assert.Fail(t, "volume left", "engine %d: %s", i+1, v.Name)
		}
	}
}

func TestDemoFleet(t *testing.T) {
	needFullFleet(t)
	needEngines(t)
	env := demoEnv(t)
	stateDir := t.TempDir()
	t.Cleanup(func() { dive(t, env, append([]string{"fleet", "down", "-v"}, fleetArgs(stateDir)...)...) })

	r := dive(t, env, append([]string{"fleet", "deploy"}, fleetArgs(stateDir)...)...)
	require.Equal(t, 0, r.code, "fleet deploy --demo")
	evs, stacks := lastDeploy(t, stateDir)
	for _, n := range []string{"hub", "spoke-fra", "spoke-gbr", "spoke-deu"} {
		assert.Equal(t, "deployed", stacks[n].State, "stack %s: %s", n, stacks[n].Error)
	}
	// One event stream: every stack event names its stack and engine.
	for _, e := range evs {
		if e.Service != "" {
			assert.NotEmpty(t, e.Stack, "event %s of %s names its stack", e.Kind, e.Service)
			assert.NotEmpty(t, e.Engine, "event %s of %s.%s names its engine", e.Kind, e.Stack, e.Service)
		}
	}

	// Every cross-stack edge honoured, from the containers' own StartedAt.
	ready := times(evs, "service_ready", "service_reused")
	require.Contains(t, ready, "hub.keycloak")
	hubBackendStart := startedAt(t, 0, "dive-hub-backend")
	for code, eng := range spokeEngine {
		backend := startedAt(t, eng, "dive-spoke-"+code+"-backend")
		assert.False(t, backend.Before(ready["hub.keycloak"]), "spoke-%s.backend started %s before hub.keycloak was healthy %s", code, backend, ready["hub.keycloak"])
		assert.False(t, backend.Before(hubBackendStart), "spoke-%s.backend started before hub.backend started", code)
		// and a local edge, for comparison
		assert.False(t, backend.Before(ready["spoke-"+code+".keycloak"]), "spoke-%s.backend before its own keycloak", code)
	}

	// status sees every stack on its engine, the ssh one included.
	st := dive(t, env, append([]string{"fleet", "status", "--json"}, fleetArgs(stateDir)...)...)
	require.Equal(t, 0, st.code)
	var status struct {
		Services []struct {
			Stack, Engine, Service, State string
		} `json:"services"`
	}
	require.NoError(t, json.Unmarshal([]byte(st.stdout), &status))
	running := map[string]bool{}
	for _, s := range status.Services {
		if s.State == "running" {
			running[s.Stack+"."+s.Service] = true
		}
	}
	for _, n := range []string{"hub.keycloak", "spoke-gbr.backend", "spoke-fra.frontend", "spoke-deu.backend"} {
		assert.True(t, running[n], "%s running", n)
	}

	// One report across stacks and engines, history per fleet.
	rep := dive(t, env, append([]string{"fleet", "report", "--last"}, fleetArgs(stateDir)...)...)
	require.Equal(t, 0, rep.code)
	assert.Contains(t, rep.stdout, "spoke-gbr.backend")
	assert.Contains(t, rep.stdout, "hub.keycloak")
	hist := dive(t, env, append([]string{"fleet", "history", "--json"}, fleetArgs(stateDir)...)...)
	require.Equal(t, 0, hist.code)
	assert.Contains(t, hist.stdout, "fleet-dive-demo")

	down(t, env, stateDir)
	assertEmpty(t)
}

// TestFleetFaults: an engine stopped before the deploy and a spoke failing
// while the others finish; then an engine killed mid-deploy; then Ctrl-C.
// It runs the demo fleet's files with relaxed budgets (relaxedFleet): the
// verdicts it checks must not hinge on the hub's 35 s budgets on a loaded
// machine; so it runs in every suite, beside the other packages.
func TestFleetFaults(t *testing.T) {
	needEngines(t)
	env := demoEnv(t)
	stateDir := t.TempDir()
	rf := relaxedFleet(t, env, stateDir)
	fleetArgs := func(string) []string { return rf.args(rf.full) }
	lastDeploy := func(t *testing.T, stateDir string) ([]event, map[string]stackResult) {
		return lastDeployOf(t, stateDir, "relaxed")
	}
	down := func(t *testing.T, env []string, stateDir string) {
		t.Helper()
		r := dive(t, env, append([]string{"fleet", "down", "-v"}, fleetArgs(stateDir)...)...)
		assert.Equal(t, 0, r.code, "fleet down")
	}
	t.Cleanup(func() {
		for _, n := range engines.names {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			_, _ = engineScript(ctx, "start", n)
			cancel()
		}
		dive(t, env, append([]string{"fleet", "down", "-v"}, fleetArgs(stateDir)...)...)
	})
	t.Run("stopped engine and failing spoke", func(t *testing.T) {
		script(t, "stop", engines.names[2])
		r := dive(t, append(env, "DEMO_SPOKE_FRA_BACKEND_MODE=crash"), append([]string{"fleet", "deploy"}, fleetArgs(stateDir)...)...)
		assert.Equal(t, 0, r.code, "optional spokes failing leave the fleet degraded, not failed")
		_, stacks := lastDeploy(t, stateDir)
		gbr := stacks["spoke-gbr"]
		assert.Equal(t, "engine-lost", gbr.State)
		assert.Contains(t, gbr.Error, "engine three")
		assert.Contains(t, gbr.Error, engines.sshURL)
		t.Logf("spoke-gbr failed after %s", gbr.Finished.Sub(gbr.Started))
		assert.Equal(t, "failed", stacks["spoke-fra"].State)
		assert.Contains(t, stacks["spoke-fra"].Error, "backend")
		assert.Equal(t, "deployed", stacks["hub"].State, stacks["hub"].Error)
		assert.Equal(t, "deployed", stacks["spoke-deu"].State, stacks["spoke-deu"].Error)
		assert.Contains(t, r.stdout, "degraded")
		script(t, "start", engines.names[2])
		down(t, env, stateDir)
	})
	// The engine behind the ssh connection dies: the connection drops.
	t.Run("ssh engine killed mid-deploy", func(t *testing.T) {
		killed := killDuring(t, env, fleetArgs(stateDir))
		_, stacks := lastDeploy(t, stateDir)
		gbr := stacks["spoke-gbr"]
		assert.Contains(t, []string{"failed", "engine-lost"}, gbr.State)
		assert.Regexp(t, `lost|not reachable|EOF|ssh`, gbr.Error)
		t.Logf("spoke-gbr ended %s after it started, %s after its engine was killed: %s", gbr.Finished.Sub(gbr.Started), gbr.Finished.Sub(killed), gbr.Error)
		assert.Equal(t, "deployed", stacks["hub"].State, stacks["hub"].Error)
		assert.Equal(t, "deployed", stacks["spoke-fra"].State, stacks["spoke-fra"].Error)
		script(t, "start", engines.names[2])
		down(t, env, stateDir)
	})
	t.Run("ctrl-c", func(t *testing.T) {
		interruptDuring(t, env, fleetArgs(stateDir))
		down(t, env, stateDir)
		assertEmpty(t)
	})
}

// script runs engines.sh with its own deadline.
func script(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, err := engineScript(ctx, args...)
	require.NoError(t, err)
}

// startDeploy starts a JSON-lines fleet deploy and calls at on each event
// until it returns true; the channel then receives true, or false when the
// deploy's output ended first.
func startDeploy(t *testing.T, env []string, args []string, at func(map[string]any) bool) (*exec.Cmd, <-chan bool) {
	t.Helper()
	cmd := exec.Command(diveBin, append([]string{"fleet", "deploy", "--log-format", "json"}, args...)...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	// A test that stops half-way must not leave a deploy running (it would
	// hold the stacks' locks): a no-op once the process has ended.
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	hit := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		fired := false
		for sc.Scan() {
			var e map[string]any
			if json.Unmarshal(sc.Bytes(), &e) == nil && !fired && at(e) {
				fired = true
				hit <- true
			}
		}
		if !fired {
			hit <- false
		}
	}()
	return cmd, hit
}

func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(deployTimeout):
		_ = cmd.Process.Kill()
		t.Fatal("fleet deploy did not end")
		return -1
	}
}

// stackOf reads an events.jsonl record's stack (an envelope field) and kind.
func stackOf(e map[string]any) (string, string) {
	st, _ := e["stack"].(string)
	kind, _ := e["event"].(string)
	return st, kind
}

// killDuring kills engine three once spoke-gbr started a service, and
// returns when it did.
func killDuring(t *testing.T, env []string, args []string) time.Time {
	cmd, hit := startDeploy(t, env, args, func(e map[string]any) bool {
		st, kind := stackOf(e)
		return st == "spoke-gbr" && kind == "service_started"
	})
	if !<-hit {
		waitExit(t, cmd)
		t.Fatal("the deploy ended before spoke-gbr started a service")
		return time.Time{}
	}
	killed := time.Now()
	script(t, "kill", engines.names[2])
	code := waitExit(t, cmd)
	t.Logf("fleet deploy ended %s after engine %s was killed", time.Since(killed), engines.names[2])
	assert.Equal(t, 0, code, "spoke-gbr is optional: the fleet is degraded")
	return killed
}

func interruptDuring(t *testing.T, env []string, args []string) {
	cmd, hit := startDeploy(t, env, args, func(e map[string]any) bool {
		st, kind := stackOf(e)
		return strings.HasPrefix(st, "spoke-") && kind == "service_started"
	})
	if !<-hit {
		waitExit(t, cmd)
		t.Fatal("the deploy ended before a spoke started a service")
	}
	t0 := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	code := waitExit(t, cmd)
	took := time.Since(t0)
	t.Logf("fleet deploy ended %s after SIGINT", took)
	assert.Equal(t, 130, code)
	assert.Less(t, took, 20*time.Second, "hang guard (the target is 2 s)")
}

// needFullFleet skips TestDemoFleet (the demo hub and three spokes with the
// demo's own budgets, 40 containers on three extra engines) unless
// DIVE_FLEET_FULL=1: on a 2-core machine running the rest of the suite
// beside it, the hub's 35 s budgets run out (seen in this repo's CI runs),
// so it runs on request, on a quiet machine. TestFleetFaults (the same
// fleet with relaxed budgets) and TestSmallFleetAcrossEngines run in every
// suite.
func needFullFleet(t *testing.T) {
	t.Helper()
	if os.Getenv("DIVE_FLEET_FULL") != "1" {
		t.Skip("the demo fleet with its own budgets (40 containers on 3 engines) runs with DIVE_FLEET_FULL=1 on a quiet machine; TestFleetFaults and TestSmallFleetAcrossEngines cover the fleet in every suite")
	}
}
