package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOrphans: a service renamed in the compose file leaves its old
// container (an orphan) holding the host port. Preflight names it; a deploy
// warns as docker compose does and leaves it (the new container cannot
// publish the port: the hint names the holder); --remove-orphans removes it
// first and the deploy succeeds.
func TestOrphans(t *testing.T) {
	needDocker(t)
	img := standinImage(t)
	project := uniqueProject("orph")
	t.Cleanup(func() { sweep(t, project, "") })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())

	dir := t.TempDir()
	write := func(name, service string) string {
		f := filepath.Join(dir, name)
		// No retries: the clash below is certain.
		body := fmt.Sprintf("services:\n  %s:\n    image: %s\n    environment: {STANDIN_NAME: %s}\n    labels: {dive.service.retries: \"0\"}\n    ports: [\"127.0.0.1:%d:8080\"]\n", service, img, service, port)
		require.NoError(t, os.WriteFile(f, []byte(body), 0o644))
		return f
	}
	p1, p2 := write("p1.yml", "oldname"), write("p2.yml", "newname")
	env := []string{"DIVE_STATE_DIR=" + t.TempDir()}
	orphan := project + "-oldname-1"
	running := func(name string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ins, err := docker.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		return err == nil && ins.Container.State != nil && ins.Container.State.Running
	}

	r := dive(t, env, "hub", "deploy", "-f", p1, "-p", project, "--no-validate")
	require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)

	r = dive(t, env, "hub", "preflight", "-f", p2, "-p", project)
	assert.Equal(t, 1, r.code, "%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "held by orphan container "+orphan)
	assert.Contains(t, r.stdout, "--remove-orphans")

	r = dive(t, env, "hub", "deploy", "-f", p2, "-p", project, "--skip-preflight", "--no-validate")
	out := r.stdout + r.stderr
	assert.Equal(t, 1, r.code, out)
	assert.Contains(t, out, "Found orphan containers (["+orphan+"]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.")
	assert.Contains(t, out, "is held by container "+orphan+" of this project, whose service oldname is no longer in the compose file")
	assert.True(t, running(orphan), "the orphan is left running")

	r = dive(t, env, "hub", "deploy", "-f", p2, "-p", project, "--remove-orphans", "--no-validate")
	out = r.stdout + r.stderr
	require.Equal(t, 0, r.code, out)
	assert.Contains(t, out, "removed orphan container "+orphan)
	assert.NotContains(t, out, "Found orphan containers")
	assert.False(t, running(orphan), "the orphan is gone")
	assert.True(t, running(project+"-newname-1"))
}
