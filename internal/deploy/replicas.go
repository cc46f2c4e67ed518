package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/dive-hub/dive/internal/engine"
	"github.com/dive-hub/dive/internal/events"
)

// Replicas (scale / deploy.replicas > 1). The scheduler's per-service flow
// drives replica 1 (its readiness is the service's); ensureReplicas drives
// replicas 2..N before replica 1 is started or confirmed, so a service is
// started and ready only once every replica is, which is what its
// dependents wait on. Containers numbered above N are removed, highest
// number first, as docker compose scales down.

// hookRunner is the engine's lifecycle-hook runner (pre_stop); the
// scheduler's fakes need not have it.
type hookRunner interface {
	RunHooks(ctx context.Context, id, kind, service string, tty bool, hooks []types.ServiceHook) error
}

// containerNumber is a container's com.docker.compose.container-number (1 when missing).
func containerNumber(c engine.Container) int {
	n, err := strconv.Atoi(c.Labels[engine.LabelNumber])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// ensureReplicas makes replicas 2..N of a service exist, match its
// configuration, run and be ready, and removes those numbered above N. It
// reports false when the service failed (the failure is recorded).
func (d *deployer) ensureReplicas(ctx context.Context, r *svcRun) bool {
	s := r.svc
	want := s.Config.GetScale()
	byNum := map[int]engine.Container{}
	var surplus []engine.Container
	for _, c := range d.replicaOld[s.Name] {
		n := containerNumber(c)
		if n > max(want, 1) {
			surplus = append(surplus, c)
		} else if n > 1 {
			byNum[n] = c
		}
	}
	sort.Slice(surplus, func(i, j int) bool { return containerNumber(surplus[i]) > containerNumber(surplus[j]) })
	for _, c := range surplus {
		if err := d.stopReplica(ctx, r, c); err != nil {
			d.fail(ctx, r, &Diagnosis{Reason: fmt.Sprintf("scale down: remove %s: %v", c.Name, err)}, "")
			return false
		}
	}
	if want < 2 {
		return true
	}
	imageID, err := d.image(ctx, s) // prepared once per image, already done
	if err != nil {
		d.fail(ctx, r, &Diagnosis{Reason: err.Error()}, "")
		return false
	}
	var wg sync.WaitGroup
	errs := make([]error, want+1)
	ids := make([]string, want+1)
	for n := 2; n <= want; n++ {
		old, has := byNum[n]
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[n], errs[n] = d.ensureReplica(ctx, r, imageID, n, old, has)
		}()
	}
	wg.Wait()
	for n := 2; n <= want; n++ {
		if errs[n] != nil {
			if ctx.Err() == nil {
				d.fail(ctx, r, &Diagnosis{Reason: fmt.Sprintf("replica %d of %d: %v", n, want, errs[n])}, ids[n])
			}
			return false
		}
	}
	return true
}

// ensureReplica brings replica n to running and ready: an unchanged running
// container is kept, an unchanged stopped one started, a changed one
// replaced.
func (d *deployer) ensureReplica(ctx context.Context, r *svcRun, imageID string, n int, old engine.Container, has bool) (string, error) {
	spec, err := d.spec(r, imageID, n, nil)
	if err != nil {
		return "", fmt.Errorf("container configuration: %w", err)
	}
	same := has && old.Hash == spec.Hash && !d.o.ForceRecreate && old.Health != "unhealthy"
	id := old.ID
	switch {
	case same && old.State == "running":
		return id, d.waitReplica(ctx, r, id)
	case same && (old.State == "created" || old.State == "exited"):
	default:
		if has {
			if spec, err = d.inherit(r, spec, old); err != nil {
				return "", err
			}
			if err := d.stopReplica(ctx, r, old); err != nil {
				return "", fmt.Errorf("replace %s: %w", old.Name, err)
			}
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), detachedOpTimeout)
		id, err = d.eng.Create(cctx, spec)
		cancel()
		if err != nil {
			return id, fmt.Errorf("create container %s: %w", spec.Name, err)
		}
		d.emitCreated(r, spec.Name, id, 0)
	}
	if err := d.eng.Start(ctx, id); err != nil {
		return id, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	return id, d.waitReplica(ctx, r, id)
}

// stopReplica runs the service's pre_stop hooks, stops the container within
// its grace period and removes it. A failing hook is reported, and the
// container is stopped all the same.
func (d *deployer) stopReplica(ctx context.Context, r *svcRun, c engine.Container) error {
	if c.State == "running" || c.State == "restarting" {
		d.preStop(ctx, r, c)
		grace := 10 * time.Second
		if sg := r.svc.Config.StopGracePeriod; sg != nil {
			grace = time.Duration(*sg)
		}
		if err := d.eng.Stop(ctx, c.ID, grace); err != nil {
			return err
		}
	}
	return d.eng.Remove(ctx, c.ID, false)
}

// preStop runs the service's pre_stop hooks in a container about to be
// stopped (recreated or scaled down); a failure is a warning with the
// hook's output: the stop goes ahead.
func (d *deployer) preStop(ctx context.Context, r *svcRun, c engine.Container) {
	h, ok := d.eng.(hookRunner)
	if !ok || len(r.svc.Config.PreStop) == 0 || (c.State != "running" && c.State != "restarting") {
		return
	}
	if err := h.RunHooks(ctx, c.ID, "pre_stop", r.svc.Name, r.svc.Config.Tty, r.svc.Config.PreStop); err != nil {
		d.emitWarning(events.PhaseCreate, r.svc.Name, fmt.Sprintf("pre_stop hook in %s failed; stopping it anyway: %v", c.Name, err))
	}
}

// waitReplica waits until a replica runs and, with a healthcheck, passes it
// (dive's exec probe of the healthcheck command, or the engine's own
// verdict), within the service's budget.
func (d *deployer) waitReplica(ctx context.Context, r *svcRun, id string) error {
	s := r.svc
	bctx, cancel := context.WithTimeoutCause(ctx, r.budget, errBudget)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var cmd []string
	timeout := 5 * time.Second
	if hc := r.health; r.hasHealthcheck() && !s.ProbeOff {
		cmd = engine.HealthcheckCommand(hc.Test)
		if hc.Timeout != nil && *hc.Timeout > 0 {
			timeout = time.Duration(*hc.Timeout)
		}
	}
	for {
		ins, err := d.eng.Inspect(bctx, id)
		if err == nil && ins.State != nil {
			st := ins.State
			switch {
			case st.Status == "exited" || st.Status == "dead":
				return fmt.Errorf("exited with code %d", st.ExitCode)
			case st.Health != nil && st.Health.Status == "unhealthy":
				return errors.New("unhealthy")
			case st.Running && !r.hasHealthcheck():
				return nil
			case st.Running && st.Health != nil && st.Health.Status == "healthy":
				return nil
			case st.Running && len(cmd) > 0:
				if res, perr := d.eng.Exec(bctx, id, cmd, timeout); perr == nil && res.ExitCode == 0 {
					return nil
				}
			}
		}
		select {
		case <-bctx.Done():
			if errors.Is(context.Cause(bctx), errBudget) {
				return fmt.Errorf("not ready within its budget of %s", r.budget)
			}
			return bctx.Err()
		case <-tick.C:
		}
	}
}
