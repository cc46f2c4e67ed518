package deploy

// Rolling back: when a changed core service fails, every service this
// deploy changed goes back to its previous container (kept by keep.go): the
// failed one first, then the others in reverse dependency order (a
// dependent before the services it depends on, so that a new dependent
// never runs against an old dependency). A failed optional/stretch service
// is rolled back alone. See docs/rollback.md.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/stack"
)

// Rollback actions of one service.
const (
	RollbackRestored = "restored" // its previous container runs again and is ready
	RollbackRemoved  = "removed"  // new in this deploy: its container was removed
	RollbackFailed   = "failed"   // the rollback of this service failed
	RollbackNotKept  = "not-kept" // changed, but no previous container was kept
	// RollbackUntouched: the failed service failed before its previous
	// container was touched (its image is missing): that one still runs.
	RollbackUntouched = "untouched"
)

// Rollback scopes.
const (
	ScopeDeploy  = "deploy"  // a core failure: every service the deploy changed
	ScopeService = "service" // an optional/stretch service, alone
)

// Rollback is what a deploy's rollback did.
type Rollback struct {
	// Cause is the failed service that caused it.
	Cause string `json:"cause"`
	// Complete: every service changed by the deploy runs its previous
	// configuration again.
	Complete bool                        `json:"complete"`
	Services map[string]*ServiceRollback `json:"services"`
}

// ServiceRollback is one service's rollback.
type ServiceRollback struct {
	Action      string `json:"action"`
	ContainerID string `json:"container_id,omitempty"` // the restored container
	// ReadyIn: the restored container's start (or rename, when it still
	// ran) → ready. SinceFailure: the cause's failure → ready.
	ReadyIn      time.Duration `json:"ready_ns,omitempty"`
	SinceFailure time.Duration `json:"since_failure_ns,omitempty"`
	Removed      string        `json:"removed,omitempty"` // the new container removed
	Runs         string        `json:"runs"`              // what the service runs now
	Error        string        `json:"error,omitempty"`
}

// rollbackOrder is the order services are rolled back in: the failed
// service first, then every other changed one in reverse dependency order
// (order is the graph's topological order, dependencies first).
func rollbackOrder(order []string, changed map[string]bool, failed string) []string {
	var out []string
	if changed[failed] {
		out = append(out, failed)
	}
	for i := len(order) - 1; i >= 0; i-- {
		if n := order[i]; changed[n] && n != failed {
			out = append(out, n)
		}
	}
	return out
}

// settleKept ends the deploy's kept containers: after a core failure every
// changed service is rolled back; otherwise failed or skipped
// optional/stretch services are rolled back alone, and the others' kept
// containers are removed. After an interrupt they are left as they are.
// The engine calls run detached from the interrupt (each bounded, and by
// the engine's own after-interrupt bound), so none is abandoned half-way;
// an interrupt during the rollback ends its waits for readiness at once
// (see waitRestored) and the services not restored yet are left as they
// are.
func (d *deployer) settleKept(parent context.Context, names []string) {
	if parent.Err() != nil || d.o.NoRollback {
		return
	}
	d.interrupted = parent.Done()
	ctx := context.WithoutCancel(parent)
	if cause, at, failed := d.coreFailure(names); failed {
		if d.lostStream() == nil {
			d.rollbackAll(ctx, names, cause, at)
		}
		return
	}
	var keep []string
	for _, n := range names {
		r := d.svcs[n]
		if r.prev != nil && r.svc.Class != stack.Core && (r.res.State == StateFailed || r.res.State == StateSkipped) {
			at := r.failedAt
			if at.IsZero() {
				at = d.now()
			}
			r.res.Rollback = d.rollbackOne(ctx, r, n, ScopeService, at)
			continue
		}
		keep = append(keep, n)
	}
	d.dropPrevs(ctx, keep)
	d.dropStale(ctx)
}

// coreFailure names the core service whose failure ended the deploy (the
// first to fail; else the first core service not ready) and when.
func (d *deployer) coreFailure(names []string) (string, time.Time, bool) {
	cause, at := "", time.Time{}
	for _, n := range names {
		r := d.svcs[n]
		if r.svc.Class != stack.Core {
			continue
		}
		switch r.res.State {
		case StateFailed:
			if !r.failedAt.IsZero() && (at.IsZero() || r.failedAt.Before(at)) {
				cause, at = n, r.failedAt
			}
		case StateSkipped, StateCancelled, StatePending:
			if cause == "" {
				cause = n
			}
		}
	}
	if cause == "" {
		return "", time.Time{}, false
	}
	if at.IsZero() {
		at = d.failedAt()
	}
	return cause, at, true
}

// rollbackAll rolls back every service the deploy changed.
func (d *deployer) rollbackAll(ctx context.Context, names []string, cause string, at time.Time) {
	changed := map[string]bool{}
	for _, n := range names {
		r := d.svcs[n]
		if r.prev != nil || r.unkept != "" || (r.fresh && d.hadPrevious && r.newID != "") {
			changed[n] = true
		}
	}
	if c := d.svcs[cause]; c.before != "" && c.newID == "" && c.prev == nil && c.unkept == "" {
		changed[cause] = true // failed before its container was touched
	}
	if len(changed) == 0 {
		return
	}
	rb := &Rollback{Cause: cause, Complete: true, Services: map[string]*ServiceRollback{}}
	for _, n := range rollbackOrder(names, changed, cause) {
		if d.wasInterrupted() {
			sr := &ServiceRollback{Action: RollbackFailed, Error: errRollbackInterrupted.Error(), Runs: "what this deploy left: " + string(d.svcs[n].res.State)}
			d.emitRollbackFailed(d.svcs[n], cause, ScopeDeploy, sr)
			rb.Services[n], d.svcs[n].res.Rollback, rb.Complete = sr, sr, false
			continue
		}
		sr := d.rollbackOne(ctx, d.svcs[n], cause, ScopeDeploy, at)
		rb.Services[n] = sr
		d.svcs[n].res.Rollback = sr
		if sr.Action == RollbackFailed || sr.Action == RollbackNotKept {
			rb.Complete = false
		}
	}
	d.rollback = rb
}

// rollbackOne puts one service back on its previous configuration.
func (d *deployer) rollbackOne(ctx context.Context, r *svcRun, cause, scope string, failedAt time.Time) *ServiceRollback {
	sr := d.restore(ctx, r, failedAt)
	if sr.Action == RollbackFailed || sr.Action == RollbackNotKept {
		d.emitRollbackFailed(r, cause, scope, sr)
	} else {
		d.emitRolledBack(r, cause, scope, sr)
	}
	return sr
}

// restore removes the service's new container and brings its kept one
// back: renamed to its own name, started if it was stopped, ready.
func (d *deployer) restore(ctx context.Context, r *svcRun, failedAt time.Time) *ServiceRollback {
	s := r.svc
	if r.unkept != "" {
		return &ServiceRollback{Action: RollbackNotKept, Error: "its previous container was not kept: " + r.unkept,
			Runs: "the new configuration (" + string(r.res.State) + ")"}
	}
	removed := short(r.newID)
	if id := r.newID; id != "" {
		if err := d.removeNew(ctx, r, id); err != nil {
			return &ServiceRollback{Action: RollbackFailed, Error: err.Error(), Runs: "its new container " + short(id)}
		}
		r.newID = ""
	}
	p := r.prev
	if p == nil && r.fresh {
		return &ServiceRollback{Action: RollbackRemoved, Removed: removed, Runs: "nothing: it is new in this deploy"}
	}
	if p == nil {
		return &ServiceRollback{Action: RollbackUntouched, ContainerID: short(r.before),
			Runs: fmt.Sprintf("its previous container %s, never stopped", short(r.before))}
	}
	prevRuns := fmt.Sprintf("its previous container %s, stopped and named %s", short(p.c.ID), engine.PrevName(p.c.Name))
	if err := d.renameBack(ctx, p); err != nil {
		return &ServiceRollback{Action: RollbackFailed, Error: err.Error(), Runs: prevRuns}
	}
	evCh := d.subscribe(p.c.ID) // before the start: no event is missed
	defer d.unsubscribe(p.c.ID)
	t0 := d.now()
	if !p.running {
		rctx, cancel := context.WithTimeout(ctx, detachedOpTimeout)
		err := d.eng.Start(rctx, p.c.ID)
		cancel()
		if err != nil {
			return &ServiceRollback{Action: RollbackFailed, Error: "start the previous container: " + err.Error(),
				Runs: fmt.Sprintf("nothing: its previous container %s is stopped", short(p.c.ID))}
		}
	}
	if err := d.waitRestored(ctx, p.c.ID, evCh, restoreBudget(s, p.c)); err != nil {
		return &ServiceRollback{Action: RollbackFailed, Error: "the previous container did not become ready again: " + err.Error(),
			Runs: fmt.Sprintf("its previous container %s, not ready", short(p.c.ID))}
	}
	r.prev = nil
	ready := d.now()
	return &ServiceRollback{Action: RollbackRestored, ContainerID: short(p.c.ID), Removed: removed, ReadyIn: ready.Sub(t0),
		SinceFailure: ready.Sub(failedAt), Runs: fmt.Sprintf("its previous container %s again", short(p.c.ID))}
}

// restoreBudget is the budget of a restored container: its own (the budget
// label it was created with), or the service's budget now, whichever is
// longer: a new budget cut short for the new version says nothing of the
// old one.
func restoreBudget(s *stack.Service, c engine.Container) time.Duration {
	b := s.Budget
	if v, err := time.ParseDuration(c.Labels[stack.LabelTimeout]); err == nil && v > b {
		b = v
	}
	return b
}

// removeNew removes the container this deploy created for the service, and
// its anonymous volumes: at once when it never became ready, within its
// grace period when it was ready (a database gets its SIGTERM).
func (d *deployer) removeNew(ctx context.Context, r *svcRun, id string) error {
	if r.res.State == StateReady {
		sctx, cancel := context.WithTimeout(ctx, stopGrace(r.svc)+detachedOpTimeout)
		err := d.eng.Stop(sctx, id, stopGrace(r.svc))
		cancel()
		if err != nil {
			return fmt.Errorf("stop the new container %s: %w", short(id), err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, detachedOpTimeout)
	defer cancel()
	if err := d.eng.Remove(rctx, id, true); err != nil {
		return fmt.Errorf("remove the new container %s: %w", short(id), err)
	}
	return nil
}

// renameBack gives the kept container its own name again. A container of
// the project holding that name (created after the new one was removed, by
// another tool) is removed first; anything else is left alone.
func (d *deployer) renameBack(ctx context.Context, p *kept) error {
	rctx, cancel := context.WithTimeout(ctx, detachedOpTimeout)
	defer cancel()
	err := d.eng.Rename(rctx, p.c.ID, p.c.Name)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsConflict(err) && !strings.Contains(err.Error(), "already in use") {
		return fmt.Errorf("rename %s back to %s: %w", engine.PrevName(p.c.Name), p.c.Name, err)
	}
	ins, ierr := d.eng.Inspect(rctx, p.c.Name)
	if ierr != nil || ins.Config == nil || ins.Config.Labels[engine.LabelProject] != d.st.Project.Name {
		return fmt.Errorf("rename %s back to %s: the name is taken by a container that is not part of project %s", engine.PrevName(p.c.Name), p.c.Name, d.st.Project.Name)
	}
	if err := d.eng.Remove(rctx, ins.ID, true); err != nil {
		return fmt.Errorf("remove %s, which holds the name of the previous container: %w", p.c.Name, err)
	}
	if err := d.eng.Rename(rctx, p.c.ID, p.c.Name); err != nil {
		return fmt.Errorf("rename %s back to %s: %w", engine.PrevName(p.c.Name), p.c.Name, err)
	}
	return nil
}

// waitRestored waits until a restored container runs and passes its own
// healthcheck (the one it was created with, which may differ from the
// compose file's now): the engine's healthy event, or dive's exec probe,
// one in flight, every 100 ms, within budget. A probe slowed by a busy
// engine never holds up the event.
func (d *deployer) waitRestored(ctx context.Context, id string, evCh <-chan engine.Event, budget time.Duration) error {
	bctx, cancel := context.WithTimeoutCause(ctx, budget, errBudget)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	type look struct {
		done bool
		err  error
	}
	looks := make(chan look, 1)
	inFlight := false
	probe := func() {
		inFlight = true
		go func() {
			done, err := d.probeRestored(bctx, id)
			looks <- look{done, err}
		}()
	}
	probe()
	for {
		select {
		case <-d.interrupted:
			return errRollbackInterrupted
		case <-bctx.Done():
			if errors.Is(context.Cause(bctx), errBudget) {
				return fmt.Errorf("not ready within its budget of %s", budget)
			}
			return bctx.Err()
		case ev := <-evCh:
			switch {
			case ev.Action == "health_status" && ev.Health == "healthy":
				return nil
			case ev.Action == "die":
				return fmt.Errorf("exited with code %d", ev.ExitCode)
			}
		case l := <-looks:
			inFlight = false
			if l.done {
				return l.err
			}
		case <-tick.C:
			if !inFlight {
				probe()
			}
		}
	}
}

// errRollbackInterrupted: Ctrl-C came during the rollback.
var errRollbackInterrupted = errors.New("interrupted during the rollback: left as it was")

// wasInterrupted says whether the deploy's caller was interrupted (Ctrl-C)
// since the rollback began.
func (d *deployer) wasInterrupted() bool { return closed(d.interrupted) }

// probeRestored looks once at a restored container: done with nil when it
// is ready (running without a healthcheck, healthy, or its probe passed),
// done with an error when it exited.
func (d *deployer) probeRestored(ctx context.Context, id string) (bool, error) {
	ins, err := d.eng.Inspect(ctx, id)
	if err != nil || ins.State == nil {
		return false, nil
	}
	st := ins.State
	var cmd []string
	timeout := 5 * time.Second
	if hc := ins.Config; hc != nil && hc.Healthcheck != nil && len(hc.Healthcheck.Test) > 0 && hc.Healthcheck.Test[0] != "NONE" {
		cmd = engine.HealthcheckCommand(hc.Healthcheck.Test)
		if t := hc.Healthcheck.Timeout; t > 0 {
			timeout = t
		}
	}
	switch {
	case st.Status == "exited" || st.Status == "dead":
		return true, fmt.Errorf("exited with code %d", st.ExitCode)
	case st.Running && (len(cmd) == 0 || (st.Health != nil && st.Health.Status == "healthy")):
		return true, nil
	case st.Running:
		// The same probe budget as every other probe (the gate), and its
		// cost counts in the cost model.
		if d.gate.acquireProbe(ctx, 0) != nil {
			return false, nil
		}
		t0 := d.now()
		res, perr := d.eng.Exec(ctx, id, cmd, timeout)
		d.gate.releaseProbe()
		if ctx.Err() == nil {
			d.cost.record(costProbe, d.now().Sub(t0))
		}
		if perr == nil && res.ExitCode == 0 {
			return true, nil
		}
	}
	return false, nil
}

// rollbackSummary says what every service the rollback touched runs now.
func (rb *Rollback) rollbackSummary() string {
	names := make([]string, 0, len(rb.Services))
	for n := range rb.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, len(names))
	for _, n := range names {
		sr := rb.Services[n]
		p := n + " runs " + sr.Runs
		if sr.Error != "" {
			p += " (" + sr.Error + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// rollbackErr is the deploy's error once a rollback ran.
func (d *deployer) rollbackErr(err error) error {
	rb := d.rollback
	if rb == nil || err == nil {
		return err
	}
	if rb.Complete {
		return fmt.Errorf("rolled back: the hub runs the previous configuration; %w", err)
	}
	return fmt.Errorf("%w; the rollback did not complete, now: %s", err, rb.rollbackSummary())
}

// lostStream is the error of the engine's event stream, when it broke.
func (d *deployer) lostStream() error {
	d.lostMu.Lock()
	defer d.lostMu.Unlock()
	return d.streamErr
}
