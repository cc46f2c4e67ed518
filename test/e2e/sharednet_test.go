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

// TestDownSharedExternalNetwork: an external network dive created because
// it was missing is external to the project: `down` keeps it, `down -v`
// removes it only once no other project's container uses it, and the last
// project to leave it removes it, whichever created it.
func TestDownSharedExternalNetwork(t *testing.T) {
	needDocker(t)
	shared := uniqueProject("dshared")
	a, b := uniqueProject("dsa"), uniqueProject("dsb")
	t.Cleanup(func() { sweep(t, a, shared); sweep(t, b, shared) })
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(file, []byte(`services:
  s:
    image: `+standinImage(t)+`
    networks: [shared]
networks:
  shared: {external: true, name: `+shared+`}
`), 0o644))
	exists := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := docker.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", shared)})
		require.NoError(t, err)
		for _, n := range res.Items {
			if n.Name == shared {
				return true
			}
		}
		return false
	}
	state := filepath.Join(dir, "state")
	for _, p := range []string{a, b} {
		r := dive(t, nil, "hub", "deploy", "-f", file, "-p", p, "--state-dir", state)
		require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)
	}
	require.Equal(t, a, inspectNetwork(t, shared).Labels["io.dive.created-for"], "the first deploy created it")

	r := dive(t, nil, "hub", "down", "-f", file, "-p", a)
	require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "kept network "+shared+": external to the project")
	assert.True(t, exists(), "down without -v keeps an external network")

	r = dive(t, nil, "hub", "down", "-f", file, "-p", a, "-v")
	require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "kept network "+shared+": containers of other projects still use it")
	assert.True(t, exists(), "b still uses it")

	r = dive(t, nil, "hub", "down", "-f", file, "-p", b, "-v")
	require.Equal(t, 0, r.code, "%s\n%s", r.stdout, r.stderr)
	assert.Contains(t, r.stdout, "removed network "+shared)
	assert.False(t, exists(), "the last project to leave it removes it")
}
