package deploy

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRollbackOrder(t *testing.T) {
	order := []string{"db", "init", "api", "web", "worker"} // dependencies first
	changed := map[string]bool{"db": true, "api": true, "web": true}
	assert.Equal(t, []string{"api", "web", "db"}, rollbackOrder(order, changed, "api"))
	assert.Equal(t, []string{"db", "web", "api"}, rollbackOrder(order, changed, "db"))
	// the failed service was not changed (its image was missing): the others only
	assert.Equal(t, []string{"web", "api", "db"}, rollbackOrder(order, changed, "worker"))
}

func TestKeepMode(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(s *types.ServiceConfig)
		want string
	}{
		{"plain", func(s *types.ServiceConfig) {}, KeepSideBySide},
		{"published port", func(s *types.ServiceConfig) { s.Ports = []types.ServicePortConfig{{Target: 80, Published: "8080"}} }, KeepStopped},
		{"container port only", func(s *types.ServiceConfig) { s.Ports = []types.ServicePortConfig{{Target: 80}} }, KeepSideBySide},
		{"container_name", func(s *types.ServiceConfig) { s.ContainerName = "x" }, KeepStopped},
		{"named volume", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data", Target: "/d"}}
		}, KeepStopped},
		{"read-only named volume", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: "data", Target: "/d", ReadOnly: true}}
		}, KeepSideBySide},
		{"anonymous volume", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Target: "/d"}}
		}, KeepSideBySide},
		{"bind mount", func(s *types.ServiceConfig) {
			s.Volumes = []types.ServiceVolumeConfig{{Type: types.VolumeTypeBind, Source: "/srv", Target: "/d"}}
		}, KeepStopped},
		{"host network", func(s *types.ServiceConfig) { s.NetworkMode = "host" }, KeepStopped},
		{"fixed address", func(s *types.ServiceConfig) {
			s.Networks = map[string]*types.ServiceNetworkConfig{"n": {Ipv4Address: "10.0.0.2"}}
		}, KeepStopped},
	} {
		var svc types.ServiceConfig
		tc.set(&svc)
		mode, rule := keepMode(svc, nil)
		assert.Equal(t, tc.want, mode, tc.name)
		assert.NotEmpty(t, rule, tc.name)
	}
}

// rollbackCompose: db (core, a named volume: kept stopped) ← api (core,
// restart: true on db: replaced with it) ← web (core, unchanged); extra is
// optional.
const rollbackCompose = `
name: rollback
services:
  db:
    image: fake/db
    ` + hc + `
    labels: {dive.service.timeout: 2s}
    environment: {V: "1"}
    volumes: [data:/data]
  api:
    image: fake/api
    ` + hc + `
    labels: {dive.service.timeout: 2s}
    environment: {V: "1"}
    depends_on:
      db: {condition: service_healthy, restart: true}
  web:
    image: fake/web
    depends_on:
      api: {condition: service_healthy}
  extra:
    image: fake/extra
    ` + hc + `
    labels: {dive.service.timeout: 2s, dive.service.class: optional}
    environment: {V: "1"}
volumes:
  data: {}
`

func rollbackFake() *fakeEngine {
	return newFake(map[string]script{
		"db":    {HealthyAfter: 20 * time.Millisecond},
		"api":   {HealthyAfter: 20 * time.Millisecond},
		"extra": {HealthyAfter: 20 * time.Millisecond},
	})
}

// deployV1 deploys rollbackCompose on a new fake engine: the v1 every
// rollback test starts from.
func deployV1(t *testing.T, mods ...func(*Options)) (*fakeEngine, *stack.Stack, *graph.Graph, run) {
	t.Helper()
	st, g := loadStack(t, rollbackCompose)
	fake := rollbackFake()
	v1 := deployWith(t, fake, st, g, mods...)
	require.Equal(t, Success, v1.res.Outcome, "%v", v1.res.Err)
	return fake, st, g, v1
}

// changeEnv returns rollbackCompose with service's V set to "2".
func changeEnv(t *testing.T, services ...string) string {
	t.Helper()
	out := rollbackCompose
	for _, s := range services {
		i := strings.Index(out, "  "+s+":\n")
		require.GreaterOrEqual(t, i, 0, s)
		j := strings.Index(out[i:], `V: "1"`)
		require.GreaterOrEqual(t, j, 0, s)
		out = out[:i+j] + `V: "2"` + out[i+j+len(`V: "1"`):]
	}
	return out
}

func kindsOf(evs []events.Event, k events.Kind) map[string]events.Event {
	out := map[string]events.Event{}
	for _, e := range evs {
		if e.Kind == k {
			out[e.Service] = e
		}
	}
	return out
}

// TestCoreFailureRollsBack: db changes and its new container fails (a
// crash, a budget, a start error); db and api (replaced with it) run their
// previous containers again, web is never touched.
func TestCoreFailureRollsBack(t *testing.T) {
	t.Parallel()
	for name, broken := range map[string]script{
		"crash":       {Exit: true, ExitAfter: 10 * time.Millisecond, ExitCode: 2},
		"budget":      {NeverReady: true},
		"start error": {StartErr: &definiteErr{"fake: exec format error"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake, _, _, v1 := deployV1(t)

			fake.setScript("db", broken)
			fake.resetCalls()
			st2, g2 := loadStack(t, changeEnv(t, "db"))
			v2 := deployWith(t, fake, st2, g2)
			require.Equal(t, Failed, v2.res.Outcome)
			require.Error(t, v2.res.Err)
			assert.Contains(t, v2.res.Err.Error(), "rolled back: the hub runs the previous configuration; core service db failed")
			require.NotNil(t, v2.res.Rollback)
			assert.True(t, v2.res.Rollback.Complete, "%+v", v2.res.Rollback)
			assert.Equal(t, "db", v2.res.Rollback.Cause)
			for _, n := range []string{"db", "api"} {
				sr := v2.res.Rollback.Services[n]
				require.NotNil(t, sr, n)
				assert.Equal(t, RollbackRestored, sr.Action, n)
				assert.Equal(t, short(v1.res.Services[n].ContainerID), sr.ContainerID, n)
				id, state, ok := fake.byName("rollback-" + n + "-1")
				require.True(t, ok, n)
				assert.Equal(t, v1.res.Services[n].ContainerID, id, "%s runs its v1 container again", n)
				assert.Equal(t, "running", state, n)
			}
			assert.NotContains(t, v2.res.Rollback.Services, "web")
			assert.NotContains(t, v2.res.Rollback.Services, "extra")
			assert.Equal(t, []string{"rollback-api-1", "rollback-db-1", "rollback-extra-1", "rollback-web-1"}, fake.names(), "nothing kept or new is left")
			calls := fake.callOrder()
			assert.NotContains(t, calls, "stop web")
			assert.NotContains(t, calls, "start web")
			assert.NotContains(t, calls, "stop api", "api runs side by side: never stopped")
			// db, kept stopped: its old container stops only after the new
			// one's dependencies are met, right before its start.
			assert.Less(t, slices.Index(calls, "create db"), slices.Index(calls, "stop db"))
			rolled := kindsOf(v2.evs, events.RolledBack)
			require.Contains(t, rolled, "db")
			require.Contains(t, rolled, "api")
			assert.Equal(t, "db", rolled["db"].Attrs.(events.RolledBackAttrs).Cause)
			// the failed service first, then the others in reverse dependency order
			var order []string
			for _, e := range v2.evs {
				if e.Kind == events.RolledBack {
					order = append(order, e.Service)
				}
			}
			assert.Equal(t, []string{"db", "api"}, order)
			rep := kindsOf(v2.evs, events.Replacing)
			assert.Equal(t, KeepStopped, rep["db"].Attrs.(events.ReplacingAttrs).Mode)
			assert.Equal(t, KeepSideBySide, rep["api"].Attrs.(events.ReplacingAttrs).Mode)
			checkEvents(t, v2, "db", "web")
		})
	}
}

// TestRollbackStepFails: db's previous container cannot get its name back;
// the others are still rolled back, and the error says what every service
// runs now.
func TestRollbackStepFails(t *testing.T) {
	t.Parallel()
	fake, _, _, v1 := deployV1(t)
	fake.setScript("db", script{Exit: true, ExitAfter: 10 * time.Millisecond, ExitCode: 2})
	fake.mu.Lock()
	fake.renameFails = "rollback-db-1"
	fake.mu.Unlock()
	st2, g2 := loadStack(t, changeEnv(t, "db"))
	v2 := deployWith(t, fake, st2, g2)
	require.Equal(t, Failed, v2.res.Outcome)
	require.NotNil(t, v2.res.Rollback)
	assert.False(t, v2.res.Rollback.Complete)
	msg := v2.res.Err.Error()
	assert.NotContains(t, msg, "rolled back: the hub runs the previous configuration")
	assert.Contains(t, msg, "core service db failed")
	assert.Contains(t, msg, "the rollback did not complete, now: api runs its previous container "+short(v1.res.Services["api"].ContainerID)+" again")
	assert.Contains(t, msg, "db runs its previous container "+short(v1.res.Services["db"].ContainerID)+", stopped and named rollback-db-1-dive-prev")
	assert.Equal(t, RollbackFailed, v2.res.Rollback.Services["db"].Action)
	assert.Equal(t, RollbackRestored, v2.res.Rollback.Services["api"].Action)
	failed := kindsOf(v2.evs, events.RollbackFailed)
	require.Contains(t, failed, "db")
	assert.Contains(t, failed["db"].Attrs.(events.RollbackFailedAttrs).Runs, "stopped and named rollback-db-1-dive-prev")
}

// TestOptionalFailureRollsBackAlone: a changed optional service fails; it
// alone is rolled back, the deploy is degraded, a changed core service
// keeps its new container.
func TestOptionalFailureRollsBackAlone(t *testing.T) {
	t.Parallel()
	fake, _, _, v1 := deployV1(t)

	fake.setScript("extra", script{Exit: true, ExitAfter: 10 * time.Millisecond, ExitCode: 1})
	st2, g2 := loadStack(t, changeEnv(t, "extra", "api"))
	v2 := deployWith(t, fake, st2, g2, func(o *Options) { o.WaitAll = true })
	require.Equal(t, Degraded, v2.res.Outcome, "%v", v2.res.Err)
	assert.Nil(t, v2.res.Rollback)
	sr := v2.res.Services["extra"].Rollback
	require.NotNil(t, sr)
	assert.Equal(t, RollbackRestored, sr.Action)
	id, state, _ := fake.byName("rollback-extra-1")
	assert.Equal(t, v1.res.Services["extra"].ContainerID, id)
	assert.Equal(t, "running", state)
	assert.Nil(t, v2.res.Services["api"].Rollback)
	assert.NotEqual(t, v1.res.Services["api"].ContainerID, v2.res.Services["api"].ContainerID, "api keeps its new container")
	assert.Equal(t, []string{"rollback-api-1", "rollback-db-1", "rollback-extra-1", "rollback-web-1"}, fake.names(), "api's kept container is removed")
}

// TestNoRollbackReplacesFirst: --no-rollback removes the old container
// before the new one is created, and a failure stays a failure.
func TestNoRollbackReplacesFirst(t *testing.T) {
	t.Parallel()
	fake, _, _, _ := deployV1(t)
	fake.setScript("db", script{Exit: true, ExitAfter: 10 * time.Millisecond, ExitCode: 2})
	fake.resetCalls()
	st2, g2 := loadStack(t, changeEnv(t, "db"))
	v2 := deployWith(t, fake, st2, g2, func(o *Options) { o.NoRollback = true })
	require.Equal(t, Failed, v2.res.Outcome)
	assert.NotContains(t, v2.res.Err.Error(), "rolled back")
	assert.Nil(t, v2.res.Rollback)
	calls := fake.callOrder()
	assert.Less(t, slices.Index(calls, "remove db"), slices.Index(calls, "create db"))
	assert.NotContains(t, calls, "rename db")
	assert.Empty(t, kindsOf(v2.evs, events.Replacing))
}

// TestSuccessfulReplaceRemovesKept: after a successful deploy no kept
// container is left, and a leftover one of an interrupted deploy is removed.
func TestSuccessfulReplaceRemovesKept(t *testing.T) {
	t.Parallel()
	fake, st, g, _ := deployV1(t, withWaitAll)
	st2, g2 := loadStack(t, changeEnv(t, "db"))
	v2 := deployWith(t, fake, st2, g2, withWaitAll)
	require.Equal(t, Success, v2.res.Outcome, "%v", v2.res.Err)
	assert.Equal(t, KeepStopped, v2.res.Services["db"].Kept)
	assert.Equal(t, KeepSideBySide, v2.res.Services["api"].Kept)
	assert.Equal(t, []string{"rollback-api-1", "rollback-db-1", "rollback-extra-1", "rollback-web-1"}, fake.names())

	// A leftover kept container (a deploy killed half-way) is not taken for
	// the service's container, and is removed by the next replace.
	id, _, _ := fake.byName("rollback-extra-1")
	require.NoError(t, fake.Rename(t.Context(), id, "rollback-extra-1-dive-prev"))
	v3 := deployWith(t, fake, st2, g2, withWaitAll)
	require.Equal(t, Success, v3.res.Outcome, "%v", v3.res.Err)
	assert.Equal(t, StateReady, v3.res.Services["extra"].State, "extra is created anew")
	v4 := deployWith(t, fake, st, g, withWaitAll)
	require.Equal(t, Success, v4.res.Outcome, "%v", v4.res.Err)
	assert.Equal(t, []string{"rollback-api-1", "rollback-db-1", "rollback-extra-1", "rollback-web-1"}, fake.names())
}

func withWaitAll(o *Options) { o.WaitAll = true }

// TestInterruptDuringRollback: Ctrl-C while a restored container is not
// ready yet ends the rollback's wait at once (its budget is 30 s), the
// deploy is interrupted, and the record says the rollback was interrupted.
func TestInterruptDuringRollback(t *testing.T) {
	t.Parallel()
	fake, _, _, v1 := deployV1(t)
	fake.mu.Lock()
	fake.containers[v1.res.Services["db"].ContainerID].script.NeverReady = true // once restarted
	fake.mu.Unlock()
	fake.setScript("db", script{Exit: true, ExitAfter: 10 * time.Millisecond, ExitCode: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var interruptedAt atomic.Int64
	fake.mu.Lock()
	fake.onRename = func(name string) {
		if name == "rollback-db-1" && interruptedAt.CompareAndSwap(0, time.Now().UnixNano()) {
			cancel() // the rollback gave db's previous container its name back
		}
	}
	fake.mu.Unlock()
	compose := strings.Replace(changeEnv(t, "db"), "labels: {dive.service.timeout: 2s}", "labels: {dive.service.timeout: 30s}", 1)
	st2, g2 := loadStack(t, compose)
	res := Run(ctx, fake, Options{Stack: st2, Graph: g2, Bus: events.NewBus("test"), Timeout: time.Minute, DiveVersion: "test"})
	ended := time.Now()
	require.NotZero(t, interruptedAt.Load(), "the rollback reached db")
	assert.Less(t, ended.Sub(time.Unix(0, interruptedAt.Load())), 10*time.Second, "the wait for db's restored container ended with the interrupt, not its 30 s budget")
	assert.Equal(t, Interrupted, res.Outcome)
	require.NotNil(t, res.Rollback)
	assert.False(t, res.Rollback.Complete)
	db := res.Rollback.Services["db"]
	require.NotNil(t, db)
	assert.Equal(t, RollbackFailed, db.Action)
	assert.Contains(t, db.Error, "interrupted during the rollback")
}

// TestInterruptedReplaceKeepsLastGood: a deploy interrupted while it
// replaced db and api leaves their v1 containers kept (-dive-prev) beside
// new ones that never became ready. The next deploy keeps those v1
// containers, not the unproven ones, and its failure restores them.
func TestInterruptedReplaceKeepsLastGood(t *testing.T) {
	t.Parallel()
	fake, _, _, v1 := deployV1(t)

	// v2: db never ready; Ctrl-C once its new container started.
	fake.setScript("db", script{NeverReady: true})
	st2, g2 := loadStack(t, changeEnv(t, "db"))
	ctx, cancel := context.WithCancel(t.Context())
	since := time.Now()
	go func() {
		for deadline := time.Now().Add(10 * time.Second); !fake.startedAt("db").After(since) && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	v2 := Run(ctx, fake, Options{Stack: st2, Graph: g2, Bus: events.NewBus("test"), Timeout: time.Minute})
	require.Equal(t, Interrupted, v2.Outcome)
	v1db := v1.res.Services["db"].ContainerID
	id, _, ok := fake.byName("rollback-db-1-dive-prev")
	require.True(t, ok, "the interrupted deploy left db's v1 container kept: %v", fake.names())
	require.Equal(t, v1db, id)
	v2db, _, _ := fake.byName("rollback-db-1")
	require.NotEqual(t, v1db, v2db)

	// v3: db crashes. The rollback restores v1, never the v2 container.
	fake.setScript("db", script{Exit: true, ExitAfter: 10 * time.Millisecond, ExitCode: 2})
	st3, g3 := loadStack(t, strings.Replace(changeEnv(t, "db"), `V: "2"`, `V: "3"`, 1))
	v3 := deployWith(t, fake, st3, g3)
	require.Equal(t, Failed, v3.res.Outcome)
	assert.Contains(t, v3.res.Err.Error(), "rolled back: the hub runs the previous configuration")
	for _, n := range []string{"db", "api"} {
		id, state, ok := fake.byName("rollback-" + n + "-1")
		require.True(t, ok, n)
		assert.Equal(t, v1.res.Services[n].ContainerID, id, "%s runs its v1 container again", n)
		assert.Equal(t, "running", state, n)
		assert.Equal(t, RollbackRestored, v3.res.Rollback.Services[n].Action, n)
	}
	assert.Equal(t, []string{"rollback-api-1", "rollback-db-1", "rollback-extra-1", "rollback-web-1"}, fake.names(), "the unproven v2 containers are gone, nothing kept is left")
	rep := kindsOf(v3.evs, events.Replacing)
	require.Contains(t, rep, "db")
	assert.Equal(t, short(v1db), rep["db"].Attrs.(events.ReplacingAttrs).ContainerID, "the kept one named in the event is v1")
}
