package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImageBuildOptions: the legacy builder's request carries every key of
// the build: section docker compose's classic builder passes, and the
// legacy builder's shm_size, ulimits and cache_from besides.
func TestImageBuildOptions(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644))
	compose := `
name: bld
services:
  app:
    build:
      context: .
      dockerfile: Dockerfile
      args: {A: "1", EMPTY: ""}
      target: final
      labels: {x.label: v}
      no_cache: true
      pull: true
      tags: ["extra:1", "other/extra:2"]
      network: host
      extra_hosts: ["b.example:10.0.0.2", "a.example=10.0.0.1"]
      isolation: default
      shm_size: 64m
      ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
      cache_from: ["cache/img:1", "type=registry,ref=cache/img:2", "type=local,src=/tmp/c"]
      platforms: [linux/amd64]
`
	p := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(p, []byte(compose), 0o644))
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{p}})
	require.NoError(t, err)
	b := st.Services["app"].Config.Build
	args := map[string]*string{}
	for k, v := range b.Args {
		args[k] = v
	}
	o := ImageBuildOptions(BuildSpec{Tag: "bld-app", Context: b.Context, Dockerfile: b.Dockerfile, Args: args,
		Target: b.Target, Labels: map[string]string(b.Labels), NoCache: b.NoCache, Compose: b})

	assert.Equal(t, build.BuilderV1, o.Version)
	assert.Equal(t, []string{"extra:1", "other/extra:2", "bld-app"}, o.Tags, "the file's tags, then the image name (as compose)")
	assert.True(t, o.NoCache)
	assert.True(t, o.PullParent)
	assert.True(t, o.Remove)
	assert.Equal(t, "Dockerfile", o.Dockerfile)
	assert.Equal(t, "final", o.Target)
	require.Contains(t, o.BuildArgs, "A")
	assert.Equal(t, "1", *o.BuildArgs["A"])
	assert.Equal(t, "v", o.Labels["x.label"])
	assert.Equal(t, "classic", o.Labels["com.docker.compose.image.builder"])
	assert.Equal(t, "host", o.NetworkMode)
	assert.Equal(t, []string{"a.example:10.0.0.1", "b.example:10.0.0.2"}, o.ExtraHosts)
	assert.Equal(t, container.Isolation("default"), o.Isolation)
	assert.Equal(t, int64(64<<20), o.ShmSize)
	require.Len(t, o.Ulimits, 2)
	assert.Equal(t, container.Ulimit{Name: "nofile", Soft: 1024, Hard: 2048}, *o.Ulimits[0])
	assert.Equal(t, container.Ulimit{Name: "nproc", Soft: 512, Hard: 512}, *o.Ulimits[1])
	assert.Equal(t, []string{"cache/img:1", "cache/img:2"}, o.CacheFrom, "image references only: the legacy builder has no other cache")
	require.Len(t, o.Platforms, 1)
	assert.Equal(t, "amd64", o.Platforms[0].Architecture)

	// Nothing set: only the image name and the defaults.
	o = ImageBuildOptions(BuildSpec{Tag: "bld-min", Context: dir})
	assert.Equal(t, []string{"bld-min"}, o.Tags)
	assert.False(t, o.NoCache)
	assert.False(t, o.PullParent)
	assert.Empty(t, o.NetworkMode)
	assert.Empty(t, o.ExtraHosts)
	assert.Empty(t, o.Ulimits)
	assert.Zero(t, o.ShmSize)
}
