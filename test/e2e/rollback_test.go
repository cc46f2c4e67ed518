package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/report"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rollbackStack: db (core, a named volume: its old container is kept
// stopped), app (core, depends on db, unchanged by every redeploy), extra
// (optional). Variables break one service at a time: DB_MODE, DB_IMAGE,
// DB_BUDGET, DB_V (a change that alone makes db's container new), EXTRA_MODE.
func rollbackStack(img string) string {
	// A generous timeout and retries: on a saturated engine the engine's own
	// checks time out, and an unhealthy unchanged container is replaced by
	// the next deploy (that is not what these tests are about).
	hc := `
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 1s
      timeout: 10s
      retries: 5`
	return `
services:
  db:
    image: ${DB_IMAGE:-` + img + `}
    environment:
      STANDIN_NAME: db
      STANDIN_MODE: ${DB_MODE:-serve}
      STANDIN_READY_AFTER: 1s
      V: ${DB_V:-1}
    volumes: [data:/data]` + hc + `
    labels: {dive.service.timeout: "${DB_BUDGET:-60s}"}
  app:
    image: ` + img + `
    environment: {STANDIN_NAME: app}
    depends_on:
      db: {condition: service_healthy}` + hc + `
  extra:
    image: ` + img + `
    environment:
      STANDIN_NAME: extra
      STANDIN_MODE: ${EXTRA_MODE:-serve}
      V: ${EXTRA_V:-1}` + hc + `
    labels: {dive.service.class: optional, dive.service.timeout: 30s}
volumes:
  data: {}
`
}

// inspectState is what a rollback test reads of a container.
type inspectState struct {
	ID    string `json:"Id"`
	Name  string `json:"Name"`
	State struct {
		Status    string `json:"Status"`
		StartedAt string `json:"StartedAt"`
		Health    *struct {
			Status string `json:"Status"`
		} `json:"Health"`
	} `json:"State"`
	RestartCount int `json:"RestartCount"`
}

func inspectContainer(t *testing.T, name string) inspectState {
	t.Helper()
	out, err := exec.Command("docker", "inspect", name).Output()
	require.NoError(t, err, "docker inspect %s", name)
	var v []inspectState
	require.NoError(t, json.Unmarshal(out, &v))
	require.Len(t, v, 1)
	return v[0]
}

// volumeMarker reads /data/marker out of a container (docker cp: a tar
// stream holding the file).
func volumeMarker(t *testing.T, name string) string {
	t.Helper()
	got, err := exec.Command("docker", "cp", name+":/data/marker", "-").Output()
	require.NoError(t, err)
	return string(got)
}

// projectNames lists the names of every container of the project.
func projectNames(t *testing.T, project string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--filter", "label=com.docker.compose.project="+project, "--format", "{{.Names}}").Output()
	require.NoError(t, err)
	names := strings.Fields(string(out))
	sort.Strings(names)
	return names
}

// waitHealthy waits until the engine reports the container healthy (its
// own check runs every second); the bound only guards a hang.
func waitHealthy(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := inspectContainer(t, name)
		if st.State.Health != nil && st.State.Health.Status == "healthy" {
			return
		}
		require.True(t, time.Now().Before(deadline), "%s not healthy: %+v", name, st.State)
		time.Sleep(200 * time.Millisecond)
	}
}

// lastDeployDir is the records folder of the project's newest deploy.
func lastDeployDir(t *testing.T, state, project string) string {
	t.Helper()
	runs, err := filepath.Glob(filepath.Join(report.DeploysDir(state, project), "*"))
	require.NoError(t, err)
	require.NotEmpty(t, runs)
	sort.Strings(runs)
	return runs[len(runs)-1]
}

// lastDeployEvents reads the events of the project's newest deploy.
func lastDeployEvents(t *testing.T, state, project string) []events.Event {
	t.Helper()
	f, err := os.Open(filepath.Join(lastDeployDir(t, state, project), "events.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	evs, err := events.ReadJSONL(f)
	require.NoError(t, err)
	return evs
}

// TestRollbackRealEngine deploys v1, then redeploys with db broken three
// ways (a crash, never healthy within its budget, an image that does not
// exist) and with the optional extra crashing. Each time the failed service
// runs its v1 container again (same ID), healthy, its volume's data intact,
// and app (depending on db, unchanged) is never restarted.
func TestRollbackRealEngine(t *testing.T) {
	needDocker(t)
	img := standinImage(t)
	project := uniqueProject("e2e-rb")
	t.Cleanup(func() { sweep(t, project, "") })
	dir, state := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "stack.yml")
	require.NoError(t, os.WriteFile(file, []byte(rollbackStack(img)), 0o644))
	base := []string{"DIVE_STATE_DIR=" + state}
	deploy := func(env ...string) result {
		return dive(t, append(append([]string{}, base...), env...), "hub", "deploy", "-f", file, "-p", project, "--wait-all", "--timeout", "2m")
	}

	v1 := deploy()
	require.Equal(t, 0, v1.code, "v1:\n%s\n%s", v1.stdout, v1.stderr)
	dbName, appName, extraName := project+"-db-1", project+"-app-1", project+"-extra-1"
	db1, app1, extra1 := inspectContainer(t, dbName), inspectContainer(t, appName), inspectContainer(t, extraName)
	var v1Ready float64
	v1Dir := lastDeployDir(t, state, project)
	for _, e := range lastDeployEvents(t, state, project) {
		if e.Kind == events.ServiceReady && e.Service == "db" {
			v1Ready = events.MS(e.Duration)
		}
	}
	marker := filepath.Join(dir, "marker")
	require.NoError(t, os.WriteFile(marker, []byte("v1 data"), 0o644))
	out, err := exec.Command("docker", "cp", marker, dbName+":/data/marker").CombinedOutput()
	require.NoError(t, err, string(out))

	for _, tc := range []struct{ name, why, action string }{
		{"crash", "DB_MODE=crash", "restored"},
		{"budget", "DB_MODE=never-ready DB_BUDGET=4s", "restored"},
		// the image is missing before db's container is touched: it never stops
		{"image not found", "DB_IMAGE=dive-e2e-no-such-image:nope", "untouched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := deploy(append(strings.Fields(tc.why), "DB_V=2")...)
			require.Equal(t, 1, r.code, "%s\n%s", r.stdout, r.stderr)
			assert.Contains(t, r.stderr, "rolled back: the hub runs the previous configuration; core service db failed")
			assert.Contains(t, r.stdout, "✘ db (core) failed")
			db := inspectContainer(t, dbName)
			assert.Equal(t, db1.ID, db.ID, "db runs its v1 container again")
			assert.Equal(t, "running", db.State.Status)
			waitHealthy(t, dbName)
			app := inspectContainer(t, appName)
			assert.Equal(t, app1.ID, app.ID)
			assert.Equal(t, app1.State.StartedAt, app.State.StartedAt, "app was never restarted")
			assert.Equal(t, app1.RestartCount, app.RestartCount)
			assert.Contains(t, volumeMarker(t, dbName), "v1 data", "the named volume's data is intact")
			assert.Equal(t, []string{appName, dbName, extraName}, projectNames(t, project), "no kept or new container left")
			for _, e := range lastDeployEvents(t, state, project) {
				if a, ok := e.Attrs.(events.RolledBackAttrs); ok && e.Service == "db" {
					assert.Equal(t, tc.action, a.Action)
					t.Logf("%s: failure → v1 ready %.0f ms (its restart → ready %.0f ms; its own readiness in v1 %.0f ms)", tc.name, a.SinceFailureMS, a.ReadyMS, v1Ready)
				}
			}
		})
	}

	t.Run("optional fails: rolled back alone", func(t *testing.T) {
		r := deploy("EXTRA_MODE=crash", "EXTRA_V=2")
		require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)
		assert.Contains(t, r.stdout, "degraded")
		assert.Contains(t, r.stdout, "extra (optional) rolled back alone")
		extra := inspectContainer(t, extraName)
		assert.Equal(t, extra1.ID, extra.ID, "extra runs its v1 container again")
		assert.Equal(t, "running", extra.State.Status)
		assert.Equal(t, db1.ID, inspectContainer(t, dbName).ID)
		assert.Equal(t, []string{appName, dbName, extraName}, projectNames(t, project))
	})

	t.Run("hub rollback after a successful v2 brings v1 back", func(t *testing.T) {
		v2 := deploy("DB_V=2")
		require.Equal(t, 0, v2.code, "%s\n%s", v2.stdout, v2.stderr)
		db2 := inspectContainer(t, dbName)
		require.NotEqual(t, db1.ID, db2.ID)
		assert.Equal(t, []string{appName, dbName, extraName}, projectNames(t, project), "v2's kept container is removed once it succeeded")
		r := dive(t, base, "hub", "rollback", "-f", file, "-p", project, "--wait-all", "--timeout", "2m")
		require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)
		assert.Contains(t, r.stderr, "rolling back to the configuration of deploy "+filepath.Base(v1Dir))
		out, err := exec.Command("docker", "inspect", "-f", "{{json .Config.Env}}", dbName).Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), `"V=1"`, "db runs v1's configuration")
		assert.NotContains(t, string(out), `"V=2"`)
		app := inspectContainer(t, appName)
		assert.Equal(t, app1.ID, app.ID, "app, the same in v1 and v2, is left alone")
		waitHealthy(t, dbName)
		assert.Contains(t, volumeMarker(t, dbName), "v1 data")
	})

	t.Run("a kept container left behind: status shows it, down removes it", func(t *testing.T) {
		// What an interrupted deploy leaves: a service's container renamed
		// <name>-dive-prev, next to no new one yet.
		out, err := exec.Command("docker", "rename", extraName, extraName+"-dive-prev").CombinedOutput()
		require.NoError(t, err, string(out))
		st := dive(t, base, "hub", "status", "-f", file, "-p", project)
		require.Equal(t, 0, st.code, st.stderr)
		assert.Contains(t, st.stdout, extraName+"-dive-prev")
		assert.Contains(t, st.stdout, "(kept previous)")
		down := dive(t, base, "hub", "down", "-f", file, "-p", project)
		require.Equal(t, 0, down.code, "%s\n%s", down.stdout, down.stderr)
		assert.Empty(t, projectNames(t, project), "down removes kept containers too")
	})
}

// TestRollbackDemo is the documented demo (docs/rollback.md): the demo hub,
// then a redeploy with DEMO_BACKEND_MODE=crash. The backend's crash rolls
// the hub back: the terminal and the HTML report show it, and the backend
// runs its first container again.
func TestRollbackDemo(t *testing.T) {
	needDocker(t)
	project := uniqueProject("e2e-rbdemo")
	env := demoEnv(t, project)
	state := envValue(env, "XDG_STATE_HOME")
	t.Cleanup(func() { sweep(t, project, project+"-shared") })

	v1 := diveWithin(t, 5*time.Minute, env, "hub", "deploy", "--demo", "-p", project)
	require.Equal(t, 0, v1.code, "%s\n%s", v1.stdout, v1.stderr)
	backend := project + "-backend"
	b1 := inspectContainer(t, backend)
	var v1Ready float64
	for _, e := range loadEvents(t, state, project) {
		if e.Kind == events.ServiceReady && e.Service == "backend" {
			v1Ready = events.MS(e.Duration)
		}
	}

	r := diveWithin(t, 5*time.Minute, append(env, "DEMO_BACKEND_MODE=crash"), "hub", "deploy", "--demo", "-p", project)
	t.Logf("the redeploy's terminal:\n%s\n%s", r.stdout, r.stderr)
	require.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "backend: keeping its previous container")
	assert.Contains(t, r.stdout, "rolled-back")
	assert.Contains(t, r.stdout, "✘ deploy failed, rolled back: the hub runs the previous configuration")
	assert.Contains(t, r.stderr, "rolled back: the hub runs the previous configuration; core service backend failed")
	b := inspectContainer(t, backend)
	assert.Equal(t, b1.ID, b.ID, "the backend runs its first container again")
	assert.Equal(t, "running", b.State.Status)
	for _, n := range projectNames(t, project) {
		assert.False(t, strings.HasSuffix(n, "-dive-prev"), "kept container left: %s", n)
	}

	for _, e := range loadEvents(t, state, project) {
		if a, ok := e.Attrs.(events.RolledBackAttrs); ok && e.Service == "backend" {
			t.Logf("backend: failure → v1 ready %.0f ms (its restart → ready %.0f ms; its own start → ready in the first deploy %.0f ms)", a.SinceFailureMS, a.ReadyMS, v1Ready)
		}
	}
	html, err := os.ReadFile(filepath.Join(lastDeployDir(t, filepath.Join(state, "dive"), project), "report.html"))
	require.NoError(t, err)
	assert.Contains(t, string(html), `id="rollback"`)
	assert.Contains(t, string(html), "Rolled back after backend failed: the hub runs the previous configuration.")
	assert.Contains(t, string(html), "seg-rollback")

	// A successful v2 (the frontend's readiness delay changed), then
	// dive hub rollback --demo: the frontend runs v1's configuration again.
	v2 := diveWithin(t, 5*time.Minute, append(env, "DEMO_FRONTEND_READY_AFTER=1.5s"), "hub", "deploy", "--demo", "-p", project)
	require.Equal(t, 0, v2.code, "%s\n%s", v2.stdout, v2.stderr)
	rb := diveWithin(t, 5*time.Minute, env, "hub", "rollback", "--demo", "-p", project)
	require.Equal(t, 0, rb.code, "%s\n%s", rb.stdout, rb.stderr)
	out, err := exec.Command("docker", "inspect", "-f", "{{json .Config.Env}}", project+"-frontend").Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"STANDIN_READY_AFTER=1s"`, "the frontend runs v1's configuration")
	assert.Equal(t, b1.ID, inspectContainer(t, backend).ID, "the backend, the same in both, is left alone")
}
