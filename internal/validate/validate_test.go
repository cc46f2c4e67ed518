package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEngine serves containers from maps.
type fakeEngine struct {
	list      []engine.Container
	inspect   map[string]container.InspectResponse
	second    map[string]container.InspectResponse // served from the second inspect of an ID on
	volumes   map[string]bool
	exec      func(id string, cmd []string) (engine.ExecResult, error)
	inspected map[string]*atomic.Int32
	listErr   error
}

func (f *fakeEngine) ListContainers(ctx context.Context, project string) ([]engine.Container, error) {
	return f.list, f.listErr
}

func (f *fakeEngine) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	n := f.inspected[id].Add(1)
	if r, ok := f.second[id]; ok && n > 1 {
		return r, nil
	}
	r, ok := f.inspect[id]
	if !ok {
		return r, errors.New("no such container")
	}
	return r, nil
}

func (f *fakeEngine) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (engine.ExecResult, error) {
	if f.exec == nil {
		return engine.ExecResult{}, errors.New("no exec")
	}
	return f.exec(id, cmd)
}

func (f *fakeEngine) VolumeExists(ctx context.Context, name string) (bool, error) {
	return f.volumes[name], nil
}

const fakeCompose = `
name: fake
services:
  db:
    image: db:1
    healthcheck: {test: ["CMD", "/probe"], interval: 1s}
    volumes: [data:/data]
  init:
    image: job:1
    restart: "no"
    depends_on: {db: {condition: service_healthy}}
  api:
    image: api:1
    ports: ["127.0.0.1:18080:8080"]
    networks: [front, back]
    depends_on:
      db: {condition: service_healthy}
      init: {condition: service_completed_successfully}
  extra:
    image: extra:1
    labels: {dive.service.class: optional}
    depends_on: [api]
networks: {front: {}, back: {}}
volumes: {data: {}}
`

func loadStack(t *testing.T, compose string) *stack.Stack {
	t.Helper()
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yml")
	require.NoError(t, os.WriteFile(f, []byte(compose), 0o644))
	st, err := stack.Load(context.Background(), stack.Options{Files: []string{f}})
	require.NoError(t, err)
	return st
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ts(d time.Duration) string { return t0.Add(d).Format(time.RFC3339Nano) }

func healthLog(results ...*container.HealthcheckResult) *container.Health {
	return &container.Health{Status: container.Healthy, Log: results}
}

func check(start, end time.Duration, code int) *container.HealthcheckResult {
	return &container.HealthcheckResult{Start: t0.Add(start), End: t0.Add(end), ExitCode: code}
}

// healthyFake is the fake stack deployed in order, everything well.
func healthyFake() *fakeEngine {
	f := &fakeEngine{inspect: map[string]container.InspectResponse{}, second: map[string]container.InspectResponse{}, volumes: map[string]bool{"fake_data": true}, inspected: map[string]*atomic.Int32{}}
	add := func(svc string, ins container.InspectResponse) {
		id := "id-" + svc
		f.list = append(f.list, engine.Container{ID: id, Name: "fake-" + svc + "-1", Service: svc, Project: "fake", Labels: map[string]string{engine.LabelManaged: "true"}})
		ins.ID = id
		if ins.NetworkSettings == nil {
			ins.NetworkSettings = &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{"fake_default": {}}}
		}
		f.inspect[id] = ins
		f.inspected[id] = &atomic.Int32{}
	}
	run := func(started time.Duration, h *container.Health) *container.State {
		return &container.State{Status: container.StateRunning, Running: true, StartedAt: ts(started), Health: h}
	}
	add("db", container.InspectResponse{Created: ts(0), State: run(time.Second, healthLog(check(2*time.Second, 2100*time.Millisecond, 0))),
		Mounts: []container.MountPoint{{Type: "volume", Name: "fake_data", Destination: "/data"}}})
	add("init", container.InspectResponse{Created: ts(0), State: &container.State{Status: container.StateExited, StartedAt: ts(3 * time.Second), FinishedAt: ts(4 * time.Second)}})
	port, _ := network.ParsePort("8080/tcp")
	add("api", container.InspectResponse{Created: ts(0), State: run(5*time.Second, healthLog(check(6*time.Second, 6100*time.Millisecond, 0))),
		NetworkSettings: &container.NetworkSettings{
			Networks: map[string]*network.EndpointSettings{"fake_front": {}, "fake_back": {}},
			Ports:    network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "18080"}}},
		}})
	add("extra", container.InspectResponse{Created: ts(0), State: run(7*time.Second, nil)})
	return f
}

func okDial(ctx context.Context, network, addr string) (net.Conn, error) {
	a, b := net.Pipe()
	b.Close()
	return a, nil
}

func byName(r Report, name, service string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Name == name && c.Service == service {
			out = append(out, c)
		}
	}
	return out
}

func TestRunHealthyStack(t *testing.T) {
	st := loadStack(t, fakeCompose)
	f := healthyFake()
	f.volumes = nil // db's mount proves the volume exists: no lookup needed
	var dialed []string
	rep := Run(context.Background(), st, f, Options{Window: 10 * time.Millisecond, Dial: func(ctx context.Context, n, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		return okDial(ctx, n, addr)
	}})
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, &rep))
	t.Log("\n" + buf.String())
	assert.True(t, rep.OK)
	assert.Equal(t, Pass, rep.Verdict, buf.String())
	assert.Equal(t, []string{"127.0.0.1:18080"}, dialed)
	for _, want := range []struct{ name, svc string }{
		{CheckContainer, "db"}, {CheckHealth, "db"}, {CheckRestarts, "db"}, {CheckNetwork, "db"},
		{CheckJob, "init"}, {CheckPort, "api"}, {CheckNetwork, "api"}, {CheckVolume, ""},
		{CheckOrder, "api"}, {CheckOrder, "init"}, {CheckOrder, "extra"},
	} {
		assert.NotEmpty(t, byName(rep, want.name, want.svc), "%s %s", want.name, want.svc)
	}
	// api waits on db (healthy) and init (completed): two order checks.
	assert.Len(t, byName(rep, CheckOrder, "api"), 2)
	// one-shot jobs have no health, port or restart check.
	assert.Empty(t, byName(rep, CheckRestarts, "init"))
}

func TestRunClassAwareVerdict(t *testing.T) {
	st := loadStack(t, fakeCompose)

	t.Run("optional stopped warns", func(t *testing.T) {
		f := healthyFake()
		ins := f.inspect["id-extra"]
		ins.State = &container.State{Status: container.StateExited, ExitCode: 137, StartedAt: ts(7 * time.Second)}
		f.inspect["id-extra"] = ins
		rep := Run(context.Background(), st, f, Options{Dial: okDial})
		assert.True(t, rep.OK)
		assert.Equal(t, Warn, rep.Verdict)
		c := byName(rep, CheckContainer, "extra")
		require.Len(t, c, 1)
		assert.Equal(t, Warn, c[0].Status)
		assert.True(t, c[0].Downgraded)
		assert.Contains(t, c[0].Detail, "exited")
	})
	t.Run("core stopped fails", func(t *testing.T) {
		f := healthyFake()
		ins := f.inspect["id-api"]
		ins.State = &container.State{Status: container.StateExited, ExitCode: 1, StartedAt: ts(5 * time.Second)}
		f.inspect["id-api"] = ins
		rep := Run(context.Background(), st, f, Options{Dial: okDial})
		assert.False(t, rep.OK)
		assert.Equal(t, Fail, rep.Verdict)
		c := byName(rep, CheckContainer, "api")
		require.Len(t, c, 1)
		assert.Equal(t, Fail, c[0].Status)
		assert.Contains(t, c[0].Fix, "dive hub logs api")
		// no port or health checks for a container that is not running
		assert.Empty(t, byName(rep, CheckPort, "api"))
	})
	t.Run("core missing fails", func(t *testing.T) {
		f := healthyFake()
		f.list = f.list[:1]
		rep := Run(context.Background(), st, f, Options{Dial: okDial})
		assert.False(t, rep.OK)
		c := byName(rep, CheckContainer, "api")
		require.Len(t, c, 1)
		assert.Equal(t, "service api has no container", c[0].Detail)
		// and extra, optional, only warns
		assert.Equal(t, Warn, byName(rep, CheckContainer, "extra")[0].Status)
	})
	t.Run("engine down fails", func(t *testing.T) {
		f := healthyFake()
		f.listErr = errors.New("connection refused")
		rep := Run(context.Background(), st, f, Options{Dial: okDial})
		assert.False(t, rep.OK)
		assert.Equal(t, CheckEngine, rep.Checks[0].Name)
	})
}

func TestRunPortsNetworksVolumes(t *testing.T) {
	st := loadStack(t, fakeCompose)
	f := healthyFake()
	ins := f.inspect["id-api"]
	delete(ins.NetworkSettings.Networks, "fake_back")
	f.inspect["id-api"] = ins
	f.volumes = map[string]bool{}
	db := f.inspect["id-db"]
	db.Mounts = nil // else the mount proves the volume exists
	f.inspect["id-db"] = db
	rep := Run(context.Background(), st, f, Options{Dial: func(ctx context.Context, n, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: n, Err: errors.New("connect: connection refused")}
	}})
	assert.False(t, rep.OK)
	p := byName(rep, CheckPort, "api")[0]
	assert.Equal(t, Fail, p.Status)
	assert.Contains(t, p.Detail, "127.0.0.1:18080")
	assert.Contains(t, p.Detail, "connection refused")
	n := byName(rep, CheckNetwork, "api")[0]
	assert.Equal(t, Fail, n.Status)
	assert.Contains(t, n.Detail, "not attached to fake_back")
	v := byName(rep, CheckVolume, "")[0]
	assert.Equal(t, Fail, v.Status)
	assert.Contains(t, v.Detail, "fake_data")
}

func TestRunPortNotPublished(t *testing.T) {
	st := loadStack(t, fakeCompose)
	f := healthyFake()
	ins := f.inspect["id-api"]
	ins.NetworkSettings.Ports = nil
	f.inspect["id-api"] = ins
	rep := Run(context.Background(), st, f, Options{Dial: okDial})
	p := byName(rep, CheckPort, "api")[0]
	assert.Equal(t, Fail, p.Status)
	assert.Contains(t, p.Detail, "does not publish it")
}

func TestRunHealthStartingProbes(t *testing.T) {
	st := loadStack(t, fakeCompose)
	for _, tc := range []struct {
		code int
		err  error
		want Status
	}{{0, nil, Pass}, {1, nil, Fail}, {0, errors.New("probe did not finish within 1s"), Fail}} {
		f := healthyFake()
		ins := f.inspect["id-db"]
		ins.State.Health = &container.Health{Status: container.Starting}
		f.inspect["id-db"] = ins
		var ran []string
		f.exec = func(id string, cmd []string) (engine.ExecResult, error) {
			ran = append(ran, id+" "+strings.Join(cmd, " "))
			return engine.ExecResult{ExitCode: tc.code, Output: "nope"}, tc.err
		}
		rep := Run(context.Background(), st, f, Options{Dial: okDial})
		assert.Equal(t, []string{"id-db /probe"}, ran)
		h := byName(rep, CheckHealth, "db")[0]
		assert.Equal(t, tc.want, h.Status, h.Detail)

		// With NoExec a starting container is not healthy.
		ran = nil
		rep = Run(context.Background(), st, f, Options{Dial: okDial, NoExec: true})
		assert.Empty(t, ran)
		assert.Equal(t, Fail, byName(rep, CheckHealth, "db")[0].Status)
	}
}

func TestRunUnhealthy(t *testing.T) {
	st := loadStack(t, fakeCompose)
	f := healthyFake()
	ins := f.inspect["id-db"]
	ins.State.Health = &container.Health{Status: container.Unhealthy, FailingStreak: 3, Log: []*container.HealthcheckResult{check(time.Second, 2*time.Second, 1)}}
	ins.State.Health.Log[0].Output = "connection refused"
	f.inspect["id-db"] = ins
	rep := Run(context.Background(), st, f, Options{Dial: okDial})
	h := byName(rep, CheckHealth, "db")[0]
	assert.Equal(t, Fail, h.Status)
	assert.Contains(t, h.Detail, "3 checks failed in a row; last check exited 1: connection refused")
}

func TestRunRestartWindow(t *testing.T) {
	st := loadStack(t, fakeCompose)
	f := healthyFake()
	later := f.inspect["id-db"]
	later.RestartCount = 2
	f.second["id-db"] = later
	rep := Run(context.Background(), st, f, Options{Window: 20 * time.Millisecond, Dial: okDial})
	r := byName(rep, CheckRestarts, "db")[0]
	assert.Equal(t, Fail, r.Status)
	assert.Contains(t, r.Detail, "restarted 2 times within the 20ms window")
	assert.Equal(t, int64(20), rep.WindowMS)

	// without a window, a single sample: a high total only warns.
	f = healthyFake()
	ins := f.inspect["id-db"]
	ins.RestartCount = 9
	f.inspect["id-db"] = ins
	rep = Run(context.Background(), st, f, Options{Dial: okDial})
	r = byName(rep, CheckRestarts, "db")[0]
	assert.Equal(t, Warn, r.Status)
	assert.True(t, rep.OK)
}

func TestRunJob(t *testing.T) {
	st := loadStack(t, fakeCompose)
	f := healthyFake()
	ins := f.inspect["id-init"]
	ins.State.ExitCode = 3
	f.inspect["id-init"] = ins
	rep := Run(context.Background(), st, f, Options{Dial: okDial})
	j := byName(rep, CheckJob, "init")[0]
	assert.Equal(t, Fail, j.Status)
	assert.Contains(t, j.Detail, "exited with code 3")
	assert.False(t, rep.OK)
}

// state builds a svcState for the order judge.
func state(name string, class stack.Class, created, started time.Duration, ins container.InspectResponse) *svcState {
	if ins.State == nil {
		ins.State = &container.State{Running: true, Status: container.StateRunning}
	}
	return &svcState{svc: &stack.Service{Name: name, Class: class}, found: true,
		c:   engine.Container{Name: name, Labels: map[string]string{engine.LabelManaged: "true"}},
		ins: ins, created: t0.Add(created), started: t0.Add(started), ended: parseTime(ins.State.FinishedAt)}
}

func TestOrderCheck(t *testing.T) {
	healthy := types.ServiceDependency{Condition: types.ServiceConditionHealthy, Required: true}
	started := types.ServiceDependency{Condition: types.ServiceConditionStarted, Required: true}
	completed := types.ServiceDependency{Condition: types.ServiceConditionCompletedSuccessfully, Required: true}
	withHealth := func(h *container.Health) container.InspectResponse {
		return container.InspectResponse{State: &container.State{Running: true, Status: container.StateRunning, Health: h}}
	}
	exited := func(finished time.Duration) container.InspectResponse {
		return container.InspectResponse{State: &container.State{Status: container.StateExited, FinishedAt: ts(finished)}}
	}
	unmanaged := func(s *svcState) *svcState { s.c.Labels = map[string]string{}; return s }
	restarted := func(s *svcState, n int) *svcState { s.ins.RestartCount = n; return s }
	probeOff := func(s *svcState) *svcState { s.svc.ProbeOff = true; return s }

	for _, tc := range []struct {
		name     string
		from, to *svcState
		dep      types.ServiceDependency
		want     Status
		contains string
	}{
		{"started after", state("app", stack.Core, 0, 2*time.Second, container.InspectResponse{}), state("db", stack.Core, 0, time.Second, container.InspectResponse{}), started, Pass, "started 1.00s after db"},
		{"started before", state("app", stack.Core, 0, time.Second, container.InspectResponse{}), state("db", stack.Core, 0, 2*time.Second, container.InspectResponse{}), started, Fail, "app started 1.00s before its dependency db"},
		{"optional started before", state("app", stack.Optional, 0, time.Second, container.InspectResponse{}), state("db", stack.Core, 0, 2*time.Second, container.InspectResponse{}), started, Fail, "before its dependency"},
		{"dependency recreated later", state("app", stack.Core, 0, time.Second, container.InspectResponse{}), state("db", stack.Core, 5*time.Second, 6*time.Second, container.InspectResponse{}), started, Pass, "not judged"},
		{"dependency restarted by the engine", state("app", stack.Core, 0, time.Second, container.InspectResponse{}), restarted(state("db", stack.Core, 0, 6*time.Second, container.InspectResponse{}), 2), started, Pass, "engine restarted db 2 times"},
		{"healthy: after first healthy check", state("app", stack.Core, 0, 3*time.Second, container.InspectResponse{}),
			state("db", stack.Core, 0, time.Second, withHealth(healthLog(check(1500*time.Millisecond, 1600*time.Millisecond, 1), check(2*time.Second, 2100*time.Millisecond, 0)))), healthy, Pass, "after db's first healthy check"},
		{"healthy: dive-managed, engine saw it late", state("app", stack.Core, 0, 1500*time.Millisecond, container.InspectResponse{}),
			state("db", stack.Core, 0, time.Second, withHealth(healthLog(check(2*time.Second, 2100*time.Millisecond, 0)))), healthy, Pass, "dive's own probe"},
		{"healthy: not dive-managed, engine saw it late", state("app", stack.Core, 0, 1500*time.Millisecond, container.InspectResponse{}),
			unmanaged(state("db", stack.Core, 0, time.Second, withHealth(healthLog(check(2*time.Second, 2100*time.Millisecond, 0))))), healthy, Fail, "before db's first healthy check"},
		{"healthy: probe off, never healthy", state("app", stack.Core, 0, 1500*time.Millisecond, container.InspectResponse{}),
			probeOff(state("db", stack.Core, 0, time.Second, withHealth(&container.Health{Status: container.Starting}))), healthy, Fail, "has not passed a healthcheck"},
		{"healthy: log rotated, cannot judge", state("app", stack.Core, 0, 1500*time.Millisecond, container.InspectResponse{}),
			unmanaged(state("db", stack.Core, 0, time.Second, withHealth(healthLog(check(2*time.Second, 2100*time.Millisecond, 0), check(3*time.Second, 3100*time.Millisecond, 0), check(4*time.Second, 4100*time.Millisecond, 0), check(5*time.Second, 5100*time.Millisecond, 0), check(6*time.Second, 6100*time.Millisecond, 0))))), healthy, Pass, "no longer holds its first checks"},
		{"completed: after the job", state("app", stack.Core, 0, 3*time.Second, container.InspectResponse{}), state("job", stack.Core, 0, time.Second, exited(2*time.Second)), completed, Pass, "after the job job finished"},
		{"completed: before the job ended", state("app", stack.Core, 0, 1500*time.Millisecond, container.InspectResponse{}), state("job", stack.Core, 0, time.Second, exited(2*time.Second)), completed, Fail, "before the job job finished"},
		{"completed: job still running", state("app", stack.Core, 0, 1500*time.Millisecond, container.InspectResponse{}), state("job", stack.Core, 0, time.Second, container.InspectResponse{}), completed, Fail, "still running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := orderCheck(tc.from, tc.to, tc.dep)
			require.True(t, ok)
			assert.Equal(t, tc.want, c.Status, c.Detail)
			assert.Contains(t, c.Detail, tc.contains)
			assert.Equal(t, tc.from.svc.Name, c.Service)
			if tc.want == Fail {
				assert.NotEmpty(t, c.Fix)
			}
		})
	}
	// Nothing to judge when the dependency never started.
	_, ok := orderCheck(state("app", stack.Core, 0, time.Second, container.InspectResponse{}), &svcState{svc: &stack.Service{Name: "db"}}, started)
	assert.False(t, ok)
}

func TestFirstHealthy(t *testing.T) {
	start := t0.Add(time.Second)
	// entries from before the latest start are ignored; the log is complete
	// because one of the five predates the start.
	h := healthLog(check(0, 100*time.Millisecond, 0), check(2*time.Second, 2100*time.Millisecond, 1), check(3*time.Second, 3100*time.Millisecond, 0), check(4*time.Second, 4100*time.Millisecond, 0), check(5*time.Second, 5100*time.Millisecond, 0))
	first, found, complete := firstHealthy(h, start)
	assert.True(t, found)
	assert.True(t, complete)
	assert.Equal(t, t0.Add(3100*time.Millisecond), first)

	first, found, complete = firstHealthy(healthLog(check(2*time.Second, 2100*time.Millisecond, 1)), start)
	assert.False(t, found)
	assert.True(t, complete)
	assert.True(t, first.IsZero())
}

func TestGradeAndReport(t *testing.T) {
	r := Report{Kind: "validate", Checks: []Check{
		{Name: "a", Class: stack.Core, Status: Pass, Detail: "fine"},
		{Name: "b", Class: stack.Stretch, Status: Fail, Detail: "broken", Fix: "fix it"},
		{Name: "c", Status: Fail, Detail: "stack-wide", Fix: "do this"},
	}}
	r.Finish(1500 * time.Microsecond)
	assert.Equal(t, Warn, r.Checks[1].Status)
	assert.True(t, r.Checks[1].Downgraded)
	assert.Equal(t, Fail, r.Checks[2].Status)
	assert.Equal(t, Fail, r.Verdict)
	assert.False(t, r.OK)
	assert.Equal(t, Counts{Pass: 1, Warn: 1, Fail: 1}, r.Counts)
	assert.Equal(t, "stack-wide; do this", r.Problems()[0].Line())

	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, &r))
	out := buf.String()
	assert.Contains(t, out, "STATUS")
	assert.Contains(t, out, "✘ stack-wide; do this")
	assert.Contains(t, out, "! broken; fix it")
	assert.Contains(t, out, "validate FAILED: 3 checks, 1 passed, 1 warning, 1 failed, in 2ms")

	buf.Reset()
	require.NoError(t, WriteJSON(&buf, &r))
	var back map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	assert.Equal(t, "fail", back["verdict"])
	assert.Equal(t, 1.5, back["duration_ms"])
	assert.Len(t, back["checks"], 3)

	assert.Equal(t, stack.Core, StrongestClass(stack.Optional, stack.Core))
	assert.Equal(t, stack.Stretch, StrongestClass(stack.Optional, stack.Stretch))
	assert.Equal(t, stack.Optional, StrongestClass(stack.Optional))
}

// A deploy that reused services unchanged: while the container list shows
// them ready, their checks come from the list, without an inspect (which
// waits behind the engine's healthcheck exec on a busy engine).
func TestRunReusedFromList(t *testing.T) {
	st := loadStack(t, fakeCompose)
	f := healthyFake()
	port := []container.PortSummary{{IP: netip.MustParseAddr("127.0.0.1"), PrivatePort: 8080, PublicPort: 18080, Type: "tcp"}}
	for i, c := range f.list {
		switch c.Service {
		case "db":
			c.State, c.Health, c.Status, c.Networks = "running", "healthy", "Up 3 minutes (healthy)", []string{"fake_default"}
			c.Mounts = []container.MountPoint{{Type: "volume", Name: "fake_data", Destination: "/data"}}
		case "api":
			c.State, c.Status, c.Networks, c.Ports = "running", "Up 3 minutes", []string{"fake_back", "fake_front"}, port
		case "extra":
			c.State, c.Status, c.Networks = "restarting", "Restarting (1) 2 seconds ago", []string{"fake_default"}
		}
		f.list[i] = c
	}
	var dialed []string
	rep := Run(context.Background(), st, f, Options{Reused: map[string]bool{"db": true, "api": true, "extra": true},
		Dial: func(ctx context.Context, n, addr string) (net.Conn, error) {
			dialed = append(dialed, addr)
			return okDial(ctx, n, addr)
		}})
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, &rep))
	t.Log("\n" + buf.String())
	assert.Equal(t, Pass, rep.Verdict, buf.String())
	assert.Zero(t, f.inspected["id-db"].Load(), "a reused service the list shows healthy is not inspected")
	assert.Zero(t, f.inspected["id-api"].Load(), "a reused service without healthcheck the list shows running is not inspected")
	assert.Equal(t, int32(1), f.inspected["id-extra"].Load(), "the list does not show extra running: inspected")
	assert.Equal(t, int32(1), f.inspected["id-init"].Load(), "not reused: inspected")
	assert.Contains(t, byName(rep, CheckContainer, "db")[0].Detail, "Up 3 minutes (healthy); reused unchanged")
	assert.Equal(t, Pass, byName(rep, CheckHealth, "db")[0].Status)
	assert.Empty(t, byName(rep, CheckRestarts, "db"), "the restart count is not in the list")
	assert.NotEmpty(t, byName(rep, CheckRestarts, "extra"), "inspected: its restart count is checked")
	assert.Equal(t, []string{"127.0.0.1:18080"}, dialed, "a port from the list is dialled")
	assert.Contains(t, byName(rep, CheckVolume, "")[0].Detail, "mounted by db:/data")

	// init (inspected) waits on db (from the list): db was ready before.
	o := byName(rep, CheckOrder, "init")
	require.Len(t, o, 1)
	assert.Equal(t, Pass, o[0].Status)
	assert.Contains(t, o[0].Detail, "db (service_healthy) was ready before this deploy started")
	// api and extra were reused: they did not start in this deploy, and
	// what the list shows cannot judge when they did.
	assert.Empty(t, byName(rep, CheckOrder, "api"))
	assert.Empty(t, byName(rep, CheckOrder, "extra"))

	// The list shows a reused service's network missing and its port
	// unpublished: the same failures as from an inspect.
	f = healthyFake()
	for i, c := range f.list {
		if c.Service == "api" {
			c.State, c.Status, c.Networks = "running", "Up 3 minutes", []string{"fake_front"}
			c.Ports = []container.PortSummary{{PrivatePort: 8080, Type: "tcp"}}
			f.list[i] = c
		}
	}
	rep = Run(context.Background(), st, f, Options{Reused: map[string]bool{"api": true}, Dial: okDial})
	assert.Zero(t, f.inspected["id-api"].Load())
	assert.Equal(t, Fail, byName(rep, CheckNetwork, "api")[0].Status)
	assert.Contains(t, byName(rep, CheckNetwork, "api")[0].Detail, "not attached to fake_back")
	assert.Equal(t, Fail, byName(rep, CheckPort, "api")[0].Status)
}

// TestImageHealthcheck: db's healthcheck is its image's (the file has none):
// its health is checked and probed with the command its container runs; a
// service waiting for db to be healthy while db's container runs none is
// warned about.
func TestImageHealthcheck(t *testing.T) {
	st := loadStack(t, strings.Replace(fakeCompose, `    healthcheck: {test: ["CMD", "/probe"], interval: 1s}
`, "", 1))
	f := healthyFake()
	ins := f.inspect["id-db"]
	ins.Config = &container.Config{Healthcheck: &container.HealthConfig{Test: []string{"CMD", "/img-probe"}, Timeout: time.Second}}
	ins.State.Health = &container.Health{Status: container.Starting}
	f.inspect["id-db"] = ins
	var ran []string
	f.exec = func(id string, cmd []string) (engine.ExecResult, error) {
		ran = append(ran, id+" "+strings.Join(cmd, " "))
		return engine.ExecResult{ExitCode: 0}, nil
	}
	rep := Run(context.Background(), st, f, Options{Dial: okDial})
	assert.Equal(t, []string{"id-db /img-probe"}, ran, "the image's command, as the container runs it")
	require.NotEmpty(t, byName(rep, CheckHealth, "db"))
	assert.Equal(t, Pass, byName(rep, CheckHealth, "db")[0].Status)
	for _, c := range byName(rep, CheckOrder, "api") {
		assert.NotEqual(t, Warn, c.Status, c.Detail)
	}

	// No healthcheck anywhere: the dependents waiting for db to be healthy are warned about.
	ins.Config = &container.Config{}
	ins.State.Health = nil
	f.inspect["id-db"] = ins
	rep = Run(context.Background(), st, f, Options{Dial: okDial})
	assert.Empty(t, byName(rep, CheckHealth, "db"))
	var warned []string
	for _, svc := range []string{"api", "init"} {
		for _, c := range byName(rep, CheckOrder, svc) {
			if c.Status == Warn {
				warned = append(warned, svc)
				assert.Contains(t, c.Detail, "runs no healthcheck")
				assert.Contains(t, c.Fix, "condition: service_started")
			}
		}
	}
	assert.Equal(t, []string{"api", "init"}, warned)
}
