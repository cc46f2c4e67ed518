package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildPolicy: as docker compose, a build: service whose image is
// present is built again with pull_policy: build (on every deploy) or
// --build, and not otherwise; no_cache reaches the build.
func TestBuildPolicy(t *testing.T) {
	st, g := loadStack(t, `
name: bld
services:
  always:
    image: bld-always:1
    build: {context: ., no_cache: true}
    pull_policy: build
  cached:
    image: bld-cached:1
    build: .
`)
	require.NoError(t, os.WriteFile(filepath.Join(st.WorkDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	f := newFake(nil)
	f.setImageID("bld-always:1", "sha256:old-always")
	f.setImageID("bld-cached:1", "sha256:old-cached")

	r := deployWith(t, f, st, g)
	require.Equal(t, Success, r.res.Outcome, r.res.Err)
	assert.Equal(t, []string{"bld-always:1"}, f.callsOf("build"), "pull_policy: build rebuilds a present image; the other one is used as it is")
	require.Len(t, f.builds, 1)
	assert.True(t, f.builds[0].NoCache, "no_cache reaches the build")

	f.resetCalls()
	r = deployWith(t, f, st, g, func(o *Options) { o.Build = true })
	require.Equal(t, Success, r.res.Outcome, r.res.Err)
	assert.ElementsMatch(t, []string{"bld-always:1", "bld-cached:1"}, f.callsOf("build"), "--build rebuilds both")
}
