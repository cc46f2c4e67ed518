package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/standin"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallFleet: two small stacks with generous budgets (the mechanics, not
// the demo's tight healthchecks): a on engine one, b on engine three over
// ssh; b.api waits for a.db healthy across engines.
const smallCompose = `services:
  db:
    image: ${DIVE_STANDIN_IMAGE}
    environment: {STANDIN_NAME: db, STANDIN_READY_AFTER: 2s}
    healthcheck: {test: [CMD, /dive, standin, probe], interval: 2s, timeout: 30s, retries: 60}
    labels: {dive.service.timeout: 5m}
  api:
    image: ${DIVE_STANDIN_IMAGE}
    environment: {STANDIN_NAME: api, STANDIN_READY_AFTER: 0.2s}
    healthcheck: {test: [CMD, /dive, standin, probe], interval: 2s, timeout: 30s, retries: 60}
    labels: {dive.service.timeout: 5m}
`

func TestSmallFleetAcrossEngines(t *testing.T) {
	needEngines(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stack.yml"), []byte(smallCompose), 0o644))
	fleetFile := filepath.Join(dir, "dive-fleet.yml")
	require.NoError(t, os.WriteFile(fleetFile, []byte(`name: small
engines:
  one: `+engines.hosts[0]+`
  three: {host: "`+engines.sshURL+`", ssh_key: `+engines.sshKey+`, ssh_known_hosts: `+engines.knownHosts+`}
templates:
  s:
    compose: stack.yml
    instances:
      a: {engine: one}
      b: {engine: three}
depends_on:
  s-b.api:
    s-a.db: service_healthy
`), 0o644))
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	args := []string{"-f", fleetFile, "--state-dir", filepath.Join(dir, "state")}
	t.Cleanup(func() { dive(t, env, append([]string{"fleet", "down", "-v"}, args...)...) })

	r := dive(t, env, append([]string{"fleet", "deploy"}, args...)...)
	require.Equal(t, 0, r.code)
	evs, stacks := lastDeployOf(t, filepath.Join(dir, "state"), "small")
	assert.Equal(t, "deployed", stacks["s-a"].State)
	assert.Equal(t, "deployed", stacks["s-b"].State)
	ready := times(evs, "service_ready")
	api := startedAt(t, 2, "s-b-api-1")
	assert.False(t, api.Before(ready["s-a.db"]), "s-b.api started %s, before s-a.db was healthy %s", api, ready["s-a.db"])

	r = dive(t, env, append([]string{"fleet", "down", "-v"}, args...)...)
	require.Equal(t, 0, r.code)
	assertEmpty(t)
}

// Several engine names of a fleet file that are one engine (the demo
// fleet's three names left to the local socket, on a laptop): the external
// network their stacks share is created once, not once per name (Engine
// API 1.41 lets concurrent creates make several networks of one name, and
// every later start then fails "network … is ambiguous").
func TestFleetEngineNamesOfOneEngine(t *testing.T) {
	needEngines(t)
	dir := t.TempDir()
	shared := fmt.Sprintf("dive-test-shared-%d", time.Now().UnixNano()%1e9)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stack.yml"), []byte(`services:
  app:
    image: ${DIVE_STANDIN_IMAGE}
    environment: {STANDIN_NAME: app}
    networks: [shared]
networks:
  shared: {external: true, name: `+shared+`}
`), 0o644))
	fleetFile := filepath.Join(dir, "dive-fleet.yml")
	require.NoError(t, os.WriteFile(fleetFile, []byte(`name: onehost
engines:
  one: `+engines.hosts[0]+`
  two: `+engines.hosts[0]+`
  three: `+engines.hosts[0]+`
templates:
  s:
    compose: stack.yml
    instances:
      a: {engine: one}
      b: {engine: two}
      c: {engine: three}
`), 0o644))
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	args := []string{"-f", fleetFile, "--state-dir", filepath.Join(dir, "state")}
	t.Cleanup(func() { dive(t, env, append([]string{"fleet", "down", "-v"}, args...)...) })

	r := dive(t, env, append([]string{"fleet", "deploy"}, args...)...)
	require.Equal(t, 0, r.code, "fleet deploy")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nets, err := engineClient(t, 0).NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", shared)})
	require.NoError(t, err)
	assert.Len(t, nets.Items, 1, "one network %s on the one engine", shared)

	r = dive(t, env, append([]string{"fleet", "down", "-v"}, args...)...)
	require.Equal(t, 0, r.code)
	assertEmpty(t)
}

// TestHubOverSSHFromEnvironment: `dive hub` reaches the engine the docker
// CLI would, DOCKER_HOST=ssh:// included (each connection `ssh HOST docker
// system dial-stdio`, ssh's own identity and known hosts: here a wrapper
// on PATH adds the test's).
func TestHubOverSSHFromEnvironment(t *testing.T) {
	needEngines(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	// slow is ready 12 s after its start and the engine checks it every
	// 30 s: dive's own probes see it ready, a dozen or more of them.
	require.NoError(t, os.WriteFile(file, []byte(smallCompose+`  slow:
    image: ${DIVE_STANDIN_IMAGE}
    environment: {STANDIN_NAME: slow, STANDIN_READY_AFTER: 12s}
    healthcheck: {test: [CMD, /dive, standin, probe], interval: 30s, timeout: 30s, retries: 60}
    labels: {dive.service.timeout: 5m}
`), 0o644))
	realSSH, err := exec.LookPath("ssh")
	require.NoError(t, err)
	bin := filepath.Join(dir, "bin")
	require.NoError(t, os.MkdirAll(bin, 0o755))
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes \"$@\"\n",
		realSSH, engines.sshKey, engines.knownHosts)
	require.NoError(t, os.WriteFile(filepath.Join(bin, "ssh"), []byte(wrapper), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ref, _, err := standin.EnsureImage(ctx, engineClient(t, 2), diveBin)
	require.NoError(t, err)
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "DOCKER_HOST="+engines.sshURL, "DIVE_STANDIN_IMAGE="+ref,
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	project := "sshenv-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	args := []string{"-f", file, "-p", project, "--state-dir", filepath.Join(dir, "state")}
	t.Cleanup(func() { dive(t, env, append([]string{"hub", "down", "-v"}, args...)...) })

	sessions := func() int {
		b, _ := os.ReadFile(filepath.Join("/run/dive-engines", engines.names[2], "ssh", "sshd.log"))
		return strings.Count(string(b), "Accepted publickey")
	}
	before := sessions()
	r := dive(t, env, append([]string{"hub", "deploy"}, args...)...)
	require.Equal(t, 0, r.code)
	used := sessions() - before
	t.Logf("ssh sessions opened by the deploy: %d", used)
	// The engine behind the ssh URL runs the containers.
	startedAt(t, 2, project+"-api-1")
	startedAt(t, 2, project+"-db-1")
	// slow turned ready through dive's own (detached) probe over ssh: the
	// engine's first check comes 30 s after its start.
	recs, err := filepath.Glob(filepath.Join(dir, "state", project, "deploys", "*", "events.jsonl"))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	b, err := os.ReadFile(recs[0])
	require.NoError(t, err)
	var signal, output any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e event
		require.NoError(t, json.Unmarshal([]byte(line), &e))
		if e.Kind == "service_ready" && e.Service == "slow" {
			signal, output = e.Attrs["signal"], e.Attrs["probe_output"]
		}
	}
	assert.Equal(t, "probe", signal, "slow's readiness signal")
	// Through the tunnel a probe attaches, as on a local engine: its
	// output is kept (a detached exec's is not).
	assert.Contains(t, fmt.Sprint(output), "healthz: 200", "slow's probe output")
	// Every connection of the deploy is a channel of one ssh connection
	// forwarding the engine's socket: two sessions (the remote docker
	// CLI's endpoint, the forward), whatever the load. With a session per
	// connection it took 5 to 13, and 16 with one per probe and stats
	// stream.
	assert.LessOrEqual(t, used, 2, "ssh sessions of one deploy")

	r = dive(t, env, append([]string{"hub", "status"}, args...)...)
	require.Equal(t, 0, r.code)
	assert.Contains(t, r.stdout, "api")
	r = dive(t, env, append([]string{"hub", "down", "-v"}, args...)...)
	require.Equal(t, 0, r.code)
	assertEmpty(t)
}

// TestFleetOrphansAndEngineChecks: a fleet deploy treats each stack as a
// hub deploy does. A service removed from a stack's file leaves an orphan
// that --remove-orphans removes; a setting the stack's engine is too old to
// apply (interface_name before API 1.49) fails that stack before anything
// is created on it, naming the service, while the other stack deploys.
func TestFleetOrphansAndEngineChecks(t *testing.T) {
	needEngines(t)
	dir := t.TempDir()
	app := `  app:
    image: ${DIVE_STANDIN_IMAGE}
    environment: {STANDIN_NAME: app}
`
	old := `  old:
    image: ${DIVE_STANDIN_IMAGE}
    environment: {STANDIN_NAME: old}
`
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
	}
	write("a.yml", "services:\n"+app+old)
	write("b.yml", "services:\n"+app)
	fleetFile := filepath.Join(dir, "dive-fleet.yml")
	write("dive-fleet.yml", `name: checks
engines:
  one: `+engines.hosts[0]+`
  two: `+engines.hosts[1]+`
stacks:
  a: {compose: a.yml, engine: one, project: checks-a}
  b: {compose: b.yml, engine: two, project: checks-b, class: optional}
`)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COMPOSE_REMOVE_ORPHANS=") {
			env = append(env, kv)
		}
	}
	env = append(env, "XDG_STATE_HOME="+t.TempDir())
	args := []string{"-f", fleetFile, "--state-dir", filepath.Join(dir, "state")}
	t.Cleanup(func() { dive(t, env, append([]string{"fleet", "down", "-v"}, args...)...) })

	r := dive(t, env, append([]string{"fleet", "deploy"}, args...)...)
	require.Equal(t, 0, r.code, "first deploy: %s%s", r.stdout, r.stderr)

	// old leaves a's file: an orphan, warned about and left; then removed.
	write("a.yml", "services:\n"+app)
	r = dive(t, env, append([]string{"fleet", "deploy"}, args...)...)
	require.Equal(t, 0, r.code, "%s%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout+r.stderr, "orphan")
	_ = startedAt(t, 0, "checks-a-old-1") // still there
	r = dive(t, env, append([]string{"fleet", "deploy", "--remove-orphans"}, args...)...)
	require.Equal(t, 0, r.code, "%s%s", r.stdout, r.stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := engineClient(t, 0).ContainerInspect(ctx, "checks-a-old-1", client.ContainerInspectOptions{})
	assert.Error(t, err, "--remove-orphans removed checks-a-old-1")

	// b asks for interface_name on an engine older than API 1.49: b is
	// refused before anything is created, naming the service; a deploys.
	ver, err := engineClient(t, 1).ServerVersion(ctx, client.ServerVersionOptions{})
	require.NoError(t, err)
	var major, minor int
	_, _ = fmt.Sscanf(ver.APIVersion, "%d.%d", &major, &minor)
	if major > 1 || major == 1 && minor >= 49 {
		t.Skipf("engine two speaks API %s: interface_name is applied there", ver.APIVersion)
	}
	write("b.yml", `services:
  app:
    image: ${DIVE_STANDIN_IMAGE}
    environment: {STANDIN_NAME: app}
    networks:
      default: {interface_name: eth7}
  extra:
    image: ${DIVE_STANDIN_IMAGE}
`)
	r = dive(t, env, append([]string{"fleet", "deploy"}, args...)...)
	out := r.stdout + r.stderr
	assert.Contains(t, out, "interface_name requires Docker Engine v28.1")
	assert.Contains(t, out, `service "app"`)
	assert.Regexp(t, `(?m)^\s*b\s+two\s+optional\s+refused\b`, r.stdout, "b refused before its deploy began")
	assert.Regexp(t, `(?m)^\s*a\s+one\s+core\s+deployed\s+success\b`, r.stdout)
	cs, err := engineClient(t, 1).ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", "com.docker.compose.project=checks-b").Add("label", "com.docker.compose.service=extra")})
	require.NoError(t, err)
	assert.Empty(t, cs.Items, "nothing of b's new configuration was created")

	r = dive(t, env, append([]string{"fleet", "down", "-v"}, args...)...)
	require.Equal(t, 0, r.code)
	assertEmpty(t)
}
