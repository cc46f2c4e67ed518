package fleet

import (
	"os"
	"path/filepath"
	"testing"

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
