package validate

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/stack"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// Engine is what validation needs of the Docker engine. *engine.Engine has
// all but VolumeExists; the CLI adds that in a thin adapter. Unit tests fake it.
type Engine interface {
	ListContainers(ctx context.Context, project string) ([]engine.Container, error)
	Inspect(ctx context.Context, id string) (container.InspectResponse, error)
	Exec(ctx context.Context, id string, cmd []string, timeout time.Duration) (engine.ExecResult, error)
	VolumeExists(ctx context.Context, name string) (bool, error)
}

// Options tune a validation.
type Options struct {
	// Window is how long to watch restart counts: RestartCount is sampled at
	// the start and again after Window. 0 takes a single sample (the
	// post-deploy validation does that to stay fast).
	Window time.Duration
	// DialTimeout bounds each connect to a published port. Default 1s.
	DialTimeout time.Duration
	// Dial connects to a published port; default a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// NoExec disables running a healthcheck command once when the engine
	// still reports "starting" (see docs/validation.md).
	NoExec bool
	// Confirmed names services whose healthcheck command dive's own probe
	// ran successfully during the deploy that just ended; a "starting"
	// engine status then passes without running the command again.
	Confirmed map[string]bool
	// Reused names services that the deploy which just ended left alone,
	// unchanged and ready (it read them from the engine's container list a
	// moment ago). While the list still shows such a service running, and
	// healthy when it has a healthcheck, its checks come from that list,
	// without an inspect: on a busy engine an inspect waits for the
	// container's lock, which the engine holds while it starts the
	// healthcheck's exec (seconds each under load, measured on Engine 20.10),
	// while the list never waits. What only an inspect shows (restart count,
	// start time, health log) was checked when the container was deployed.
	Reused map[string]bool
	// ExecTimeout bounds that run. Default: the healthcheck's timeout, at most 5s.
	ExecTimeout time.Duration
	// Concurrency bounds parallel engine calls. Default 16.
	Concurrency int
}

// Check names of a validation.
const (
	CheckContainer = "container"
	CheckHealth    = "health"
	CheckJob       = "job"
	CheckPort      = "port"
	CheckNetwork   = "network"
	CheckVolume    = "volume"
	CheckOrder     = "order"
	CheckRestarts  = "restarts"
	CheckEngine    = "engine"
)

// maxHealthLog is how many results the engine keeps in State.Health.Log
// (moby daemon/health.go maxLogEntries).
const maxHealthLog = 5

// svcState is what one inspect said about a service's container.
type svcState struct {
	svc      *stack.Service
	networks []string // engine names of the networks it must be attached to
	c        engine.Container
	found    bool
	// reused by the deploy that just ended (Options.Reused); listed: and
	// its checks come from the container list.
	reused, listed bool
	ins            container.InspectResponse
	insErr         error
	started        time.Time
	created        time.Time
	ended          time.Time
	// restarts2 is RestartCount after the window (-1: not sampled).
	restarts2 int
	running2  bool
	// probe is the result of running the healthcheck command once.
	probe    *engine.ExecResult
	probeErr error
	// ports: dial results by "ip:port/proto".
	dials map[string]dialResult
}

type dialResult struct {
	err error
	rtt time.Duration
}

// Run validates the deployed stack st. It never returns an error: a failed
// engine call is a failed check.
func Run(ctx context.Context, st *stack.Stack, eng Engine, o Options) Report {
	t0 := time.Now()
	if o.DialTimeout <= 0 {
		o.DialTimeout = time.Second
	}
	if o.Dial == nil {
		d := &net.Dialer{Timeout: o.DialTimeout}
		o.Dial = d.DialContext
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	rep := Report{Kind: "validate", Project: st.Project.Name, Window: o.Window}
	finish := func() Report { rep.Finish(time.Since(t0)); return rep }

	cs, err := eng.ListContainers(ctx, st.Project.Name)
	if err != nil {
		rep.Checks = append(rep.Checks, Check{Name: CheckEngine, Status: Fail,
			Detail: fmt.Sprintf("cannot list the containers of project %s: %v", st.Project.Name, err),
			Fix:    "check that the Docker engine answers (docker info)"})
		return finish()
	}
	r := &runner{ctx: ctx, eng: eng, o: o, states: serviceStates(st, cs), sem: make(chan struct{}, o.Concurrency)}
	for n, s := range r.states {
		s.reused = o.Reused[n]
		s.listed = s.reused && listedReady(s)
	}

	// 1. inspect every container, in parallel.
	r.inspectAll()
	r.wg.Wait()

	// 2. in parallel: the restart window, port connects, health probes and volumes.
	windowWG := r.watchWindow()
	r.dialAndProbe()
	vols := usedVolumes(st)
	volFound, volExists := r.lookUpVolumes(vols)
	r.wg.Wait()
	windowWG.Wait()

	// 3. the checks, in a stable order.
	rep.Checks = append(rep.Checks, serviceChecks(st, r.states, o.Window)...)
	for _, v := range vols {
		rep.Checks = append(rep.Checks, volumeChecks(v, volFound[v.name], volExists[v.name], r.states)...)
	}
	if ctx.Err() != nil {
		rep.Checks = append(rep.Checks, Check{Name: CheckEngine, Status: Fail, Detail: "validation was interrupted: " + context.Cause(ctx).Error()})
	}
	return finish()
}

// serviceStates pairs each service of st with its newest container in cs.
func serviceStates(st *stack.Stack, cs []engine.Container) map[string]*svcState {
	states := map[string]*svcState{}
	for _, n := range st.Names {
		states[n] = &svcState{svc: st.Services[n], networks: expectedNetworks(st.Services[n], st.Project), restarts2: -1}
	}
	for _, c := range cs {
		s, ok := states[c.Service]
		if !ok || c.Labels[engine.LabelOneOff] == "True" {
			continue
		}
		// Several containers for one service: keep the newest.
		if !s.found || c.Created.After(s.c.Created) {
			s.c, s.found = c, true
		}
	}
	return states
}

// listedReady: the container list shows s's container running, and healthy
// when the service has a healthcheck.
func listedReady(s *svcState) bool {
	if !s.found || s.svc.OneShot || s.c.State != string(container.StateRunning) {
		return false
	}
	return !hasHealthcheck(s) || s.c.Health == string(container.Healthy)
}

// hasHealthcheck reports whether s's container runs a healthcheck: the
// file's, or, when the file names no test, its image's (the engine merges
// them at create; the container's inspect, or its listed health, shows it).
func hasHealthcheck(s *svcState) bool {
	if s.svc.HasHealthcheck() {
		return true
	}
	if !s.svc.ImageHealthcheckMatters() || !s.found {
		return false
	}
	if s.listed {
		return s.c.Health != ""
	}
	return healthcheckTest(s) != nil
}

// healthcheckTest is the test s's container runs (its inspect: the file's
// merged with the image's), else the file's; nil when none runs.
func healthcheckTest(s *svcState) []string {
	if s.ins.Config != nil && s.ins.Config.Healthcheck != nil {
		if t := s.ins.Config.Healthcheck.Test; len(t) > 0 && t[0] != "NONE" {
			return t
		}
		return nil
	}
	if s.svc.HasHealthcheck() {
		return s.svc.Config.HealthCheck.Test
	}
	return nil
}

// runner runs the engine calls, dials and probes of one validation, at
// most o.Concurrency at a time.
type runner struct {
	ctx    context.Context
	eng    Engine
	o      Options
	states map[string]*svcState
	sem    chan struct{}
	wg     sync.WaitGroup
}

// goLimited runs f in a goroutine once a slot is free, unless ctx ends
// first; r.wg waits for it.
func (r *runner) goLimited(f func()) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		defer func() { <-r.sem }()
		f()
	}()
}

// inspectAll inspects every container found.
func (r *runner) inspectAll() {
	for _, s := range r.states {
		if !s.found || s.listed {
			continue
		}
		r.goLimited(func() {
			s.ins, s.insErr = r.eng.Inspect(r.ctx, s.c.ID)
			if s.insErr == nil {
				s.created = parseTime(s.ins.Created)
				if s.ins.State != nil {
					s.started = parseTime(s.ins.State.StartedAt)
					s.ended = parseTime(s.ins.State.FinishedAt)
				}
			}
		})
	}
}

// watchWindow, when there is a window and a long-running container to
// watch, inspects the containers again once the window has passed. The
// returned group waits for it.
func (r *runner) watchWindow() *sync.WaitGroup {
	var windowWG sync.WaitGroup
	watch := false
	for _, s := range r.states {
		watch = watch || (running(s) && !s.svc.OneShot)
	}
	if r.o.Window > 0 && watch {
		windowWG.Add(1)
		go func() {
			defer windowWG.Done()
			t := time.NewTimer(r.o.Window)
			defer t.Stop()
			select {
			case <-r.ctx.Done():
				return
			case <-t.C:
			}
			r.reinspect()
		}()
	}
	return &windowWG
}

// reinspect records the restart count and running state of each
// long-running container, all at once.
func (r *runner) reinspect() {
	var iwg sync.WaitGroup
	for _, s := range r.states {
		if !s.found || s.insErr != nil || s.svc.OneShot || s.listed {
			continue
		}
		iwg.Add(1)
		go func() {
			defer iwg.Done()
			ins, err := r.eng.Inspect(r.ctx, s.c.ID)
			if err == nil {
				s.restarts2 = ins.RestartCount
				s.running2 = ins.State != nil && ins.State.Running
			}
		}()
	}
	iwg.Wait()
}

// dialAndProbe dials the ports of every running container and runs the
// healthcheck of those still starting.
func (r *runner) dialAndProbe() {
	for _, s := range r.states {
		if !running(s) {
			continue
		}
		s.dials = map[string]dialResult{}
		var mu sync.Mutex
		for _, target := range dialTargets(s) {
			r.goLimited(func() {
				t := time.Now()
				dctx, cancel := context.WithTimeout(r.ctx, r.o.DialTimeout)
				defer cancel()
				conn, err := r.o.Dial(dctx, "tcp", target)
				rtt := time.Since(t)
				if err == nil {
					conn.Close()
				}
				mu.Lock()
				s.dials[target] = dialResult{err: err, rtt: rtt}
				mu.Unlock()
			})
		}
		r.probe(s)
	}
}

// probe runs the healthcheck command of s when it is still starting,
// unless dive's own probe already saw it succeed.
func (r *runner) probe(s *svcState) {
	o := r.o
	if hasHealthcheck(s) && !s.svc.OneShot && healthStatus(s) == container.Starting && o.Confirmed[s.svc.Name] {
		// dive's own probe ran this very healthcheck command moments ago
		// and it succeeded: running it again would only cost time.
		s.probe = &engine.ExecResult{ExitCode: 0, Output: "its healthcheck command succeeded in dive's probe during this deploy"}
	} else if !o.NoExec && hasHealthcheck(s) && !s.svc.OneShot && healthStatus(s) == container.Starting {
		cmd := engine.HealthcheckCommand(healthcheckTest(s))
		if len(cmd) > 0 {
			timeout := o.ExecTimeout
			if timeout <= 0 {
				timeout = 5 * time.Second
				if hc := s.ins.Config; hc != nil && hc.Healthcheck != nil && hc.Healthcheck.Timeout > 0 && hc.Healthcheck.Timeout < timeout {
					timeout = hc.Healthcheck.Timeout
				} else if hc := s.svc.Config.HealthCheck; hc != nil && hc.Timeout != nil && *hc.Timeout > 0 && time.Duration(*hc.Timeout) < timeout {
					timeout = time.Duration(*hc.Timeout)
				}
			}
			r.goLimited(func() {
				res, err := r.eng.Exec(r.ctx, s.c.ID, cmd, timeout)
				s.probe, s.probeErr = &res, err
			})
		}
	}
}

// lookUpVolumes finds out which of vols exist. The maps are filled once
// r.wg is done.
func (r *runner) lookUpVolumes(vols []*volumeUse) (volFound map[string]bool, volExists map[string]error) {
	volExists = make(map[string]error, len(vols))
	volFound = make(map[string]bool, len(vols))
	var vmu sync.Mutex
	for _, v := range vols {
		// A container that mounts the volume proves it exists (the engine
		// refuses to remove a volume in use); ask only when none does.
		if mountedBySome(v, r.states) {
			vmu.Lock()
			volFound[v.name] = true
			vmu.Unlock()
			continue
		}
		r.goLimited(func() {
			ok, err := r.eng.VolumeExists(r.ctx, v.name)
			vmu.Lock()
			volExists[v.name], volFound[v.name] = err, ok
			vmu.Unlock()
		})
	}
	return volFound, volExists
}

// serviceChecks are the container and order checks of each service, in
// the order of st.
func serviceChecks(st *stack.Stack, states map[string]*svcState, window time.Duration) []Check {
	var checks []Check
	for _, n := range st.Names {
		s := states[n]
		checks = append(checks, containerChecks(s, window)...)
		deps := make([]string, 0, len(s.svc.Config.DependsOn))
		for d := range s.svc.Config.DependsOn {
			deps = append(deps, d)
		}
		sort.Strings(deps)
		for _, d := range deps {
			if c, ok := healthyWithoutCheck(s, states[d], s.svc.Config.DependsOn[d]); ok {
				checks = append(checks, c)
			}
			if c, ok := orderCheck(s, states[d], s.svc.Config.DependsOn[d]); ok {
				checks = append(checks, c)
			}
		}
	}
	return checks
}

func running(s *svcState) bool {
	return s.listed || s.found && s.insErr == nil && s.ins.State != nil && s.ins.State.Running && !s.ins.State.Restarting && !s.ins.State.Paused
}

// healthyWithoutCheck warns when from waits for to to be healthy and to's
// container runs no healthcheck (neither the file nor its image gives it
// one): a deploy fails from, as docker compose refuses to start it.
func healthyWithoutCheck(from, to *svcState, dep types.ServiceDependency) (Check, bool) {
	if from == nil || to == nil || !to.found || to.insErr != nil || dep.Condition != types.ServiceConditionHealthy || hasHealthcheck(to) {
		return Check{}, false
	}
	if !to.listed && to.ins.Config == nil {
		return Check{}, false // not inspected: nothing known
	}
	x, y := from.svc.Name, to.svc.Name
	return Check{Name: CheckOrder, Service: x, Class: from.svc.Class, Status: Warn,
		Detail: fmt.Sprintf("%s waits for %s to be healthy, but %s's container runs no healthcheck (the compose file gives it none, nor does its image): a deploy fails %s", x, y, y, x),
		Fix:    fmt.Sprintf("give %s a healthcheck (healthcheck.test, or HEALTHCHECK in its Dockerfile), or make %s wait with condition: service_started", y, x)}, true
}

func healthStatus(s *svcState) container.HealthStatus {
	if s.listed {
		return container.HealthStatus(s.c.Health)
	}
	if s.ins.State == nil || s.ins.State.Health == nil {
		return ""
	}
	return s.ins.State.Health.Status
}

func parseTime(v string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

func containerChecks(s *svcState, window time.Duration) []Check {
	svc := s.svc
	mk := func(name string, st Status, detail, fix string) Check {
		return Check{Name: name, Service: svc.Name, Class: svc.Class, Status: st, Detail: detail, Fix: fix}
	}
	if !s.found {
		return []Check{mk(CheckContainer, Fail, fmt.Sprintf("service %s has no container", svc.Name),
			fmt.Sprintf("deploy it: dive hub deploy %s", svc.Name))}
	}
	name := s.c.Name
	if s.listed {
		return listedChecks(s, mk)
	}
	if s.insErr != nil {
		return []Check{mk(CheckContainer, Fail, fmt.Sprintf("cannot inspect container %s: %v", name, s.insErr), "check the engine (docker info) and run validate again")}
	}
	st := s.ins.State
	if st == nil {
		return []Check{mk(CheckContainer, Fail, fmt.Sprintf("container %s has no state", name), "")}
	}
	logs := fmt.Sprintf("see its logs: dive hub logs %s", svc.Name)
	var out []Check

	if svc.OneShot {
		out = append(out, mk(CheckContainer, Pass, fmt.Sprintf("container %s exists (one-shot job, %s)", name, st.Status), ""))
		switch {
		case st.Running || st.Restarting:
			out = append(out, mk(CheckJob, Fail, fmt.Sprintf("one-shot job %s is still running (started %s ago)", svc.Name, ago(s.started)), "wait for it to finish, then run validate again; "+logs))
		case s.started.IsZero():
			out = append(out, mk(CheckJob, Fail, fmt.Sprintf("one-shot job %s never started (%s)", svc.Name, st.Status), "deploy it: dive hub deploy "+svc.Name))
		case st.ExitCode != 0:
			out = append(out, mk(CheckJob, Fail, fmt.Sprintf("one-shot job %s exited with code %d%s", svc.Name, st.ExitCode, oomText(st.OOMKilled)), logs+"; fix it and redeploy"))
		default:
			d := ""
			if !s.ended.IsZero() && !s.started.IsZero() {
				d = fmt.Sprintf(" after %s", fmtDuration(s.ended.Sub(s.started)))
			}
			out = append(out, mk(CheckJob, Pass, fmt.Sprintf("one-shot job exited 0%s", d), ""))
		}
		return out
	}

	switch {
	case st.Restarting:
		out = append(out, mk(CheckContainer, Fail, fmt.Sprintf("container %s is restarting (restarted %d times, last exit code %d%s)", name, s.ins.RestartCount, st.ExitCode, oomText(st.OOMKilled)), logs))
	case st.Paused:
		out = append(out, mk(CheckContainer, Fail, fmt.Sprintf("container %s is paused", name), "docker unpause "+name))
	case st.Running:
		out = append(out, mk(CheckContainer, Pass, fmt.Sprintf("container %s running for %s", name, ago(s.started)), ""))
	case st.Status == container.StateCreated:
		out = append(out, mk(CheckContainer, Fail, fmt.Sprintf("container %s was created but never started", name), "deploy it: dive hub deploy "+svc.Name))
	default:
		out = append(out, mk(CheckContainer, Fail, fmt.Sprintf("container %s is %s (exit code %d%s)", name, st.Status, st.ExitCode, oomText(st.OOMKilled)),
			logs+"; then bring it back with dive hub deploy "+svc.Name))
	}
	up := running(s)

	if hasHealthcheck(s) && up {
		out = append(out, healthCheck(s, mk))
	}
	if up {
		out = append(out, portChecks(s, mk)...)
	}
	if c, ok := networkCheck(s, mk); ok {
		out = append(out, c)
	}
	if up {
		out = append(out, restartCheck(s, window, mk))
	}
	return out
}

// listedChecks are the checks of a service reused unchanged that the
// container list shows running (and healthy): the list's state, health,
// ports and networks; see Options.Reused.
func listedChecks(s *svcState, mk mkFunc) []Check {
	out := []Check{mk(CheckContainer, Pass, fmt.Sprintf("container %s running (%s; reused unchanged by this deploy, state from the container list)", s.c.Name, s.c.Status), "")}
	if hasHealthcheck(s) {
		out = append(out, mk(CheckHealth, Pass, "healthy (the engine's status in the container list)", ""))
	}
	out = append(out, portChecks(s, mk)...)
	if c, ok := networkCheck(s, mk); ok {
		out = append(out, c)
	}
	return out
}

func oomText(oom bool) string {
	if oom {
		return ", killed for running out of memory (OOM)"
	}
	return ""
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.Round(time.Minute).String()
}

type mkFunc func(name string, st Status, detail, fix string) Check

func healthCheck(s *svcState, mk mkFunc) Check {
	h := s.ins.State.Health
	logs := fmt.Sprintf("see dive hub logs %s and its healthcheck (docker inspect %s)", s.svc.Name, s.c.Name)
	if h == nil {
		return mk(CheckHealth, Fail, fmt.Sprintf("the compose file declares a healthcheck but container %s has none (created from an older configuration?)", s.c.Name),
			"recreate it: dive hub deploy --force-recreate "+s.svc.Name)
	}
	switch h.Status {
	case container.Healthy:
		last := lastResult(h)
		if last != nil {
			return mk(CheckHealth, Pass, fmt.Sprintf("healthy (last check %s ago took %s)", ago(last.End), fmtDuration(last.End.Sub(last.Start))), "")
		}
		return mk(CheckHealth, Pass, "healthy", "")
	case container.Unhealthy:
		return mk(CheckHealth, Fail, fmt.Sprintf("unhealthy: %d checks failed in a row%s", h.FailingStreak, lastOutput(h)), logs)
	case container.Starting:
		if s.probe != nil || s.probeErr != nil {
			if s.probeErr == nil && s.probe.ExitCode == 0 {
				return mk(CheckHealth, Pass, "the engine has not reported healthy yet (status starting, its first check is still due), and the healthcheck command run now exited 0", "")
			}
			why := ""
			if s.probeErr != nil {
				why = s.probeErr.Error()
			} else {
				why = fmt.Sprintf("exited %d", s.probe.ExitCode)
				if out := strings.TrimSpace(s.probe.Output); out != "" {
					why += ": " + clip(out, 200)
				}
			}
			return mk(CheckHealth, Fail, fmt.Sprintf("still starting (not healthy yet), and the healthcheck command run now failed: %s", why), "wait and run validate again; "+logs)
		}
		return mk(CheckHealth, Fail, fmt.Sprintf("still starting: not healthy yet (%d failed checks so far)%s", h.FailingStreak, lastOutput(h)), "wait and run validate again; "+logs)
	}
	return mk(CheckHealth, Fail, fmt.Sprintf("health status %q", h.Status), logs)
}

func lastResult(h *container.Health) *container.HealthcheckResult {
	if h == nil || len(h.Log) == 0 {
		return nil
	}
	return h.Log[len(h.Log)-1]
}

func lastOutput(h *container.Health) string {
	if r := lastResult(h); r != nil && r.ExitCode != 0 {
		out := strings.TrimSpace(r.Output)
		if out == "" {
			return fmt.Sprintf("; last check exited %d", r.ExitCode)
		}
		return fmt.Sprintf("; last check exited %d: %s", r.ExitCode, clip(out, 200))
	}
	return ""
}

func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// publishedPort is one host port a service publishes, as the compose file
// declares it and as the engine bound it.
type publishedPort struct {
	cfg      types.ServicePortConfig
	hostIP   string
	hostPort string // as bound by the engine
	bound    bool
}

// published lists a service's published TCP ports with the engine's bindings.
func published(s *svcState) []publishedPort {
	var out []publishedPort
	for _, pc := range s.svc.Config.Ports {
		proto := pc.Protocol
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" {
			continue // a connect says nothing about UDP
		}
		var bindings []network.PortBinding
		switch {
		case s.listed:
			for _, p := range s.c.Ports {
				if int(p.PrivatePort) == int(pc.Target) && p.Type == proto && p.PublicPort != 0 {
					bindings = append(bindings, network.PortBinding{HostIP: p.IP, HostPort: strconv.Itoa(int(p.PublicPort))})
				}
			}
		case s.ins.NetworkSettings != nil:
			for p, b := range s.ins.NetworkSettings.Ports {
				if int(p.Num()) == int(pc.Target) && string(p.Proto()) == proto {
					bindings = append(bindings, b...)
				}
			}
		}
		want := pc.Published
		lo, hi := engine.PortRange(want)
		matched := false
		for _, b := range bindings {
			if !sameHostIP(pc.HostIP, b.HostIP.String(), b.HostIP.IsValid()) {
				continue
			}
			n, _ := strconv.Atoi(b.HostPort)
			// "" and "0" ask the engine for any free host port.
			if want != "" && want != "0" && (n < lo || n > hi) {
				continue
			}
			matched = true
			ip := pc.HostIP
			out = append(out, publishedPort{cfg: pc, hostIP: ip, hostPort: b.HostPort, bound: true})
			break
		}
		if !matched {
			out = append(out, publishedPort{cfg: pc, hostIP: pc.HostIP, hostPort: want})
		}
	}
	return out
}

func sameHostIP(want, got string, valid bool) bool {
	unspecified := func(s string) bool { return s == "" || s == "0.0.0.0" || s == "::" }
	if !valid {
		got = ""
	}
	if unspecified(want) {
		return unspecified(got)
	}
	return want == got
}

// dialAddr is where to connect to reach a port published on hostIP.
func dialAddr(hostIP, port string) string {
	switch hostIP {
	case "", "0.0.0.0":
		hostIP = "127.0.0.1"
	case "::":
		hostIP = "::1"
	}
	return net.JoinHostPort(hostIP, port)
}

func dialTargets(s *svcState) []string {
	var out []string
	for _, p := range published(s) {
		if p.bound {
			out = append(out, dialAddr(p.hostIP, p.hostPort))
		}
	}
	return out
}

func portChecks(s *svcState, mk mkFunc) []Check {
	var out []Check
	for _, p := range published(s) {
		decl := fmt.Sprintf("%s→%d/tcp", displayHostPort(p.cfg.HostIP, p.cfg.Published), p.cfg.Target)
		if !p.bound {
			out = append(out, mk(CheckPort, Fail, fmt.Sprintf("port %s is declared but container %s does not publish it", decl, s.c.Name),
				"recreate it: dive hub deploy --force-recreate "+s.svc.Name))
			continue
		}
		addr := dialAddr(p.hostIP, p.hostPort)
		r, ok := s.dials[addr]
		switch {
		case !ok:
			out = append(out, mk(CheckPort, Fail, fmt.Sprintf("port %s was not probed (interrupted)", addr), ""))
		case r.err != nil:
			out = append(out, mk(CheckPort, Fail, fmt.Sprintf("port %s (→%d/tcp) does not accept connections: %v", addr, p.cfg.Target, shortNetErr(r.err)),
				fmt.Sprintf("check that %s listens on %d inside the container and that no firewall blocks %s", s.svc.Name, p.cfg.Target, addr)))
		default:
			out = append(out, mk(CheckPort, Pass, fmt.Sprintf("port %s (→%d/tcp) accepts connections (%s)", addr, p.cfg.Target, fmtDelta(r.rtt)), ""))
		}
	}
	return out
}

func displayHostPort(ip, port string) string {
	if port == "" {
		port = "(any)"
	}
	if ip == "" {
		return port
	}
	return net.JoinHostPort(ip, port)
}

func shortNetErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "dial ") {
		return msg[i+2:]
	}
	return msg
}

// expectedNetworks maps a service's networks to their engine names.
func expectedNetworks(s *stack.Service, p *types.Project) []string {
	if s.Config.NetworkMode != "" {
		return nil
	}
	var out []string
	for key := range s.Config.Networks {
		name := key
		if pn, ok := p.Networks[key]; ok && pn.Name != "" {
			name = pn.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func networkCheck(s *svcState, mk mkFunc) (Check, bool) {
	want := s.networks
	if len(want) == 0 {
		return Check{}, false
	}
	var have []string
	if s.listed {
		have = append(have, s.c.Networks...)
	} else if s.ins.NetworkSettings != nil {
		for n := range s.ins.NetworkSettings.Networks {
			have = append(have, n)
		}
	}
	sort.Strings(have)
	var missing []string
	for _, n := range want {
		found := false
		for _, h := range have {
			found = found || h == n
		}
		if !found {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return mk(CheckNetwork, Fail, fmt.Sprintf("container %s is not attached to %s (attached: %s)", s.c.Name, strings.Join(missing, ", "), orNone(have)),
			"recreate it: dive hub deploy --force-recreate "+s.svc.Name), true
	}
	return mk(CheckNetwork, Pass, "attached to "+strings.Join(want, ", "), ""), true
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func restartCheck(s *svcState, window time.Duration, mk mkFunc) Check {
	n1 := s.ins.RestartCount
	if window > 0 && s.restarts2 >= 0 {
		if s.restarts2 > n1 || !s.running2 {
			what := fmt.Sprintf("restarted %d times within the %s window", s.restarts2-n1, window)
			if !s.running2 && s.restarts2 == n1 {
				what = fmt.Sprintf("stopped running within the %s window", window)
			}
			return mk(CheckRestarts, Fail, fmt.Sprintf("%s (%d restarts since it was created): it is not stable", what, s.restarts2), fmt.Sprintf("see dive hub logs %s", s.svc.Name))
		}
		detail := fmt.Sprintf("stable over %s (%d restarts since it was created)", window, n1)
		if n1 > s.svc.MaxRestarts {
			return mk(CheckRestarts, Warn, detail+fmt.Sprintf(", more than the %d tolerated while starting", s.svc.MaxRestarts), fmt.Sprintf("see dive hub logs %s", s.svc.Name))
		}
		return mk(CheckRestarts, Pass, detail, "")
	}
	detail := fmt.Sprintf("%d restarts since it was created (no stability window)", n1)
	if n1 > s.svc.MaxRestarts {
		return mk(CheckRestarts, Warn, detail+fmt.Sprintf(", more than the %d tolerated while starting", s.svc.MaxRestarts), fmt.Sprintf("see dive hub logs %s; run dive hub validate to watch it for a while", s.svc.Name))
	}
	return mk(CheckRestarts, Pass, detail, "")
}

// volumeUse is a named volume and the services that mount it.
type volumeUse struct {
	key, name string
	external  bool
	users     []volumeUser
}

type volumeUser struct {
	service, target string
	class           stack.Class
}

func usedVolumes(st *stack.Stack) []*volumeUse {
	byKey := map[string]*volumeUse{}
	for _, n := range st.Names {
		s := st.Services[n]
		for _, v := range s.Config.Volumes {
			if v.Type != types.VolumeTypeVolume || v.Source == "" {
				continue
			}
			pv, ok := st.Project.Volumes[v.Source]
			if !ok {
				continue // an anonymous or undeclared volume: nothing to check by name
			}
			u := byKey[v.Source]
			if u == nil {
				name := pv.Name
				if name == "" {
					name = v.Source
				}
				u = &volumeUse{key: v.Source, name: name, external: bool(pv.External)}
				byKey[v.Source] = u
			}
			u.users = append(u.users, volumeUser{service: n, target: v.Target, class: s.Class})
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*volumeUse, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// mounts are the mounts of s's container, from the list or its inspect.
func mounts(s *svcState) []container.MountPoint {
	if s.listed {
		return s.c.Mounts
	}
	return s.ins.Mounts
}

func mountedBySome(v *volumeUse, states map[string]*svcState) bool {
	for _, u := range v.users {
		s := states[u.service]
		if s == nil || !s.found || s.insErr != nil {
			continue
		}
		for _, m := range mounts(s) {
			if m.Name == v.name {
				return true
			}
		}
	}
	return false
}

func volumeChecks(v *volumeUse, exists bool, err error, states map[string]*svcState) []Check {
	var classes []stack.Class
	var users []string
	for _, u := range v.users {
		classes = append(classes, u.class)
		users = append(users, fmt.Sprintf("%s:%s", u.service, u.target))
	}
	class := StrongestClass(classes...)
	c := Check{Name: CheckVolume, Class: class}
	switch {
	case err != nil:
		c.Status, c.Detail, c.Fix = Fail, fmt.Sprintf("cannot inspect volume %s: %v", v.name, err), "check the engine (docker info)"
		return []Check{c}
	case !exists:
		c.Status, c.Detail = Fail, fmt.Sprintf("volume %s (used by %s) does not exist", v.name, strings.Join(users, ", "))
		c.Fix = "deploy again (dive hub deploy) to create it"
		if v.external {
			c.Fix = "it is external: create it with docker volume create " + v.name
		}
		return []Check{c}
	}
	out := []Check{}
	var mounted []string
	for _, u := range v.users {
		s := states[u.service]
		if s == nil || !s.found || s.insErr != nil {
			continue
		}
		ok := false
		for _, m := range mounts(s) {
			if m.Name == v.name && m.Destination == u.target {
				ok = true
			}
		}
		if !ok {
			out = append(out, Check{Name: CheckVolume, Service: u.service, Class: u.class, Status: Fail,
				Detail: fmt.Sprintf("container %s does not mount volume %s at %s", s.c.Name, v.name, u.target),
				Fix:    "recreate it: dive hub deploy --force-recreate " + u.service})
			continue
		}
		mounted = append(mounted, fmt.Sprintf("%s:%s", u.service, u.target))
	}
	c.Status, c.Detail = Pass, fmt.Sprintf("volume %s exists, mounted by %s", v.name, orNone(mounted))
	return append([]Check{c}, out...)
}
