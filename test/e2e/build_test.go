package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImageHealthcheckAndBuild: app waits for db to be healthy, and db's
// healthcheck is only its image's (a Dockerfile HEALTHCHECK; the file gives
// none), as docker compose deploys it. db is built by dive with no_cache,
// an extra tag and pull_policy: build, so a second deploy builds it again
// (a new image, the container recreated).
func TestImageHealthcheckAndBuild(t *testing.T) {
	needDocker(t)
	img := standinImage(t)
	project := uniqueProject("bld-hc")
	ref, extra := project+":1", project+":extra"
	var images []string
	t.Cleanup(func() {
		sweep(t, project, "")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, r := range append([]string{ref, extra}, images...) {
			_, _ = docker.ImageRemove(ctx, r, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		}
	})
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+img+"\n"+
		`HEALTHCHECK --interval=1s --timeout=2s --retries=30 CMD ["/dive","standin","probe"]`+"\n"), 0o644))
	file := filepath.Join(dir, "stack.yml")
	require.NoError(t, os.WriteFile(file, []byte(`
services:
  db:
    image: `+ref+`
    build:
      context: .
      no_cache: true
      tags: [`+extra+`]
    pull_policy: build
    environment: {STANDIN_NAME: db, STANDIN_READY_AFTER: 1500ms}
  app:
    image: `+img+`
    environment: {STANDIN_NAME: app}
    depends_on:
      db: {condition: service_healthy}
`), 0o644))

	r := dive(t, nil, "hub", "deploy", "-f", file, "-p", project, "--timeout", "2m")
	require.Equal(t, 0, r.code, "deploy failed:\n%s\n%s", r.stdout, r.stderr)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := docker.ContainerInspect(ctx, project+"-db-1", client.ContainerInspectOptions{})
	require.NoError(t, err)
	hc := db.Container.Config.Healthcheck
	require.NotNil(t, hc, "the image's healthcheck, merged in at create")
	assert.Equal(t, []string{"CMD", "/dive", "standin", "probe"}, hc.Test)
	app, err := docker.ContainerInspect(ctx, project+"-app-1", client.ContainerInspectOptions{})
	require.NoError(t, err)
	appStart, _ := time.Parse(time.RFC3339Nano, app.Container.State.StartedAt)
	dbReady, ok := readyTime(t, project+"-db-1")
	require.True(t, ok)
	assert.False(t, appStart.Before(dbReady), "app started at %s, before db was healthy (ready at %s)", appStart, dbReady)
	first, err := docker.ImageInspect(ctx, ref)
	require.NoError(t, err)
	images = append(images, first.ID)
	tagged, err := docker.ImageInspect(ctx, extra)
	require.NoError(t, err, "build.tags: the extra tag")
	assert.Equal(t, first.ID, tagged.ID)

	// pull_policy: build: built again (no cache: a new image), db recreated.
	r = dive(t, nil, "hub", "deploy", "-f", file, "-p", project, "--timeout", "2m")
	require.Equal(t, 0, r.code, "second deploy failed:\n%s\n%s", r.stdout, r.stderr)
	second, err := docker.ImageInspect(ctx, ref)
	require.NoError(t, err)
	images = append(images, second.ID)
	assert.NotEqual(t, first.ID, second.ID, "pull_policy: build with no_cache builds a new image on every deploy")
	db2, err := docker.ContainerInspect(ctx, project+"-db-1", client.ContainerInspectOptions{})
	require.NoError(t, err)
	assert.Equal(t, second.ID, db2.Container.Image, "db runs the new image")
}
