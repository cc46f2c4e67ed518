package deploy

import (
	"context"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/moby/moby/api/types/container"
)

// containerObs is one look at a container (an inspect).
type containerObs struct {
	gone         bool // no such container (removed)
	status       string
	running      bool
	restarting   bool
	startedAt    string // the engine's StartedAt: it changes with every run
	restartCount int
	exitCode     int
	oomKilled    bool
	pid          int
}

func obsFrom(ins container.InspectResponse) containerObs {
	o := containerObs{restartCount: ins.RestartCount}
	if st := ins.State; st != nil {
		o.status, o.running, o.restarting = string(st.Status), st.Running, st.Restarting
		o.startedAt, o.exitCode, o.oomKilled, o.pid = st.StartedAt, st.ExitCode, st.OOMKilled, st.Pid
	}
	return o
}

// sameRun: o shows the run of the container that prev showed, running and
// not restarting.
func (o containerObs) sameRun(prev containerObs) bool {
	return !o.gone && o.running && !o.restarting && o.startedAt == prev.startedAt && o.restartCount == prev.restartCount
}

// removing: the container is being removed (docker rm -f) or is gone.
func (o containerObs) removing() bool {
	return o.gone || o.status == "removing" || o.status == "dead"
}

// observe inspects a container with a short deadline of its own: it runs
// when a verdict is due, also while the deploy is being stopped.
func (d *deployer) observe(ctx context.Context, id string) (containerObs, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	ins, err := d.eng.Inspect(ctx, id)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return containerObs{gone: true}, nil
		}
		return containerObs{}, err
	}
	return obsFrom(ins), nil
}

// probeKind is the prober's verdict on one probe.
type probeKind int

const (
	probePass          probeKind = iota // the command ran and exited 0
	probeFail                           // the command ran and said no
	probeNotExec                        // the command could not run in a container running steadily: about the command
	probeContainerDown                  // it could not run because the container is not running steadily: about the container
	probeNoAnswer                       // no verdict (timeout, engine error, could not look)
)

type probeResult struct {
	kind       probeKind
	exitCode   int
	output     string
	obs        containerObs // the look taken for a command that could not run
	start, end time.Time
}

// containerStateMessages are exec failures that are about the container's
// state, never about the command (the runtime found no live process to
// join).
var containerStateMessages = []string{
	"cannot exec in a stopped state", "setns process", "is not running", "is restarting",
	"no such container", "container not running", "is paused",
}

// execSymptom says whether an exec failed to run the command at all, and
// whether its message is about the container's state. The messages are read
// only when the exec itself failed (an error, exit 126/127/-1, an OCI
// runtime failure): a command's own output never decides.
func execSymptom(res engine.ExecResult, err error) (notRun, aboutContainer bool) {
	text := strings.ToLower(res.Output)
	if err != nil {
		text = strings.ToLower(err.Error()) + " " + text
	}
	// Exit -1 alone is no evidence: the engine's health log uses it for a
	// check that timed out, too.
	execFailed := err != nil || res.ExitCode == 126 || res.ExitCode == 127 ||
		strings.Contains(text, "oci runtime exec failed")
	if !execFailed {
		return false, false
	}
	for _, m := range containerStateMessages {
		if strings.Contains(text, m) {
			return true, true
		}
	}
	if cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err) {
		return true, true
	}
	if err != nil && !strings.Contains(text, "executable file not found") {
		return false, false // no answer (a timeout, the engine): no verdict
	}
	return true, false
}

// classifyProbe is the prober's verdict, from the exec's answer and — for a
// command that could not run — a look at the container taken right after
// (nil when that look failed). prev is the previous look: a command that
// cannot run is the command's fault only in a container still in the same
// run, running and not restarting.
func classifyProbe(res engine.ExecResult, err error, obs *containerObs, prev containerObs) probeKind {
	if err == nil && res.ExitCode == 0 {
		return probePass
	}
	notRun, aboutContainer := execSymptom(res, err)
	if !notRun {
		if err != nil {
			return probeNoAnswer
		}
		return probeFail
	}
	if obs == nil {
		return probeNoAnswer
	}
	if aboutContainer || !obs.sameRun(prev) {
		return probeContainerDown
	}
	return probeNotExec
}

// prober runs a service's own healthcheck command in its container, one at
// a time, each bounded by the healthcheck's timeout, and classifies each
// result with the container's state.
type prober struct {
	d        *deployer
	r        *svcRun
	id       string
	cmd      []string
	timeout  time.Duration
	first    time.Duration // the densest cadence
	ceiling  time.Duration // the sparsest cadence
	expected time.Duration // history's start-to-ready, 0 when unknown
	// engineStart and engineEvery give the engine's own checks: the first
	// at engineStart+engineEvery, then every engineEvery (API 1.41 has no
	// start_interval). Zero engineStart: unknown phase.
	engineStart time.Time
	engineEvery time.Duration
	last        containerObs // the latest look at the container
}

func (d *deployer) newProber(r *svcRun, id string, base containerObs, started time.Time) *prober {
	hc := r.health // the file's merged with the image's: what the engine runs
	p := &prober{d: d, r: r, id: id, cmd: engine.HealthcheckCommand(hc.Test), timeout: 30 * time.Second,
		first: defaultProbeInterval, ceiling: maxProbeInterval, expected: d.o.Expected[r.svc.Name],
		engineStart: started, engineEvery: 30 * time.Second, last: base}
	if r.svc.ProbeInterval > 0 {
		p.first = r.svc.ProbeInterval
	}
	if hc.Interval != nil && time.Duration(*hc.Interval) > 0 {
		p.engineEvery = time.Duration(*hc.Interval)
		p.ceiling = min(p.ceiling, p.engineEvery)
	}
	p.ceiling = max(p.ceiling, p.first)
	if hc.Timeout != nil && *hc.Timeout > 0 {
		p.timeout = time.Duration(*hc.Timeout)
	}
	return p
}

// run probes on the cadence of probeSchedule until ctx ends. now probes at
// once (an already-running container to confirm).
func (p *prober) run(ctx context.Context, out chan<- probeResult, now bool) {
	if len(p.cmd) == 0 {
		return
	}
	d := p.d
	started := d.now()
	interval := p.first / 2
	skipped := false
	timer := time.NewTimer(interval)
	if now {
		timer.Reset(0)
	}
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if wait := p.engineFirst(d.now()); wait > 0 && !skipped {
			// The engine's own check comes as soon: let it tell. Never
			// twice in a row: its check may fail (a timeout on a loaded
			// engine) and say nothing, so one probe per check interval
			// always runs.
			skipped = true
			timer.Reset(wait)
			continue
		}
		skipped = false
		if d.gate.acquireProbe(ctx, d.rank[p.r.svc.Name]) != nil {
			return
		}
		res := p.once(ctx)
		d.gate.releaseProbe()
		if ctx.Err() != nil {
			return
		}
		select {
		case out <- res:
		case <-ctx.Done():
			return
		}
		interval = probeSchedule(d.now().Sub(started), interval, p.first, p.ceiling, p.expected)
		timer.Reset(interval)
	}
}

// engineFirst returns how long to wait for the engine's own next check when
// it starts within the densest probe cadence from now (a probe started now
// would only run the same command again), else 0. The wait covers the
// check's own run (a probe's measured latency): if it says nothing, the
// next probe follows. The latency never widens the window: the engine's
// exec takes as long as dive's, so a later check never answers sooner.
func (p *prober) engineFirst(now time.Time) time.Duration {
	if p.engineStart.IsZero() || p.engineEvery <= 0 {
		return 0
	}
	since := now.Sub(p.engineStart)
	next := p.engineStart.Add((since/p.engineEvery + 1) * p.engineEvery)
	if until := next.Sub(now); until < max(p.first, 50*time.Millisecond) {
		return until + p.d.cost.probeLatency()
	}
	return 0
}

// once runs one probe and classifies it.
func (p *prober) once(ctx context.Context) probeResult {
	d := p.d
	t0 := d.now()
	// The healthcheck's timeout bounds the command; the engine's own exec
	// overhead (its measured latency, on a loaded engine seconds) is not
	// the app's time, so it is added, up to the timeout again.
	res, err := d.eng.Exec(ctx, p.id, p.cmd, p.timeout+min(p.timeout, d.cost.probeLatency()))
	end := d.now()
	if ctx.Err() == nil {
		d.cost.record(costProbe, end.Sub(t0))
	}
	out := probeResult{exitCode: res.ExitCode, output: res.Output, start: t0, end: end}
	if err != nil && out.output == "" {
		out.output = err.Error()
	}
	var obs *containerObs
	if notRun, _ := execSymptom(res, err); notRun {
		if o, oerr := d.observe(ctx, p.id); oerr == nil {
			obs = &o
		}
	}
	out.kind = classifyProbe(res, err, obs, p.last)
	if obs != nil {
		out.obs, p.last = *obs, *obs
	}
	return out
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
