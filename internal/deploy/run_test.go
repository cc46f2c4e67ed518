package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hc is the healthcheck of fake services. The fake engine's own checks are
// simulated by the script (HealthyAfter), not by this interval; a long
// interval keeps dive's probes at work (the engine's next check is far
// away). The budget comes from the dive.service.timeout label so it never
// depends on these numbers.
const hc = `healthcheck: {test: [CMD, /probe], interval: 10s, timeout: 1s, retries: 3}`

func loadStack(t *testing.T, compose string) (*stack.Stack, *graph.Graph) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(p, []byte(compose), 0o644))
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{p}})
	require.NoError(t, err)
	g, err := st.Graph()
	require.NoError(t, err)
	return st, g
}

type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func (r *recorder) Handle(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e)
}

func (r *recorder) all() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Event(nil), r.evs...)
}

type run struct {
	res     *Result
	evs     []events.Event
	elapsed time.Duration
}

func deployWith(t *testing.T, eng Engine, st *stack.Stack, g *graph.Graph, mods ...func(*Options)) run {
	t.Helper()
	rec := &recorder{}
	bus := events.NewBus("test")
	bus.Subscribe(rec)
	o := Options{Stack: st, Graph: g, Bus: bus, Timeout: 15 * time.Second, DiveVersion: "test"}
	for _, m := range mods {
		m(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	res := Run(ctx, eng, o)
	elapsed := time.Since(t0)
	require.NotNil(t, res)
	if f, ok := eng.(*fakeEngine); ok {
		// The event subscription ends with the deploy.
		eventually(t, 2*time.Second, func() bool { return f.subscribers() == 0 }, "the Watch subscription is released")
	}
	return run{res: res, evs: rec.all(), elapsed: elapsed}
}

func states(res *Result) map[string]State {
	out := map[string]State{}
	for n, s := range res.Services {
		out[n] = s.State
	}
	return out
}

var terminalKinds = map[events.Kind]bool{events.ServiceReady: true, events.ServiceFailed: true, events.ServiceSkipped: true, events.ServiceReused: true}

// terminalEvents counts, per service, the terminal events of a deploy.
func terminalEvents(evs []events.Event) map[string][]events.Kind {
	out := map[string][]events.Kind{}
	for _, e := range evs {
		if terminalKinds[e.Kind] {
			out[e.Service] = append(out[e.Service], e.Kind)
		}
	}
	return out
}

// checkEvents: deploy_started first, deploy_finished last (once each), and
// exactly one terminal event, matching the final state, for each of services.
func checkEvents(t *testing.T, r run, services ...string) {
	t.Helper()
	require.NotEmpty(t, r.evs)
	assert.Equal(t, events.DeployStarted, r.evs[0].Kind, "first event")
	assert.Equal(t, events.DeployFinished, r.evs[len(r.evs)-1].Kind, "last event")
	var started, finished int
	for _, e := range r.evs {
		switch e.Kind {
		case events.DeployStarted:
			started++
		case events.DeployFinished:
			finished++
			assert.Equal(t, string(r.res.Outcome), e.Attrs.(events.DeployFinishedAttrs).Outcome)
		}
		assert.Equal(t, "test", e.DeployID)
	}
	assert.Equal(t, 1, started)
	assert.Equal(t, 1, finished)
	term := terminalEvents(r.evs)
	want := map[State]events.Kind{StateReady: events.ServiceReady, StateFailed: events.ServiceFailed, StateSkipped: events.ServiceSkipped, StateReused: events.ServiceReused}
	for _, n := range services {
		sr := r.res.Services[n]
		require.NotNil(t, sr, n)
		if assert.Len(t, term[n], 1, "terminal events of %s: %v", n, term[n]) {
			assert.Equal(t, want[sr.State], term[n][0], "terminal event of %s in state %s", n, sr.State)
		}
	}
	// Never more than one terminal event, for any service.
	for n, k := range term {
		assert.LessOrEqual(t, len(k), 1, "terminal events of %s: %v", n, k)
	}
}

func TestDependencyConditions(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: conds
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 5s}
  cache:
    image: fake/cache
  init:
    image: fake/init
    restart: "no"
  slowstart:
    image: fake/slowstart
    `+hc+`
    labels: {dive.service.timeout: 5s}
  api:
    image: fake/api
    depends_on:
      db: {condition: service_healthy}
      init: {condition: service_completed_successfully}
  worker:
    image: fake/worker
    depends_on: [slowstart, cache]
`)
	require.True(t, st.Service("init").OneShot)
	fake := newFake(map[string]script{
		"db":        {HealthyAfter: 150 * time.Millisecond},
		"init":      {Exit: true, ExitAfter: 120 * time.Millisecond, ExitCode: 0},
		"slowstart": {HealthyAfter: 400 * time.Millisecond},
	})
	r := deployWith(t, fake, st, g)
	require.NoError(t, r.res.Err)
	assert.Equal(t, Success, r.res.Outcome)
	for n, s := range states(r.res) {
		assert.Equal(t, StateReady, s, n)
	}

	started, ready := fake.times()
	require.NoError(t, g.Validate(started, ready), "every edge honoured")

	// service_healthy and service_completed_successfully wait for readiness.
	assert.False(t, started["api"].Before(ready["db"]), "api starts after db is healthy")
	assert.False(t, started["api"].Before(ready["init"]), "api starts after init exited 0")
	// service_started only waits for the start.
	assert.True(t, started["worker"].Before(ready["slowstart"]), "worker (service_started) does not wait for slowstart's health")
	assert.False(t, started["worker"].Before(started["slowstart"]))

	assert.Equal(t, events.SignalExited0, r.res.Services["init"].Signal)
	assert.Equal(t, events.SignalRunning, r.res.Services["cache"].Signal)
	assert.Contains(t, []events.Signal{events.SignalEngine, events.SignalProbe}, r.res.Services["db"].Signal)
	assert.Equal(t, 1, r.res.Services["db"].Attempts)
	for n, s := range r.res.Services {
		assert.False(t, s.StartedAt.IsZero(), n)
		assert.False(t, s.ReadyAt.Before(s.StartedAt), n)
	}
	checkEvents(t, r, st.Names...)
}

func TestNotLevelByLevel(t *testing.T) {
	t.Parallel()
	// A(slow) -> C and B(fast) -> D: D must not wait for A, which a
	// level-by-level start would do (A and B are both level 0).
	st, g := loadStack(t, `
name: levels
services:
  a:
    image: fake/a
    `+hc+`
    labels: {dive.service.timeout: 5s}
  b:
    image: fake/b
    `+hc+`
    labels: {dive.service.timeout: 5s}
  c:
    image: fake/c
    depends_on: {a: {condition: service_healthy}}
  d:
    image: fake/d
    depends_on: {b: {condition: service_healthy}}
`)
	require.Equal(t, [][]string{{"a", "b"}, {"c", "d"}}, g.Levels())
	fake := newFake(map[string]script{
		"a": {HealthyAfter: 500 * time.Millisecond},
		"b": {HealthyAfter: 20 * time.Millisecond},
	})
	r := deployWith(t, fake, st, g)
	require.NoError(t, r.res.Err)
	assert.Equal(t, Success, r.res.Outcome)
	started, ready := fake.times()
	require.NoError(t, g.Validate(started, ready))
	assert.True(t, started["d"].Before(ready["a"]), "d started %s, a ready %s", started["d"].Format(time.StampMicro), ready["a"].Format(time.StampMicro))
	assert.True(t, started["d"].Before(started["c"]))
	checkEvents(t, r, st.Names...)
}

func TestCoreExitFailsFast(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: coreexit
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 10s}
  cache:
    image: fake/cache
    `+hc+`
  api:
    image: fake/api
    `+hc+`
    labels: {dive.service.timeout: 10s}
    depends_on: {db: {condition: service_healthy}}
  web:
    image: fake/web
    labels: {dive.service.class: optional}
    depends_on: [api]
`)
	fake := newFake(map[string]script{
		"db": {Exit: true, ExitAfter: 60 * time.Millisecond, ExitCode: 3},
	})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	require.Error(t, r.res.Err)
	assert.Contains(t, r.res.Err.Error(), "db")
	assert.Contains(t, r.res.Err.Error(), "exited with code 3")
	assert.Less(t, r.elapsed, 3*time.Second, "a core exit fails the deploy at once, not at the budget (10s)")

	db := r.res.Services["db"]
	assert.Equal(t, StateFailed, db.State)
	require.NotNil(t, db.Diagnosis)
	require.NotNil(t, db.Diagnosis.ExitCode)
	assert.Equal(t, 3, *db.Diagnosis.ExitCode)
	assert.Equal(t, "core", db.Diagnosis.Class)
	assert.NotEmpty(t, db.Diagnosis.Logs)
	assert.Contains(t, db.Diagnosis.Hint, "exited with code 3")

	assert.Equal(t, StateReady, r.res.Services["cache"].State)
	for _, n := range []string{"api", "web"} {
		assert.Equal(t, StateSkipped, r.res.Services[n].State, n)
		assert.Contains(t, r.res.Services[n].Reason, "did not meet its condition", n)
	}
	assert.NotContains(t, fake.callsOf("start"), "api", "a dependent of a failed service is never started")
	assert.NotContains(t, fake.callsOf("start"), "web")
	checkEvents(t, r, st.Names...)
	for _, e := range r.evs {
		if e.Kind == events.ServiceSkipped && e.Service == "api" {
			assert.Equal(t, []string{"db"}, e.Attrs.(events.ServiceSkippedAttrs).Because)
		}
	}
}

func TestOptionalNeverReadyDoesNotBlock(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: degraded
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 5s}
  otel:
    image: fake/otel
    `+hc+`
    labels: {dive.service.class: optional, dive.service.timeout: 1m}
  kas:
    image: fake/kas
    labels: {dive.service.class: stretch}
    depends_on: {otel: {condition: service_healthy}}
`)
	fake := newFake(map[string]script{
		"db":   {HealthyAfter: 50 * time.Millisecond},
		"otel": {NeverReady: true},
	})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Degraded, r.res.Outcome)
	assert.NoError(t, r.res.Err)
	assert.Less(t, r.elapsed, 3*time.Second, "the deploy ends when the core is ready, not at otel's 1m budget")
	assert.Equal(t, StateReady, r.res.Services["db"].State)
	assert.Equal(t, StatePending, r.res.Services["otel"].State)
	assert.Contains(t, r.res.Services["otel"].Reason, "still starting")
	assert.Equal(t, StatePending, r.res.Services["kas"].State)
	assert.Contains(t, r.res.Services["kas"].Reason, "not started")
	assert.NotContains(t, fake.callsOf("start"), "kas")
	// A pending service has no terminal event: the deploy ended first.
	checkEvents(t, r, "db")
	term := terminalEvents(r.evs)
	assert.Empty(t, term["otel"])
	assert.Empty(t, term["kas"])
}

func TestOptionalStartFailureDegrades(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: optexit
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 5s}
  otel:
    image: fake/otel
    labels: {dive.service.class: optional}
    depends_on: [db]
`)
	// otel's start fails with a definite error (no retry): reported, not fatal.
	fake := newFake(map[string]script{
		"db":   {HealthyAfter: 100 * time.Millisecond},
		"otel": {StartErr: errStartRefused},
	})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Degraded, r.res.Outcome)
	assert.NoError(t, r.res.Err)
	assert.Equal(t, StateReady, r.res.Services["db"].State)
	assert.Equal(t, StateFailed, r.res.Services["otel"].State)
	assert.Contains(t, r.res.Services["otel"].Reason, "start failed")
	checkEvents(t, r, st.Names...)
}

var errStartRefused = &definiteErr{"fake: port is already allocated"}

type definiteErr struct{ msg string }

func (e *definiteErr) Error() string { return e.msg }

func TestBudgetExhausted(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: budget
services:
  keycloak:
    image: fake/keycloak
    `+hc+`
    labels: {dive.service.timeout: 200ms}
`)
	fake := newFake(map[string]script{"keycloak": {NeverReady: true}})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	require.Error(t, r.res.Err)
	kc := r.res.Services["keycloak"]
	assert.Equal(t, StateFailed, kc.State)
	assert.Contains(t, kc.Reason, "budget of 200ms")
	assert.Contains(t, kc.Reason, "label dive.service.timeout")
	assert.Contains(t, r.res.Err.Error(), "budget")
	assert.Contains(t, kc.Diagnosis.Hint, stack.LabelTimeout)
	assert.GreaterOrEqual(t, r.elapsed, 200*time.Millisecond)
	assert.Less(t, r.elapsed, 3*time.Second)
	assert.Greater(t, fake.execCount("keycloak"), 0, "dive probed it meanwhile")
	checkEvents(t, r, st.Names...)
}

func TestProbeCommandNotFound(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: probe127
services:
  frontend:
    image: fake/frontend
    healthcheck: {test: [CMD, curl, -f, "http://localhost:3000"], interval: 10s, timeout: 1s, retries: 3}
    labels: {dive.service.timeout: 10s}
`)
	fake := newFake(map[string]script{"frontend": {NeverReady: true, NoHealthEvents: true,
		ProbeExit: intp(127), ProbeOutput: `OCI runtime exec failed: exec: "curl": executable file not found in $PATH`}})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	fe := r.res.Services["frontend"]
	assert.Equal(t, StateFailed, fe.State)
	assert.Contains(t, fe.Reason, "healthcheck command")
	assert.Contains(t, fe.Reason, "curl -f")
	assert.Contains(t, fe.Reason, "not found in the image")
	assert.Contains(t, fe.Reason, "probe exit 127")
	require.NotNil(t, fe.Diagnosis)
	assert.Contains(t, fe.Diagnosis.Hint, "healthcheck's command is not in the image")
	assert.NotEmpty(t, fe.Diagnosis.HealthOutputs)
	assert.GreaterOrEqual(t, fake.execCount("frontend"), 2, "two probes before the diagnosis")
	assert.Less(t, r.elapsed, 3*time.Second, "diagnosed long before the 10s budget")
	checkEvents(t, r, st.Names...)
}

func TestProbeExit127OnceIsNotEnough(t *testing.T) {
	t.Parallel()
	// One 127 followed by a pass: not a diagnosis.
	st, g := loadStack(t, `
name: probe127once
services:
  web:
    image: fake/web
    healthcheck: {test: [CMD, /probe], interval: 10s, timeout: 1s, retries: 3}
    labels: {dive.service.timeout: 5s}
`)
	fake := &flakyProbe{fakeEngine: newFake(map[string]script{"web": {HealthyAfter: 60 * time.Millisecond, NoHealthEvents: true}})}
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Success, r.res.Outcome)
	assert.Equal(t, events.SignalProbe, r.res.Services["web"].Signal)
}

// flakyProbe answers 127 to the first probe, then defers to the fake.
type flakyProbe struct {
	*fakeEngine
	once sync.Once
}

func (f *flakyProbe) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (res engine.ExecResult, err error) {
	first := false
	f.once.Do(func() { first = true })
	if first {
		return engine.ExecResult{ExitCode: 127, Output: "not found"}, nil
	}
	return f.fakeEngine.Exec(ctx, id, cmd, timeout)
}

const redeployCompose = `
name: redeploy
services:
  db:
    image: fake/db
    ` + hc + `
    labels: {dive.service.timeout: 5s}
    environment: {V: "1"}
  init:
    image: fake/init
    restart: "no"
  api:
    image: fake/api
    ` + hc + `
    labels: {dive.service.timeout: 5s}
    depends_on:
      db: {condition: service_healthy, restart: true}
      init: {condition: service_completed_successfully}
  web:
    image: fake/web
    depends_on:
      db: {condition: service_healthy}
`

func redeployFake() *fakeEngine {
	return newFake(map[string]script{
		"db":   {HealthyAfter: 30 * time.Millisecond},
		"api":  {HealthyAfter: 30 * time.Millisecond},
		"init": {Exit: true, ExitAfter: 20 * time.Millisecond},
	})
}

func TestNoOpRedeploy(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, redeployCompose)
	fake := redeployFake()
	first := deployWith(t, fake, st, g)
	require.Equal(t, Success, first.res.Outcome, "%v", first.res.Err)
	assert.Equal(t, []string{"api", "db", "init", "web"}, fake.callsOf("create"))
	checkEvents(t, first, st.Names...)

	fake.resetCalls()
	second := deployWith(t, fake, st, g)
	require.Equal(t, Success, second.res.Outcome, "%v", second.res.Err)
	for _, n := range st.Names {
		assert.Equal(t, StateReused, second.res.Services[n].State, n)
		assert.Equal(t, first.res.Services[n].ContainerID, second.res.Services[n].ContainerID, n)
	}
	assert.Equal(t, events.SignalCompletedBefore, second.res.Services["init"].Signal)
	assert.Empty(t, fake.callsOf("create"), "no create on a no-op redeploy")
	assert.Empty(t, fake.callsOf("start"), "no start on a no-op redeploy")
	assert.Empty(t, fake.callsOf("remove"))
	checkEvents(t, second, st.Names...)

	t.Run("running but not yet healthy: kept, confirmed by probe", func(t *testing.T) {
		fake.setHealth("db", "starting", true)
		fake.resetCalls()
		r := deployWith(t, fake, st, g)
		require.Equal(t, Success, r.res.Outcome, "%v", r.res.Err)
		for _, n := range st.Names {
			assert.Equal(t, StateReused, r.res.Services[n].State, n)
		}
		assert.Equal(t, events.SignalProbe, r.res.Services["db"].Signal)
		assert.Empty(t, fake.callsOf("create"))
		assert.Empty(t, fake.callsOf("start"))
		assert.Empty(t, fake.callsOf("remove"))
		checkEvents(t, r, st.Names...)
		fake.setHealth("db", "healthy", false)
	})

	t.Run("force recreate", func(t *testing.T) {
		fake.resetCalls()
		third := deployWith(t, fake, st, g, func(o *Options) { o.ForceRecreate = true })
		require.Equal(t, Success, third.res.Outcome, "%v", third.res.Err)
		assert.Equal(t, []string{"api", "db", "init", "web"}, fake.callsOf("create"))
		assert.Equal(t, []string{"api", "db", "init", "web"}, fake.callsOf("remove"))
		checkEvents(t, third, st.Names...)
	})
}

func TestChangedConfigRecreates(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, redeployCompose)
	fake := redeployFake()
	first := deployWith(t, fake, st, g)
	require.Equal(t, Success, first.res.Outcome, "%v", first.res.Err)

	// db's environment changes: db is recreated; api declares restart: true
	// on db and is recreated with it; web and init are left alone.
	st2, g2 := loadStack(t, strings.Replace(redeployCompose, `V: "1"`, `V: "2"`, 1))
	require.NotEqual(t, st.Service("db").Config.Environment["V"], st2.Service("db").Config.Environment["V"])
	fake.resetCalls()
	second := deployWith(t, fake, st2, g2)
	require.Equal(t, Success, second.res.Outcome, "%v", second.res.Err)
	assert.Equal(t, []string{"api", "db"}, fake.callsOf("create"))
	assert.Equal(t, []string{"api", "db"}, fake.callsOf("remove"))
	assert.Equal(t, []string{"api", "db"}, fake.callsOf("start"))
	want := map[string]State{"db": StateReady, "api": StateReady, "web": StateReused, "init": StateReused}
	assert.Equal(t, want, states(second.res))
	assert.NotEqual(t, first.res.Services["db"].ContainerID, second.res.Services["db"].ContainerID)
	assert.Equal(t, first.res.Services["web"].ContainerID, second.res.Services["web"].ContainerID)
	started, ready := fake.times()
	assert.False(t, started["api"].Before(ready["db"]), "the recreated api waits for the new db")
	checkEvents(t, second, st2.Names...)

	t.Run("rebuilt image", func(t *testing.T) {
		fake.setImageID("fake/web", "sha256:rebuilt")
		fake.resetCalls()
		third := deployWith(t, fake, st2, g2)
		require.Equal(t, Success, third.res.Outcome, "%v", third.res.Err)
		assert.Equal(t, []string{"web"}, fake.callsOf("create"))
		assert.Equal(t, StateReady, third.res.Services["web"].State)
		for _, n := range []string{"db", "api", "init"} {
			assert.Equal(t, StateReused, third.res.Services[n].State, n)
		}
		checkEvents(t, third, st2.Names...)
	})
}

func TestSkipOption(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: skipopt
services:
  db:
    image: fake/db
  kas:
    image: fake/kas
    labels: {dive.service.class: stretch}
  opal:
    image: fake/opal
    labels: {dive.service.class: stretch}
    depends_on: [kas]
`)
	fake := newFake(nil)
	r := deployWith(t, fake, st, g, func(o *Options) { o.Skip = map[string]string{"kas": "circuit breaker open"} })
	assert.Equal(t, Degraded, r.res.Outcome)
	assert.Equal(t, map[string]State{"db": StateReady, "kas": StateSkipped, "opal": StateSkipped}, states(r.res))
	assert.Equal(t, "circuit breaker open", r.res.Services["kas"].Reason)
	assert.Equal(t, []string{"db"}, fake.callsOf("start"))
	checkEvents(t, r, st.Names...)
}

func TestInterrupted(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: interrupt
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 1m}
`)
	fake := newFake(map[string]script{"db": {NeverReady: true}})
	rec := &recorder{}
	bus := events.NewBus("test")
	bus.Subscribe(rec)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Not eventually(): t.Fatal must not be called from this goroutine.
		for deadline := time.Now().Add(5 * time.Second); fake.startedAt("db").IsZero() && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	t0 := time.Now()
	res := Run(ctx, fake, Options{Stack: st, Graph: g, Bus: bus, Timeout: time.Minute})
	assert.Less(t, time.Since(t0), 5*time.Second)
	assert.Equal(t, Interrupted, res.Outcome)
	assert.Equal(t, StateCancelled, res.Services["db"].State)
	evs := rec.all()
	assert.Equal(t, events.DeployFinished, evs[len(evs)-1].Kind)
}

func TestEventOrderPerService(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: order
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 5s}
  api:
    image: fake/api
    depends_on: {db: {condition: service_healthy}}
`)
	fake := newFake(map[string]script{"db": {HealthyAfter: 30 * time.Millisecond}})
	r := deployWith(t, fake, st, g)
	require.Equal(t, Success, r.res.Outcome)
	kinds := map[string][]events.Kind{}
	for _, e := range r.evs {
		if e.Service != "" && e.Kind != events.ServiceStats && e.Kind != events.Warning {
			kinds[e.Service] = append(kinds[e.Service], e.Kind)
		}
	}
	assert.Equal(t, []events.Kind{events.ServiceCreating, events.ServiceCreated, events.ServiceStarting, events.ServiceStarted, events.ServiceReady}, kinds["db"])
	assert.Equal(t, []events.Kind{events.ServiceCreating, events.ServiceCreated, events.ServiceWaiting, events.ServiceStarting, events.ServiceStarted, events.ServiceReady}, kinds["api"])
	// The fake reports peaks once per started container.
	var stats []string
	for _, e := range r.evs {
		if e.Kind == events.ServiceStats {
			stats = append(stats, e.Service)
		}
	}
	sort.Strings(stats)
	assert.Equal(t, []string{"api", "db"}, stats)
}

func TestTransientStartFailureIsRetried(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: retry
services:
  db:
    image: fake/db
    `+hc+`
    labels: {dive.service.timeout: 5s, dive.service.retries: "2"}
  api:
    image: fake/api
    depends_on: {db: {condition: service_healthy}}
`)
	fake := newFake(map[string]script{
		"db": {HealthyAfter: 20 * time.Millisecond, StartErr: errors.New("fake: transient engine error"), FailStarts: 1},
	})
	r := deployWith(t, fake, st, g)
	require.Equal(t, Success, r.res.Outcome, "%v", r.res.Err)
	db := r.res.Services["db"]
	assert.Equal(t, StateReady, db.State)
	assert.Equal(t, 2, db.Attempts)
	assert.Equal(t, []string{"api", "db", "db"}, fake.callsOf("create"), "the failed container is recreated")
	assert.Equal(t, []string{"db"}, fake.callsOf("remove"))
	var retries []events.Event
	for _, e := range r.evs {
		if e.Kind == events.ServiceRetry {
			retries = append(retries, e)
		}
	}
	require.Len(t, retries, 1)
	assert.Equal(t, "db", retries[0].Service)
	assert.Equal(t, 2, retries[0].Attrs.(events.ServiceRetryAttrs).Attempt)
	// The failed first attempt is not a terminal event: only the final outcome is.
	checkEvents(t, r, st.Names...)
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: retry2
services:
  db:
    image: fake/db
    labels: {dive.service.retries: "1"}
`)
	fake := newFake(map[string]script{"db": {StartErr: errors.New("fake: transient engine error")}})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	assert.Equal(t, 2, r.res.Services["db"].Attempts)
	assert.Contains(t, r.res.Err.Error(), "start failed")
	assert.Equal(t, []string{"db", "db"}, fake.callsOf("start"))
}

// A deploy stopped before it started (a Ctrl-C during the lock or the
// preflight) is interrupted, not failed.
func TestAbortOutcome(t *testing.T) {
	for err, want := range map[error]Outcome{
		fmt.Errorf("%w: the deploy was interrupted during the preflight; nothing was created", context.Canceled): Interrupted,
		errors.New("preflight failed (1 of 7 checks)"):                                                           Failed,
	} {
		rec := &recorder{}
		bus := events.NewBus("test")
		bus.Subscribe(rec)
		Abort(bus, time.Now(), err)
		evs := rec.all()
		require.Len(t, evs, 1)
		assert.Equal(t, string(want), evs[0].Attrs.(events.DeployFinishedAttrs).Outcome, err.Error())
	}
}
