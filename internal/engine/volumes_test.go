package engine

import (
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const inheritCompose = `
name: anonv
services:
  a:
    image: example/a
    volumes:
      - /anon
      - type: volume
        target: /ro
        read_only: true
      - type: tmpfs
        target: /scratch
      - appdata:/db
      - appdata:/named-over-image
      - /anon2
volumes:
  appdata:
`

// TestInheritAnonymousVolumes: a recreated container mounts the previous
// one's anonymous volumes where docker compose v2.40.3's
// buildContainerMountOptions does: at the image's VOLUME paths and at the
// service's volumes without a source, by name (a bind: by host path), read
// only when they were; never a tmpfs; the service's own volumes win.
func TestInheritAnonymousVolumes(t *testing.T) {
	st := loadConvert(t, inheritCompose)
	svc := st.Service("a").Config
	opts := BuildOptions{Project: st.Project, ImageID: "sha256:img", APIVersion: "1.41"}

	fresh, err := Spec(svc, opts)
	require.NoError(t, err)
	assert.Empty(t, fresh.Inherited)
	for _, m := range fresh.Host.Mounts {
		if m.Target == "/anon" {
			assert.Equal(t, "", m.Source, "a new anonymous volume without inherit")
		}
	}

	opts.Inherit = &Inherit{
		ImageVolumes: map[string]struct{}{"/data": {}, "/cache": {}, "/named-over-image": {}},
		Mounts: []container.MountPoint{
			{Type: mount.TypeVolume, Name: "v-anon", Source: "/var/lib/docker/volumes/v-anon/_data", Destination: "/anon", RW: true},
			{Type: mount.TypeVolume, Name: "v-ro", Destination: "/ro", RW: false},
			{Type: mount.TypeVolume, Name: "v-data", Destination: "/data", RW: true},
			{Type: mount.TypeBind, Source: "/srv/cache", Destination: "/cache", RW: true},
			{Type: mount.TypeTmpfs, Destination: "/scratch", RW: true},
			{Type: mount.TypeVolume, Name: "anonv_appdata", Destination: "/db", RW: true},
			{Type: mount.TypeVolume, Name: "v-old", Destination: "/named-over-image", RW: true},
			{Type: mount.TypeVolume, Name: "v-gone", Destination: "/gone", RW: true},
			{Type: mount.TypeVolume, Name: "anonv_appdata", Destination: "/anon2", RW: true},
		},
	}
	sp, err := Spec(svc, opts)
	require.NoError(t, err)
	assert.Equal(t, []mount.Mount{
		{Type: mount.TypeVolume, Source: "v-anon", Target: "/anon"},
		{Type: mount.TypeVolume, Source: "anonv_appdata", Target: "/anon2"},
		{Type: mount.TypeBind, Source: "/srv/cache", Target: "/cache"},
		{Type: mount.TypeVolume, Source: "v-data", Target: "/data"},
		{Type: mount.TypeVolume, Source: "v-ro", Target: "/ro", ReadOnly: true},
	}, sp.Inherited, "by target; not the tmpfs, not /gone, not where the service names a volume")
	assert.Equal(t, []string{
		"anonv_appdata:/db:rw",               // the service's own named volumes, as before
		"anonv_appdata:/named-over-image:rw", // wins over the image VOLUME's old volume
		"anonv_appdata:/anon2:rw",            // an inherited declared volume at a target the service declares: Binds, as compose
	}, sp.Host.Binds)
	assert.ElementsMatch(t, []mount.Mount{
		{Type: mount.TypeTmpfs, Target: "/scratch"}, // the service's tmpfs: a tmpfs is never inherited
		{Type: mount.TypeVolume, Source: "v-anon", Target: "/anon"},
		{Type: mount.TypeBind, Source: "/srv/cache", Target: "/cache"},
		{Type: mount.TypeVolume, Source: "v-data", Target: "/data"},
		{Type: mount.TypeVolume, Source: "v-ro", Target: "/ro", ReadOnly: true},
	}, sp.Host.Mounts)
	assert.Equal(t, fresh.Hash, sp.Hash, "inheriting does not change the config hash")
}
