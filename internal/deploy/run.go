package deploy

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/container"
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
	// ProbeConcurrency bounds dive's own exec probes in flight (default
	// max(1, CPUs/2)); the probes' rate is bounded by the cost model too.
	ProbeConcurrency int
	// CPUs the engine's machine has (callers pass the engine's info;
	// default runtime.NumCPU()): the probing budget is a share of them, and
	// the default OpConcurrency follows them.
	CPUs int
	// Sharing is how many deploys run on this engine at once (a fleet's
	// stacks on one engine; 0 or 1: this one alone): dive's own probes
	// keep to their share of the CPUs together, not each.
	Sharing int
	// Now is the clock (tests). Every time the scheduler reads comes from it.
	Now func() time.Time
	// Expected is each service's expected start-to-ready time (history's
	// p50): it ranks container operations and shapes probing.
	Expected map[string]time.Duration
	// OpConcurrency bounds container creates/starts/removes in flight
	// (0: DefaultOpConcurrency(CPUs); negative: unbounded). Within it, operations go by rank.
	OpConcurrency int
	// ReadyBefore: the containers an earlier deploy of the project saw
	// ready, by service. An unchanged one still in the same run is reused
	// without a probe, even before the engine's own check has run.
	ReadyBefore map[string]ReadyRecord
	// RemoveOrphans stops and removes the project's orphan containers
	// (of services the file no longer declares) before any container is
	// created; without it a deploy warns about them, as docker compose does.
	RemoveOrphans bool
	// Announced says the caller emitted deploy_started (with Announce) and
	// will emit deploy_finished (with Finish).
	Announced bool
	// Images pins services to image IDs (dive hub rollback: an earlier
	// deploy's images): they must be on the engine; never built or pulled.
	Images map[string]string
	// NoRollback replaces changed containers as docker compose does (stop
	// and remove the old one first) and never rolls back.
	NoRollback bool
	// RenewAnonVolumes: a recreated container gets new anonymous volumes
	// instead of mounting its previous container's (docker compose's
	// --renew-anon-volumes).
	RenewAnonVolumes bool
	// ExternalDeps are, per service, dependencies outside the stack (a
	// fleet's cross-stack edges): see external.go.
	ExternalDeps map[string][]ExternalDep
}

// ReadyRecord is a container an earlier deploy saw ready, and when.
type ReadyRecord struct {
	ContainerID string // short (12 characters) or full
	At          time.Time
}

// DefaultOpConcurrency is the default bound on container operations in
// flight on an engine with cpus CPUs: 4 per CPU, at least 8. The engine does
// much of a start under its own locks (the network's, the runtime's), so
// more starts at once do not start more containers a second: 200 at once
// on 2 CPUs took 181 s with 8 in flight, 214 s with 64.
func DefaultOpConcurrency(cpus int) int { return max(8, 4*cpus) }

// Run deploys the stack. The returned Result is complete even on failure;
// Result.Err says why a deploy failed.
func Run(ctx context.Context, eng Engine, o Options) *Result {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CPUs <= 0 {
		o.CPUs = runtime.NumCPU()
	}
	if o.ProbeConcurrency <= 0 {
		// Half the CPUs, at least 1; the probes' rate is also bounded by
		// their measured cost (cost.go).
		o.ProbeConcurrency = max(1, o.CPUs/2)
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.OpConcurrency == 0 {
		o.OpConcurrency = DefaultOpConcurrency(o.CPUs)
	}
	cost := newEngineCost(o.CPUs)
	cost.sharing = max(1, o.Sharing)
	d := &deployer{eng: eng, o: o, st: o.Stack, g: o.Graph, bus: o.Bus, start: o.Now(), cost: cost,
		gate: newGate(o.OpConcurrency, o.ProbeConcurrency, cost.probeSpacing, o.Now),
		rank: ranks(o.Graph, o.Expected), offPath: map[string]bool{},
		svcs: map[string]*svcRun{}, images: map[string]*future[engine.Image]{}, routes: map[string]chan engine.Event{}}
	return d.run(ctx)
}

type deployer struct {
	eng   Engine
	o     Options
	st    *stack.Stack
	g     *graph.Graph
	bus   *events.Bus
	start time.Time

	svcs map[string]*svcRun
	// gate is the one budget container operations and probes share.
	gate *gate
	cost *engineCost
	rank map[string]float64 // longest chain behind each service

	imagesMu sync.Mutex
	images   map[string]*future[engine.Image] // image ref -> the image
	imagesWG sync.WaitGroup                   // image preparations in flight

	resources *future[struct{}]

	routeMu sync.Mutex
	routes  map[string]chan engine.Event // container ID -> service events

	failCore context.CancelCauseFunc
	statsWG  sync.WaitGroup

	offPathMu sync.Mutex
	offPath   map[string]bool // services past their start (or never to start)

	lostMu    sync.Mutex
	streamErr error // the engine's event stream broke

	replicaOld map[string][]engine.Container // every existing container of each service (replicas.go)

	stalePrev   map[string][]engine.Container // kept containers an earlier deploy left behind, by service
	orphans     []engine.Container            // containers of services the file no longer declares (orphans.go)
	hadPrevious bool                          // the project had containers before this deploy
	rollback    *Rollback                     // the rollback after a core failure
	// interrupted is the caller's context's Done while the kept containers
	// are settled (nil before: it never fires).
	interrupted <-chan struct{}
	failMu      sync.Mutex
	firstFail   time.Time // when the deploy was first stopped by a failure
}

// failedAt is when the deploy was first stopped by a failure (now, when it was not).
func (d *deployer) failedAt() time.Time {
	d.failMu.Lock()
	defer d.failMu.Unlock()
	if d.firstFail.IsZero() {
		return d.now()
	}
	return d.firstFail
}

// now is the scheduler's clock.
func (d *deployer) now() time.Time { return d.o.Now() }

// scope holds the contexts a service's work runs under, named for what they
// bound.
type scope struct {
	// deploy ends when the deploy fails (a core service), times out or is
	// interrupted.
	deploy context.Context
	// untilDeployEnd also ends when every core service is ready (every
	// service with WaitAll): the deploy's end. Non-core waits stop then.
	untilDeployEnd context.Context
	// stats bounds resource sampling.
	stats context.Context
}

// waitFor is the context a service's waits run under: a core service's
// until the deploy stops, the others' until the deploy ends.
func (sc scope) waitFor(s *stack.Service) context.Context {
	if s.Class == stack.Core {
		return sc.deploy
	}
	return sc.untilDeployEnd
}

// svcRun is one service's state machine.
type svcRun struct {
	svc *stack.Service
	// health is the healthcheck its containers run: the file's merged
	// with its image's, as the engine merges them at create; budget the
	// start-up budget derived from it (unless a label sets it). Set by
	// prepare once the image is known, before anything reads them;
	// healthKnown then says (to dependents) whether a healthcheck runs,
	// with an error when the service ended before its image was known.
	health      *types.HealthCheckConfig
	budget      time.Duration
	healthKnown *future[bool]
	started     *signal // the container was started (or is running, reused)
	ready       *signal // healthy / running / completed: the service is ready
	// recreated says whether the service's container was (re)created by
	// this deploy, as opposed to reused or kept: a dependent with
	// restart: true is recreated too.
	recreated *future[bool]
	res       *ServiceResult
	// prev is the previous container, kept until the deploy ends (keep.go);
	// unkept says why a replaced one was not kept; fresh: the service had no
	// container before; newID: the container this deploy created.
	prev   *kept
	unkept string
	fresh  bool
	newID  string
	before string // the service's container before the deploy
	// createWhy: why its container is (re)created (service_creating).
	createWhy string
	// imageVolumes: the VOLUME paths of its image (prepare's inspect).
	imageVolumes map[string]struct{}
	// staleRemoved: keepOld removed the kept containers an earlier deploy left.
	staleRemoved bool
	failedAt     time.Time
	mu           sync.Mutex
	peakCPU      float64
	peakMem      float64
}

// hasHealthcheck reports whether its containers run a healthcheck (the
// effective one: the file's or its image's).
func (r *svcRun) hasHealthcheck() bool { return stack.HealthcheckRuns(r.health) }

// setHealth records the effective healthcheck once the image is known,
// and the budget derived from it when no label sets the budget.
func (r *svcRun) setHealth(image *container.HealthConfig) {
	s := r.svc
	r.health = engine.EffectiveHealthcheck(s.Config.HealthCheck, image)
	if s.BudgetSource != "label" && r.hasHealthcheck() {
		r.budget = stack.HealthcheckBudget(r.health)
	}
	r.healthKnown.set(r.hasHealthcheck(), nil)
}

// settled closes when the service reached a final state (ready or not).
func (r *svcRun) settled() <-chan struct{} { return r.ready.final }

var errCoreReady = errors.New("every core service is ready")

// detachedOpTimeout bounds the engine operations a deploy never abandons
// half-way (creating networks, volumes, containers): they outlive a
// cancellation, but not this.
const detachedOpTimeout = 30 * time.Second

func (d *deployer) run(parent context.Context) *Result {
	res := &Result{Services: map[string]*ServiceResult{}}
	names := d.g.Order()
	if !d.o.Announced {
		Announce(d.bus, d.st, d.g, d.o.Timeout, d.eng.APIVersion())
	}
	deadline, cancel := context.WithTimeoutCause(parent, d.o.Timeout, fmt.Errorf("the deploy's deadline (--timeout %s) passed", d.o.Timeout))
	defer cancel()
	// deployCtx ends when a core service fails: everything stops at once.
	deployCtx, failCore := context.WithCancelCause(deadline)
	defer failCore(nil)
	d.failCore = func(err error) {
		d.failMu.Lock()
		if d.firstFail.IsZero() {
			d.firstFail = d.now()
		}
		d.failMu.Unlock()
		failCore(err)
	}
	for _, n := range names {
		s := d.st.Services[n]
		r := &svcRun{svc: s, health: s.Config.HealthCheck, budget: s.Budget, healthKnown: newFuture[bool](),
			started: newSignal(), ready: newSignal(), recreated: newFuture[bool](),
			res: &ServiceResult{Name: n, Class: string(s.Class), State: StatePending}}
		d.svcs[n] = r
		res.Services[n] = r.res
	}
	stopWatch := d.watchEngine(deployCtx)
	defer stopWatch()
	byService, err := d.observeProject(deployCtx)
	if err != nil {
		return d.finish(res, Failed, err)
	}
	if err := d.handleOrphans(deployCtx); err != nil {
		if parent.Err() != nil {
			return d.finish(res, Interrupted, errors.New("interrupted"))
		}
		return d.finish(res, Failed, err)
	}
	d.resources = newFuture[struct{}]()
	go d.ensureResources(deployCtx)

	statsCtx, stopStats := context.WithCancel(deployCtx)
	defer stopStats()
	untilEnd, endDeploy := context.WithCancelCause(deployCtx)
	defer endDeploy(nil)
	sc := scope{deploy: deployCtx, untilDeployEnd: untilEnd, stats: statsCtx}

	// Services skipped up front (the breaker) are skipped before any
	// service runs, so that their dependents always see it.
	for _, n := range names {
		if why, ok := d.o.Skip[n]; ok {
			d.svcs[n].recreated.set(false, nil)
			d.skip(d.svcs[n], why, nil)
		}
	}
	var wg sync.WaitGroup
	for _, n := range names {
		old, hasOld := byService[n]
		wg.Go(func() { d.runService(sc, d.svcs[n], old, hasOld) })
	}
	d.waitSettled(deployCtx, names)
	if deployCtx.Err() == nil {
		// The core is ready: non-core services still starting are left to
		// finish on their own and reported as pending.
		endDeploy(errCoreReady)
	}
	d.drain(&wg, stopStats)
	d.settleKept(parent, names)
	return d.conclude(parent, deployCtx, res, names)
}

// watchEngine subscribes to the project's container events and routes them
// to the services. It comes before the first look (the list), so no event
// between the two is missed.
func (d *deployer) watchEngine(deployCtx context.Context) (stop func()) {
	watchCtx, stop := context.WithCancel(context.WithoutCancel(deployCtx))
	evs, evErrs := d.eng.Watch(watchCtx, d.st.Project.Name)
	go d.route(evs)
	go func() {
		if err := <-evErrs; err != nil {
			d.lostMu.Lock()
			d.streamErr = err
			d.lostMu.Unlock()
			d.failCore(fmt.Errorf("%w: the engine was lost during the deploy", err))
		}
	}()
	return stop
}

// observeProject lists the project's containers, by service (one-off
// containers aside), and its orphans (services the file no longer declares).
func (d *deployer) observeProject(ctx context.Context) (map[string]engine.Container, error) {
	existing, err := d.eng.ListContainers(ctx, d.st.Project.Name)
	if err != nil {
		return nil, fmt.Errorf("list containers of project %s: %w", d.st.Project.Name, err)
	}
	d.orphans = engine.Orphans(existing, d.st.Declares)
	sort.Slice(d.orphans, func(i, j int) bool { return d.orphans[i].Name < d.orphans[j].Name })
	byService := map[string]engine.Container{}
	d.replicaOld = map[string][]engine.Container{}
	d.stalePrev = map[string][]engine.Container{}
	for _, c := range existing {
		if c.Labels[engine.LabelOneOff] == "True" {
			continue
		}
		if engine.IsPrev(c) {
			// A removed service's kept container is an orphan: left, unless
			// RemoveOrphans (docker compose's rule), not a leftover to drop.
			if d.st.Declares(c.Service) {
				d.stalePrev[c.Service] = append(d.stalePrev[c.Service], c)
			}
			continue
		}
		d.hadPrevious = true
		// replica 1 is the scheduler's; the others are replicas.go's
		d.replicaOld[c.Service] = append(d.replicaOld[c.Service], c)
		if prev, ok := byService[c.Service]; !ok || containerNumber(c) < containerNumber(prev) {
			byService[c.Service] = c
		}
	}
	return byService, nil
}

// waitSettled returns when every core service is settled (every service
// with WaitAll), or when the deploy stops.
func (d *deployer) waitSettled(deployCtx context.Context, names []string) {
	for _, n := range names {
		r := d.svcs[n]
		if r.svc.Class != stack.Core && !d.o.WaitAll {
			continue
		}
		select {
		case <-r.settled():
		case <-deployCtx.Done():
			return
		}
	}
}

// drain waits for the service goroutines (they end promptly once their
// contexts end), the networks and volumes (never abandoned half-way) and
// the stats samplers.
func (d *deployer) drain(wg *sync.WaitGroup, stopStats func()) {
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	guard := time.NewTimer(detachedOpTimeout + 15*time.Second)
	defer guard.Stop()
	select {
	case <-allDone:
	case <-guard.C: // every engine call has its own deadline; this only guards a bug
	}
	waitCtx, cancelWait := context.WithTimeout(context.Background(), detachedOpTimeout)
	_, _ = d.resources.wait(waitCtx)
	cancelWait()
	stopStats()
	statsDone := make(chan struct{})
	// Image preparations and stats samplers end with the deploy's context;
	// wait for them (briefly) so that no event follows deploy_finished.
	go func() { d.imagesWG.Wait(); d.statsWG.Wait(); close(statsDone) }()
	statsGuard := time.NewTimer(3 * time.Second)
	defer statsGuard.Stop()
	select {
	case <-statsDone:
	case <-statsGuard.C:
	}
}

// conclude computes the outcome from the services' states.
func (d *deployer) conclude(parent, deployCtx context.Context, res *Result, names []string) *Result {
	outcome, firstErr := Success, error(nil)
	for _, n := range names {
		r, core := d.svcs[n].res, d.svcs[n].svc.Class == stack.Core
		switch r.State {
		case StateFailed, StateSkipped, StateCancelled, StatePending:
		default:
			continue
		}
		if !core {
			if outcome == Success {
				outcome = Degraded
			}
			continue
		}
		outcome = Failed
		if firstErr == nil && r.State == StateFailed {
			firstErr = fmt.Errorf("core service %s failed: %s", n, r.Reason)
		}
		if firstErr == nil && r.State == StatePending {
			firstErr = fmt.Errorf("core service %s did not become ready: %s", n, r.Reason)
		}
	}
	if parent.Err() != nil {
		return d.finish(res, Interrupted, errors.New("interrupted"))
	}
	if outcome != Failed {
		return d.finish(res, outcome, firstErr)
	}
	if lost := d.engineLost(); lost != nil {
		return d.finish(res, outcome, lost)
	}
	if firstErr == nil {
		cause := context.Cause(deployCtx)
		if cause == nil || errors.Is(cause, errCoreReady) {
			cause = errors.New("a core service did not become ready")
		}
		if slow := d.cost.slowness(); slow != "" {
			cause = fmt.Errorf("%w; %s", cause, slow)
		}
		firstErr = cause
	}
	return d.finish(res, outcome, firstErr)
}

// aliveChecker is an engine that can tell whether it still accepts new
// connections (*engine.Engine does: a dockerd shutting down closes its
// listener before it stops the containers).
type aliveChecker interface {
	Alive(ctx context.Context) error
}

// engineLost says whether the engine went away during the deploy (its event
// stream broke, it accepts no new connection, or it does not answer now): then the services' failures
// around that moment are its consequence, and the deploy says so.
func (d *deployer) engineLost() error {
	d.lostMu.Lock()
	err := d.streamErr
	d.lostMu.Unlock()
	if a, ok := d.eng.(aliveChecker); ok && err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = a.Alive(ctx)
		cancel()
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, lerr := d.eng.ListContainers(ctx, d.st.Project.Name)
		var unreachable *engine.UnreachableError
		if errors.As(lerr, &unreachable) || errors.Is(lerr, engine.ErrBreakerOpen) || errors.Is(lerr, syscall.ECONNREFUSED) || errors.Is(lerr, syscall.ENOENT) {
			err = lerr
		}
	}
	if err == nil {
		return nil
	}
	return fmt.Errorf("the engine was lost during the deploy (%w); the services' failures around that moment are its consequence: check the engine (docker info) and deploy again", err)
}

func (d *deployer) finish(res *Result, o Outcome, err error) *Result {
	res.Outcome = o
	res.Err = err
	if o == Failed || o == Interrupted && d.rollback != nil {
		// An interrupt during the rollback: what each service runs now.
		res.Err = d.rollbackErr(err)
		res.Rollback = d.rollback
	}
	res.Duration = d.now().Sub(d.start)
	if !d.o.Announced {
		Finish(d.bus, res)
	}
	return res
}

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

// opPrio is the priority of a container operation for a service, and
// whether it is critical: the service is among the highest-ranked of those
// not started yet (its create counts only when it has no dependencies to
// wait for: a dependent's create has seconds of slack).
func (d *deployer) opPrio(name string, start bool) (float64, bool) {
	if !start && len(d.g.Deps(name)) > 0 {
		return -1e6, false
	}
	d.offPathMu.Lock()
	top := 0.0
	for n, r := range d.rank {
		if !d.offPath[n] && r > top {
			top = r
		}
	}
	d.offPathMu.Unlock()
	return d.rank[name], d.rank[name] >= top-rankEpsilon
}

// offCriticalPath records that a service no longer competes for the
// critical path's start: started, reused, failed or skipped.
func (d *deployer) offCriticalPath(name string) {
	d.offPathMu.Lock()
	d.offPath[name] = true
	d.offPathMu.Unlock()
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
