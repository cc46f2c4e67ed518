package deploy

// Every event the scheduler emits is built in this file: the payloads are
// the contract with every reader (progress, events.jsonl, metrics, reports),
// so they live in one place.

import (
	"time"

	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
)

// Announce emits deploy_started and the stack's warnings: the first events of
// a deploy. Callers that run phases before the scheduler (lock, preflight)
// announce first, then set Options.Announced.
func Announce(bus *events.Bus, st *stack.Stack, g *graph.Graph, timeout time.Duration, apiVersion string) {
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Kind: events.DeployStarted, Attrs: map[string]any{
		"project": st.Project.Name, "services": g.Order(), "timeout_ms": timeout.Milliseconds(),
		"engine_api": apiVersion,
	}})
	for _, w := range st.Warnings {
		bus.Emit(events.Event{Phase: events.PhaseLoad, Kind: events.Warning, Level: events.LevelWarn, Attrs: map[string]any{"message": w}})
	}
}

// Abort emits deploy_finished for a deploy stopped before the scheduler ran
// (the lock was held, preflight failed). started is when the caller began.
func Abort(bus *events.Bus, started time.Time, err error) {
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Kind: events.DeployFinished, Level: events.LevelError, Duration: time.Since(started),
		Attrs: map[string]any{"outcome": string(Failed), "error": err.Error()}})
}

// Finish emits deploy_finished for a result: the last event of a deploy.
// Run emits it itself unless the caller announced the deploy (and so owns
// its end, after its own closing phases such as validation).
func Finish(bus *events.Bus, res *Result) {
	o, err := res.Outcome, res.Err
	attrs := map[string]any{"outcome": string(o)}
	if err != nil {
		attrs["error"] = err.Error()
	}
	lvl := events.LevelInfo
	if o == Failed || o == Interrupted {
		lvl = events.LevelError
	} else if o == Degraded {
		lvl = events.LevelWarn
	}
	bus.Emit(events.Event{Phase: events.PhaseDeploy, Kind: events.DeployFinished, Level: lvl, Duration: res.Duration, Attrs: attrs})
}

func (d *deployer) emitWarning(phase events.Phase, service, msg string) {
	d.bus.Emit(events.Event{Phase: phase, Service: service, Kind: events.Warning, Level: events.LevelWarn, Attrs: map[string]any{"message": msg}})
}

func (d *deployer) emitNetwork(name string, created bool, note string, took time.Duration) {
	attrs := map[string]any{"network": name, "created": created}
	if note != "" {
		attrs["note"] = note
	}
	d.bus.Emit(events.Event{Phase: events.PhaseResources, Kind: events.NetworkReady, Duration: took, Attrs: attrs})
}

func (d *deployer) emitVolume(name string, created bool, took time.Duration) {
	d.bus.Emit(events.Event{Phase: events.PhaseResources, Kind: events.VolumeReady, Duration: took, Attrs: map[string]any{"volume": name, "created": created}})
}

func (d *deployer) emitImageBuilding(ref string) {
	d.bus.Emit(events.Event{Phase: events.PhaseImage, Kind: events.ImageBuilding, Attrs: map[string]any{"image": ref}})
}

func (d *deployer) emitImageReady(ref string, built, cached bool, took time.Duration) {
	d.bus.Emit(events.Event{Phase: events.PhaseImage, Kind: events.ImageReady, Duration: took, Attrs: map[string]any{"image": ref, "built": built, "cached": cached}})
}

// svcEvent emits a service's event with its class and the level its kind has.
func (d *deployer) svcEvent(s *svcRun, kind events.Kind, phase events.Phase, took time.Duration, attrs map[string]any) {
	lvl := events.LevelInfo
	switch kind {
	case events.ServiceFailed:
		lvl = levelFor(s.svc)
	case events.ServiceSkipped, events.ServiceRetry:
		lvl = events.LevelWarn
	case events.ServiceStats:
		lvl = events.LevelDebug
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	attrs["class"] = string(s.svc.Class)
	d.bus.Emit(events.Event{Phase: phase, Service: s.svc.Name, Kind: kind, Level: lvl, Duration: took, Attrs: attrs})
}

func levelFor(s *stack.Service) events.Level {
	if s.Class == stack.Core {
		return events.LevelError
	}
	return events.LevelWarn
}

func (d *deployer) emitCreating(r *svcRun) {
	d.svcEvent(r, events.ServiceCreating, events.PhaseCreate, 0, nil)
}

func (d *deployer) emitCreated(r *svcRun, name, id string, took time.Duration) {
	d.svcEvent(r, events.ServiceCreated, events.PhaseCreate, 0, map[string]any{"container": name, "container_id": short(id), "duration_ms": took.Milliseconds()})
}

func (d *deployer) emitEngineRetry(r *svcRun, op string, attempt int, reason string) {
	d.bus.Emit(events.Event{Phase: events.PhaseCreate, Service: r.svc.Name, Kind: events.EngineRetry, Level: events.LevelWarn,
		Attrs: map[string]any{"op": op, "attempt": attempt, "reason": reason}})
}

func (d *deployer) emitWaiting(r *svcRun, on []string) {
	d.svcEvent(r, events.ServiceWaiting, events.PhaseWait, 0, map[string]any{"on": on})
}

func (d *deployer) emitSkipped(r *svcRun, why string, because []string) {
	attrs := map[string]any{"reason": why}
	if because != nil {
		attrs["because"] = because
	}
	d.svcEvent(r, events.ServiceSkipped, events.PhaseWait, 0, attrs)
}

func (d *deployer) emitRetry(r *svcRun, attempt int, reason string, backoff time.Duration) {
	d.svcEvent(r, events.ServiceRetry, events.PhaseStart, 0, map[string]any{"attempt": attempt, "reason": reason, "backoff_ms": backoff.Milliseconds()})
}

func (d *deployer) emitStarting(r *svcRun, attempt int, queued time.Duration) {
	attrs := map[string]any{"attempt": attempt}
	if queued > time.Millisecond {
		attrs["queued_ms"] = queued.Milliseconds() // behind higher-ranked starts
	}
	d.svcEvent(r, events.ServiceStarting, events.PhaseStart, 0, attrs)
}

func (d *deployer) emitStarted(r *svcRun, attempt int, id string) {
	d.svcEvent(r, events.ServiceStarted, events.PhaseStart, 0, map[string]any{"attempt": attempt, "container_id": short(id)})
}

// readyInfo is what a ready (or confirmed) service reports.
type readyInfo struct {
	signal      string
	attempt     int
	probes      int
	probeTime   time.Duration
	probeOutput string
	lagBound    time.Duration // since the last failed probe; 0 when unknown
	port        int           // the TCP port, for signal tcp
}

func (i readyInfo) attrs() map[string]any {
	a := map[string]any{"signal": i.signal, "attempt": i.attempt, "probes": i.probes, "probe_ms": i.probeTime.Milliseconds()}
	if i.signal == "probe" {
		a["probe_output"] = i.probeOutput
	}
	if i.lagBound > 0 {
		a["lag_bound_ms"] = i.lagBound.Milliseconds()
	}
	if i.port != 0 {
		a["port"] = i.port
	}
	return a
}

func (d *deployer) emitReady(r *svcRun, i readyInfo, took time.Duration) {
	d.svcEvent(r, events.ServiceReady, events.PhaseReady, took, i.attrs())
}

// emitConfirmed: an unchanged container that was already running, confirmed
// ready (docker's own check had not run yet), not started.
func (d *deployer) emitConfirmed(r *svcRun, i readyInfo, id string) {
	a := i.attrs()
	a["container_id"] = short(id)
	a["note"] = "unchanged and running; readiness confirmed by " + i.signal
	d.svcEvent(r, events.ServiceReused, events.PhaseReady, 0, a)
}

func (d *deployer) emitReused(r *svcRun, name, id, note string) {
	attrs := map[string]any{"container": name, "container_id": short(id)}
	if note != "" {
		attrs["note"] = note
	}
	d.svcEvent(r, events.ServiceReused, events.PhaseReady, 0, attrs)
}

// emitFailed reports a failure with its evidence. afterReady marks a
// container that died after it was reported ready (while the deploy ran).
func (d *deployer) emitFailed(r *svcRun, diag *Diagnosis, afterReady bool) {
	attrs := map[string]any{"reason": diag.Reason, "oom": diag.OOMKilled, "hint": diag.Hint}
	if diag.ExitCode != nil {
		attrs["exit_code"] = *diag.ExitCode
	}
	if len(diag.HealthOutputs) > 0 {
		attrs["health_output"] = diag.HealthOutputs
	}
	if len(diag.Logs) > 0 {
		attrs["logs"] = diag.Logs
	}
	if diag.State != "" {
		attrs["state"] = diag.State
	}
	if afterReady {
		attrs["after_ready"] = true
	}
	var took time.Duration
	if !r.res.StartedAt.IsZero() {
		took = d.now().Sub(r.res.StartedAt)
	}
	d.svcEvent(r, events.ServiceFailed, events.PhaseReady, took, attrs)
}

func (d *deployer) emitStats(r *svcRun, cpu, mem float64) {
	d.svcEvent(r, events.ServiceStats, events.PhaseReady, 0, map[string]any{"cpu_percent": cpu, "mem_bytes": mem})
}
