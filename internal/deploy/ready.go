package deploy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

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
)

type probeResult struct {
	exitCode   int
	output     string
	err        error
	start, end time.Time
}

// startAndWait starts the container (unless it is already running) and waits
// until it is ready, fails, or its budget runs out. ok says it is ready;
// retry says the failure is worth a recreate.
func (d *deployer) startAndWait(ctx, rctx, statsCtx context.Context, r *svcRun, id string, running bool, evCh chan engine.Event, attempt int) (ok, retry bool) {
	s := r.svc
	if !running {
		prio, crit := d.opPrio(s.Name, true)
		queued := d.o.Now()
		if err := d.ops.acquire(ctx, prio, crit); err != nil {
			return false, false
		}
		attrs := events.ServiceStartingAttrs{Class: string(s.Class), Attempt: attempt}
		if q := d.o.Now().Sub(queued); q > time.Millisecond {
			attrs.QueuedMS = events.MS(q) // behind higher-ranked starts
		}
		d.svcEvent(r, events.PhaseStart, attrs)
		t0 := d.o.Now()
		err := d.eng.Start(ctx, id)
		d.ops.release(crit)
		d.issued(s.Name)
		if err != nil {
			if ctx.Err() != nil {
				return false, false
			}
			reason := "start failed: " + err.Error()
			if !engine.Definite(err) && attempt <= s.Retries {
				// Not final yet: the caller recreates the container and tries
				// again. Failing now would end the service (and, for a core
				// service, cancel the deploy before the retry).
				r.res.Reason = reason
				return false, true
			}
			d.fail(ctx, r, &Diagnosis{Reason: reason}, id)
			return false, false
		}
		r.res.StartedAt = t0
	} else {
		r.res.StartedAt = d.o.Now()
	}
	if !running {
		d.emit(events.Event{Phase: events.PhaseStart, Service: s.Name, Attrs: events.ServiceStartedAttrs{Attempt: attempt, Class: string(s.Class), ContainerID: short(id)}})
	}
	r.started.ok()
	if !running {
		d.statsWG.Add(1)
		go func() {
			defer d.statsWG.Done()
			d.sampleStats(statsCtx, r, id)
		}()
	}

	wctx := rctx
	if s.Class == stack.Core {
		wctx = ctx
	}
	bctx, cancel := context.WithTimeoutCause(wctx, s.Budget, errBudget)
	defer cancel()

	// The subscription is live (it came first); now look once.
	ins, err := d.eng.Inspect(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return false, false
		}
		d.fail(ctx, r, &Diagnosis{Reason: "inspect after start: " + err.Error()}, id)
		return false, false
	}
	restarts := 0
	oom := false
	policy := container.RestartPolicyDisabled
	maxRetry := 0
	if ins.HostConfig != nil {
		policy = ins.HostConfig.RestartPolicy.Name
		maxRetry = ins.HostConfig.RestartPolicy.MaximumRetryCount
	}
	allowed := s.MaxRestarts
	if policy == container.RestartPolicyOnFailure && maxRetry > 0 && maxRetry < allowed {
		allowed = maxRetry
	}
	if policy == container.RestartPolicyDisabled || policy == "" {
		allowed = 0
	}

	// The probes' cost is part of the record: how many ran and their time.
	probesRun, probeTime := 0, time.Duration(0)
	readyWith := func(signal events.Signal, how events.Readiness) (bool, bool) {
		now := d.o.Now()
		r.res.ReadyAt, r.res.Signal, r.res.State = now, signal, StateReady
		r.res.StartToReady = now.Sub(r.res.StartedAt)
		how.Signal, how.Attempt, how.Probes, how.ProbeMS = signal, attempt, probesRun, events.MS(probeTime)
		if running {
			// An unchanged container that was already running: confirmed
			// ready (docker's own check had not run yet), not started.
			r.res.State = StateReused
			d.emit(events.Event{Phase: events.PhaseReady, Service: s.Name, Attrs: events.ServiceReusedAttrs{Class: string(s.Class), ContainerID: short(id),
				Note: "unchanged and running; readiness confirmed by " + string(signal), Readiness: how}})
		} else {
			d.emit(events.Event{Phase: events.PhaseReady, Service: s.Name, Duration: r.res.StartToReady, Attrs: events.ServiceReadyAttrs{Class: string(s.Class), Readiness: how}})
		}
		r.ready.ok()
		return true, false
	}
	exitFail := func(code int, why string) (bool, bool) {
		c := code
		d.fail(ctx, r, &Diagnosis{Reason: why, ExitCode: &c, OOMKilled: oom}, id)
		return false, false
	}

	// Evaluate the state seen by the single inspect.
	if st := ins.State; st != nil {
		oom = st.OOMKilled
		switch {
		case s.OneShot && !st.Running && st.Status == "exited":
			if st.ExitCode == 0 {
				return readyWith(events.SignalExited0, events.Readiness{})
			}
			return exitFail(st.ExitCode, fmt.Sprintf("one-shot job exited with code %d", st.ExitCode))
		case !st.Running && st.Status == "exited" && allowed == 0:
			return exitFail(st.ExitCode, exitReason(st.ExitCode, st.OOMKilled))
		case st.Health != nil && st.Health.Status == container.Healthy && s.HasHealthcheck() && s.TCPPort == 0:
			return readyWith(events.SignalEngine, events.Readiness{})
		}
	}
	noWaitReady := !s.OneShot && !s.HasHealthcheck() && s.TCPPort == 0
	if noWaitReady && ins.State != nil && ins.State.Running {
		return readyWith(events.SignalRunning, events.Readiness{})
	}

	probes := make(chan probeResult, 1)
	if s.HasHealthcheck() && !s.ProbeOff && !s.OneShot {
		go d.probe(bctx, r, id, probes, running)
	}
	tcpReady := make(chan struct{})
	if s.TCPPort != 0 && !s.OneShot && ins.State != nil {
		go d.waitTCP(bctx, r, ins.State.Pid, tcpReady)
	}
	var lastFail time.Time
	notExec := 0
	for {
		select {
		case <-bctx.Done():
			if ctx.Err() != nil || (wctx.Err() != nil && !errors.Is(context.Cause(bctx), errBudget)) {
				return false, false
			}
			d.fail(ctx, r, &Diagnosis{Reason: fmt.Sprintf("did not become ready within its budget of %s (%s)", s.Budget, budgetSource(s)), OOMKilled: oom}, id)
			return false, false
		case <-tcpReady:
			tcpReady = nil
			if !s.HasHealthcheck() {
				return readyWith(events.SignalTCP, events.Readiness{Port: s.TCPPort})
			}
		case p := <-probes:
			probesRun++
			probeTime += p.end.Sub(p.start)
			if p.err != nil {
				continue
			}
			switch {
			case p.exitCode == 0:
				if s.TCPPort != 0 && tcpReady != nil {
					continue
				}
				how := events.Readiness{ProbeOutput: trimOutput(p.output)}
				if !lastFail.IsZero() {
					how.LagMS = events.MSPtr(p.end.Sub(lastFail))
				}
				return readyWith(events.SignalProbe, how)
			case p.exitCode == 126 || p.exitCode == 127 || strings.Contains(p.output, "executable file not found") || strings.Contains(p.output, "no such file or directory"):
				notExec++
				if notExec >= 2 {
					what := "not found in the image"
					if p.exitCode == 126 && !strings.Contains(p.output, "no such file") && !strings.Contains(p.output, "not found") {
						what = "cannot be executed"
					}
					d.fail(ctx, r, &Diagnosis{Reason: fmt.Sprintf("its healthcheck command %q %s (probe exit %d)", strings.Join(s.Config.HealthCheck.Test, " "), what, p.exitCode),
						HealthOutputs: []string{fmt.Sprintf("exit %d: %s", p.exitCode, trimOutput(p.output))}}, id)
					return false, false
				}
			default:
				notExec = 0
				lastFail = p.start
			}
		case ev, okc := <-evCh:
			if !okc {
				evCh = nil
				continue
			}
			switch ev.Action {
			case "oom":
				oom = true
			case "health_status":
				switch ev.Health {
				case "healthy":
					if s.TCPPort != 0 && tcpReady != nil {
						continue
					}
					return readyWith(events.SignalEngine, events.Readiness{})
				case "unhealthy":
					d.fail(ctx, r, &Diagnosis{Reason: "turned unhealthy: its healthcheck failed " + retriesText(s) + " in a row", OOMKilled: oom}, id)
					return false, false
				}
			case "die":
				if s.OneShot {
					if ev.ExitCode == 0 {
						return readyWith(events.SignalExited0, events.Readiness{})
					}
					return exitFail(ev.ExitCode, fmt.Sprintf("one-shot job exited with code %d", ev.ExitCode))
				}
				restarts++
				if restarts > allowed {
					if allowed > 0 {
						return exitFail(ev.ExitCode, fmt.Sprintf("crash loop: exited %d times (last exit code %d) while starting; restart policy %s", restarts, ev.ExitCode, policy))
					}
					return exitFail(ev.ExitCode, exitReason(ev.ExitCode, oom))
				}
				d.emit(events.Event{Phase: events.PhaseReady, Service: s.Name, Level: events.LevelWarn,
					Attrs: events.WarningAttrs{Note: events.Note{Message: fmt.Sprintf("%s exited with code %d; restart policy %s restarts it (%d of %d tolerated)", s.Name, ev.ExitCode, policy, restarts, allowed)}}})
			case "destroy":
				d.fail(ctx, r, &Diagnosis{Reason: "its container was removed during the deploy"}, "")
				return false, false
			case "start":
				if noWaitReady {
					return readyWith(events.SignalRunning, events.Readiness{})
				}
			}
		}
	}
}

var errBudget = errors.New("start-up budget exhausted")

func budgetSource(s *stack.Service) string {
	switch s.BudgetSource {
	case "label":
		return "label " + stack.LabelTimeout
	case "healthcheck":
		return "start_period + retries × (interval + timeout)"
	}
	return "default for services without a healthcheck"
}

func retriesText(s *stack.Service) string {
	if hc := s.Config.HealthCheck; hc != nil && hc.Retries != nil {
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

// probe runs the service's own healthcheck command in the container, one
// at a time, each bounded by the healthcheck's timeout; all services share a
// gate (served by rank: the longest chain first) so heavy checks cannot
// saturate a small machine. The cadence
// (probeSchedule) is dense while the service is expected to turn ready and
// sparse before and long after.
func (d *deployer) probe(ctx context.Context, r *svcRun, id string, out chan<- probeResult, now bool) {
	hc := r.svc.Config.HealthCheck
	cmd := engine.HealthcheckCommand(hc.Test)
	if len(cmd) == 0 {
		return
	}
	first := defaultProbeInterval
	if r.svc.ProbeInterval > 0 {
		first = r.svc.ProbeInterval
	}
	ceiling := maxProbeInterval
	if hc.Interval != nil && time.Duration(*hc.Interval) > 0 && time.Duration(*hc.Interval) < ceiling {
		ceiling = time.Duration(*hc.Interval)
	}
	if ceiling < first {
		ceiling = first
	}
	timeout := 30 * time.Second
	if hc.Timeout != nil && *hc.Timeout > 0 {
		timeout = time.Duration(*hc.Timeout)
	}
	expected := d.o.Expected[r.svc.Name]
	started := time.Now()
	interval := first / 2
	timer := time.NewTimer(interval)
	if now {
		// an already-running container: confirm it at once
		timer.Reset(0)
	}
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if d.probes.acquire(ctx, d.rank[r.svc.Name], false) != nil {
			return
		}
		t0 := time.Now()
		res, err := d.eng.Exec(ctx, id, cmd, timeout)
		d.probes.release(false)
		p := probeResult{exitCode: res.ExitCode, output: res.Output, err: err, start: t0, end: time.Now()}
		if err != nil && strings.Contains(err.Error(), "executable file not found") {
			p.err, p.exitCode, p.output = nil, 127, err.Error()
		}
		select {
		case out <- p:
		case <-ctx.Done():
			return
		}
		interval = probeSchedule(time.Since(started), interval, first, ceiling, expected)
		timer.Reset(interval)
	}
}

// probeSchedule returns the wait before the next probe, elapsed after the
// start. With an expected readiness time from history it sleeps through
// most of it, probes every `first` from 70 % to 3× of it, then backs off.
// Without one it probes every `first`, growing ×1.2 to 250 ms for the first
// 10 s, then ×1.5 to the ceiling (1 s or the healthcheck's interval).
func probeSchedule(elapsed, prev, first, ceiling, expected time.Duration) time.Duration {
	if expected > 0 {
		lo, hi := expected*7/10, 3*expected
		switch {
		case elapsed < lo:
			return min(ceiling, max(first, (lo-elapsed)/2))
		case elapsed < hi:
			return first
		}
		return min(ceiling, max(first, time.Duration(float64(prev)*probeBackoff)))
	}
	if elapsed < denseProbeWindow {
		return min(max(denseProbeCeiling, first), max(first, time.Duration(float64(prev)*1.2)))
	}
	return min(ceiling, max(first, time.Duration(float64(prev)*probeBackoff)))
}

// waitTCP waits until the container listens on the port. It reads the
// container's own socket table through /proc/<pid>/net/tcp, which shows the
// container's network namespace; a TCP connect through a published port
// would succeed on docker-proxy before the app listens.
func (d *deployer) waitTCP(ctx context.Context, r *svcRun, pid int, ready chan<- struct{}) {
	if pid == 0 || !fileExists(fmt.Sprintf("/proc/%d/net/tcp", pid)) {
		d.emit(events.Event{Phase: events.PhaseReady, Service: r.svc.Name, Level: events.LevelWarn,
			Attrs: events.WarningAttrs{Note: events.Note{Message: fmt.Sprintf("%s: label %s needs the engine on this host (reading /proc/%d/net/tcp); counting the port as open", r.svc.Name, stack.LabelTCP, pid)}}})
		close(ready)
		return
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		if listening(pid, r.svc.TCPPort) {
			close(ready)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func listening(pid, port int) bool {
	want := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"tcp", "tcp6"} {
		fh, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) > 3 && strings.HasSuffix(fields[1], want) && fields[3] == "0A" {
				fh.Close()
				return true
			}
		}
		fh.Close()
	}
	return false
}

// sampleStats records the container's CPU and memory peaks while the deploy runs.
func (d *deployer) sampleStats(ctx context.Context, r *svcRun, id string) {
	_ = d.eng.StatsStream(ctx, id, func(s engine.Stats) {
		r.mu.Lock()
		if s.CPUPercent > r.peakCPU {
			r.peakCPU = s.CPUPercent
		}
		if s.MemBytes > r.peakMem {
			r.peakMem = s.MemBytes
		}
		r.mu.Unlock()
	})
	r.mu.Lock()
	cpu, mem := r.peakCPU, r.peakMem
	r.mu.Unlock()
	if mem > 0 || cpu > 0 {
		d.emit(events.Event{Phase: events.PhaseReady, Service: r.svc.Name, Level: events.LevelDebug,
			Attrs: events.ServiceStatsAttrs{CPUPercent: cpu, MemBytes: mem}})
	}
}
