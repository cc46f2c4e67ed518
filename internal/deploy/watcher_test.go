package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassifyProbe(t *testing.T) {
	t.Parallel()
	steady := containerObs{status: "running", running: true, startedAt: "t1", restartCount: 0}
	restarted := containerObs{status: "running", running: true, startedAt: "t2", restartCount: 1}
	restarting := containerObs{status: "restarting", running: true, restarting: true, startedAt: "t1", restartCount: 1}
	exited := containerObs{status: "exited", startedAt: "t1", exitCode: 1}
	setns := engine.ExecResult{ExitCode: 126, Output: "OCI runtime exec failed: exec failed: container_linux.go:380: starting container process caused: process_linux.go:130: executing setns process caused: exit status 1: unknown"}
	stopped := engine.ExecResult{ExitCode: 126, Output: "OCI runtime exec failed: exec failed: cannot exec in a stopped state: unknown"}
	missing := engine.ExecResult{ExitCode: 126, Output: `OCI runtime exec failed: exec failed: container_linux.go:380: starting container process caused: exec: "/bin/curl": stat /bin/curl: no such file or directory: unknown`}
	notFound := engine.ExecResult{ExitCode: 127, Output: `exec: "curl": executable file not found in $PATH`}
	for _, tc := range []struct {
		name string
		res  engine.ExecResult
		err  error
		obs  *containerObs
		want probeKind
	}{
		{"pass", engine.ExecResult{ExitCode: 0}, nil, nil, probePass},
		{"the command said no", engine.ExecResult{ExitCode: 1, Output: "connection refused"}, nil, nil, probeFail},
		{"its own output mentions a missing file", engine.ExecResult{ExitCode: 1, Output: "cat: /tmp/ready: No such file or directory"}, nil, nil, probeFail},
		{"no answer", engine.ExecResult{}, errors.New("probe did not finish within 1s"), nil, probeNoAnswer},
		{"the engine's check timed out", engine.ExecResult{ExitCode: -1, Output: "Health check exceeded timeout (2s)"}, nil, &steady, probeFail},
		{"missing binary in a steady container", missing, nil, &steady, probeNotExec},
		{"not in PATH in a steady container", notFound, nil, &steady, probeNotExec},
		{"missing binary, but the container restarted", missing, nil, &restarted, probeContainerDown},
		{"missing binary, container restarting", missing, nil, &restarting, probeContainerDown},
		{"missing binary, container exited", missing, nil, &exited, probeContainerDown},
		{"setns failure, container looks running", setns, nil, &steady, probeContainerDown},
		{"stopped state, container looks running", stopped, nil, &steady, probeContainerDown},
		{"exec refused: not running", engine.ExecResult{}, fmt.Errorf("Container abc is not running: %w", cerrdefs.ErrConflict), &exited, probeContainerDown},
		{"exec refused: restarting", engine.ExecResult{}, errors.New("Container abc is restarting, wait until the container is running"), &restarting, probeContainerDown},
		{"could not look", missing, nil, nil, probeNoAnswer},
		{"removed", engine.ExecResult{}, fmt.Errorf("No such container: abc: %w", cerrdefs.ErrNotFound), &containerObs{gone: true}, probeContainerDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, classifyProbe(tc.res, tc.err, tc.obs, steady))
		})
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	c := func(state, health string) observed {
		return observed{exists: true, c: engine.Container{Hash: "h1", State: state, Health: health}}
	}
	want := desired{hash: "h1", hasHealthcheck: true}
	noHC := desired{hash: "h1"}
	job := desired{hash: "h1", oneShot: true}
	for _, tc := range []struct {
		name string
		obs  observed
		want desired
		act  action
	}{
		{"nothing yet", observed{}, want, actCreate},
		{"unchanged and healthy", c("running", "healthy"), want, actReuse},
		{"unchanged, running, no healthcheck", c("running", ""), noHC, actReuse},
		{"unchanged, running, healthcheck not run yet", c("running", ""), want, actKeep},
		{"unchanged, starting", c("running", "starting"), want, actKeep},
		{"unchanged, starting, seen ready before in this run", observed{exists: true, c: engine.Container{Hash: "h1", State: "running", Health: "starting"}, readyBefore: true}, want, actReuseReady},
		{"unchanged, stopped", c("exited", ""), want, actKeep},
		{"unchanged, created", c("created", ""), want, actKeep},
		{"unchanged but unhealthy", c("running", "unhealthy"), want, actRecreate},
		{"unchanged but restarting", c("restarting", ""), want, actRecreate},
		{"changed", observed{exists: true, c: engine.Container{Hash: "h0", State: "running", Health: "healthy"}}, want, actRecreate},
		{"forced", c("running", "healthy"), desired{hash: "h1", hasHealthcheck: true, forceRecreate: true}, actRecreate},
		{"dependency recreated", c("running", "healthy"), desired{hash: "h1", hasHealthcheck: true, depRecreated: true}, actRecreate},
		{"job completed", observed{exists: true, c: engine.Container{Hash: "h1", State: "exited"}, exitedOK: true}, job, actReuseCompleted},
		{"job failed before", c("exited", ""), job, actRecreate},
		{"job still running", c("running", ""), job, actRecreate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.act, decide(tc.obs, tc.want), "got %s", decide(tc.obs, tc.want))
		})
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// admitted says whether acquire returned within a short wait.
func admitted(errc <-chan error) bool {
	select {
	case err := <-errc:
		return err == nil
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func async(f func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- f() }()
	return c
}

func TestGateOpsByRankCriticalFirst(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(0, 0)}
	g := newGate(2, 1, nil, clock.Now)
	ctx := context.Background()
	require.NoError(t, g.acquireOp(ctx, 5, true)) // a critical op in flight
	low := async(func() error { return g.acquireOp(ctx, 1, false) })
	assert.False(t, admitted(low), "a non-critical op waits while a critical one is in flight")
	crit := async(func() error { return g.acquireOp(ctx, 4, true) })
	assert.True(t, admitted(crit), "a critical op goes at once within capacity")
	g.releaseOp(true)
	assert.False(t, admitted(low), "still a critical op in flight")
	g.releaseOp(true)
	assert.True(t, admitted(low))
	g.releaseOp(false)
}

func TestGateProbesYieldToOps(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(0, 0)}
	g := newGate(1, 1, nil, clock.Now)
	ctx := context.Background()
	require.NoError(t, g.acquireOp(ctx, 1, false))
	waitingOp := async(func() error { return g.acquireOp(ctx, 1, false) })
	eventually(t, 2*time.Second, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiters) == 1 }, "the operation waits")
	probe := async(func() error { return g.acquireProbe(ctx, 9) })
	assert.False(t, admitted(probe), "a probe never goes while an operation waits")
	g.releaseOp(false)
	assert.True(t, admitted(waitingOp), "the waiting operation goes first, whatever the probe's rank")
	assert.True(t, admitted(probe), "a non-critical op in flight does not hold probes")
	second := async(func() error { return g.acquireProbe(ctx, 9) })
	assert.False(t, admitted(second), "one probe in flight (probeCap)")
	g.releaseProbe()
	assert.True(t, admitted(second))
	g.releaseProbe()
	g.releaseOp(false)
}

func TestGateProbeSpacing(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(0, 0)}
	g := newGate(4, 1, func() time.Duration { return time.Hour }, clock.Now)
	ctx := context.Background()
	require.NoError(t, g.acquireProbe(ctx, 1))
	g.releaseProbe()
	require.NoError(t, g.acquireProbe(ctx, 1), "a probe alone is not held by the spacing")
	next := async(func() error { return g.acquireProbe(ctx, 1) })
	assert.False(t, admitted(next), "one in flight (probeCap 1 here)")
	other := async(func() error { return g.acquireProbe(ctx, 1) })
	eventually(t, 2*time.Second, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiters) == 2 }, "two probes wait")
	g.releaseProbe()
	assert.False(t, admitted(next), "probes that compete wait for the spacing (cost model)")
	clock.advance(time.Hour)
	g.mu.Lock()
	g.admitLocked()
	g.mu.Unlock()
	assert.True(t, admitted(next))
	g.releaseProbe()
	clock.advance(time.Hour)
	g.mu.Lock()
	g.admitLocked()
	g.mu.Unlock()
	assert.True(t, admitted(other))
	// other is in flight: a probe that gives up while it waits is gone.
	cctx, cancel := context.WithCancel(ctx)
	cancelled := async(func() error { return g.acquireProbe(cctx, 1) })
	eventually(t, 2*time.Second, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.waiters) == 1 }, "the probe waits")
	cancel()
	assert.ErrorIs(t, <-cancelled, context.Canceled)
	g.mu.Lock()
	assert.Empty(t, g.waiters)
	g.mu.Unlock()
	g.releaseProbe()
}

func TestProbeScheduleTable(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	for _, tc := range []struct {
		name                                    string
		elapsed, prev, first, ceiling, expected time.Duration
		want                                    time.Duration
	}{
		{"no history: dense at first", 0, 50 * ms, 100 * ms, time.Second, 0, 100 * ms},
		{"no history: grows ×1.2", time.Second, 200 * ms, 100 * ms, time.Second, 0, 240 * ms},
		{"no history: capped at 250ms for 10s", 5 * time.Second, 250 * ms, 100 * ms, time.Second, 0, 250 * ms},
		{"no history: then ×1.5 to the ceiling", 11 * time.Second, 250 * ms, 100 * ms, time.Second, 0, 375 * ms},
		{"no history: ceiling", 30 * time.Second, 900 * ms, 100 * ms, time.Second, 0, time.Second},
		{"history: sleep toward 70%", 0, 50 * ms, 100 * ms, time.Second, 2 * time.Second, 700 * ms},
		{"history: dense around it", 2 * time.Second, 100 * ms, 100 * ms, time.Second, 2 * time.Second, 100 * ms},
		{"history: back off past 3×", 7 * time.Second, 100 * ms, 100 * ms, time.Second, 2 * time.Second, 150 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, probeSchedule(tc.elapsed, tc.prev, tc.first, tc.ceiling, tc.expected))
		})
	}
}

func TestRanks(t *testing.T) {
	t.Parallel()
	_, g := loadStack(t, `
name: ranks
services:
  db: {image: x}
  api: {image: x, depends_on: [db]}
  web: {image: x, depends_on: [api]}
  side: {image: x, depends_on: [db]}
`)
	r := ranks(g, nil)
	assert.Equal(t, 3.0, r["db"], "db + api + web")
	assert.Equal(t, 2.0, r["api"])
	assert.Equal(t, 1.0, r["web"])
	assert.Equal(t, 1.0, r["side"])
	r = ranks(g, map[string]time.Duration{"side": 10 * time.Second})
	assert.Equal(t, 11.5, r["db"], "history: side's 10 s (+0.5 s start) makes db's longest chain")
}

func TestEngineFirst(t *testing.T) {
	t.Parallel()
	d := &deployer{cost: newEngineCost(2)}
	t0 := time.Unix(100, 0)
	p := &prober{d: d, engineStart: t0, engineEvery: time.Second, first: 100 * time.Millisecond}
	assert.Zero(t, p.engineFirst(t0.Add(300*time.Millisecond)), "the engine's check is 0.7 s away: probe")
	assert.Equal(t, 150*time.Millisecond, p.engineFirst(t0.Add(950*time.Millisecond)), "the engine checks in 50 ms: wait for it (+ a probe's latency)")
	assert.Zero(t, p.engineFirst(t0.Add(850*time.Millisecond)), "the engine checks in 150 ms, past the 100 ms cadence: probe")
	d.cost.record(costProbe, 600*time.Millisecond)
	assert.Zero(t, p.engineFirst(t0.Add(300*time.Millisecond)),
		"probes take 0.6 s: the engine's check 0.7 s away answers at 1.3 s, a probe now at 0.6 s: probe (the engine's exec is no faster)")
	assert.Equal(t, 650*time.Millisecond, p.engineFirst(t0.Add(950*time.Millisecond)), "the engine checks in 50 ms: wait for it and its 0.6 s run")
	assert.Zero(t, (&prober{d: d}).engineFirst(t0), "unknown phase: probe")
}

// A core service without a healthcheck whose command exits 100 ms after its
// start is not ready: the start call returning is no proof.
func TestNoHealthcheckMustSettle(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: settle
services:
  svc: {image: fake/svc}
  steady: {image: fake/steady}
`)
	fake := newFake(map[string]script{"svc": {Exit: true, ExitAfter: 100 * time.Millisecond, ExitCode: 7}})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	svc := r.res.Services["svc"]
	assert.Equal(t, StateFailed, svc.State)
	assert.Contains(t, svc.Reason, "exited with code 7")

	fake = newFake(nil)
	r = deployWith(t, fake, st, g)
	require.Equal(t, Success, r.res.Outcome, "%v", r.res.Err)
	for _, n := range []string{"svc", "steady"} {
		assert.Equal(t, events.SignalRunning, r.res.Services[n].Signal)
		assert.GreaterOrEqual(t, r.res.Services[n].StartToReady, settleWindow, "ready only after the settle window")
	}
	checkEvents(t, r, st.Names...)
}

const readyThenSlow = `
name: afterready
services:
  db:
    image: fake/db
    ` + hc + `
    labels: {dive.service.timeout: 10s}
  slow:
    image: fake/slow
    ` + hc + `
    labels: {dive.service.timeout: 10s}
`

// A core container that dies after it was ready, before the deploy ended,
// fails the deploy at once, naming it.
func TestDeathAfterReadyFailsDeploy(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, readyThenSlow)
	fake := newFake(map[string]script{
		"db":   {HealthyAfter: 10 * time.Millisecond, Exit: true, ExitAfterReady: true, ExitAfter: 150 * time.Millisecond, ExitCode: 2},
		"slow": {HealthyAfter: 5 * time.Second},
	})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	require.Error(t, r.res.Err)
	assert.Contains(t, r.res.Err.Error(), "core service db failed: after it was ready: exited with code 2")
	assert.Less(t, r.elapsed, 3*time.Second, "fails at the death, not when slow is ready")
	failedAfterReady := false
	for _, e := range r.evs {
		if at, ok := e.Attrs.(events.ServiceFailedAttrs); ok && e.Service == "db" && at.AfterReady {
			failedAfterReady = true
		}
	}
	assert.True(t, failedAfterReady, "a service_failed event with after_ready")
}

// docker rm -f of a container mid-deploy is reported removed, not exit 137.
func TestForceRemovedIsRemoved(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, readyThenSlow)
	fake := newFake(map[string]script{"db": {HealthyAfter: 10 * time.Millisecond}, "slow": {HealthyAfter: 5 * time.Second}})
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && fake.readyAt("db").IsZero() {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		fake.forceRemove("db")
	}()
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	db := r.res.Services["db"]
	assert.Equal(t, StateFailed, db.State)
	assert.Contains(t, db.Reason, "removed during the deploy")
	assert.NotContains(t, db.Reason, "137")
	require.NotNil(t, db.Diagnosis)
	assert.Nil(t, db.Diagnosis.ExitCode)
}

// crashLooping answers every probe as a runtime that found the container
// dying does, and shows the container restarting, one more restart per look.
type crashLooping struct {
	*fakeEngine
	looks atomic.Int32
}

func (c *crashLooping) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (engine.ExecResult, error) {
	if _, err := c.fakeEngine.Exec(ctx, id, cmd, timeout); err != nil {
		return engine.ExecResult{}, err
	}
	return engine.ExecResult{ExitCode: 126, Output: "OCI runtime exec failed: exec failed: cannot exec in a stopped state: unknown"}, nil
}

func (c *crashLooping) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	ins, err := c.fakeEngine.Inspect(ctx, id)
	if err != nil || ins.State == nil {
		return ins, err
	}
	n := int(c.looks.Add(1))
	ins.RestartCount = n - 1
	if n > 1 {
		ins.State.Restarting = true
		ins.State.Status = "restarting"
		ins.State.StartedAt = fmt.Sprintf("run-%d", n)
	}
	return ins, nil
}

// A crash loop seen only through the probes (exec into a restarting
// container) is a crash loop, never a broken healthcheck command.
func TestCrashLoopSeenByProbesIsNotTheCommand(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: crashloop
services:
  loop:
    image: fake/loop
    restart: always
    `+hc+`
    labels: {dive.service.timeout: 5s}
`)
	eng := &crashLooping{fakeEngine: newFake(map[string]script{"loop": {NeverReady: true, NoHealthEvents: true}})}
	r := deployWith(t, eng, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	loop := r.res.Services["loop"]
	assert.Contains(t, loop.Reason, "crash loop")
	assert.NotContains(t, loop.Reason, "healthcheck command")
	assert.NotContains(t, loop.Diagnosis.Hint, "healthcheck's command")
}

// lostEngine stops answering once the deploy has looked at the project.
type lostEngine struct {
	*fakeEngine
	lists atomic.Int32
}

func (l *lostEngine) ListContainers(ctx context.Context, project string) ([]engine.Container, error) {
	if l.lists.Add(1) > 1 {
		return nil, &engine.UnreachableError{Host: "unix:///fake.sock", Err: errors.New("connect: connection refused")}
	}
	return l.fakeEngine.ListContainers(ctx, project)
}

// When the engine is gone by the time a service failed (dockerd stopping
// kills the containers), the deploy says the engine was lost, not that the
// service failed on its own.
func TestEngineLostIsNotBlamedOnAService(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: lost
services:
  cache:
    image: fake/cache
    `+hc+`
    labels: {dive.service.timeout: 5s}
`)
	eng := &lostEngine{fakeEngine: newFake(map[string]script{"cache": {Exit: true, ExitAfter: 50 * time.Millisecond, ExitCode: 2}})}
	r := deployWith(t, eng, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	require.Error(t, r.res.Err)
	assert.Contains(t, r.res.Err.Error(), "the engine was lost")
}

// A no-op redeploy confirms an unchanged container that an earlier deploy
// saw ready, in the same run, from the records and one inspect: no probe,
// even before the engine's own check ran.
func TestNoOpReadyBeforeNeedsNoProbe(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, redeployCompose)
	fake := redeployFake()
	first := deployWith(t, fake, st, g)
	require.Equal(t, Success, first.res.Outcome, "%v", first.res.Err)
	fake.setHealth("db", "starting", false) // the engine has not checked it; probes would fail
	before := fake.execCount("db")
	rb := map[string]ReadyRecord{"db": {ContainerID: short(first.res.Services["db"].ContainerID), At: time.Now()}}
	r := deployWith(t, fake, st, g, func(o *Options) { o.ReadyBefore = rb })
	require.Equal(t, Success, r.res.Outcome, "%v", r.res.Err)
	assert.Equal(t, StateReused, r.res.Services["db"].State)
	assert.Equal(t, events.SignalReadyBefore, r.res.Services["db"].Signal)
	assert.Equal(t, before, fake.execCount("db"), "no probe")

	// Seen ready before its current run started: not evidence; probed.
	rb["db"] = ReadyRecord{ContainerID: rb["db"].ContainerID, At: time.Now().Add(-time.Hour)}
	fake.setHealth("db", "starting", true)
	r = deployWith(t, fake, st, g, func(o *Options) { o.ReadyBefore = rb })
	require.Equal(t, Success, r.res.Outcome, "%v", r.res.Err)
	assert.Equal(t, events.SignalProbe, r.res.Services["db"].Signal)
}

// The engine's own check gave up (dive left the checking to it, or did not
// see it first): its health log, all "command could not run" in a steady
// container, names the command; a log of plain failures does not.
func TestUnhealthyReadsTheHealthLog(t *testing.T) {
	t.Parallel()
	st, g := loadStack(t, `
name: unhealthylog
services:
  web:
    image: fake/web
    healthcheck: {test: [CMD, /bin/curl, -f, "http://localhost"], interval: 10s, timeout: 1s, retries: 3}
    labels: {dive.service.timeout: 10s, dive.health.probe-interval: "off"}
`)
	missing := `OCI runtime exec failed: exec failed: unable to start container process: exec: "/bin/curl": stat /bin/curl: no such file or directory: unknown`
	fake := newFake(map[string]script{"web": {NeverReady: true, UnhealthyAfter: 50 * time.Millisecond, HealthLog: []string{missing, missing, missing}}})
	r := deployWith(t, fake, st, g)
	assert.Equal(t, Failed, r.res.Outcome)
	web := r.res.Services["web"]
	assert.Contains(t, web.Reason, "its healthcheck command")
	assert.Contains(t, web.Reason, "not found in the image (the engine's checks: exit -1, 3 times")

	fake = newFake(map[string]script{"web": {NeverReady: true, UnhealthyAfter: 50 * time.Millisecond, HealthLog: []string{"curl: (7) connection refused", "curl: (7) connection refused"}}})
	r = deployWith(t, fake, st, g)
	assert.Contains(t, r.res.Services["web"].Reason, "turned unhealthy: its healthcheck failed 3 times in a row")
}

// The settle window grows with the slowest start of the deploy, but never
// past an eighth of the service's budget: 200 containers started at once
// took minutes each, and a window that long failed steady services for
// want of budget.
func TestSettleWindowWithinBudget(t *testing.T) {
	t.Parallel()
	d := &deployer{cost: newEngineCost(2)}
	w := &watcher{d: d, r: &svcRun{svc: &stack.Service{Budget: 2 * time.Minute}, budget: 2 * time.Minute}}
	assert.Equal(t, settleWindow, w.settleFor(), "no start measured yet")
	d.cost.record(costStart, 5*time.Second)
	assert.Equal(t, 5*time.Second, w.settleFor(), "as long as the slowest start")
	d.cost.record(costStart, 3*time.Minute)
	assert.Equal(t, 15*time.Second, w.settleFor(), "at most budget/8")
}

// The TCP check reads /proc/<pid>/net/tcp: a remote engine's pid is no
// process of this host (here it is this test's own, where nothing listens
// on port 1), so on a remote engine the check is not made — the port is
// counted as open, with a warning — where on this host it waits.
func TestTCPCheckOnlyOnThisHost(t *testing.T) {
	t.Parallel()
	const compose = `
name: tcpremote
services:
  web:
    image: fake/web
    labels: {dive.health.tcp: "1", dive.service.timeout: 1s}
`
	for _, remote := range []bool{false, true} {
		st, g := loadStack(t, compose)
		fake := newFake(nil)
		fake.remote, fake.pid = remote, os.Getpid()
		r := deployWith(t, fake, st, g)
		var warned bool
		for _, e := range r.evs {
			if w, ok := e.Attrs.(events.WarningAttrs); ok && strings.Contains(w.Message, "needs the engine on this host") {
				warned = true
			}
		}
		if remote {
			require.NoError(t, r.res.Err)
			assert.Equal(t, StateReady, r.res.Services["web"].State)
			assert.True(t, warned, "the remote engine's port is counted as open with a warning")
		} else {
			assert.Equal(t, StateFailed, r.res.Services["web"].State, "nothing listens on port 1: the check waits out the budget")
			assert.False(t, warned)
		}
	}
}
