package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/graph"
	"github.com/dive-hub/dive/internal/stack"
)

// removed: the diagnosis is a container removed from outside.
func (d *Diagnosis) removed() bool { return strings.Contains(d.Reason, removedReason) }

// stoppedError fails the signals of a service the deploy stopped (pending
// or cancelled): its dependents are stopped too, not skipped.
type stoppedError struct{ reason string }

func (e *stoppedError) Error() string { return e.reason }

// failedDeps lists the required dependencies of name whose condition can
// no longer be met: they failed or were skipped, or they will be skipped
// because one of their own required dependencies did (their goroutine may
// not have recorded it yet when the deploy stops).
func (d *deployer) failedDeps(name string) []string {
	var out []string
	for _, e := range d.g.Deps(name) {
		if !e.Required {
			continue
		}
		dep := d.svcs[e.To]
		sig := dep.ready
		if e.Condition == graph.Started {
			sig = dep.started
		}
		if sig.isFinal() {
			var stopped *stoppedError
			if sig.err != nil && !errors.As(sig.err, &stopped) { // err is set before final closes
				out = append(out, e.To)
			}
		} else if len(d.failedDeps(e.To)) > 0 {
			out = append(out, e.To)
		}
	}
	sort.Strings(out)
	return out
}

func (d *deployer) skip(r *svcRun, why string, because []string) {
	r.res.State, r.res.Reason = StateSkipped, why
	d.emitSkipped(r, why, because)
	r.ready.fail(errors.New(why))
	r.started.fail(errors.New(why))
	if r.svc.Class == stack.Core {
		d.failCore(fmt.Errorf("core service %s was skipped: %s", r.svc.Name, why))
	}
}

// fail records a failure with its evidence. A core failure stops the deploy.
func (d *deployer) fail(ctx context.Context, r *svcRun, diag *Diagnosis, id string) {
	if ctx.Err() != nil && id == "" && r.res.ContainerID == "" {
		return // the deploy is stopping; not this service's fault
	}
	d.diagnose(r, diag, id)
	d.emitFailed(r, diag, false)
	r.ready.fail(errors.New(diag.Reason))
	r.started.fail(errors.New(diag.Reason))
	if r.svc.Class == stack.Core {
		d.failCore(fmt.Errorf("core service %s failed: %s", r.svc.Name, diag.Reason))
	}
}

// failReady records the failure of a service that was ready: its container
// died before the deploy ended. Its signals already hold (dependents went
// on); a core one fails the deploy.
func (d *deployer) failReady(ctx context.Context, r *svcRun, diag *Diagnosis, id string) {
	if ctx.Err() != nil {
		return
	}
	d.diagnose(r, diag, id)
	d.emitFailed(r, diag, true)
	if r.svc.Class == stack.Core {
		d.failCore(fmt.Errorf("core service %s failed: %s", r.svc.Name, diag.Reason))
	}
}

// diagnose completes the evidence and records the failure in the result.
func (d *deployer) diagnose(r *svcRun, diag *Diagnosis, id string) {
	diag.Service, diag.Class = r.svc.Name, string(r.svc.Class)
	if r.failedAt.IsZero() {
		r.failedAt = d.now()
	}
	if id != "" && !diag.removed() {
		d.collectEvidence(diag, id)
		r.mu.Lock()
		peak := r.peakMem
		r.mu.Unlock()
		inferOOM(diag, peak)
	}
	if diag.Hint == "" && portTaken(diag.Reason) {
		diag.Hint = d.portHint(diag.Reason)
	}
	if diag.Hint == "" {
		diag.Hint = hintFor(r, diag)
	}
	r.res.State, r.res.Reason, r.res.Diagnosis = StateFailed, diag.Reason, diag
}

// collectEvidence fills the diagnosis from the container: state, exit code,
// OOM flag, health-check outputs and the last log lines. It has its own
// short deadline: it runs while the deploy is being stopped.
func (d *deployer) collectEvidence(diag *Diagnosis, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if ins, err := d.eng.Inspect(ctx, id); err == nil && ins.State != nil {
		st := ins.State
		diag.State = string(st.Status)
		if !st.Running && st.Status != "created" && diag.ExitCode == nil {
			code := st.ExitCode
			diag.ExitCode = &code
		}
		diag.OOMKilled = diag.OOMKilled || st.OOMKilled
		diag.RestartCount = ins.RestartCount
		if ins.HostConfig != nil {
			diag.memLimit = ins.HostConfig.Memory
		}
		if st.Health != nil {
			for _, l := range st.Health.Log {
				if l == nil {
					continue
				}
				out := strings.TrimSpace(l.Output)
				if len(out) > 300 {
					out = out[:300] + "…"
				}
				diag.HealthOutputs = append(diag.HealthOutputs, fmt.Sprintf("exit %d: %s", l.ExitCode, out))
			}
		}
	}
	if lines, err := d.eng.Logs(ctx, id, 20); err == nil {
		diag.Logs = lines
	}
}

func hintFor(r *svcRun, diag *Diagnosis) string {
	s := r.svc
	switch {
	case diag.removed():
		return "something removed the container while dive deployed it (docker rm -f, docker compose down, a cleanup script): deploy again once it is done"
	case diag.OOMKilled:
		return "the container ran out of memory: raise its memory limit (deploy.resources.limits.memory) or reduce its use"
	case strings.Contains(diag.Reason, "not found in the image") || strings.Contains(diag.Reason, "cannot be executed"):
		return "the healthcheck's command is not in the image: fix healthcheck.test (scratch and distroless images have no shell: use the exec form with a binary the image has)"
	case portTaken(diag.Reason):
		return "a published host port is taken by another process: free it (ss -ltnp) or change the ports: mapping"
	case strings.Contains(diag.Reason, "within its budget"):
		return fmt.Sprintf("it never became ready: read the health output and logs above; if it is just slow, raise the label %s (now %s)", stack.LabelTimeout, r.budget)
	case strings.Contains(diag.Reason, "unhealthy"):
		return "its healthcheck failed repeatedly: read the health output and logs above"
	case diag.ExitCode != nil:
		return fmt.Sprintf("it exited with code %d: read its logs (dive hub logs %s), fix the cause, and deploy again", *diag.ExitCode, s.Name)
	}
	return fmt.Sprintf("see 'dive hub logs %s' and 'docker inspect'", s.Name)
}

// portTaken: the engine could not publish a host port someone holds.
func portTaken(reason string) bool {
	return strings.Contains(reason, "port is already allocated") || strings.Contains(reason, "address already in use")
}

// takenPort finds the address in the engine's message: "Bind for
// 127.0.0.1:47900 failed: port is already allocated", "listen tcp4
// 0.0.0.0:80: bind: address already in use".
var takenPort = regexp.MustCompile(`(\S+):(\d+)(?: failed: port is already allocated|: bind: address already in use)`)

// portHint names the container of this engine that holds the host port the
// engine could not publish, and what to do; "" when none does (another
// process holds it) or the message names no port.
func (d *deployer) portHint(reason string) string {
	m := takenPort.FindStringSubmatch(reason)
	if m == nil {
		return ""
	}
	ip := strings.Trim(m[1], "[]")
	port, err := strconv.Atoi(m[2])
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	addr := net.JoinHostPort(ip, m[2])
	for _, project := range []string{d.st.Project.Name, ""} {
		cs, err := d.eng.ListContainers(ctx, project)
		if err != nil {
			continue
		}
		for _, c := range cs {
			if !holdsPort(c, ip, port) {
				continue
			}
			switch {
			case c.Project != d.st.Project.Name:
				return fmt.Sprintf("host port %s is held by container %s of project %s: stop that project (dive hub down -p %s) or change the ports: mapping", addr, c.Name, c.Project, c.Project)
			case !d.st.Declares(c.Service):
				return fmt.Sprintf("host port %s is held by container %s of this project, whose service %s is no longer in the compose file (an orphan): deploy again with --remove-orphans, or remove it (dive hub down)", addr, c.Name, c.Service)
			default:
				return fmt.Sprintf("host port %s is held by this project's container %s (service %s): remove it (docker rm -f %s) and deploy again, or change the ports: mapping", addr, c.Name, c.Service, c.Name)
			}
		}
	}
	return ""
}

// holdsPort: container c publishes host port port on an address that
// overlaps ip ("" and the unspecified addresses overlap every address).
func holdsPort(c engine.Container, ip string, port int) bool {
	unspecified := func(a string) bool { return a == "" || a == "0.0.0.0" || a == "::" }
	for _, p := range c.Ports {
		if int(p.PublicPort) != port {
			continue
		}
		pip := ""
		if p.IP.IsValid() {
			pip = p.IP.String()
		}
		if unspecified(ip) || unspecified(pip) || ip == pip {
			return true
		}
	}
	return false
}

// inferOOM covers the engine not flagging an OOM kill (it misses some under
// load, moby/moby#15621): exit 137 with the memory sampled at 90 % or more of
// the container's limit is an OOM kill in all but name.
func inferOOM(diag *Diagnosis, peakMem float64) {
	if diag.OOMKilled || diag.ExitCode == nil || *diag.ExitCode != 137 || diag.memLimit <= 0 {
		return
	}
	if peakMem >= 0.9*float64(diag.memLimit) {
		diag.OOMKilled = true
		diag.Reason += fmt.Sprintf(" — almost certainly out of memory: its memory peaked at %.0f MiB of its %.0f MiB limit (the engine did not flag the OOM kill)", peakMem/(1<<20), float64(diag.memLimit)/(1<<20))
	}
}

// depFailure says which dependencies failed and why. Their results are
// final before their signals fail, so reading them here is safe.
func (d *deployer) depFailure(failed []string) string {
	parts := make([]string, 0, len(failed))
	for _, n := range failed {
		// Read from the dependency's signals, never its result: a signal's
		// error is set before it closes, while the result may still be
		// written by the dependency's own goroutine (one whose own
		// dependency failed is not final yet).
		why := "a dependency of it failed"
		for _, sig := range []*signal{d.svcs[n].ready, d.svcs[n].started} {
			if sig.isFinal() && sig.err != nil {
				why = sig.err.Error()
				break
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", n, why))
	}
	return "dependency did not meet its condition: " + strings.Join(parts, "; ")
}
