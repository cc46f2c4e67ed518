package deploy

import (
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const orphansBefore = `
name: orph
services:
  a: {image: alpine}
  oldname: {image: alpine}
`

// oldname renamed to newname; debug is disabled by its profile.
const orphansAfter = `
name: orph
services:
  a: {image: alpine}
  newname: {image: alpine}
  debug: {image: alpine, profiles: [debug]}
`

// addContainer puts a running container of the project into the fake, as
// another tool (or an earlier dive) left it.
func (f *fakeEngine) addContainer(name, service string, labels map[string]string, stopTimeout *int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	l := map[string]string{engine.LabelProject: "orph", engine.LabelService: service, engine.LabelOneOff: "False"}
	for k, v := range labels {
		l[k] = v
	}
	id := name + "-0123456789abcdef"
	f.containers[id] = &fakeContainer{id: id, name: name, service: service, state: "running",
		spec: &engine.ContainerSpec{Service: service, Name: name, Config: &container.Config{Labels: l, StopTimeout: stopTimeout}}}
}

func warnings(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		if w, ok := e.Attrs.(events.WarningAttrs); ok {
			out = append(out, w.Message)
		}
	}
	return out
}

func TestOrphans(t *testing.T) {
	t.Parallel()
	before, gb := loadStack(t, orphansBefore)
	after, ga := loadStack(t, orphansAfter)
	fake := newFake(nil)
	first := deployWith(t, fake, before, gb)
	require.Equal(t, Success, first.res.Outcome, "%v", first.res.Err)
	// Not orphans: a one-off container, a service disabled by a profile,
	// the kept container of a service still in the file.
	fake.addContainer("orph-a-run-1", "a", map[string]string{engine.LabelOneOff: "True"}, nil)
	fake.addContainer("orph-debug-1", "debug", nil, nil)
	fake.addContainer("orph-a-1"+engine.PrevSuffix, "a", nil, nil)
	// An orphan's kept container is an orphan too.
	fake.addContainer("orph-oldname-1"+engine.PrevSuffix, "oldname", nil, intp(3))

	t.Run("warned and left", func(t *testing.T) {
		fake.resetCalls()
		r := deployWith(t, fake, after, ga)
		require.Equal(t, Success, r.res.Outcome, "%v", r.res.Err)
		assert.Contains(t, warnings(r.evs), "Found orphan containers ([orph-oldname-1 orph-oldname-1-dive-prev]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.")
		assert.Contains(t, fake.names(), "orph-oldname-1")
		assert.NotContains(t, fake.callsOf("stop"), "oldname")
		assert.NotContains(t, fake.callsOf("remove"), "oldname")
		checkEvents(t, r, after.Names...)
	})

	t.Run("removed with RemoveOrphans before any create", func(t *testing.T) {
		fake.resetCalls()
		r := deployWith(t, fake, after, ga, func(o *Options) { o.RemoveOrphans = true })
		require.Equal(t, Success, r.res.Outcome, "%v", r.res.Err)
		names := fake.names()
		assert.NotContains(t, names, "orph-oldname-1")
		assert.NotContains(t, names, "orph-oldname-1-dive-prev")
		for _, keep := range []string{"orph-a-run-1", "orph-debug-1", "orph-newname-1", "orph-a-1"} {
			assert.Contains(t, names, keep)
		}
		for _, w := range warnings(r.evs) {
			assert.NotContains(t, w, "orphan")
			assert.NotContains(t, w, "leftover", "the removed orphans are not removed again as leftovers")
		}
		var removed []string
		for _, e := range r.evs {
			if n, ok := e.Attrs.(events.InfoAttrs); ok && strings.HasPrefix(n.Message, OrphanRemoved) {
				removed = append(removed, n.Message)
			}
		}
		assert.Len(t, removed, 2)
		// The orphans went first: two stops (both ran) and two removes
		// before any other call (here: the kept container of a, dropped
		// as a leftover).
		ops := fake.callOrder()
		require.GreaterOrEqual(t, len(ops), 4, "%v", ops)
		first4 := append([]string(nil), ops[:4]...)
		sort.Strings(first4)
		assert.Equal(t, []string{"remove oldname", "remove oldname", "stop oldname", "stop oldname"}, first4, "%v", ops)
		checkEvents(t, r, after.Names...)
	})
}

func TestOrphanRemovalFailureFailsTheDeploy(t *testing.T) {
	t.Parallel()
	after, ga := loadStack(t, orphansAfter)
	fake := newFake(nil)
	fake.addContainer("orph-oldname-1", "oldname", nil, nil)
	fake.mu.Lock()
	fake.containers["orph-oldname-1-0123456789abcdef"].id = "gone" // the fake's calls by this id fail
	fake.mu.Unlock()
	r := deployWith(t, fake, after, ga, func(o *Options) { o.RemoveOrphans = true })
	require.Equal(t, Failed, r.res.Outcome)
	require.Error(t, r.res.Err)
	assert.Contains(t, r.res.Err.Error(), "--remove-orphans could not remove orph-oldname-1 (service oldname)")
	assert.Empty(t, fake.callsOf("create"), "nothing created after a failed orphan removal")
}

func TestPortHintNamesTheHolder(t *testing.T) {
	t.Parallel()
	after, ga := loadStack(t, orphansAfter)
	fake := newFake(nil)
	d := &deployer{eng: fake, st: after, g: ga}
	msg := "driver failed programming external connectivity on endpoint orph-newname-1: Bind for 127.0.0.1:47900 failed: port is already allocated"
	assert.Equal(t, "", d.portHint(msg), "no container publishes it: another process")
	assert.Equal(t, "", d.portHint("no port in this message"))

	fake.addContainer("orph-oldname-1", "oldname", nil, nil)
	fake.mu.Lock()
	fake.containers["orph-oldname-1-0123456789abcdef"].ports = []container.PortSummary{{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 8080, PublicPort: 47900, Type: "tcp"}}
	fake.mu.Unlock()
	assert.Equal(t, "host port 127.0.0.1:47900 is held by container orph-oldname-1 of this project, whose service oldname is no longer in the compose file (an orphan): deploy again with --remove-orphans, or remove it (dive hub down)", d.portHint(msg))
	assert.Equal(t, "", d.portHint("Bind for 127.0.0.1:47901 failed: port is already allocated"), "another port")
	assert.Contains(t, d.portHint("listen tcp4 0.0.0.0:47900: bind: address already in use"), "orph-oldname-1")
	assert.Contains(t, hintFor(&svcRun{svc: after.Services["newname"]}, &Diagnosis{Reason: msg}), "another process")
}
