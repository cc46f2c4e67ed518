package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
)

// script is what a fake container does once started. Timings are real but
// short (tens of milliseconds).
type script struct {
	// HealthyAfter: a container with a healthcheck turns healthy this long
	// after its start (health_status event, and probes start passing).
	HealthyAfter time.Duration
	// NeverReady: the healthcheck never passes (probes exit 1).
	NeverReady bool
	// ExitAfter with Exit: the container dies with ExitCode this long after start.
	Exit      bool
	ExitAfter time.Duration
	ExitCode  int
	// ExitAfterReady: with Exit and a healthcheck, it turns healthy at
	// HealthyAfter first, then dies at ExitAfter.
	ExitAfterReady bool
	// ProbeExit, when set, is the exit code of every exec probe, with ProbeOutput.
	ProbeExit   *int
	ProbeOutput string
	// NoHealthEvents: readiness is only visible to exec probes (no health_status event).
	NoHealthEvents bool
	// UnhealthyAfter: the engine's own check gives up this long after the
	// start (health_status unhealthy), its health log holding HealthLog.
	UnhealthyAfter time.Duration
	HealthLog      []string
	// StartErr fails the start call; with FailStarts > 0 only the first FailStarts calls.
	StartErr   error
	FailStarts int
}

// fakeContainer is one container of the fake engine.
type fakeContainer struct {
	id, name, service string
	spec              *engine.ContainerSpec
	script            script // the service's script when the container was created
	state             string // created, running, exited
	health            string // "", starting, healthy, unhealthy
	exitCode          int
	startedAt         time.Time
	readyAt           time.Time // healthy, running (no healthcheck), or exited 0 (one-shot)
	probeHealthy      bool      // probes pass whatever the engine's health says
	timers            []*time.Timer
	ports             []container.PortSummary // published host ports (ListContainers)
	mounts            []container.MountPoint  // volumes and binds, as the engine lists them
}

func (c *fakeContainer) hasHealthcheck() bool {
	hc := c.spec.Config.Healthcheck
	return hc != nil && len(hc.Test) > 0 && hc.Test[0] != "NONE"
}

// call is one recorded engine call.
type call struct {
	Op      string // create, start, remove, stop, build, pull
	Service string
	ID      string
	At      time.Time
}

// fakeEngine implements deploy.Engine in memory.
type fakeEngine struct {
	mu         sync.Mutex
	remote     bool                // OnThisHost reports false
	pid        int                 // the State.Pid of every running container
	scripts    map[string]script   // by service
	imageIDs   map[string]string   // ref -> ID; default "sha256:" + ref
	imageVols  map[string][]string // ref -> the image's VOLUME paths
	containers map[string]*fakeContainer
	calls      []call
	builds     []engine.BuildSpec // every Build call's spec
	// imageHealth: an image's own healthcheck (a Dockerfile HEALTHCHECK), by ref.
	imageHealth map[string]*container.HealthConfig
	// execCmds: the commands exec'd, by service.
	execCmds   map[string][][]string
	execs      map[string]int // service -> exec count
	startFails map[string]int // service -> start calls failed so far
	subs       []*fakeSub
	seq        int
	dropped    int
	// started/ready per service, across the fake's lifetime (last container wins).
	started map[string]time.Time
	ready   map[string]time.Time
	// renameFails makes a rename to this name fail.
	renameFails string
	// onRename, when set, is called (without the lock) after each rename.
	onRename func(name string)
}

type fakeSub struct {
	ch   chan engine.Event
	errs chan error
}

var _ Engine = (*fakeEngine)(nil)

func newFake(scripts map[string]script) *fakeEngine {
	if scripts == nil {
		scripts = map[string]script{}
	}
	return &fakeEngine{scripts: scripts, imageIDs: map[string]string{}, imageVols: map[string][]string{}, imageHealth: map[string]*container.HealthConfig{}, execCmds: map[string][][]string{}, containers: map[string]*fakeContainer{},
		execs: map[string]int{}, startFails: map[string]int{}, started: map[string]time.Time{}, ready: map[string]time.Time{}}
}

func (f *fakeEngine) setImageID(ref, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageIDs[ref] = id
}

// setHealth sets the engine's health of a service's containers; probeOK
// makes dive's exec probes pass regardless (the app is up, docker's own
// check has not run yet).
func (f *fakeEngine) setHealth(service, health string, probeOK bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.service == service {
			c.health, c.probeHealthy = health, probeOK
		}
	}
}

// resetCalls forgets the recorded calls (between two deploys).
func (f *fakeEngine) resetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// callsOf returns the services of the calls with op, sorted.
func (f *fakeEngine) callsOf(op string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c.Op == op {
			out = append(out, c.Service)
		}
	}
	sort.Strings(out)
	return out
}

func (f *fakeEngine) startedAt(service string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started[service]
}

func (f *fakeEngine) readyAt(service string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready[service]
}

func (f *fakeEngine) times() (started, ready map[string]time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	started, ready = map[string]time.Time{}, map[string]time.Time{}
	for k, v := range f.started {
		started[k] = v
	}
	for k, v := range f.ready {
		ready[k] = v
	}
	return started, ready
}

func (f *fakeEngine) execCount(service string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.execs[service]
}

func (f *fakeEngine) record(op, service, id string) {
	f.calls = append(f.calls, call{Op: op, Service: service, ID: id, At: time.Now()})
}

// emit publishes an event to every subscriber; f.mu must be held.
func (f *fakeEngine) emit(ev engine.Event) {
	ev.Time = time.Now()
	for _, s := range f.subs {
		select {
		case s.ch <- ev:
		default:
			f.dropped++
		}
	}
}

func (f *fakeEngine) APIVersion() string { return "1.41" }

func (f *fakeEngine) Image(ctx context.Context, ref string) (engine.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.imageIDs[ref]
	if !ok {
		id = "sha256:" + ref
	}
	vols := map[string]struct{}{}
	for _, v := range f.imageVols[ref] {
		vols[v] = struct{}{}
	}
	return engine.Image{ID: id, Healthcheck: f.imageHealth[ref], Volumes: vols}, nil
}

// mergeImageHealth is what the engine does at create: the container's
// healthcheck completed by its image's (moby's daemon merge).
func mergeImageHealth(user, image *container.HealthConfig) *container.HealthConfig {
	if image == nil {
		return user
	}
	if user == nil {
		h := *image
		return &h
	}
	h := *user
	if len(h.Test) == 0 {
		h.Test = image.Test
	}
	if h.Interval == 0 {
		h.Interval = image.Interval
	}
	if h.Timeout == 0 {
		h.Timeout = image.Timeout
	}
	if h.StartPeriod == 0 {
		h.StartPeriod = image.StartPeriod
	}
	if h.Retries == 0 {
		h.Retries = image.Retries
	}
	return &h
}

// fakeMounts are the mounts the engine gives a container of spec s from
// image ref: its Binds and Mounts, then a new anonymous volume (named
// anon-<seq>-<n>) for each of the image's VOLUME paths left and each
// volume without a source.
func (f *fakeEngine) fakeMounts(s *engine.ContainerSpec, ref string) []container.MountPoint {
	var out []container.MountPoint
	taken := map[string]bool{}
	add := func(typ mount.Type, src, dst string, rw bool) {
		mp := container.MountPoint{Type: typ, Destination: dst, RW: rw}
		if typ == mount.TypeVolume {
			if src == "" {
				src = fmt.Sprintf("anon-%04d-%d", f.seq, len(out))
			}
			mp.Name = src
		} else {
			mp.Source = src
		}
		out = append(out, mp)
		taken[dst] = true
	}
	for _, b := range s.Host.Binds {
		parts := strings.Split(b, ":")
		typ := mount.TypeVolume
		if strings.HasPrefix(parts[0], "/") {
			typ = mount.TypeBind
		}
		add(typ, parts[0], parts[1], !strings.HasPrefix(parts[2], "ro"))
	}
	for _, m := range s.Host.Mounts {
		add(m.Type, m.Source, m.Target, !m.ReadOnly)
	}
	for _, v := range f.imageVols[ref] {
		if !taken[v] {
			add(mount.TypeVolume, "", v, true)
		}
	}
	return out
}

func (f *fakeEngine) Build(ctx context.Context, b engine.BuildSpec, progress func(string)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("build", b.Tag, "")
	f.builds = append(f.builds, b)
	return nil
}

func (f *fakeEngine) Pull(ctx context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("pull", ref, "")
	return nil
}

func (f *fakeEngine) EnsureNetwork(ctx context.Context, n engine.NetworkSpec) (bool, error) {
	return false, nil
}

func (f *fakeEngine) EnsureVolume(ctx context.Context, v engine.VolumeSpec) (bool, error) {
	return false, nil
}

func (f *fakeEngine) ListContainers(ctx context.Context, project string) ([]engine.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.Container
	for _, c := range f.containers {
		if c.spec.Config.Labels[engine.LabelProject] != project {
			continue
		}
		out = append(out, engine.Container{ID: c.id, Name: c.name, Service: c.service, Project: project, Hash: c.spec.Hash,
			State: c.state, Health: c.health, Labels: c.spec.Config.Labels, Image: c.spec.Image, Ports: c.ports, Mounts: c.mounts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (f *fakeEngine) Create(ctx context.Context, s *engine.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.name == s.Name {
			return "", fmt.Errorf("fake: the container name %q is already in use by container %q", s.Name, c.id)
		}
	}
	if ih := f.imageHealth[s.Config.Image]; ih != nil {
		// the spec stays as dive made it; the container gets the merge
		merged, cfg := *s, *s.Config
		cfg.Healthcheck = mergeImageHealth(s.Config.Healthcheck, ih)
		merged.Config = &cfg
		s = &merged
	}
	f.seq++
	id := fmt.Sprintf("%s-%04d-0123456789abcdef", s.Service, f.seq)
	f.containers[id] = &fakeContainer{id: id, name: s.Name, service: s.Service, spec: s, state: "created", script: f.scripts[s.Service],
		mounts: f.fakeMounts(s, s.Config.Image)}
	f.record("create", s.Service, id)
	return id, nil
}

func (f *fakeEngine) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("fake: no such container: %s", id)
	}
	f.record("start", c.service, id)
	sc := c.script
	if sc.StartErr != nil && (sc.FailStarts == 0 || f.startFails[c.service] < sc.FailStarts) {
		f.startFails[c.service]++
		return sc.StartErr
	}
	now := time.Now()
	c.state, c.startedAt, c.exitCode = "running", now, 0
	f.started[c.service] = now
	delete(f.ready, c.service)
	if c.hasHealthcheck() {
		c.health = "starting"
	} else if !sc.Exit {
		c.readyAt = now
		f.ready[c.service] = now
	}
	f.emit(engine.Event{ContainerID: id, Service: c.service, Action: "start"})
	if c.hasHealthcheck() && !sc.NeverReady && (!sc.Exit || sc.ExitAfterReady) {
		c.timers = append(c.timers, time.AfterFunc(sc.HealthyAfter, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.containers[id] != c || c.state != "running" {
				return
			}
			c.health = "healthy"
			c.readyAt = time.Now()
			f.ready[c.service] = c.readyAt
			if !sc.NoHealthEvents {
				f.emit(engine.Event{ContainerID: id, Service: c.service, Action: "health_status", Health: "healthy"})
			}
		}))
	}
	if sc.UnhealthyAfter > 0 {
		c.timers = append(c.timers, time.AfterFunc(sc.UnhealthyAfter, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.containers[id] == c && c.state == "running" {
				c.health = "unhealthy"
				f.emit(engine.Event{ContainerID: id, Service: c.service, Action: "health_status", Health: "unhealthy"})
			}
		}))
	}
	if sc.Exit {
		c.timers = append(c.timers, time.AfterFunc(sc.ExitAfter, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.containers[id] != c || c.state != "running" {
				return
			}
			c.state, c.exitCode = "exited", sc.ExitCode
			if c.health != "" {
				c.health = "unhealthy"
			}
			if sc.ExitCode == 0 {
				c.readyAt = time.Now()
				f.ready[c.service] = c.readyAt
			}
			f.emit(engine.Event{ContainerID: id, Service: c.service, Action: "die", ExitCode: sc.ExitCode})
		}))
	}
	return nil
}

func (f *fakeEngine) Stop(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("fake: no such container: %s", id)
	}
	f.record("stop", c.service, id)
	c.state = "exited"
	return nil
}

func (f *fakeEngine) Rename(ctx context.Context, id, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("fake: no such container: %s", id)
	}
	if name == f.renameFails {
		return fmt.Errorf("fake: rename %s: the engine refused", name)
	}
	for _, x := range f.containers {
		if x.name == name && x != c {
			return fmt.Errorf("fake: the container name %q is already in use by container %q: %w", name, x.id, cerrdefs.ErrConflict)
		}
	}
	c.name = name
	f.record("rename", c.service, id)
	if hook := f.onRename; hook != nil {
		defer func() { go hook(name) }()
	}
	return nil
}

func (f *fakeEngine) Remove(ctx context.Context, id string, volumes bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return fmt.Errorf("fake: no such container: %s", id)
	}
	for _, t := range c.timers {
		t.Stop()
	}
	delete(f.containers, id)
	f.record("remove", c.service, id)
	f.emit(engine.Event{ContainerID: id, Service: c.service, Action: "destroy"})
	return nil
}

func (f *fakeEngine) Inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		for _, x := range f.containers {
			if x.name == id {
				c, ok = x, true
			}
		}
	}
	if !ok {
		return container.InspectResponse{}, fmt.Errorf("fake: no such container: %s: %w", id, cerrdefs.ErrNotFound)
	}
	st := &container.State{Status: container.ContainerState(c.state), Running: c.state == "running", ExitCode: c.exitCode}
	if st.Running {
		st.Pid = f.pid
	}
	if !c.startedAt.IsZero() {
		st.StartedAt = c.startedAt.UTC().Format(time.RFC3339Nano)
	}
	if c.health != "" {
		st.Health = &container.Health{Status: container.HealthStatus(c.health)}
		for _, out := range c.script.HealthLog {
			st.Health.Log = append(st.Health.Log, &container.HealthcheckResult{ExitCode: -1, Output: out})
		}
	}
	return container.InspectResponse{ID: c.id, Name: "/" + c.name, State: st, Config: c.spec.Config, HostConfig: c.spec.Host}, nil
}

func (f *fakeEngine) Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (engine.ExecResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return engine.ExecResult{}, fmt.Errorf("fake: no such container: %s", id)
	}
	f.execs[c.service]++
	f.execCmds[c.service] = append(f.execCmds[c.service], cmd)
	if c.state != "running" {
		return engine.ExecResult{}, fmt.Errorf("fake: container %s is not running", id)
	}
	sc := c.script
	if sc.ProbeExit != nil {
		return engine.ExecResult{ExitCode: *sc.ProbeExit, Output: sc.ProbeOutput}, nil
	}
	if c.health == "healthy" || c.probeHealthy {
		return engine.ExecResult{ExitCode: 0, Output: "ok"}, nil
	}
	return engine.ExecResult{ExitCode: 1, Output: "connection refused"}, nil
}

func (f *fakeEngine) Logs(ctx context.Context, id string, tail int) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok {
		return nil, errors.New("fake: no such container")
	}
	return []string{c.service + ": starting", c.service + ": last words"}, nil
}

func (f *fakeEngine) Watch(ctx context.Context, project string) (<-chan engine.Event, <-chan error) {
	s := &fakeSub{ch: make(chan engine.Event, 1024), errs: make(chan error, 1)}
	f.mu.Lock()
	f.subs = append(f.subs, s)
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.subs = slices.DeleteFunc(f.subs, func(x *fakeSub) bool { return x == s })
		close(s.ch)
		close(s.errs)
	}()
	return s.ch, s.errs
}

func (f *fakeEngine) ContainerPidHere(id string, pid int) bool { return !f.remote && pid > 0 }

func (f *fakeEngine) StatsStream(ctx context.Context, id string, each func(engine.Stats)) error {
	each(engine.Stats{CPUPercent: 12.5, MemBytes: 64 << 20})
	<-ctx.Done()
	return nil
}

// forceRemove is docker rm -f of a service's container: kill, die 137,
// destroy, and the container is gone.
func (f *fakeEngine) forceRemove(service string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.containers {
		if c.service != service {
			continue
		}
		for _, t := range c.timers {
			t.Stop()
		}
		delete(f.containers, id)
		f.emit(engine.Event{ContainerID: id, Service: service, Action: "kill"})
		f.emit(engine.Event{ContainerID: id, Service: service, Action: "die", ExitCode: 137})
		f.emit(engine.Event{ContainerID: id, Service: service, Action: "destroy"})
		return true
	}
	return false
}

// subscribers is how many Watch subscriptions are live.
func (f *fakeEngine) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// eventually waits for cond with a deadline, polling briefly.
func eventually(t *testing.T, within time.Duration, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %s", within, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func intp(n int) *int { return &n }

// setScript changes what a service's containers created from now on do.
func (f *fakeEngine) setScript(service string, s script) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.scripts[service] = s
}

// byName returns the container of that name.
func (f *fakeEngine) byName(name string) (id, state string, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.name == name {
			return c.id, c.state, true
		}
	}
	return "", "", false
}

// names lists every container's name, sorted.
func (f *fakeEngine) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.containers {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// callOrder lists "op service" for every recorded call, in order.
func (f *fakeEngine) callOrder() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Op+" "+c.Service)
	}
	return out
}
