package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAnyComposeFile deploys an arbitrary compose file with -f/-p: a service
// built from a build: section, one waited on by TCP, a one-shot job, ports,
// a bind mount, and checks the guarantees, logs and down.
func TestAnyComposeFile(t *testing.T) {
	needDocker(t)
	img := ensureStandinViaDemoPlan(t)
	project := uniqueProject("e2e-any")
	t.Cleanup(func() {
		sweep(t, project, "")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = docker.ImageRemove(ctx, project+"-web", client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "web"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "web", "Dockerfile"), []byte("FROM "+img+"\nLABEL built.by=e2e\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "web", "big.ignored"), make([]byte, 1<<20), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "web", ".dockerignore"), []byte("*.ignored\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "conf"), 0o755))
	compose := `
name: ignored-by-p
services:
  db:
    image: ` + img + `
    environment:
      STANDIN_NAME: db
      STANDIN_READY_AFTER: 700ms
    healthcheck:
      test: ["CMD", "/dive", "standin", "probe"]
      interval: 5s
      timeout: 2s
      retries: 5
    volumes:
      - data:/data
      - ./conf:/conf:ro
    labels:
      dive.service.class: core
  migrate:
    image: ` + img + `
    restart: "no"
    environment:
      STANDIN_NAME: migrate
      STANDIN_MODE: job
      STANDIN_READY_AFTER: 200ms
      STANDIN_REQUIRES: db:8080
    depends_on:
      db: {condition: service_healthy}
  web:
    build: ./web
    environment:
      STANDIN_NAME: web
      STANDIN_READY_AFTER: 300ms
      STANDIN_REQUIRES: db:8080
    ports:
      - "127.0.0.1:0:8080"
    labels:
      dive.health.tcp: "8080"
      dive.service.class: core
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
  sidecar:
    image: ` + img + `
    environment:
      STANDIN_NAME: sidecar
    depends_on: [web]
    labels:
      dive.service.class: optional
volumes:
  data: {}
`
	file := filepath.Join(dir, "stack.yml")
	require.NoError(t, os.WriteFile(file, []byte(compose), 0o644))
	env := []string{"DIVE_STATE_DIR=" + t.TempDir()}

	r := dive(t, env, "hub", "deploy", "-f", file, "-p", project, "--timeout", "2m")
	require.Equal(t, 0, r.code, "deploy failed:\n%s\n%s", r.stdout, r.stderr)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// the built image exists, without the ignored file's weight
	im, err := docker.ImageInspect(ctx, project+"-web")
	require.NoError(t, err, "the build: service's image <project>-web")
	assert.Equal(t, "e2e", im.Config.Labels["built.by"])
	for _, svc := range []string{"db", "web", "sidecar"} {
		ins, err := docker.ContainerInspect(ctx, project+"-"+svc+"-1", client.ContainerInspectOptions{})
		require.NoError(t, err, svc)
		assert.True(t, ins.Container.State.Running, "%s running", svc)
		assert.Equal(t, project, ins.Container.Config.Labels["com.docker.compose.project"])
		assert.Equal(t, svc, ins.Container.Config.Labels["com.docker.compose.service"])
		assert.NotEmpty(t, ins.Container.Config.Labels["com.docker.compose.config-hash"])
	}
	job, err := docker.ContainerInspect(ctx, project+"-migrate-1", client.ContainerInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, 0, job.Container.State.ExitCode)
	web, err := docker.ContainerInspect(ctx, project+"-web-1", client.ContainerInspectOptions{})
	require.NoError(t, err)
	webStart, _ := time.Parse(time.RFC3339Nano, web.Container.State.StartedAt)
	jobEnd, _ := time.Parse(time.RFC3339Nano, job.Container.State.FinishedAt)
	assert.False(t, webStart.Before(jobEnd), "web started before the job completed")
	dbReady, ok := readyTime(t, project+"-db-1")
	require.True(t, ok)
	assert.False(t, webStart.Before(dbReady), "web started before db was ready")

	// logs of one service, then all with prefixes
	lr := dive(t, env, "hub", "logs", "-f", file, "-p", project, "--tail", "5", "web")
	require.Equal(t, 0, lr.code, lr.stderr)
	assert.Contains(t, lr.stdout, "standin web")
	la := dive(t, env, "hub", "logs", "-f", file, "-p", project)
	require.Equal(t, 0, la.code, la.stderr)
	assert.Contains(t, la.stdout, "db ")
	assert.True(t, strings.Contains(la.stdout, "| standin web"), la.stdout)

	down := dive(t, env, "hub", "down", "-f", file, "-p", project, "-v")
	require.Equal(t, 0, down.code, down.stdout+down.stderr)
	assertNothingLeft(t, project, "")
}

// ensureStandinViaDemoPlan makes dive build its stand-in image the way users
// get it, through a demo deploy (of one service, to stay quick), and returns
// the image reference.
func ensureStandinViaDemoPlan(t *testing.T) string {
	t.Helper()
	project := uniqueProject("e2e-img")
	env := demoEnv(t, project)
	t.Cleanup(func() { sweep(t, project, project+"-shared") })
	r := dive(t, env, "hub", "deploy", "--demo", "-p", project, "redis")
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ins, err := docker.ContainerInspect(ctx, project+"-redis", client.ContainerInspectOptions{})
	require.NoError(t, err)
	d := dive(t, env, "hub", "down", "--demo", "-p", project, "-v")
	require.Equal(t, 0, d.code, d.stdout+d.stderr)
	return ins.Container.Config.Image
}
