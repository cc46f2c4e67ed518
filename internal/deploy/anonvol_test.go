package deploy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const anonCompose = `
name: anonv
services:
  a:
    image: fake/a
    environment: {V: "1"}
    volumes: [/anon]
`

// volumesOf maps a container's volume destinations to the volume names.
func (f *fakeEngine) volumesOf(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for _, c := range f.containers {
		if c.name == name {
			for _, m := range c.mounts {
				out[m.Destination] = m.Name
			}
		}
	}
	return out
}

// TestRecreateInheritsAnonymousVolumes: a recreated container mounts its
// previous container's anonymous volumes (the image's VOLUME and the
// service's `volumes: [/anon]`), as docker compose does; the old one is
// then kept stopped (two writers). --renew-anon-volumes gives it new ones.
func TestRecreateInheritsAnonymousVolumes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		mod   func(*Options)
		renew bool
		kept  string
	}{
		{"kept", func(*Options) {}, false, KeepStopped},
		{"no rollback", func(o *Options) { o.NoRollback = true }, false, ""},
		{"renew", func(o *Options) { o.RenewAnonVolumes = true }, true, KeepSideBySide},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := newFake(nil)
			fake.imageVols["fake/a"] = []string{"/data"}
			st, g := loadStack(t, anonCompose)
			v1 := deployWith(t, fake, st, g, tc.mod)
			require.Equal(t, Success, v1.res.Outcome, "%v", v1.res.Err)
			before := fake.volumesOf("anonv-a-1")
			require.Len(t, before, 2)
			require.NotEmpty(t, before["/anon"])
			require.NotEmpty(t, before["/data"])

			st2, g2 := loadStack(t, `
name: anonv
services:
  a:
    image: fake/a
    environment: {V: "2"}
    volumes: [/anon]
`)
			v2 := deployWith(t, fake, st2, g2, tc.mod)
			require.Equal(t, Success, v2.res.Outcome, "%v", v2.res.Err)
			assert.NotEqual(t, v1.res.Services["a"].ContainerID, v2.res.Services["a"].ContainerID, "recreated")
			after := fake.volumesOf("anonv-a-1")
			if tc.renew {
				assert.NotEqual(t, before["/anon"], after["/anon"])
				assert.NotEqual(t, before["/data"], after["/data"])
			} else {
				assert.Equal(t, before, after)
			}
			assert.Equal(t, tc.kept, v2.res.Services["a"].Kept)
		})
	}
}
