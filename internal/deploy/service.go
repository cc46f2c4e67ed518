package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
)

// runService drives one service from image to ready, then guards it until
// the deploy ends.
func (d *deployer) runService(sc scope, r *svcRun, old engine.Container, hasOld bool) {
	s := r.svc
	defer d.offCriticalPath(s.Name) // whatever happened, it no longer competes
	defer d.settleUnfinished(sc, r)
	if _, ok := d.o.Skip[s.Name]; ok {
		return // skipped by run before any service started
	}
	if hasOld {
		r.before = old.ID
	}
	spec, ok := d.prepare(sc.deploy, r)
	if !ok {
		return
	}
	obs := observed{exists: hasOld, c: old}
	if hasOld && s.OneShot && old.State == "exited" {
		if ins, err := d.eng.Inspect(sc.deploy, old.ID); err == nil && ins.State != nil && ins.State.ExitCode == 0 {
			obs.exitedOK = true
		}
	}
	obs.readyBefore = d.readyBefore(sc.deploy, s.Name, old)
	want := desired{hash: spec.Hash, forceRecreate: d.o.ForceRecreate, depRecreated: d.depRecreated(sc.deploy, s),
		hasHealthcheck: r.hasHealthcheck(), oneShot: s.OneShot}
	act := decide(obs, want)
	r.createWhy = createReason(obs, want, act)
	switch act {
	case actReuse, actReuseReady, actReuseCompleted:
		if act != actReuseCompleted && !d.ensureReplicas(sc.deploy, r) {
			return
		}
		d.reuse(sc, r, old, act)
		return
	}
	id, ok := d.applyDecision(sc.deploy, r, act, old, spec)
	if !ok {
		return
	}
	running := act == actKeep && old.State == "running"
	d.startUntilReady(sc, r, spec, id, running)
}

// settleUnfinished gives a service that ends without a final state one: it
// is skipped (a required dependency failed), pending (the core was ready
// first) or cancelled (the deploy stopped).
func (d *deployer) settleUnfinished(sc scope, r *svcRun) {
	r.recreated.set(false, nil) // no-op when already set
	r.healthKnown.set(false, errNoImage)
	if r.ready.isFinal() {
		return
	}
	// A required dependency failed or was skipped: this service is
	// skipped, even when that failure also stopped the deploy (a core
	// failure cancels the deploy at once, racing with waitDeps).
	if failed := d.failedDeps(r.svc.Name); len(failed) > 0 {
		d.skip(r, d.depFailure(failed), failed)
		return
	}
	state, reason := StatePending, "still starting when the core was ready; not waited on"
	if r.res.StartedAt.IsZero() {
		reason = "not started: still waiting on its dependencies when the core was ready"
	}
	if cause := context.Cause(sc.deploy); cause != nil {
		state, reason = StateCancelled, "the deploy stopped first: "+cause.Error()
	} else if d.exitedUnseen(r) {
		return // its container had already exited: failed, with the evidence
	}
	r.res.State, r.res.Reason = state, reason
	r.ready.fail(&stoppedError{reason})
	r.started.fail(&stoppedError{reason})
}

// exitedUnseen looks once more at a service left pending when the core was
// ready: a container that has already exited (its death not yet reported by
// a busy engine's event stream) is a failure with its exit code, not a
// service "still starting". One inspect, briefly bounded.
func (d *deployer) exitedUnseen(r *svcRun) bool {
	id := r.res.ContainerID
	if id == "" || r.res.StartedAt.IsZero() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ins, err := d.eng.Inspect(ctx, id)
	if err != nil || ins.State == nil || ins.State.Running || ins.State.Restarting || (ins.State.Status != "exited" && ins.State.Status != "dead") {
		return false
	}
	code := ins.State.ExitCode
	if r.svc.OneShot && code == 0 {
		return false
	}
	d.fail(ctx, r, &Diagnosis{Reason: exitReason(code, ins.State.OOMKilled), ExitCode: &code, OOMKilled: ins.State.OOMKilled}, id)
	return true
}

// readyBefore says whether an earlier deploy saw this very container ready
// and it has not restarted since (one inspect: the same run started before
// that readiness).
func (d *deployer) readyBefore(ctx context.Context, name string, old engine.Container) bool {
	rec, ok := d.o.ReadyBefore[name]
	if !ok || rec.ContainerID == "" || old.State != "running" || old.Health != "starting" || !strings.HasPrefix(old.ID, rec.ContainerID) {
		return false
	}
	ins, err := d.eng.Inspect(ctx, old.ID)
	if err != nil || ins.State == nil || !ins.State.Running || ins.State.Restarting {
		return false
	}
	started, err := time.Parse(time.RFC3339Nano, ins.State.StartedAt)
	return err == nil && started.Before(rec.At)
}

// prepare waits for the image, networks and volumes (all prepared up front,
// in parallel) and computes the container spec.
func (d *deployer) prepare(ctx context.Context, r *svcRun) (*engine.ContainerSpec, bool) {
	s := r.svc
	img, err := d.imageInfo(ctx, s)
	imageID := img.ID
	if err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: err.Error(), Hint: "check the image name, or build it; dive image names for build: services are <project>-<service>"}, "")
		return nil, false
	}
	if _, err := d.resources.wait(ctx); err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: "networks/volumes: " + err.Error(), Hint: "check 'docker network ls' and 'docker volume ls'"}, "")
		return nil, false
	}
	spec, err := d.spec(r, imageID, 1, nil)
	if err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: "container configuration: " + err.Error(), Hint: "fix the service's settings in the compose file"}, "")
		return nil, false
	}
	for _, w := range spec.Warnings {
		d.emitWarning(events.PhaseCreate, s.Name, w)
	}
	r.res.Container, r.res.ImageID = spec.Name, imageID
	r.setHealth(img.Healthcheck)
	r.imageVolumes = img.Volumes
	return spec, true
}

// depRecreated: a dependency with restart: true was recreated, so this
// service is recreated too.
func (d *deployer) depRecreated(ctx context.Context, s *stack.Service) bool {
	for _, e := range d.g.Deps(s.Name) {
		if e.Restart {
			if rec, _ := d.svcs[e.To].recreated.wait(ctx); rec {
				return true
			}
		}
	}
	return false
}

// reuse leaves an unchanged, ready container alone (no probe), and guards
// it until the deploy ends.
func (d *deployer) reuse(sc scope, r *svcRun, old engine.Container, act action) {
	r.recreated.set(false, nil)
	r.res.ContainerID, r.res.State, r.res.Signal = old.ID, StateReused, events.SignalReused
	note := ""
	switch act {
	case actReuseCompleted:
		r.res.Signal, note = events.SignalCompletedBefore, "one-shot job already completed with exit 0"
	case actReuseReady:
		r.res.Signal, note = events.SignalReadyBefore, "seen ready by an earlier deploy in its current run; the engine has not run its own check yet"
	}
	d.offCriticalPath(r.svc.Name)
	var evCh chan engine.Event
	if act != actReuseCompleted {
		evCh = d.subscribe(old.ID)
		defer d.unsubscribe(old.ID)
	}
	d.emitReused(r, old.Name, old.ID, note)
	r.started.ok()
	r.ready.ok()
	if evCh != nil {
		d.guard(sc, r, old.ID, evCh)
	}
}

// applyDecision keeps, recreates or creates the container; it returns its ID.
func (d *deployer) applyDecision(ctx context.Context, r *svcRun, act action, old engine.Container, spec *engine.ContainerSpec) (string, bool) {
	if act == actKeep {
		r.recreated.set(false, nil)
		return old.ID, true
	}
	r.fresh = act == actCreate
	stale, adopt := d.adoptable(r, act)
	// The container replaced, whose anonymous volumes the new one mounts:
	// the current one, else a kept one an interrupted deploy left.
	if from, ok := old, act == actRecreate; ok || adopt {
		if !ok {
			from = stale
		}
		var err error
		if spec, err = d.inherit(r, spec, from); err != nil {
			d.fail(ctx, r, &Diagnosis{Reason: "container configuration: " + err.Error()}, "")
			return "", false
		}
	}
	switch {
	case adopt:
		// An earlier deploy was interrupted while it replaced this
		// service: its kept container is the last one a deploy finished
		// with, the current one (if any) never proved itself. That kept
		// one is what a rollback restores; the current one goes.
		if act == actRecreate {
			if err := d.replaceOld(ctx, r, old); err != nil {
				d.fail(ctx, r, &Diagnosis{Reason: fmt.Sprintf("replace the container %s that an interrupted deploy left (stop, then remove): %v", old.Name, err)}, "")
				return "", false
			}
		}
		d.adoptStale(r, stale, spec.Inherited)
		r.fresh = false
	case act == actRecreate && d.keepable(r, old):
		if err := d.keepOld(ctx, r, old, spec.Inherited); err != nil {
			d.fail(ctx, r, &Diagnosis{Reason: "keep the old container: " + err.Error()}, "")
			return "", false
		}
		r.res.Kept = r.prev.mode
	case act == actRecreate:
		if !d.o.NoRollback && !r.svc.OneShot {
			r.unkept = notKeptWhy(r.svc, old)
		}
		if err := d.replaceOld(ctx, r, old); err != nil {
			d.fail(ctx, r, &Diagnosis{Reason: fmt.Sprintf("replace the old container %s (stop, then remove): %v", old.Name, err)}, "")
			return "", false
		}
	}
	r.recreated.set(true, nil)
	id, err := d.create(ctx, r, spec)
	if err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: err.Error(), Hint: createHint(err)}, "")
		return "", false
	}
	return id, true
}

// inherit is spec again, mounting the anonymous volumes of the container
// it replaces as docker compose does (engine.Inherit): an image VOLUME or a
// `volumes: [/path]` entry gets the previous container's volume at that
// destination, data and all. Not with --renew-anon-volumes, nor when from
// has no mounts. The image's VOLUME paths come from prepare's inspect.
func (d *deployer) inherit(r *svcRun, spec *engine.ContainerSpec, from engine.Container) (*engine.ContainerSpec, error) {
	if d.o.RenewAnonVolumes || len(from.Mounts) == 0 {
		return spec, nil
	}
	return d.spec(r, spec.Config.Labels[engine.LabelImage], spec.Number, &engine.Inherit{Mounts: from.Mounts, ImageVolumes: r.imageVolumes})
}

// spec converts the service into replica n's container spec; in: the
// container it replaces, or nil.
func (d *deployer) spec(r *svcRun, imageID string, n int, in *engine.Inherit) (*engine.ContainerSpec, error) {
	s := r.svc
	spec, err := engine.Spec(s.Config, engine.BuildOptions{Project: d.st.Project, ImageID: imageID, Class: string(s.Class),
		DiveVersion: d.o.DiveVersion, APIVersion: d.eng.APIVersion(), EnvFiles: d.st.GivenEnvFiles, Number: n, Inherit: in})
	if err != nil {
		return nil, err
	}
	if _, pinned := d.o.Images[s.Name]; pinned {
		spec.Config.Image = imageID // the earlier deploy's image, whatever its tag names now
	}
	return spec, nil
}

// startUntilReady waits for the dependencies, then starts the container and
// waits for its readiness, recreating it on a failed start while retries
// last; a ready container is guarded until the deploy ends.
func (d *deployer) startUntilReady(sc scope, r *svcRun, spec *engine.ContainerSpec, id string, running bool) {
	s := r.svc
	r.res.ContainerID = id
	evCh := d.subscribe(id)
	defer func() { d.unsubscribe(id) }() // id changes when a failed start is retried
	// An unchanged container that is already running does not wait for its
	// dependencies: it started long ago; only its readiness is confirmed.
	if !running && !d.waitDeps(sc.waitFor(s), r) {
		return
	}
	if !d.ensureReplicas(sc.deploy, r) || !d.stopPrevBeforeStart(sc.deploy, r) {
		return
	}
	for attempt := 1; ; attempt++ {
		r.res.Attempts = attempt
		v := d.startAndWait(sc, r, id, running, evCh, attempt)
		if v.ok {
			d.stopPrevAfterReady(sc.deploy, r)
			if !s.OneShot {
				d.guard(sc, r, id, evCh)
			}
			return
		}
		if !v.retry || attempt > s.Retries || sc.deploy.Err() != nil {
			return
		}
		var ok bool
		if id, ok = d.retryStart(sc.deploy, r, spec, id, attempt); !ok {
			return
		}
		r.res.ContainerID = id
		evCh = d.subscribe(id)
		running = false
	}
}

// retryStart removes the container whose start failed and creates it again
// after a short backoff.
func (d *deployer) retryStart(ctx context.Context, r *svcRun, spec *engine.ContainerSpec, id string, attempt int) (string, bool) {
	backoffWait := time.Duration(200*attempt) * time.Millisecond
	d.emitRetry(r, attempt+1, r.res.Reason, backoffWait)
	t := time.NewTimer(backoffWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return "", false
	case <-t.C:
	}
	d.unsubscribe(id)
	_ = d.eng.Remove(ctx, id, false)
	r.res.State, r.res.Reason, r.res.Diagnosis = StatePending, "", nil
	r.createWhy = fmt.Sprintf("attempt %d: its container failed to start", attempt+1)
	newID, err := d.create(ctx, r, spec)
	if err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: err.Error(), Hint: createHint(err)}, "")
		return "", false
	}
	return newID, true
}

// startAndWait starts the container (unless it is already running) and
// watches it until it is ready, fails, or its budget runs out.
func (d *deployer) startAndWait(sc scope, r *svcRun, id string, running bool, evCh chan engine.Event, attempt int) verdict {
	if running {
		r.res.StartedAt = d.now()
	} else if v := d.startContainer(sc.deploy, r, id, attempt); v.done {
		return v
	}
	r.started.ok()
	if !running {
		d.statsWG.Add(1)
		go func() {
			defer d.statsWG.Done()
			d.sampleStats(sc.stats, r, id)
		}()
	}
	// The subscription is live (it came first); now look once.
	ins, err := d.eng.Inspect(sc.deploy, id)
	if err != nil {
		if sc.deploy.Err() != nil {
			return stoppedHere
		}
		d.fail(sc.deploy, r, &Diagnosis{Reason: "inspect after start: " + err.Error()}, id)
		return hasFailed
	}
	return d.newWatcher(sc, r, id, running, attempt).watch(evCh, ins)
}

// startContainer starts it through the gate (by rank). A verdict that is
// done means it did not start: failed, stopped, or worth a retry.
func (d *deployer) startContainer(ctx context.Context, r *svcRun, id string, attempt int) verdict {
	s := r.svc
	prio, crit := d.opPrio(s.Name, true)
	queued := d.now()
	if err := d.gate.acquireOp(ctx, prio, crit); err != nil {
		return stoppedHere
	}
	d.emitStarting(r, attempt, d.now().Sub(queued))
	t0 := d.now()
	err := d.eng.Start(ctx, id)
	d.gate.releaseOp(crit)
	d.offCriticalPath(s.Name)
	if err != nil {
		if ctx.Err() != nil {
			return stoppedHere
		}
		reason := "start failed: " + err.Error()
		if !engine.Definite(err) && attempt <= s.Retries {
			// Not final yet: the caller recreates the container and tries
			// again. Failing now would end the service (and, for a core
			// service, cancel the deploy before the retry).
			r.res.Reason = reason
			return verdict{done: true, retry: true}
		}
		d.fail(ctx, r, &Diagnosis{Reason: reason}, id)
		return hasFailed
	}
	d.cost.record(costStart, d.now().Sub(t0))
	r.res.StartedAt = t0
	d.emitStarted(r, attempt, id)
	return undecided
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
	if err := d.gate.acquireOp(ctx, prio, crit); err != nil {
		return err
	}
	defer d.gate.releaseOp(crit)
	if old.State == "running" || old.State == "restarting" {
		d.preStop(ctx, r, old)
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
	t0 := d.now()
	d.emitCreating(r)
	prio, crit := d.opPrio(r.svc.Name, false)
	if err := d.gate.acquireOp(ctx, prio, crit); err != nil {
		return "", err
	}
	defer d.gate.releaseOp(crit)
	for try := 1; ; try++ {
		// Not cancelled half-way either (see ensureResources): a create
		// takes a fraction of a second and its result is always known.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedOpTimeout)
		c0 := d.now()
		id, err := d.eng.Create(cctx, spec)
		cancel()
		if err == nil {
			d.cost.record(costCreate, d.now().Sub(c0))
			d.emitCreated(r, spec.Name, id, d.now().Sub(t0))
			r.newID = id
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
		d.emitEngineRetry(r, "container create", try+1, "name conflict with a leftover container of this project; removing it")
		if err := d.eng.Remove(ctx, ins.ID, false); err != nil {
			return "", fmt.Errorf("remove leftover container %s: %w", spec.Name, err)
		}
	}
}

// errNoImage: the service ended before its image, so its healthcheck, was known.
var errNoImage = errors.New("its image was not prepared")

// checkHealthyDeps fails r when a dependency it waits to be healthy runs
// no healthcheck: neither the file nor the image gives it one (as compose,
// which refuses to start r then). It is known once that dependency's image
// is: a dependency that fails before leaves r to waitAll (skipped).
func (d *deployer) checkHealthyDeps(ctx context.Context, r *svcRun, deps []graph.Edge) bool {
	for _, e := range deps {
		if e.Condition != graph.Healthy {
			continue
		}
		dep := d.svcs[e.To]
		has, err := dep.healthKnown.wait(ctx)
		if ctx.Err() != nil {
			return false
		}
		if err != nil || has {
			continue
		}
		img := engine.ImageName(d.st.Project.Name, dep.svc.Config)
		d.fail(ctx, r, &Diagnosis{
			Reason: fmt.Sprintf("it waits for %q to be healthy (depends_on condition: service_healthy), but %q has no healthcheck: the compose file gives it none and its image %s has no HEALTHCHECK (or disables it)", e.To, e.To, img),
			Hint:   fmt.Sprintf("give %q a healthcheck (healthcheck.test in the compose file, or HEALTHCHECK in its Dockerfile), or make %q wait with condition: service_started", e.To, r.svc.Name),
		}, "")
		return false
	}
	return true
}

// waitDeps waits until every dependency meets its condition. It returns
// false when the service was skipped or the deploy stopped.
func (d *deployer) waitDeps(ctx context.Context, r *svcRun) bool {
	if !d.waitExternal(ctx, r) {
		return false
	}
	deps := d.g.Deps(r.svc.Name)
	if len(deps) == 0 {
		return true
	}
	var on []string
	for _, e := range deps {
		on = append(on, e.To+" ("+string(e.Condition)+")")
	}
	d.emitWaiting(r, on)
	if !d.checkHealthyDeps(ctx, r, deps) {
		return false
	}
	waits := make([]depWait, 0, len(deps))
	for _, e := range deps {
		dep := d.svcs[e.To]
		sig := dep.ready
		if e.Condition == graph.Started {
			sig = dep.started
		}
		waits = append(waits, depWait{name: e.To, required: e.Required, wait: sig.wait})
	}
	failed, _ := waitAll(ctx, waits)
	if ctx.Err() != nil {
		return false
	}
	if len(failed) > 0 {
		d.skip(r, d.depFailure(failed), failed)
		return false
	}
	return true
}
