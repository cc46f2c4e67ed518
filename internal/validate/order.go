package validate

import (
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/moby/moby/api/types/container"
)

// orderCheck judges one depends_on edge, from (the dependent) to (the
// dependency), from what the engine recorded: start times, the dependency's
// health log and a job's finish time. It judges only what those can show;
// see docs/validation.md ("dependency order") for the rules. ok is false
// when there is nothing to judge (a container missing or never started:
// the container checks report that).
func orderCheck(from, to *svcState, dep types.ServiceDependency) (Check, bool) {
	if from != nil && to != nil && to.listed && !from.reused && from.found && from.insErr == nil && !from.started.IsZero() {
		// The dependent started in this deploy; the dependency was ready
		// before this deploy started, and is now.
		cond := dep.Condition
		if cond == "" {
			cond = types.ServiceConditionStarted
		}
		return Check{Name: CheckOrder, Service: from.svc.Name, Class: from.svc.Class, Status: Pass,
			Detail: fmt.Sprintf("%s (%s) was ready before this deploy started: it was reused unchanged and still runs", to.svc.Name, cond)}, true
	}
	if from == nil || to == nil || !from.found || !to.found || from.insErr != nil || to.insErr != nil ||
		from.started.IsZero() || to.started.IsZero() || from.ins.State == nil || to.ins.State == nil {
		return Check{}, false
	}
	cond := dep.Condition
	if cond == "" {
		cond = types.ServiceConditionStarted
	}
	x, y := from.svc.Name, to.svc.Name
	c := Check{Name: CheckOrder, Service: x, Class: from.svc.Class}
	pass := func(detail string) (Check, bool) { c.Status, c.Detail = Pass, detail; return c, true }
	fail := func(detail string) (Check, bool) {
		c.Status, c.Detail = Fail, detail
		c.Fix = fmt.Sprintf("restart %s after %s is ready: dive hub deploy --force-recreate %s", x, y, x)
		return c, true
	}
	latest := ""
	if from.ins.RestartCount > 0 {
		latest = fmt.Sprintf(" (judged on %s's latest start: the engine restarted it %d times)", x, from.ins.RestartCount)
	}

	// What cannot be known: the dependency started again after the dependent.
	if to.started.After(from.started) {
		switch {
		case to.created.After(from.started):
			return pass(fmt.Sprintf("%s (%s) not judged: %s's container was created after %s started (a later deploy replaced it), so its first start is unknown", y, cond, y, x))
		case to.ins.RestartCount > 0:
			return pass(fmt.Sprintf("%s (%s) not judged: the engine restarted %s %d times, so its StartedAt is its latest start, not its first", y, cond, y, to.ins.RestartCount))
		}
		return fail(fmt.Sprintf("%s started %s before its dependency %s (%s)%s", x, fmtDelta(to.started.Sub(from.started)), y, cond, latest))
	}
	gap := from.started.Sub(to.started)

	switch cond {
	case types.ServiceConditionCompletedSuccessfully:
		st := to.ins.State
		if st.Running || st.Restarting {
			return fail(fmt.Sprintf("%s started while the job %s it waits for (service_completed_successfully) was still running%s", x, y, latest))
		}
		if to.ended.IsZero() {
			return pass(fmt.Sprintf("%s (%s) not judged: the engine recorded no finish time for %s", y, cond, y))
		}
		if from.started.Before(to.ended) {
			return fail(fmt.Sprintf("%s started %s before the job %s finished (service_completed_successfully)%s", x, fmtDelta(to.ended.Sub(from.started)), y, latest))
		}
		return pass(fmt.Sprintf("started %s after the job %s finished (service_completed_successfully)%s", fmtDelta(from.started.Sub(to.ended)), y, latest))

	case types.ServiceConditionHealthy:
		first, found, complete := firstHealthy(to.ins.State.Health, to.started)
		if found && !from.started.Before(first) {
			what := "first healthy check"
			if !complete {
				what = "earliest healthy check still in its health log"
			}
			return pass(fmt.Sprintf("started %s after %s's %s (service_healthy, engine health log)%s", fmtDelta(from.started.Sub(first)), y, what, latest))
		}
		// The engine's log says the dependent started before the engine saw
		// the dependency healthy. That proves a violation only when the
		// engine's healthcheck was the readiness signal: a container dive
		// did not create (docker compose waits for the engine's status), or
		// a service whose dive probe is off. Otherwise dive's own probe ran
		// the same command sooner than the engine's interval allows.
		decisive := to.c.Labels[engine.LabelManaged] != "true" || to.svc.ProbeOff
		if decisive && complete {
			if found {
				return fail(fmt.Sprintf("%s started %s before %s's first healthy check (service_healthy)%s", x, fmtDelta(first.Sub(from.started)), y, latest))
			}
			return fail(fmt.Sprintf("%s started, but %s has not passed a healthcheck since its start (service_healthy)%s", x, y, latest))
		}
		if !complete {
			return pass(fmt.Sprintf("started %s after %s started; %s's health log no longer holds its first checks (the engine keeps the last %d), so when it first turned healthy is unknown: start order held (service_healthy)%s",
				fmtDelta(gap), y, y, maxHealthLog, latest))
		}
		return pass(fmt.Sprintf("started %s after %s started; the engine's health log shows %s healthy only later, but dive's own probe (the same healthcheck command, run sooner than the engine's interval) decided readiness, so the log cannot judge this edge: start order held (service_healthy)%s",
			fmtDelta(gap), y, y, latest))
	}
	return pass(fmt.Sprintf("started %s after %s (%s)%s", fmtDelta(gap), y, cond, latest))
}

// firstHealthy finds the end of the first successful healthcheck since the
// container's start in the engine's health log. The engine keeps only the
// last maxHealthLog results and does not clear them on a restart; complete
// says every check since the start is still in the log, so first is truly
// the first (otherwise it is an upper bound).
func firstHealthy(h *container.Health, started time.Time) (first time.Time, found, complete bool) {
	if h == nil {
		return time.Time{}, false, true
	}
	var since []*container.HealthcheckResult
	for _, r := range h.Log {
		if r != nil && !r.Start.Before(started) {
			since = append(since, r)
		}
	}
	complete = len(h.Log) < maxHealthLog || len(since) < len(h.Log)
	for _, r := range since {
		if r.ExitCode == 0 {
			return r.End, true, complete
		}
	}
	return time.Time{}, false, complete
}

func fmtDelta(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d.Microseconds())/1000)
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
