package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demoEnv isolates a demo deploy: its own state folder and shared network.
func demoEnv(t *testing.T, project string, extra ...string) []string {
	state := t.TempDir()
	return append([]string{"XDG_STATE_HOME=" + state, "DIVE_SHARED_NETWORK=" + project + "-shared",
		// ports of the demo move out of the way of other tests and services
		"REDIS_HOST_PORT=0", "BACKEND_HOST_PORT=0", "FRONTEND_HOST_PORT=0", "KEYCLOAK_HTTP_PORT=0"}, extra...)
}

func loadEvents(t *testing.T, stateHome, project string) []events.Event {
	t.Helper()
	runs, err := filepath.Glob(filepath.Join(stateHome, "dive", project, "deploys", "*", "events.jsonl"))
	require.NoError(t, err)
	require.NotEmpty(t, runs, "no events.jsonl written")
	f, err := os.Open(runs[len(runs)-1])
	require.NoError(t, err)
	defer f.Close()
	evs, err := events.ReadJSONL(f)
	require.NoError(t, err)
	return evs
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return strings.TrimPrefix(kv, key+"=")
		}
	}
	return ""
}

// TestDemoHubDeployStatusDown is issue 2's "done when" on the real daemon:
// every core service healthy per docker inspect, every edge honoured, status
// JSON valid, a no-op redeploy leaves everything alone, down -v leaves nothing.
func TestDemoHubDeployStatusDown(t *testing.T) {
	needDocker(t)
	project := uniqueProject("e2e-demo")
	env := demoEnv(t, project)
	t.Cleanup(func() { sweep(t, project, project+"-shared") })

	r := dive(t, env, "hub", "deploy", "--demo", "-p", project, "--timeout", "3m")
	require.Equal(t, 0, r.code, "deploy failed:\n%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "deployed")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	core := []string{"postgres", "mongodb", "redis", "redis-blacklist", "opa", "keycloak", "backend", "frontend"}
	// Docker's own healthcheck runs every 3-10 s: wait (bounded) until the
	// engine itself reports every core service healthy.
	for _, svc := range core {
		name := project + "-" + svc
		for {
			ins, err := docker.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
			require.NoError(t, err, "inspect %s", name)
			st := ins.Container.State
			require.True(t, st.Running, "%s is not running: %s exit %d", name, st.Status, st.ExitCode)
			if st.Health != nil && st.Health.Status == "healthy" {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s never turned healthy per docker inspect (last %v)", name, st.Health)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	// The one-shot job completed with exit 0.
	ins, err := docker.ContainerInspect(ctx, project+"-mongodb-rs-init", client.ContainerInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, "exited", string(ins.Container.State.Status))
	assert.Equal(t, 0, ins.Container.State.ExitCode)

	// Every dependency edge held, judged from the containers themselves: a
	// dependent started only after its dependency's condition held (the
	// stand-in logs the moment it became ready).
	started := map[string]time.Time{}
	for _, svc := range append(core, "kas", "opal-server", "otel-collector", "mongodb-rs-init") {
		ins, err := docker.ContainerInspect(ctx, project+"-"+svc, client.ContainerInspectOptions{})
		require.NoError(t, err)
		ts, err := time.Parse(time.RFC3339Nano, ins.Container.State.StartedAt)
		require.NoError(t, err)
		started[svc] = ts
	}
	healthyEdges := map[string][]string{
		"keycloak":        {"postgres"},
		"backend":         {"keycloak", "mongodb", "redis", "redis-blacklist", "opa"},
		"frontend":        {"keycloak", "backend"},
		"mongodb-rs-init": {"mongodb"},
	}
	for dependent, deps := range healthyEdges {
		for _, dep := range deps {
			ready, ok := readyTime(t, project+"-"+dep)
			require.True(t, ok, "%s never logged READY", dep)
			assert.False(t, started[dependent].Before(ready), "%s started at %s, before %s was ready at %s", dependent, started[dependent], dep, ready)
		}
	}
	// backend waited for the replica-set job to complete
	job, err := docker.ContainerInspect(ctx, project+"-mongodb-rs-init", client.ContainerInspectOptions{})
	require.NoError(t, err)
	finished, err := time.Parse(time.RFC3339Nano, job.Container.State.FinishedAt)
	require.NoError(t, err)
	assert.False(t, started["backend"].Before(finished), "backend started before mongodb-rs-init completed")
	// started-only edges: kas after opa and mongodb started
	for _, dep := range []string{"opa", "mongodb"} {
		assert.False(t, started["kas"].Before(started[dep]), "kas started before %s", dep)
	}

	// The scheduler's own record agrees: one terminal event per service,
	// deploy_started first and deploy_finished last.
	evs := loadEvents(t, envValue(env, "XDG_STATE_HOME"), project)
	require.Equal(t, events.DeployStarted, evs[0].Kind)
	require.Equal(t, events.DeployFinished, evs[len(evs)-1].Kind)
	terminal := map[string]int{}
	for _, e := range evs {
		switch e.Kind {
		case events.ServiceReady, events.ServiceFailed, events.ServiceSkipped, events.ServiceReused:
			terminal[e.Service]++
		}
	}
	for _, svc := range append(core, "mongodb-rs-init") {
		assert.Equal(t, 1, terminal[svc], "terminal events of %s", svc)
	}
	// dive never reports a service ready before its own healthcheck command
	// succeeded: the stand-in logs the moment it first answered 200 to a
	// health check (dive's probe or the engine's), and that comes first.
	for _, e := range evs {
		if !isHealthReady(e) {
			continue
		}
		first, ok := firstHealthy(t, project+"-"+e.Service)
		require.True(t, ok, "%s was reported ready but never answered a health check with 200", e.Service)
		assert.False(t, e.Time.Before(first), "%s reported ready at %s, before its healthcheck first succeeded at %s", e.Service, e.Time, first)
	}

	// status --json is valid JSON listing the services.
	st := dive(t, env, "hub", "status", "--demo", "-p", project, "--json")
	require.Equal(t, 0, st.code, st.stderr)
	var status struct {
		Project  string `json:"project"`
		Services []struct {
			Service string `json:"service"`
			State   string `json:"state"`
		} `json:"services"`
	}
	require.NoError(t, json.Unmarshal([]byte(st.stdout), &status), st.stdout)
	assert.Equal(t, project, status.Project)
	names := map[string]string{}
	for _, s := range status.Services {
		names[s.Service] = s.State
	}
	for _, svc := range core {
		assert.Equal(t, "running", names[svc], "status of %s", svc)
	}

	// docker compose sees dive's containers as its own.
	if exec.Command("docker", "compose", "version").Run() == nil {
		out, err := exec.Command("docker", "compose", "-p", project, "ps", "--format", "{{.Service}}").CombinedOutput()
		require.NoError(t, err, string(out))
		for _, svc := range core {
			assert.Contains(t, string(out), svc)
		}
	}

	// A redeploy of the unchanged, healthy hub leaves every container alone.
	before := containerIDs(t, project)
	again := dive(t, env, "hub", "deploy", "--demo", "-p", project)
	require.Equal(t, 0, again.code, again.stdout+again.stderr)
	assert.Equal(t, before, containerIDs(t, project), "a no-op redeploy recreated containers")
	t.Logf("no-op redeploy took %s", again.elapsed)

	// validate passes on the fresh hub, fails naming a stopped core service
	// (exit 1), and only warns about a stopped optional one.
	v := dive(t, env, "hub", "validate", "--demo", "-p", project, "--json")
	require.Equal(t, 0, v.code, "validate on a healthy hub:\n%s\n%s", v.stdout, v.stderr)
	var vr struct {
		Verdict string `json:"verdict"`
	}
	require.NoError(t, json.Unmarshal([]byte(v.stdout), &vr), v.stdout)
	assert.NotEqual(t, "fail", vr.Verdict)
	stop := func(svc string) {
		out, err := exec.Command("docker", "stop", "-t", "1", project+"-"+svc).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	stop("otel-collector")
	v = dive(t, env, "hub", "validate", "--demo", "-p", project, "--json")
	assert.Equal(t, 0, v.code, "a stopped optional service only warns:\n%s", v.stdout)
	assert.Contains(t, v.stdout, "otel-collector")
	stop("redis-blacklist")
	v = dive(t, env, "hub", "validate", "--demo", "-p", project, "--json")
	assert.Equal(t, 1, v.code, "a stopped core service fails validation:\n%s", v.stdout)
	require.NoError(t, json.Unmarshal([]byte(v.stdout), &vr), v.stdout)
	assert.Equal(t, "fail", vr.Verdict)
	assert.Contains(t, v.stdout, "redis-blacklist")

	// down -v leaves no container, network or volume of the project.
	down := dive(t, env, "hub", "down", "--demo", "-p", project, "-v")
	require.Equal(t, 0, down.code, down.stdout+down.stderr)
	assertNothingLeft(t, project, project+"-shared")
}

func containerIDs(t *testing.T, project string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "com.docker.compose.project="+project)})
	require.NoError(t, err)
	out := map[string]string{}
	for _, c := range cs.Items {
		out[c.Labels["com.docker.compose.service"]] = c.ID
	}
	return out
}

func assertNothingLeft(t *testing.T, project, sharedNet string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := make(client.Filters).Add("label", "com.docker.compose.project="+project)
	cs, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	assert.Empty(t, cs.Items, "containers left")
	ns, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	require.NoError(t, err)
	assert.Empty(t, ns.Items, "networks left")
	vs, err := docker.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	require.NoError(t, err)
	assert.Empty(t, vs.Items, "volumes left")
	if sharedNet != "" {
		all, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", sharedNet)})
		require.NoError(t, err)
		for _, n := range all.Items {
			assert.NotEqual(t, sharedNet, n.Name, "the external network dive created is left")
		}
	}
}

// isHealthReady says whether e is a service_ready seen by a health check.
func isHealthReady(e events.Event) bool {
	at, ok := e.Attrs.(events.ServiceReadyAttrs)
	return ok && (at.Signal == events.SignalProbe || at.Signal == events.SignalEngine)
}
