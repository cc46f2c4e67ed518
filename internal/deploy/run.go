package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
)

// Options for one deploy.
type Options struct {
	Stack *stack.Stack
	Graph *graph.Graph
	Bus   *events.Bus
	// Timeout is the whole deploy's deadline.
	Timeout time.Duration
	// ForceRecreate recreates every container.
	ForceRecreate bool
	// Build rebuilds images of services with a build: section even when present.
	Build bool
	// WaitAll waits for optional and stretch services too.
	WaitAll bool
	// Skip maps services to skip to the reason (the per-service breaker).
	Skip        map[string]string
	DiveVersion string
	// ProbeConcurrency bounds dive's own exec probes in flight (default DefaultProbeConcurrency).
	ProbeConcurrency int
	// Now is the clock (tests).
	Now func() time.Time
	// Expected is each service's expected start-to-ready time (history's
	// p50): it ranks container operations and shapes probing.
	Expected map[string]time.Duration
	// OpConcurrency bounds container creates/starts/removes in flight
	// (default DefaultOpConcurrency; negative: unbounded). Within it, operations go by rank.
	OpConcurrency int
	// Announced says the caller emitted deploy_started (with Announce) and
	// will emit deploy_finished (with Finish).
	Announced bool
}

// DefaultOpConcurrency is the default bound on container operations in flight.
const DefaultOpConcurrency = 64

// DefaultProbeConcurrency is the default bound on dive's own probes in
// flight: twice the CPUs, at least 4.
func DefaultProbeConcurrency() int { return max(4, 2*runtime.NumCPU()) }

// Announce emits deploy_started and the stack's warnings: the first events of
// a deploy. Callers that run phases before the scheduler (lock, preflight)
// announce first, then set Options.Announced.
func Announce(bus *events.Bus, st *stack.Stack, g *graph.Graph, timeout time.Duration, apiVersion string) {
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Attrs: events.DeployStartedAttrs{
		Project: st.Project.Name, Services: g.Order(), TimeoutMS: events.MS(timeout), EngineAPI: apiVersion,
	}})
	for _, w := range st.Warnings {
		bus.Emit(events.Event{Phase: events.PhaseLoad, Level: events.LevelWarn, Attrs: events.WarningAttrs{Note: events.Note{Message: w}}})
	}
}

// Abort emits deploy_finished for a deploy stopped before the scheduler ran
// (the lock was held, preflight failed).
func Abort(bus *events.Bus, started time.Time, err error) {
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Level: events.LevelError, Duration: time.Since(started),
		Attrs: events.DeployFinishedAttrs{Outcome: string(Failed), Error: err.Error()}})
}

// Run deploys the stack. The returned Result is complete even on failure;
// Result.Err says why a deploy failed.
func Run(ctx context.Context, eng Engine, o Options) *Result {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ProbeConcurrency <= 0 {
		o.ProbeConcurrency = DefaultProbeConcurrency()
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.OpConcurrency == 0 {
		o.OpConcurrency = DefaultOpConcurrency
	}
	d := &deployer{eng: eng, o: o, st: o.Stack, g: o.Graph, bus: o.Bus, start: o.Now(), ops: newGate(o.OpConcurrency), rank: ranks(o.Graph, o.Expected), startIssued: map[string]bool{},
		svcs: map[string]*svcRun{}, probes: newGate(o.ProbeConcurrency), images: map[string]*future[string]{}}
	return d.run(ctx)
}

type deployer struct {
	eng   Engine
	o     Options
	st    *stack.Stack
	g     *graph.Graph
	bus   *events.Bus
	start time.Time

	svcs   map[string]*svcRun
	probes *gate // dive's own probes in flight, served by rank

	imagesMu sync.Mutex
	images   map[string]*future[string] // image ref -> image ID

	resources *future[struct{}]

	routeMu sync.Mutex
	routes  map[string]chan engine.Event // container ID -> service events

	failCore context.CancelCauseFunc
	statsWG  sync.WaitGroup

	ops  *gate              // container operations in flight
	rank map[string]float64 // longest chain behind each service

	startedMu   sync.Mutex
	startIssued map[string]bool // services past their start (or never to start)
}

// opPrio is the priority of a container operation for a service, and
// whether it is critical: the service is among the highest-ranked of those
// not started yet (its create counts only when it has no dependencies to
// wait for: a dependent's create has seconds of slack).
func (d *deployer) opPrio(name string, start bool) (float64, bool) {
	if !start && len(d.g.Deps(name)) > 0 {
		return -1e6, false
	}
	d.startedMu.Lock()
	top := 0.0
	for n, r := range d.rank {
		if !d.startIssued[n] && r > top {
			top = r
		}
	}
	d.startedMu.Unlock()
	return d.rank[name], d.rank[name] >= top-rankEpsilon
}

// issued records that a service no longer competes for the critical path's
// start: started, reused, failed or skipped.
func (d *deployer) issued(name string) {
	d.startedMu.Lock()
	d.startIssued[name] = true
	d.startedMu.Unlock()
}

// svcRun is one service's state machine.
type svcRun struct {
	svc     *stack.Service
	started *signal // the container was started (or is running, reused)
	ready   *signal // healthy / running / completed: the service is ready
	decided *future[bool]
	res     *ServiceResult
	mu      sync.Mutex
	peakCPU float64
	peakMem float64
}

func (d *deployer) emit(e events.Event) {
	d.bus.Emit(e)
}

func (d *deployer) svcEvent(s *svcRun, phase events.Phase, attrs events.Attributes) {
	lvl := events.LevelInfo
	switch attrs.Kind() {
	case events.ServiceFailed:
		lvl = events.LevelError
		if s.svc.Class != stack.Core {
			lvl = events.LevelWarn
		}
	case events.ServiceSkipped, events.ServiceRetry:
		lvl = events.LevelWarn
	}
	d.emit(events.Event{Phase: phase, Service: s.svc.Name, Level: lvl, Attrs: attrs})
}

func (d *deployer) run(parent context.Context) *Result {
	st := d.st
	res := &Result{Services: map[string]*ServiceResult{}}
	names := d.g.Order()
	if !d.o.Announced {
		Announce(d.bus, st, d.g, d.o.Timeout, d.eng.APIVersion())
	}

	ctx, cancel := context.WithTimeoutCause(parent, d.o.Timeout, fmt.Errorf("the deploy's deadline (--timeout %s) passed", d.o.Timeout))
	defer cancel()
	// coreCtx ends when a core service fails: everything stops at once.
	coreCtx, failCore := context.WithCancelCause(ctx)
	defer failCore(nil)
	d.failCore = failCore

	for _, n := range names {
		s := st.Services[n]
		r := &svcRun{svc: s, started: newSignal(), ready: newSignal(), decided: newFuture[bool](),
			res: &ServiceResult{Name: n, Class: string(s.Class), State: StatePending}}
		d.svcs[n] = r
		res.Services[n] = r.res
	}

	// Subscribe first, then look: no event between the two can be missed.
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	evs, evErrs := d.eng.Watch(watchCtx, st.Project.Name)
	d.routes = map[string]chan engine.Event{}
	go d.route(evs)
	go func() {
		if err := <-evErrs; err != nil {
			failCore(fmt.Errorf("%w: the engine was lost during the deploy", err))
		}
	}()

	existing, err := d.eng.ListContainers(coreCtx, st.Project.Name)
	if err != nil {
		return d.finish(res, Failed, fmt.Errorf("list containers of project %s: %w", st.Project.Name, err))
	}
	byService := map[string]engine.Container{}
	for _, c := range existing {
		if c.Labels[engine.LabelOneOff] == "True" {
			continue
		}
		byService[c.Service] = c
	}

	d.resources = newFuture[struct{}]()
	go d.ensureResources(coreCtx)

	// Stats are sampled for every container this deploy starts.
	statsCtx, stopStats := context.WithCancel(coreCtx)
	defer stopStats()
	// readyCtx also ends when the core is ready: optional and stretch
	// services are not waited on past that point.
	readyCtx, coreReady := context.WithCancelCause(coreCtx)
	defer coreReady(nil)

	// Services skipped up front (the breaker) are skipped before any
	// service runs, so that their dependents always see it.
	for _, n := range names {
		if why, ok := d.o.Skip[n]; ok {
			d.svcs[n].decided.set(false, nil)
			d.skip(d.svcs[n], why, nil)
		}
	}

	var wg sync.WaitGroup
	for _, n := range names {
		r := d.svcs[n]
		old, hasOld := byService[n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.runService(coreCtx, readyCtx, statsCtx, r, old, hasOld)
		}()
	}

	// The deploy is over when every core service is settled (and every
	// service when WaitAll), or when the core fails.
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	coreDone := make(chan struct{})
	go func() {
		for _, n := range names {
			r := d.svcs[n]
			if r.svc.Class == stack.Core || d.o.WaitAll {
				<-r.decidedFinal()
			}
		}
		close(coreDone)
	}()
	select {
	case <-coreDone:
	case <-coreCtx.Done():
	}
	if coreCtx.Err() == nil {
		// The core is ready: non-core services still starting are left to
		// finish on their own and reported as pending.
		coreReady(errCoreReady)
	}
	// Every service goroutine ends promptly once its context is cancelled.
	select {
	case <-allDone:
	case <-time.After(detachedOpTimeout + 15*time.Second):
		// every engine call has its own deadline; this only guards a bug
	}
	// Networks and volumes are never abandoned half-way: wait for them.
	rctxWait, cancelWait := context.WithTimeout(context.Background(), detachedOpTimeout)
	_, _ = d.resources.wait(rctxWait)
	cancelWait()
	stopStats()
	statsDone := make(chan struct{})
	go func() { d.statsWG.Wait(); close(statsDone) }()
	select {
	case <-statsDone:
	case <-time.After(3 * time.Second):
	}

	outcome := Success
	var firstErr error
	for _, n := range names {
		r := d.svcs[n].res
		switch r.State {
		case StateFailed, StateSkipped, StateCancelled:
			if d.svcs[n].svc.Class == stack.Core {
				outcome = Failed
				if firstErr == nil && r.State == StateFailed {
					firstErr = fmt.Errorf("core service %s failed: %s", n, r.Reason)
				}
			} else if outcome == Success {
				outcome = Degraded
			}
		case StatePending:
			if d.svcs[n].svc.Class == stack.Core {
				outcome = Failed
				if firstErr == nil {
					firstErr = fmt.Errorf("core service %s did not become ready: %s", n, r.Reason)
				}
			} else if outcome == Success {
				outcome = Degraded
			}
		}
	}
	if parent.Err() != nil {
		return d.finish(res, Interrupted, errors.New("interrupted"))
	}
	if outcome == Failed && firstErr == nil {
		cause := context.Cause(coreCtx)
		if cause == nil || errors.Is(cause, errCoreReady) {
			cause = errors.New("a core service did not become ready")
		}
		firstErr = cause
	}
	return d.finish(res, outcome, firstErr)
}

var errCoreReady = errors.New("every core service is ready")

// detachedOpTimeout bounds the engine operations a deploy never abandons
// half-way (creating networks, volumes, containers): they outlive a
// cancellation, but not this.
const detachedOpTimeout = 30 * time.Second

func (d *deployer) finish(res *Result, o Outcome, err error) *Result {
	res.Outcome = o
	res.Err = err
	res.Duration = d.o.Now().Sub(d.start)
	if !d.o.Announced {
		Finish(d.bus, res)
	}
	return res
}

// Finish emits deploy_finished for a result: the last event of a deploy.
// Run emits it itself unless the caller announced the deploy (and so owns
// its end, after its own closing phases such as validation).
func Finish(bus *events.Bus, res *Result) {
	o, err := res.Outcome, res.Err
	attrs := events.DeployFinishedAttrs{Outcome: string(o)}
	if err != nil {
		attrs.Error = err.Error()
	}
	lvl := events.LevelInfo
	if o == Failed || o == Interrupted {
		lvl = events.LevelError
	} else if o == Degraded {
		lvl = events.LevelWarn
	}
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Level: lvl, Duration: res.Duration, Attrs: attrs})
}

// decidedFinal closes when the service reached a final state.
func (r *svcRun) decidedFinal() <-chan struct{} { return r.ready.final }

// route dispatches engine events to the service that owns the container.
func (d *deployer) route(evs <-chan engine.Event) {
	for ev := range evs {
		d.routeMu.Lock()
		ch := d.routes[ev.ContainerID]
		d.routeMu.Unlock()
		if ch != nil {
			select {
			case ch <- ev:
			default: // a service that stopped listening
			}
		}
	}
}

func (d *deployer) subscribe(id string) chan engine.Event {
	ch := make(chan engine.Event, 64)
	d.routeMu.Lock()
	d.routes[id] = ch
	d.routeMu.Unlock()
	return ch
}

func (d *deployer) unsubscribe(id string) {
	d.routeMu.Lock()
	delete(d.routes, id)
	d.routeMu.Unlock()
}

// ensureResources creates the project's networks and volumes, all at once.
func (d *deployer) ensureResources(ctx context.Context) {
	p := d.st.Project
	used := map[string]bool{}
	usedVol := map[string]bool{}
	for _, n := range d.st.Names {
		for k := range d.st.Services[n].Config.Networks {
			used[k] = true
		}
		for _, v := range d.st.Services[n].Config.Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source != "" {
				usedVol[v.Source] = true
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}
	for key, nc := range p.Networks {
		if !used[key] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			name := nc.Name
			if name == "" {
				name = key
			}
			spec := engine.NetworkSpec{Name: name, Key: key, Project: p.Name, Driver: nc.Driver, Options: map[string]string(nc.DriverOpts),
				Labels: map[string]string(nc.Labels), Internal: nc.Internal, External: bool(nc.External), Attach: nc.Attachable}
			// Never abandoned half-way: the daemon would finish it anyway,
			// leaving an object nobody reported. Each call has its own deadline.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedOpTimeout)
			defer cancel()
			created, err := d.eng.EnsureNetwork(cctx, spec)
			if err != nil {
				fail(fmt.Errorf("network %s: %w", name, err))
				return
			}
			attrs := events.NetworkReadyAttrs{Network: name, Created: created}
			if created && bool(nc.External) {
				attrs.Note = "external network was missing and has been created"
			}
			d.emit(events.Event{Phase: events.PhaseResources, Duration: time.Since(t0), Attrs: attrs})
		}()
	}
	for key, vc := range p.Volumes {
		if !usedVol[key] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			name := vc.Name
			if name == "" {
				name = p.Name + "_" + key
			}
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedOpTimeout)
			defer cancel()
			created, err := d.eng.EnsureVolume(cctx, engine.VolumeSpec{Name: name, Key: key, Project: p.Name, Driver: vc.Driver,
				DriverOpts: map[string]string(vc.DriverOpts), Labels: map[string]string(vc.Labels), External: bool(vc.External)})
			if err != nil {
				fail(fmt.Errorf("volume %s: %w", name, err))
				return
			}
			d.emit(events.Event{Phase: events.PhaseResources, Duration: time.Since(t0), Attrs: events.VolumeReadyAttrs{Volume: name, Created: created}})
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		sort.Strings(errs)
		d.resources.set(struct{}{}, errors.New(strings.Join(errs, "; ")))
		return
	}
	d.resources.set(struct{}{}, nil)
}

// image returns the image ID for a service, building or pulling it once per
// image no matter how many services share it.
func (d *deployer) image(ctx context.Context, s *stack.Service) (string, error) {
	ref := engine.ImageName(d.st.Project.Name, s.Config)
	d.imagesMu.Lock()
	f, ok := d.images[ref]
	if !ok {
		f = newFuture[string]()
		d.images[ref] = f
	}
	d.imagesMu.Unlock()
	if !ok {
		go func() { f.set(d.ensureImage(ctx, ref, s)) }()
	}
	return f.wait(ctx)
}

func (d *deployer) ensureImage(ctx context.Context, ref string, s *stack.Service) (string, error) {
	t0 := time.Now()
	b := s.Config.Build
	id, err := d.eng.ImageID(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %s of service %s: %w", ref, s.Name, err)
	}
	if id != "" && !(d.o.Build && b != nil) {
		d.emit(events.Event{Phase: events.PhaseImage, Duration: time.Since(t0), Attrs: events.ImageReadyAttrs{Image: ref, Built: false, Cached: true}})
		return id, nil
	}
	switch {
	case b != nil:
		d.emit(events.Event{Phase: events.PhaseImage, Attrs: events.ImageBuildingAttrs{Image: ref}})
		args := map[string]*string{}
		for k, v := range b.Args {
			args[k] = v
		}
		err = d.eng.Build(ctx, engine.BuildSpec{Tag: ref, Context: b.Context, Dockerfile: b.Dockerfile, Args: args, Target: b.Target,
			Labels: map[string]string(b.Labels)}, nil)
		if err != nil {
			return "", fmt.Errorf("build image %s for service %s (context %s): %w", ref, s.Name, b.Context, err)
		}
	case s.Config.PullPolicy == types.PullPolicyNever:
		return "", fmt.Errorf("image %s of service %s is not present and pull_policy is never; build or load it first (docker load / docker build -t %s)", ref, s.Name, ref)
	default:
		perr := d.eng.Pull(ctx, ref)
		if perr != nil {
			return "", fmt.Errorf("image %s of service %s is not present locally and could not be pulled (%v); load it (docker load), build it, or add a build: section", ref, s.Name, perr)
		}
	}
	id, err = d.eng.ImageID(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("inspect image %s of service %s after build/pull: %w", ref, s.Name, err)
	}
	if id == "" {
		return "", fmt.Errorf("image %s of service %s is still missing after build/pull", ref, s.Name)
	}
	d.emit(events.Event{Phase: events.PhaseImage, Duration: time.Since(t0), Attrs: events.ImageReadyAttrs{Image: ref, Built: b != nil, Cached: false}})
	return id, nil
}

// runService drives one service from image to ready.
func (d *deployer) runService(ctx, rctx, statsCtx context.Context, r *svcRun, old engine.Container, hasOld bool) {
	s := r.svc
	defer d.issued(s.Name) // whatever happened, it no longer competes
	defer func() {
		r.decided.set(false, nil) // no-op when already decided
		if !r.ready.isFinal() {
			// A required dependency failed or was skipped: this service is
			// skipped, even when that failure also stopped the deploy (a core
			// failure cancels ctx at once, racing with waitDeps).
			if failed := d.failedDeps(s.Name); len(failed) > 0 {
				d.skip(r, d.depFailure(failed), failed)
				return
			}
			// stopped before reaching a final state
			state, reason := StatePending, "still starting when the core was ready; not waited on"
			if r.res.StartedAt.IsZero() {
				reason = "not started: still waiting on its dependencies when the core was ready"
			}
			if cause := context.Cause(ctx); cause != nil {
				state, reason = StateCancelled, "the deploy stopped first: "+cause.Error()
			}
			r.res.State, r.res.Reason = state, reason
			r.ready.fail(&stoppedError{reason})
			r.started.fail(&stoppedError{reason})
		}
	}()
	if _, ok := d.o.Skip[s.Name]; ok {
		return // skipped by run before any service started
	}
	// 1. image, networks and volumes: all prepared up front, in parallel.
	imageID, err := d.image(ctx, s)
	if err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: err.Error(), Hint: "check the image name, or build it; dive image names for build: services are <project>-<service>"}, "")
		return
	}
	if _, err := d.resources.wait(ctx); err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: "networks/volumes: " + err.Error(), Hint: "check 'docker network ls' and 'docker volume ls'"}, "")
		return
	}
	spec, err := engine.Spec(s.Config, engine.BuildOptions{Project: d.st.Project, ImageID: imageID, Class: string(s.Class),
		DiveVersion: d.o.DiveVersion, APIVersion: d.eng.APIVersion(), EnvFiles: d.st.EnvFile})
	if err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: "container configuration: " + err.Error(), Hint: "fix the service's settings in the compose file"}, "")
		return
	}
	for _, w := range spec.Warnings {
		d.emit(events.Event{Phase: events.PhaseCreate, Service: s.Name, Level: events.LevelWarn, Attrs: events.WarningAttrs{Note: events.Note{Message: w}}})
	}
	r.res.Container = spec.Name

	// 2. decide: reuse, restart or recreate. A dependency recreated with
	// restart: true forces a recreate.
	depRecreated := false
	for _, e := range d.g.Deps(s.Name) {
		if e.Restart {
			if rec, _ := d.svcs[e.To].decided.wait(ctx); rec {
				depRecreated = true
			}
		}
	}
	same := hasOld && old.Hash == spec.Hash && !d.o.ForceRecreate && !depRecreated
	if same && old.State == "running" && (old.Health == "healthy" || (old.Health == "" && !s.HasHealthcheck())) && !s.OneShot {
		r.decided.set(false, nil)
		d.issued(s.Name)
		r.res.ContainerID, r.res.State, r.res.Signal = old.ID, StateReused, events.SignalReused
		d.svcEvent(r, events.PhaseReady, events.ServiceReusedAttrs{Class: string(s.Class), Container: old.Name, ContainerID: short(old.ID),
			Readiness: events.Readiness{Signal: events.SignalReused}})
		r.started.ok()
		r.ready.ok()
		return
	}
	if same && s.OneShot && old.State == "exited" {
		if ins, err := d.eng.Inspect(ctx, old.ID); err == nil && ins.State != nil && ins.State.ExitCode == 0 {
			r.decided.set(false, nil)
			r.res.ContainerID, r.res.State, r.res.Signal = old.ID, StateReused, events.SignalCompletedBefore
			d.svcEvent(r, events.PhaseReady, events.ServiceReusedAttrs{Class: string(s.Class), Container: old.Name, ContainerID: short(old.ID),
				Note: "one-shot job already completed with exit 0", Readiness: events.Readiness{Signal: events.SignalCompletedBefore}})
			r.started.ok()
			r.ready.ok()
			return
		}
	}
	var id string
	if same && (old.State == "running" || old.State == "created" || old.State == "exited") && !s.OneShot && old.Health != "unhealthy" {
		// Unchanged but not ready yet (starting) or stopped: keep the container.
		id = old.ID
		r.decided.set(false, nil)
	} else {
		if hasOld {
			if err := d.replaceOld(ctx, r, old); err != nil {
				d.fail(ctx, r, &Diagnosis{Reason: fmt.Sprintf("replace the old container %s (stop, then remove): %v", old.Name, err)}, "")
				return
			}
		}
		r.decided.set(true, nil)
		id, err = d.create(ctx, r, spec)
		if err != nil {
			d.fail(ctx, r, &Diagnosis{Reason: err.Error(), Hint: createHint(err)}, "")
			return
		}
	}
	r.res.ContainerID = id
	evCh := d.subscribe(id)
	defer func() { d.unsubscribe(id) }() // id changes when a failed start is retried

	// 3. wait for the dependencies' conditions, and only for them.
	wctx := rctx
	if s.Class == stack.Core {
		wctx = ctx
	}
	// An unchanged container that is already running does not wait for its
	// dependencies: it started long ago; only its readiness is confirmed.
	if !(id == old.ID && old.State == "running") && !d.waitDeps(wctx, r) {
		return
	}

	// 4. start and wait for readiness, recreating on a failed start.
	for attempt := 1; ; attempt++ {
		r.res.Attempts = attempt
		running := old.State == "running" && id == old.ID
		ok, retry := d.startAndWait(ctx, rctx, statsCtx, r, id, running, evCh, attempt)
		if ok || !retry || attempt > s.Retries || ctx.Err() != nil {
			return
		}
		backoffWait := time.Duration(200*attempt) * time.Millisecond
		d.svcEvent(r, events.PhaseStart, events.ServiceRetryAttrs{Class: string(s.Class), Attempt: attempt + 1, Reason: r.res.Reason, BackoffMS: events.MS(backoffWait)})
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoffWait):
		}
		d.unsubscribe(id)
		_ = d.eng.Remove(ctx, id, false)
		r.res.State, r.res.Reason, r.res.Diagnosis = StatePending, "", nil
		id, err = d.create(ctx, r, spec)
		if err != nil {
			d.fail(ctx, r, &Diagnosis{Reason: err.Error(), Hint: createHint(err)}, "")
			return
		}
		r.res.ContainerID = id
		evCh = d.subscribe(id)
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func createHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "is already in use by container"):
		return "a container of that name belongs to something else; remove or rename it (docker rm), or change container_name"
	case strings.Contains(msg, "bind source path does not exist"):
		return "create the host folder of the bind mount, or fix its path"
	}
	return ""
}

// replaceOld stops the container being replaced within its grace period
// (a database must get its SIGTERM), then removes it.
func (d *deployer) replaceOld(ctx context.Context, r *svcRun, old engine.Container) error {
	prio, crit := d.opPrio(r.svc.Name, false)
	if err := d.ops.acquire(ctx, prio, crit); err != nil {
		return err
	}
	defer d.ops.release(crit)
	if old.State == "running" || old.State == "restarting" {
		grace := 10 * time.Second
		if sg := r.svc.Config.StopGracePeriod; sg != nil {
			grace = time.Duration(*sg)
		}
		if err := d.eng.Stop(ctx, old.ID, grace); err != nil {
			return err
		}
	}
	return d.eng.Remove(ctx, old.ID, false)
}

// create creates the container. A name conflict with a leftover container
// of this project (a half-finished earlier run) is cleared and retried.
func (d *deployer) create(ctx context.Context, r *svcRun, spec *engine.ContainerSpec) (string, error) {
	t0 := time.Now()
	d.svcEvent(r, events.PhaseCreate, events.ServiceCreatingAttrs{Class: string(r.svc.Class)})
	prio, crit := d.opPrio(r.svc.Name, false)
	if err := d.ops.acquire(ctx, prio, crit); err != nil {
		return "", err
	}
	defer d.ops.release(crit)
	for try := 1; ; try++ {
		// Not cancelled half-way either (see ensureResources): a create
		// takes a fraction of a second and its result is always known.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedOpTimeout)
		id, err := d.eng.Create(cctx, spec)
		cancel()
		if err == nil {
			d.emit(events.Event{Phase: events.PhaseCreate, Service: r.svc.Name, Duration: time.Since(t0),
				Attrs: events.ServiceCreatedAttrs{Class: string(r.svc.Class), Container: spec.Name, ContainerID: short(id)}})
			return id, nil
		}
		if id != "" {
			_ = d.eng.Remove(ctx, id, false)
		}
		if !cerrdefs.IsConflict(err) || try > 2 {
			return "", fmt.Errorf("create container %s: %w", spec.Name, err)
		}
		ins, ierr := d.eng.Inspect(ctx, spec.Name)
		if ierr != nil || ins.Config == nil || ins.Config.Labels[engine.LabelProject] != d.st.Project.Name {
			return "", fmt.Errorf("create container %s: the name is taken by a container that is not part of project %s; dive leaves it alone: remove it yourself (docker rm -f %s) or change container_name", spec.Name, d.st.Project.Name, spec.Name)
		}
		d.emit(events.Event{Phase: events.PhaseCreate, Service: r.svc.Name, Level: events.LevelWarn,
			Attrs: events.EngineRetryAttrs{Op: "container create", Attempt: try + 1, Reason: "name conflict with a leftover container of this project; removing it"}})
		if err := d.eng.Remove(ctx, ins.ID, false); err != nil {
			return "", fmt.Errorf("remove leftover container %s: %w", spec.Name, err)
		}
	}
}

// waitDeps waits until every dependency meets its condition. It returns
// false when the service was skipped or the deploy stopped.
func (d *deployer) waitDeps(ctx context.Context, r *svcRun) bool {
	deps := d.g.Deps(r.svc.Name)
	if len(deps) == 0 {
		return true
	}
	var on []string
	for _, e := range deps {
		on = append(on, e.To+" ("+string(e.Condition)+")")
	}
	d.svcEvent(r, events.PhaseWait, events.ServiceWaitingAttrs{Class: string(r.svc.Class), On: on})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for _, e := range deps {
		dep := d.svcs[e.To]
		sig := dep.ready
		if e.Condition == graph.Started {
			sig = dep.started
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := sig.wait(ctx); err != nil && ctx.Err() == nil {
				if e.Required {
					mu.Lock()
					failed = append(failed, e.To)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return false
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		d.skip(r, d.depFailure(failed), failed)
		return false
	}
	return true
}

// stoppedError fails the signals of a service the deploy stopped (pending
// or cancelled): its dependents are stopped too, not skipped.
type stoppedError struct{ reason string }

func (e *stoppedError) Error() string { return e.reason }

// failedDeps lists the required dependencies of name whose condition can
// no longer be met: they failed or were skipped, or they will be skipped
// because one of their own required dependencies did (their goroutine may
// not have recorded it yet when the deploy stops).
func (d *deployer) failedDeps(name string) []string {
	var out []string
	for _, e := range d.g.Deps(name) {
		if !e.Required {
			continue
		}
		dep := d.svcs[e.To]
		sig := dep.ready
		if e.Condition == graph.Started {
			sig = dep.started
		}
		if sig.isFinal() {
			var stopped *stoppedError
			if sig.err != nil && !errors.As(sig.err, &stopped) { // err is set before final closes
				out = append(out, e.To)
			}
		} else if len(d.failedDeps(e.To)) > 0 {
			out = append(out, e.To)
		}
	}
	sort.Strings(out)
	return out
}

func (d *deployer) skip(r *svcRun, why string, because []string) {
	r.res.State, r.res.Reason = StateSkipped, why
	d.svcEvent(r, events.PhaseWait, events.ServiceSkippedAttrs{Class: string(r.svc.Class), Reason: why, Because: because})
	r.ready.fail(errors.New(why))
	r.started.fail(errors.New(why))
	if r.svc.Class == stack.Core {
		d.failCore(fmt.Errorf("core service %s was skipped: %s", r.svc.Name, why))
	}
}

// fail records a failure with its evidence. A core failure stops the deploy.
func (d *deployer) fail(ctx context.Context, r *svcRun, diag *Diagnosis, id string) {
	if ctx.Err() != nil && id == "" && r.res.ContainerID == "" {
		return // the deploy is stopping; not this service's fault
	}
	diag.Service, diag.Class = r.svc.Name, string(r.svc.Class)
	if id != "" {
		d.collectEvidence(diag, id)
		r.mu.Lock()
		peak := r.peakMem
		r.mu.Unlock()
		inferOOM(diag, peak)
	}
	if diag.Hint == "" {
		diag.Hint = hintFor(r.svc, diag)
	}
	r.res.State, r.res.Reason, r.res.Diagnosis = StateFailed, diag.Reason, diag
	attrs := events.ServiceFailedAttrs{Class: string(r.svc.Class), Reason: diag.Reason, ExitCode: diag.ExitCode, OOM: diag.OOMKilled,
		State: diag.State, HealthOutput: diag.HealthOutputs, Logs: diag.Logs, Hint: diag.Hint}
	if !r.res.StartedAt.IsZero() {
		d.emit(events.Event{Phase: events.PhaseReady, Service: r.svc.Name, Level: levelFor(r.svc), Duration: d.o.Now().Sub(r.res.StartedAt), Attrs: attrs})
	} else {
		d.svcEvent(r, events.PhaseReady, attrs)
	}
	r.ready.fail(errors.New(diag.Reason))
	r.started.fail(errors.New(diag.Reason))
	if r.svc.Class == stack.Core {
		d.failCore(fmt.Errorf("core service %s failed: %s", r.svc.Name, diag.Reason))
	}
}

func levelFor(s *stack.Service) events.Level {
	if s.Class == stack.Core {
		return events.LevelError
	}
	return events.LevelWarn
}

// collectEvidence fills the diagnosis from the container: state, exit code,
// OOM flag, health-check outputs and the last log lines. It has its own
// short deadline: it runs while the deploy is being stopped.
func (d *deployer) collectEvidence(diag *Diagnosis, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if ins, err := d.eng.Inspect(ctx, id); err == nil && ins.State != nil {
		st := ins.State
		diag.State = string(st.Status)
		if !st.Running && st.Status != "created" && diag.ExitCode == nil {
			code := st.ExitCode
			diag.ExitCode = &code
		}
		diag.OOMKilled = diag.OOMKilled || st.OOMKilled
		diag.RestartCount = ins.RestartCount
		if ins.HostConfig != nil {
			diag.memLimit = ins.HostConfig.Memory
		}
		if st.Health != nil {
			for _, l := range st.Health.Log {
				if l == nil {
					continue
				}
				out := strings.TrimSpace(l.Output)
				if len(out) > 300 {
					out = out[:300] + "…"
				}
				diag.HealthOutputs = append(diag.HealthOutputs, fmt.Sprintf("exit %d: %s", l.ExitCode, out))
			}
		}
	}
	if lines, err := d.eng.Logs(ctx, id, 20); err == nil {
		diag.Logs = lines
	}
}

func hintFor(s *stack.Service, diag *Diagnosis) string {
	switch {
	case diag.OOMKilled:
		return "the container ran out of memory: raise its memory limit (deploy.resources.limits.memory) or reduce its use"
	case strings.Contains(diag.Reason, "not found in the image") || strings.Contains(diag.Reason, "cannot be executed"):
		return "the healthcheck's command is not in the image: fix healthcheck.test (scratch and distroless images have no shell: use the exec form with a binary the image has)"
	case strings.Contains(diag.Reason, "port is already allocated") || strings.Contains(diag.Reason, "address already in use"):
		return "a published host port is taken by another process: free it (ss -ltnp) or change the ports: mapping"
	case strings.Contains(diag.Reason, "within its budget"):
		return fmt.Sprintf("it never became ready: read the health output and logs above; if it is just slow, raise the label %s (now %s)", stack.LabelTimeout, s.Budget)
	case strings.Contains(diag.Reason, "unhealthy"):
		return "its healthcheck failed repeatedly: read the health output and logs above"
	case diag.ExitCode != nil:
		return fmt.Sprintf("it exited with code %d: read its logs (dive hub logs %s), fix the cause, and deploy again", *diag.ExitCode, s.Name)
	}
	return fmt.Sprintf("see 'dive hub logs %s' and 'docker inspect'", s.Name)
}

// fileExists is used by the TCP readiness check.
func fileExists(p string) bool {
	_, err := os.Stat(filepath.Clean(p))
	return err == nil
}

// inferOOM covers the engine not flagging an OOM kill (it misses some under
// load, moby/moby#15621): exit 137 with the memory sampled at 90 % or more of
// the container's limit is an OOM kill in all but name.
func inferOOM(diag *Diagnosis, peakMem float64) {
	if diag.OOMKilled || diag.ExitCode == nil || *diag.ExitCode != 137 || diag.memLimit <= 0 {
		return
	}
	if peakMem >= 0.9*float64(diag.memLimit) {
		diag.OOMKilled = true
		diag.Reason += fmt.Sprintf(" — almost certainly out of memory: its memory peaked at %.0f MiB of its %.0f MiB limit (the engine did not flag the OOM kill)", peakMem/(1<<20), float64(diag.memLimit)/(1<<20))
	}
}

// depFailure says which dependencies failed and why. Their results are
// final before their signals fail, so reading them here is safe.
func (d *deployer) depFailure(failed []string) string {
	parts := make([]string, 0, len(failed))
	for _, n := range failed {
		why := d.svcs[n].res.Reason
		if why == "" {
			why = string(d.svcs[n].res.State)
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", n, why))
	}
	return "dependency did not meet its condition: " + strings.Join(parts, "; ")
}
