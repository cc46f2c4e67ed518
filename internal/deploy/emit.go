package deploy

// Every event the scheduler emits is built in this file: the payloads are
// the contract with every reader (progress, events.jsonl, metrics, reports),
// so they live in one place.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
)

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
// (the lock was held, preflight failed). started is when the caller began.
func Abort(bus *events.Bus, started time.Time, err error) {
	o := Failed
	if errors.Is(err, context.Canceled) {
		o = Interrupted
	}
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Level: events.LevelError, Duration: time.Since(started),
		Attrs: events.DeployFinishedAttrs{Outcome: string(o), Error: err.Error()}})
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

func (d *deployer) emitWarning(phase events.Phase, service, msg string) {
	d.bus.Emit(events.Event{Phase: phase, Service: service, Level: events.LevelWarn, Attrs: events.WarningAttrs{Note: events.Note{Message: msg}}})
}

func (d *deployer) emitNetwork(name string, created bool, note string, took time.Duration) {
	d.bus.Emit(events.Event{Phase: events.PhaseResources, Duration: took, Attrs: events.NetworkReadyAttrs{Network: name, Created: created, Note: note}})
}

func (d *deployer) emitVolume(name string, created bool, took time.Duration) {
	d.bus.Emit(events.Event{Phase: events.PhaseResources, Duration: took, Attrs: events.VolumeReadyAttrs{Volume: name, Created: created}})
}

func (d *deployer) emitImageBuilding(ref string) {
	d.bus.Emit(events.Event{Phase: events.PhaseImage, Attrs: events.ImageBuildingAttrs{Image: ref}})
}

func (d *deployer) emitImageReady(ref string, built, cached bool, took time.Duration) {
	d.bus.Emit(events.Event{Phase: events.PhaseImage, Duration: took, Attrs: events.ImageReadyAttrs{Image: ref, Built: built, Cached: cached}})
}

// svcEvent emits a service's event at the level its kind has. The payload
// carries the class itself (each payload type has its own Class field).
func (d *deployer) svcEvent(s *svcRun, phase events.Phase, took time.Duration, attrs events.Attributes) {
	lvl := events.LevelInfo
	switch attrs.Kind() {
	case events.ServiceFailed:
		lvl = levelFor(s.svc)
	case events.ServiceSkipped, events.ServiceRetry:
		lvl = events.LevelWarn
	case events.ServiceStats:
		lvl = events.LevelDebug
	}
	d.bus.Emit(events.Event{Phase: phase, Service: s.svc.Name, Level: lvl, Duration: took, Attrs: attrs})
}

func levelFor(s *stack.Service) events.Level {
	if s.Class == stack.Core {
		return events.LevelError
	}
	return events.LevelWarn
}

func class(r *svcRun) string { return string(r.svc.Class) }

func (d *deployer) emitCreating(r *svcRun) {
	d.svcEvent(r, events.PhaseCreate, 0, events.ServiceCreatingAttrs{Class: class(r), Reason: r.createWhy})
}

func (d *deployer) emitCreated(r *svcRun, name, id string, took time.Duration) {
	d.svcEvent(r, events.PhaseCreate, took, events.ServiceCreatedAttrs{Class: class(r), Container: name, ContainerID: short(id)})
}

func (d *deployer) emitEngineRetry(r *svcRun, op string, attempt int, reason string) {
	d.bus.Emit(events.Event{Phase: events.PhaseCreate, Service: r.svc.Name, Level: events.LevelWarn,
		Attrs: events.EngineRetryAttrs{Op: op, Attempt: attempt, Reason: reason}})
}

func (d *deployer) emitWaiting(r *svcRun, on []string) {
	d.svcEvent(r, events.PhaseWait, 0, events.ServiceWaitingAttrs{Class: class(r), On: on})
}

func (d *deployer) emitSkipped(r *svcRun, why string, because []string) {
	d.svcEvent(r, events.PhaseWait, 0, events.ServiceSkippedAttrs{Class: class(r), Reason: why, Because: because})
}

func (d *deployer) emitRetry(r *svcRun, attempt int, reason string, backoff time.Duration) {
	d.svcEvent(r, events.PhaseStart, 0, events.ServiceRetryAttrs{Class: class(r), Attempt: attempt, Reason: reason, BackoffMS: events.MS(backoff)})
}

func (d *deployer) emitStarting(r *svcRun, attempt int, queued time.Duration) {
	a := events.ServiceStartingAttrs{Class: class(r), Attempt: attempt}
	if queued > time.Millisecond {
		a.QueuedMS = events.MS(queued) // behind higher-ranked starts
	}
	d.svcEvent(r, events.PhaseStart, 0, a)
}

func (d *deployer) emitStarted(r *svcRun, attempt int, id string) {
	d.svcEvent(r, events.PhaseStart, 0, events.ServiceStartedAttrs{Class: class(r), Attempt: attempt, ContainerID: short(id)})
}

// readyInfo is what a ready (or confirmed) service reports.
type readyInfo struct {
	signal      events.Signal
	attempt     int
	probes      int
	probeTime   time.Duration
	probeOutput string
	lagBound    time.Duration // since the last failed probe; 0 when unknown
	port        int           // the TCP port, for signal tcp
}

func (i readyInfo) readiness() events.Readiness {
	a := events.Readiness{Signal: i.signal, Attempt: i.attempt, Probes: i.probes, ProbeMS: events.MS(i.probeTime), Port: i.port}
	if i.signal == events.SignalProbe {
		a.ProbeOutput = i.probeOutput
	}
	if i.lagBound > 0 {
		a.LagMS = events.MSPtr(i.lagBound)
	}
	return a
}

func (d *deployer) emitReady(r *svcRun, i readyInfo, took time.Duration) {
	d.svcEvent(r, events.PhaseReady, took, events.ServiceReadyAttrs{Class: class(r), Readiness: i.readiness()})
}

// emitConfirmed: an unchanged container that was already running, confirmed
// ready (docker's own check had not run yet), not started.
func (d *deployer) emitConfirmed(r *svcRun, i readyInfo, id string) {
	d.svcEvent(r, events.PhaseReady, 0, events.ServiceReusedAttrs{Class: class(r), ContainerID: short(id),
		Note: "unchanged and running; readiness confirmed by " + string(i.signal), Readiness: i.readiness()})
}

// emitReused: an unchanged container left alone, with the signal that made
// it count as ready (reused, completed-before, ready-before).
func (d *deployer) emitReused(r *svcRun, name, id, note string) {
	d.svcEvent(r, events.PhaseReady, 0, events.ServiceReusedAttrs{Class: class(r), Container: name, ContainerID: short(id), Note: note,
		Readiness: events.Readiness{Signal: r.res.Signal}})
}

// emitFailed reports a failure with its evidence. afterReady marks a
// container that died after it was reported ready (while the deploy ran).
func (d *deployer) emitFailed(r *svcRun, diag *Diagnosis, afterReady bool) {
	var took time.Duration
	if !r.res.StartedAt.IsZero() {
		took = d.now().Sub(r.res.StartedAt)
	}
	d.svcEvent(r, events.PhaseReady, took, events.ServiceFailedAttrs{Class: class(r), Reason: diag.Reason, ExitCode: diag.ExitCode,
		OOM: diag.OOMKilled, State: diag.State, HealthOutput: diag.HealthOutputs, Logs: diag.Logs, Hint: diag.Hint, AfterReady: afterReady})
}

// emitReplacing: a changed service's old container is kept, renamed.
func (d *deployer) emitReplacing(r *svcRun, p *kept) {
	d.svcEvent(r, events.PhaseRollback, 0, events.ReplacingAttrs{Class: class(r), Container: p.c.Name, ContainerID: short(p.c.ID),
		KeptAs: engine.PrevName(p.c.Name), Mode: p.mode, Rule: p.rule})
}

// emitRolledBack: a service is back on its previous configuration.
// Duration = the cause's failure → ready again.
func (d *deployer) emitRolledBack(r *svcRun, cause, scope string, sr *ServiceRollback) {
	a := events.RolledBackAttrs{Class: class(r), Scope: scope, Action: sr.Action, Cause: cause, ContainerID: sr.ContainerID}
	if sr.Action == RollbackRestored {
		a.ReadyMS, a.SinceFailureMS = events.MS(sr.ReadyIn), events.MS(sr.SinceFailure)
	}
	if sr.Removed != "" {
		a.Removed = sr.Removed
	}
	d.bus.Emit(events.Event{Phase: events.PhaseRollback, Service: r.svc.Name, Level: events.LevelWarn, Duration: sr.SinceFailure, Attrs: a})
}

// emitRollbackFailed: a service's rollback failed; the event says what it runs now.
func (d *deployer) emitRollbackFailed(r *svcRun, cause, scope string, sr *ServiceRollback) {
	d.bus.Emit(events.Event{Phase: events.PhaseRollback, Service: r.svc.Name, Level: events.LevelError,
		Attrs: events.RollbackFailedAttrs{Class: class(r), Scope: scope, Cause: cause, Reason: sr.Error, Runs: sr.Runs}})
}

func (d *deployer) emitStats(r *svcRun, cpu, mem float64) {
	d.svcEvent(r, events.PhaseReady, 0, events.ServiceStatsAttrs{CPUPercent: cpu, MemBytes: mem})
}

func (d *deployer) emitOrphanRemoved(c engine.Container, took time.Duration) {
	d.bus.Emit(events.Event{Phase: events.PhaseDeploy, Duration: took, Attrs: events.InfoAttrs{Note: events.Note{
		Message: fmt.Sprintf("%s %s (service %s, no longer in the compose file)", OrphanRemoved, c.Name, c.Service)}}})
}
