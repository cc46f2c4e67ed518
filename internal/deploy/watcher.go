package deploy

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/container"
)

const (
	defaultProbeInterval = 100 * time.Millisecond
	maxProbeInterval     = 1 * time.Second
	probeBackoff         = 1.5
	denseProbeWindow     = 10 * time.Second
	denseProbeCeiling    = 250 * time.Millisecond

	// settleWindow: a service without a healthcheck (or TCP check) counts
	// as ready once it has been seen running for this long (from dive's
	// first look after the start; longer on a slow engine, see settleFor)
	// without dying or restarting. A start call that returns is no proof:
	// a command that exits 100 ms later would pass for ready.
	settleWindow = time.Second
	// settleBudgetShare: the settle window is at most the budget / this.
	settleBudgetShare = 8
)

var errBudget = errors.New("start-up budget exhausted")

// verdict is what a watcher's signal source concluded: nothing yet, or done
// (ready, or failed; retry says a recreate is worth it).
type verdict struct{ done, ok, retry bool }

var (
	undecided   = verdict{}
	isReady     = verdict{done: true, ok: true}
	hasFailed   = verdict{done: true}
	stoppedHere = verdict{done: true} // the deploy stopped: nothing to report
)

// watcher watches one container of a service from its start until it is
// ready or failed: one method per signal source (engine events, exec
// probe, TCP, budget, settle window, restart policy).
type watcher struct {
	d       *deployer
	r       *svcRun
	sc      scope
	id      string
	attempt int
	// confirm: an unchanged container that was already running; its
	// readiness is confirmed, it is not started.
	confirm bool

	policy         container.RestartPolicyMode
	allowed        int // restarts tolerated
	restarts       int
	lastExit       int // the exit code of the last death
	oom            bool
	stoppedOutside bool         // a kill or stop event dive did not ask for
	base           containerObs // the first look after the start

	probes     int
	probeTime  time.Duration
	lastFail   time.Time
	notExec    int    // consecutive probes whose command could not run...
	notExecRun string // ...in this run of the container (its StartedAt)
	tcpPending bool   // a TCP check must pass too
	settle     *time.Timer
}

func (d *deployer) newWatcher(sc scope, r *svcRun, id string, confirm bool, attempt int) *watcher {
	return &watcher{d: d, r: r, sc: sc, id: id, confirm: confirm, attempt: attempt}
}

// restartPolicy reads the policy and how many restarts are tolerated: the
// label's max (default 3), lowered by on-failure's own maximum, 0 when the
// engine never restarts it.
func (w *watcher) restartPolicy(ins container.InspectResponse) {
	s := w.r.svc
	w.policy, w.allowed = container.RestartPolicyDisabled, s.MaxRestarts
	if ins.HostConfig != nil {
		w.policy = ins.HostConfig.RestartPolicy.Name
		if m := ins.HostConfig.RestartPolicy.MaximumRetryCount; w.policy == container.RestartPolicyOnFailure && m > 0 && m < w.allowed {
			w.allowed = m
		}
	}
	if w.policy == container.RestartPolicyDisabled || w.policy == "" {
		w.allowed = 0
	}
}

// firstLook evaluates the state seen by the one inspect after the start.
func (w *watcher) firstLook(ins container.InspectResponse) verdict {
	s := w.r.svc
	w.base = obsFrom(ins)
	w.restartPolicy(ins)
	st := ins.State
	if st == nil {
		return undecided
	}
	w.oom = st.OOMKilled
	switch {
	case s.OneShot && !st.Running && st.Status == "exited":
		return w.onExit(st.ExitCode)
	case !st.Running && st.Status == "exited" && w.allowed == 0:
		return w.onExit(st.ExitCode)
	case st.Health != nil && st.Health.Status == container.Healthy && w.r.hasHealthcheck() && s.TCPPort == 0:
		return w.ready(readyInfo{signal: events.SignalEngine})
	}
	return undecided
}

// onEvent handles one engine event of the container.
func (w *watcher) onEvent(ev engine.Event) verdict {
	switch ev.Action {
	case "oom":
		w.oom = true
	case "kill", "stop":
		w.stoppedOutside = true
	case "start":
		w.notExec = 0 // a new run
	case "health_status":
		switch ev.Health {
		case "healthy":
			if w.tcpPending {
				return undecided
			}
			return w.ready(readyInfo{signal: events.SignalEngine})
		case "unhealthy":
			return w.onUnhealthy()
		}
	case "die":
		return w.onDie(ev.ExitCode)
	case "destroy":
		return w.fail(&Diagnosis{Reason: removedReason})
	}
	return undecided
}

// onUnhealthy: the engine's own check gave up. Its health log is the
// evidence: when every entry is a command that could not run, in a
// container running steadily, the command is broken, not the service.
func (w *watcher) onUnhealthy() verdict {
	reason := "turned unhealthy: its healthcheck failed " + retriesText(w.r.health) + " in a row"
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.sc.deploy), 2*time.Second)
	ins, err := w.d.eng.Inspect(ctx, w.id)
	cancel()
	if err == nil && ins.State != nil && ins.State.Health != nil && obsFrom(ins).sameRun(w.base) {
		var last engine.ExecResult
		n := 0
		for _, l := range ins.State.Health.Log {
			if l == nil {
				continue
			}
			res := engine.ExecResult{ExitCode: l.ExitCode, Output: l.Output}
			if notRun, aboutContainer := execSymptom(res, nil); !notRun || aboutContainer {
				n = -1
				break
			}
			last, n = res, n+1
		}
		if n >= 2 {
			return w.fail(&Diagnosis{Reason: fmt.Sprintf("its healthcheck command %q %s (the engine's checks: exit %d, %d times, in a running container)", strings.Join(w.r.health.Test, " "), notExecWhat(last), last.ExitCode, n),
				HealthOutputs: []string{fmt.Sprintf("exit %d: %s", last.ExitCode, trimOutput(last.Output))}})
		}
	}
	return w.fail(&Diagnosis{Reason: reason, OOMKilled: w.oom})
}

// notExecWhat says why a command could not run: missing, or not executable.
func notExecWhat(res engine.ExecResult) string {
	if res.ExitCode == 126 && !strings.Contains(res.Output, "no such file") && !strings.Contains(res.Output, "not found") {
		return "cannot be executed"
	}
	return "not found in the image"
}

const removedReason = "its container was removed during the deploy (docker rm -f, or another tool)"

// onDie classifies a death with a look at the container: removed, stopped
// from outside, an exit, or a crash loop under the restart policy.
func (w *watcher) onDie(code int) verdict {
	w.notExec = 0
	if w.r.svc.OneShot {
		return w.onExit(code)
	}
	obs, err := w.d.observe(w.sc.deploy, w.id)
	if err == nil {
		if obs.removing() {
			return w.fail(&Diagnosis{Reason: removedReason})
		}
		w.oom = w.oom || obs.oomKilled
	}
	if w.stoppedOutside {
		c := code
		return w.fail(&Diagnosis{Reason: fmt.Sprintf("was stopped from outside dive (docker stop/kill/restart, or the engine shutting down): %s", exitReason(code, w.oom)), ExitCode: &c, OOMKilled: w.oom})
	}
	w.restarts++
	if err == nil {
		w.restarts = max(w.restarts, obs.restartCount-w.base.restartCount)
	}
	return w.onRestartPolicy(code)
}

// onRestartPolicy decides on a death the restart policy may undo.
func (w *watcher) onRestartPolicy(code int) verdict {
	w.lastExit = code
	if w.restarts <= w.allowed {
		w.d.emitWarning(events.PhaseReady, w.r.svc.Name, fmt.Sprintf("%s exited with code %d; restart policy %s restarts it (%d of %d tolerated)", w.r.svc.Name, code, w.policy, w.restarts, w.allowed))
		return undecided
	}
	c := code
	if w.allowed > 0 {
		return w.fail(&Diagnosis{Reason: fmt.Sprintf("crash loop: exited %d times (last exit code %d) while starting; restart policy %s", w.restarts, code, w.policy), ExitCode: &c, OOMKilled: w.oom})
	}
	return w.fail(&Diagnosis{Reason: exitReason(code, w.oom), ExitCode: &c, OOMKilled: w.oom})
}

// onExit: the container exited and will not be restarted.
func (w *watcher) onExit(code int) verdict {
	c := code
	if w.r.svc.OneShot {
		if code == 0 {
			return w.ready(readyInfo{signal: events.SignalExited0})
		}
		return w.fail(&Diagnosis{Reason: fmt.Sprintf("one-shot job exited with code %d", code), ExitCode: &c, OOMKilled: w.oom})
	}
	return w.fail(&Diagnosis{Reason: exitReason(code, w.oom), ExitCode: &c, OOMKilled: w.oom})
}

// onProbe handles a probe the prober classified.
func (w *watcher) onProbe(p probeResult) verdict {
	w.probes++
	w.probeTime += p.end.Sub(p.start)
	switch p.kind {
	case probePass:
		w.notExec = 0
		if w.tcpPending {
			return undecided
		}
		i := readyInfo{signal: events.SignalProbe, probeOutput: trimOutput(p.output)}
		// Ready came after the last failed probe began (or, when none
		// failed, after the start): the time since bounds the detection lag.
		if !w.lastFail.IsZero() {
			i.lagBound = p.end.Sub(w.lastFail)
		} else if start := w.r.res.StartedAt; !start.IsZero() && p.end.After(start) {
			i.lagBound = p.end.Sub(start)
		}
		return w.ready(i)
	case probeFail:
		w.notExec = 0
		w.lastFail = p.start
	case probeNotExec:
		return w.onNotExec(p)
	case probeContainerDown:
		return w.onContainerDown(p.obs)
	}
	return undecided
}

// onNotExec: the command could not run in a container running steadily.
// Twice in the same run is a broken command.
func (w *watcher) onNotExec(p probeResult) verdict {
	if w.notExec == 0 || w.notExecRun != p.obs.startedAt {
		w.notExec, w.notExecRun = 0, p.obs.startedAt
	}
	w.notExec++
	if w.notExec < 2 {
		return undecided
	}
	what := notExecWhat(engine.ExecResult{ExitCode: p.exitCode, Output: p.output})
	return w.fail(&Diagnosis{Reason: fmt.Sprintf("its healthcheck command %q %s (probe exit %d) — twice, in a running container", strings.Join(w.r.health.Test, " "), what, p.exitCode),
		HealthOutputs: []string{fmt.Sprintf("exit %d: %s", p.exitCode, trimOutput(p.output))}})
}

// onContainerDown: the probe could not run because the container is not
// running steadily — evidence about the container, never the command.
func (w *watcher) onContainerDown(obs containerObs) verdict {
	w.notExec = 0
	w.oom = w.oom || obs.oomKilled
	switch {
	case obs.removing():
		return w.fail(&Diagnosis{Reason: removedReason})
	case obs.restartCount-w.base.restartCount > w.restarts:
		w.restarts = obs.restartCount - w.base.restartCount
		if w.restarts > w.allowed {
			return w.onRestartPolicy(obs.exitCode)
		}
	case !obs.running && obs.status == "exited" && w.allowed == 0:
		return w.onExit(obs.exitCode)
	}
	return undecided // the die event, or the next look, tells
}

// onTCP: the TCP port listens.
func (w *watcher) onTCP() verdict {
	w.tcpPending = false
	if !w.r.hasHealthcheck() {
		return w.ready(readyInfo{signal: events.SignalTCP, port: w.r.svc.TCPPort})
	}
	return undecided
}

// onSettled: a service without a check ran for the settle window; one
// look confirms it is still the same run.
func (w *watcher) onSettled() verdict {
	obs, err := w.d.observe(w.sc.deploy, w.id)
	if err != nil {
		return undecided // the events tell
	}
	if obs.removing() {
		return w.fail(&Diagnosis{Reason: removedReason})
	}
	if obs.sameRun(w.base) {
		return w.ready(readyInfo{signal: events.SignalRunning})
	}
	if !obs.running && obs.status == "exited" && w.allowed == 0 {
		return w.onExit(obs.exitCode)
	}
	w.base = obs // restarted: settle again from this run
	return undecided
}

// settleFor is how long a service without a check must be seen running:
// settleWindow from the first look that saw it running, or as long as the
// engine took for the slowest start of this deploy, when longer. An engine
// that needs seconds to start a container also needs seconds to notice and
// report its exit: a shorter window would take its silence for health. The
// window never exceeds an eighth of the service's budget: with 200
// containers starting at once a start took minutes, and a window as long
// failed services that ran steadily for want of budget (a later exit is
// still caught, by the event stream and the post-deploy validation).
func (w *watcher) settleFor() time.Duration {
	slowest, _ := w.d.cost.max(costStart)
	if b := w.r.budget; b > 0 {
		slowest = min(slowest, b/settleBudgetShare)
	}
	return max(settleWindow, slowest)
}

// onBudget: the service's budget ran out, or the wait was cut short.
func (w *watcher) onBudget(budgetCtx context.Context) verdict {
	waitCtx := w.sc.waitFor(w.r.svc)
	if w.sc.deploy.Err() != nil || (waitCtx.Err() != nil && !errors.Is(context.Cause(budgetCtx), errBudget)) {
		return stoppedHere
	}
	reason := fmt.Sprintf("did not become ready within its budget of %s (%s)", w.r.budget, budgetSource(w.r))
	var code *int
	if w.restarts > 0 {
		// The evidence is the restarts: a crash loop the budget cut short
		// (on a slow engine each restart takes seconds).
		c := w.lastExit
		code = &c
		if w.restarts == 1 {
			reason = fmt.Sprintf("exited once (exit code %d; restart policy %s restarted it) and %s", c, w.policy, reason)
		} else {
			reason = fmt.Sprintf("crash loop: exited %d times (last exit code %d; restart policy %s) and %s", w.restarts, c, w.policy, reason)
		}
	}
	if slow := w.d.cost.slowness(); slow != "" {
		reason += "; " + slow
	}
	return w.fail(&Diagnosis{Reason: reason, ExitCode: code, OOMKilled: w.oom})
}

func (w *watcher) ready(i readyInfo) verdict {
	d, r := w.d, w.r
	now := d.now()
	r.res.ReadyAt, r.res.Signal, r.res.State = now, i.signal, StateReady
	r.res.StartToReady = now.Sub(r.res.StartedAt)
	i.attempt, i.probes, i.probeTime = w.attempt, w.probes, w.probeTime
	if w.confirm {
		r.res.State = StateReused
		d.emitConfirmed(r, i, w.id)
	} else {
		d.emitReady(r, i, r.res.StartToReady)
	}
	r.ready.ok()
	return isReady
}

func (w *watcher) fail(diag *Diagnosis) verdict {
	w.d.fail(w.sc.deploy, w.r, diag, w.id)
	return hasFailed
}

// watch waits for the container's verdict: ready, failed, or its budget.
func (w *watcher) watch(evCh <-chan engine.Event, ins container.InspectResponse) verdict {
	d, s := w.d, w.r.svc
	budgetCtx, cancel := context.WithTimeoutCause(w.sc.waitFor(s), w.r.budget, errBudget)
	defer cancel()
	if v := w.firstLook(ins); v.done {
		return v
	}
	probes := make(chan probeResult, 1)
	if w.r.hasHealthcheck() && !s.ProbeOff && !s.OneShot {
		started := w.r.res.StartedAt
		if w.confirm {
			started = time.Time{} // the engine's check phase is unknown
		}
		go d.newProber(w.r, w.id, w.base, started).run(budgetCtx, probes, w.confirm)
	}
	tcpReady := make(chan struct{})
	if s.TCPPort != 0 && !s.OneShot {
		w.tcpPending = true
		go d.waitTCP(budgetCtx, w.r, w.id, w.base.pid, tcpReady)
	}
	var settled <-chan time.Time
	if !s.OneShot && !w.r.hasHealthcheck() && s.TCPPort == 0 {
		t := time.NewTimer(w.settleFor())
		defer t.Stop()
		settled = t.C
		w.settle = t
	}
	for {
		v := undecided
		select {
		case <-budgetCtx.Done():
			v = w.onBudget(budgetCtx)
		case <-tcpReady:
			tcpReady = nil
			v = w.onTCP()
		case p := <-probes:
			v = w.onProbe(p)
		case <-settled:
			if v = w.onSettled(); !v.done {
				w.settle.Reset(w.settleFor()) // restarted: settle this run
			}
		case ev, ok := <-evCh:
			if !ok {
				evCh = nil
				continue
			}
			v = w.onEvent(ev)
		}
		if v.done {
			return v
		}
	}
}

// guard watches a ready container until the deploy ends: a core container
// that dies, is killed or removed before then fails the deploy.
func (d *deployer) guard(sc scope, r *svcRun, id string, evCh <-chan engine.Event) {
	w := d.newWatcher(sc, r, id, false, r.res.Attempts)
	for {
		select {
		case <-sc.untilDeployEnd.Done():
			return
		case ev, ok := <-evCh:
			if !ok {
				return
			}
			switch ev.Action {
			case "kill", "stop":
				w.stoppedOutside = true
			case "oom":
				w.oom = true
			case "die", "destroy":
				d.failAfterReady(sc, w, ev)
				return
			}
		}
	}
}

// failAfterReady reports a ready container that died before the deploy
// ended.
func (d *deployer) failAfterReady(sc scope, w *watcher, ev engine.Event) {
	if sc.untilDeployEnd.Err() != nil {
		return
	}
	reason := removedReason
	var code *int
	if ev.Action == "die" {
		c := ev.ExitCode
		code = &c
		reason = exitReason(c, w.oom)
		if obs, err := d.observe(sc.deploy, w.id); err == nil && obs.removing() {
			reason, code = removedReason, nil
		} else if w.stoppedOutside {
			reason = "was stopped from outside dive (docker stop/kill/restart, or the engine shutting down): " + reason
		}
	}
	reason = "after it was ready: " + reason
	d.failReady(sc.deploy, w.r, &Diagnosis{Reason: reason, ExitCode: code, OOMKilled: w.oom}, w.id)
}

func budgetSource(r *svcRun) string {
	switch {
	case r.svc.BudgetSource == "label":
		return "label " + stack.LabelTimeout
	case r.svc.BudgetSource == "healthcheck" && !r.svc.ImageHealthcheckMatters():
		return "start_period + retries × (interval + timeout)"
	case r.hasHealthcheck():
		return "start_period + retries × (interval + timeout) of the healthcheck its image gives it"
	}
	return "default for services without a healthcheck"
}

func retriesText(hc *types.HealthCheckConfig) string {
	if hc != nil && hc.Retries != nil {
		return strconv.FormatUint(*hc.Retries, 10) + " times"
	}
	return "3 times"
}

func exitReason(code int, oom bool) string {
	if oom {
		return fmt.Sprintf("exited with code %d: killed by the kernel for running out of memory (OOM)", code)
	}
	switch code {
	case 137:
		return "exited with code 137 (SIGKILL)"
	case 143:
		return "exited with code 143 (SIGTERM)"
	case 126:
		return "exited with code 126: its command cannot be executed"
	case 127:
		return "exited with code 127: its command was not found in the image"
	}
	return fmt.Sprintf("exited with code %d", code)
}

func trimOutput(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
